"""Small plotting helpers: false-colour pictures and label maps.

The ``save_*`` functions draw on a private matplotlib ``Figure`` with the Agg canvas, so they
work on headless machines and never touch pyplot's global state. :func:`plot_label_map` draws on
an existing axes (or a new pyplot figure, for notebooks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from .scene import Scene

RGB_NM = (640.0, 550.0, 460.0)


def pick_rgb_bands(n_bands: int, wavelengths: Optional[Sequence[float]] = None
                   ) -> Tuple[int, int, int]:
    """Bands nearest 640/550/460 nm when wavelengths are known; otherwise bands at 75 %, 50 % and
    25 % of the band range (a reasonable guess for VNIR-first sensors)."""
    if wavelengths is not None:
        wl = np.asarray(wavelengths, dtype=np.float64)
        return tuple(int(np.argmin(np.abs(wl - t))) for t in RGB_NM)  # type: ignore[return-value]
    return tuple(int(round(f * (n_bands - 1))) for f in (0.75, 0.5, 0.25))  # type: ignore


def false_colour(scene: Any, bands: Optional[Sequence[int]] = None,
                 percentiles: Tuple[float, float] = (2.0, 98.0)) -> np.ndarray:
    """An (H, W, 3) float RGB image in [0, 1] from three bands of a scene or (H, W, B) cube.

    Each channel is stretched between its ``percentiles`` (2–98 % by default), which hides a few
    very bright or dark pixels that would otherwise wash the picture out.
    """
    if isinstance(scene, Scene):
        cube, wl = scene.cube, scene.wavelengths
    else:
        cube, wl = np.asarray(scene), None
    if cube.ndim != 3:
        raise ValueError(f"expected an (H, W, B) cube, got shape {cube.shape}")
    if bands is None:
        bands = pick_rgb_bands(cube.shape[2], wl)
    if len(bands) != 3:
        raise ValueError(f"need exactly three bands, got {list(bands)}")
    rgb = np.empty(cube.shape[:2] + (3,), dtype=np.float64)
    for i, b in enumerate(bands):
        ch = cube[:, :, int(b)].astype(np.float64)
        lo, hi = np.percentile(ch, percentiles)
        rgb[:, :, i] = np.clip((ch - lo) / (hi - lo), 0.0, 1.0) if hi > lo else 0.0
    return rgb


def label_colours(n_classes: int) -> np.ndarray:
    """(n_classes + 1, 3) RGB colours; row 0 (unlabelled) is black."""
    from matplotlib import colormaps

    base = []
    for cmap in ("tab20", "tab20b", "tab20c"):
        base.extend(colormaps[cmap].colors)
    cols = [(0.0, 0.0, 0.0)]
    for i in range(n_classes):
        if i < len(base):
            cols.append(tuple(base[i])[:3])
        else:  # many classes: fall back to evenly spaced hues
            cols.append(tuple(colormaps["hsv"](i / max(n_classes, 1)))[:3])
    return np.asarray(cols, dtype=np.float64)


def label_rgb(labels: np.ndarray, n_classes: Optional[int] = None) -> np.ndarray:
    """Colour an (H, W) label map (0 = black) into an (H, W, 3) float image."""
    labels = np.asarray(labels, dtype=np.int64)
    n = int(labels.max()) if n_classes is None else int(n_classes)
    return label_colours(max(n, int(labels.max())))[labels]


def _labels_and_names(obj: Any, class_names: Optional[Sequence[str]]):
    if isinstance(obj, Scene):
        return obj.labels, class_names if class_names is not None else obj.class_names
    return np.asarray(obj, dtype=np.int64), class_names


def plot_label_map(labels: Any, class_names: Optional[Sequence[str]] = None, ax: Any = None,
                   title: Optional[str] = None, legend: bool = True) -> Any:
    """Draw a label map (a :class:`Scene` or an (H, W) array) on ``ax`` and return the axes."""
    from matplotlib.patches import Patch

    lab, names = _labels_and_names(labels, class_names)
    n = len(names) if names is not None else int(lab.max())
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(label_rgb(lab, n), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    if legend and n:
        cols = label_colours(n)
        handles = [Patch(color=cols[c + 1], label=(names[c] if names is not None else str(c + 1)))
                   for c in range(n)]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7,
                  frameon=False)
    return ax


def save_false_colour_png(scene: Any, path: Any, bands: Optional[Sequence[int]] = None) -> Path:
    """Write :func:`false_colour` as a PNG at full resolution (one pixel per scene pixel)."""
    import matplotlib.image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    matplotlib.image.imsave(path, false_colour(scene, bands), format="png")
    return path


def save_label_map_png(labels: Any, path: Any, class_names: Optional[Sequence[str]] = None,
                       title: Optional[str] = None, legend: bool = True, dpi: int = 120) -> Path:
    """Write a label map (with a legend of class names) as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lab, _ = _labels_and_names(labels, class_names)
    h, w = lab.shape
    scale = 5.0 / max(h, w)
    fig = Figure(figsize=(w * scale + (2.6 if legend else 0.2), h * scale + 0.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    plot_label_map(labels, class_names, ax=ax, title=title, legend=legend)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
