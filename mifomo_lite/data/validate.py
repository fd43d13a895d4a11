"""Checks a scene must pass before any training starts.

:func:`validate_scene` is called by the run entry points (``mifomo-lite run/demo``,
:func:`mifomo_lite.run`, :func:`mifomo_lite.train.run_to_folder`) right after the target scene is
loaded, so a scene that cannot give a meaningful result is refused in seconds, not after phase 0:

* values: finite, real (complex cubes are refused when read), and not constant or near-constant
  across pixels (a constant cube would "run" and score chance level);
* classes: at least two, and each with at least ``n_shot + 1`` labelled pixels (``n_shot`` for the
  support set, one to test on) — or, with ``drop_small_classes``, the small ones are left out and
  named;
* bands: at least ``pca_components`` of them (else the model's input size cannot match).

Classes are numbered as ``mifomo-lite data info`` prints them: the label 1..C and the id in the
original file.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import DataError
from .checks import check_cube
from .scene import Scene

__all__ = ["validate_scene", "drop_classes", "constant_spread"]

# Relative spread below which a cube counts as constant: std across pixels / mean magnitude.
NEAR_CONSTANT = 1e-6
SAMPLE_PIXELS = 100_000


def constant_spread(cube: np.ndarray, seed: int = 0) -> float:
    """Largest per-band standard deviation across pixels, relative to the cube's mean magnitude,
    measured on at most ``SAMPLE_PIXELS`` seeded pixels (no full copy of a large cube)."""
    h, w, b = cube.shape
    flat = cube.reshape(h * w, b)
    if h * w > SAMPLE_PIXELS:
        flat = flat[np.random.default_rng(seed).choice(h * w, SAMPLE_PIXELS, replace=False)]
    flat = flat.astype(np.float64)
    scale = float(np.abs(flat).mean()) or 1.0
    return float(flat.std(axis=0).max()) / scale


def _class_word(scene: Scene, c: int) -> str:
    return f"label {c + 1} (orig {int(scene.original_ids[c])}) {scene.class_names[c]!r}"


def drop_classes(scene: Scene, drop: list[int]) -> Scene:
    """``scene`` without the 0-based classes ``drop`` (their pixels become unlabelled); the rest
    keep their names and original ids and are renumbered 1..C'."""
    keep_ids = [int(i) for c, i in enumerate(scene.original_ids) if c not in drop]
    lut = np.concatenate([[0], scene.original_ids]).astype(np.int64)

    def orig(m):
        if m is None:
            return None
        out = lut[m]
        out[np.isin(out, scene.original_ids[drop])] = 0
        return out
    names = {int(i): n for i, n in zip(scene.original_ids, scene.class_names) if int(i) in keep_ids}
    meta = dict(scene.meta, dropped_classes=[_class_word(scene, c) for c in drop])
    return Scene.from_arrays(scene.cube, orig(scene.labels), name=scene.name, class_names=names,
                             wavelengths=scene.wavelengths, sensor=scene.sensor,
                             train_mask=orig(scene.train_mask), test_mask=orig(scene.test_mask), meta=meta)


def validate_scene(scene: Scene, n_shot: int, pca_components: Optional[int] = None, *,
                   drop_small_classes: bool = False, role: str = "target") -> Scene:
    """Return ``scene`` (without its too-small classes when ``drop_small_classes``) or raise a
    :class:`DataError` that says what is wrong and what to do."""
    where = f"{role} scene {scene.name!r}"
    check_cube(scene.cube, what=where)
    if constant_spread(scene.cube) <= NEAR_CONSTANT:
        raise DataError(f"{where}: the cube is constant or nearly so (every pixel has almost the same "
                        "spectrum), so no classifier can do better than chance; check that the file holds "
                        "the image (not a mask or a placeholder)")
    if pca_components is not None and scene.n_bands < pca_components:
        raise DataError(f"{where} has {scene.n_bands} bands but pca_components={pca_components}; "
                        f"use --set pca_components={scene.n_bands} (or fewer)")
    counts = scene.class_counts()
    small = [c for c in range(scene.n_classes) if counts[c] < n_shot + 1]
    if small and drop_small_classes and scene.n_classes - len(small) >= 2:
        return drop_classes(scene, small)
    if scene.n_classes < 2:
        raise DataError(f"{where} has a single class ({_class_word(scene, 0)}, {int(counts[0])} pixels); "
                        "few-shot classification needs at least two labelled classes")
    if small:
        listed = "; ".join(f"{_class_word(scene, c)} has {int(counts[c])}" for c in small)
        hint = ("--drop-small-classes (drop_small_classes=True) to leave them out, or " if
                scene.n_classes - len(small) >= 2 else "")
        raise DataError(f"{where}: {len(small)} class(es) have fewer than n_shot + 1 = {n_shot + 1} labelled "
                        f"pixels ({n_shot} support + 1 to test): {listed}. Use {hint}a smaller n_shot")
    return scene


# ------------------------------------------------------------------------- bring-your-own helpers
DOWNSAMPLE = ("nearest", "majority")


def label_factor(label_shape, grid) -> Optional[int]:
    """The integer factor ``f`` with ``label_shape == f × grid`` (both axes), else ``None``."""
    (lh, lw), (h, w) = label_shape[:2], grid[:2]
    if h and w and lh % h == 0 and lw % w == 0 and lh // h == lw // w and lh // h > 1:
        return lh // h
    return None


def downsample_labels(labels: np.ndarray, grid, method: str, what: str = "labels") -> np.ndarray:
    """Bring a label map drawn at ``f×`` the cube's resolution down to the cube's grid: ``nearest``
    keeps the centre pixel of each ``f×f`` block, ``majority`` its most frequent non-zero label
    (0 when the block has none)."""
    if method not in DOWNSAMPLE:
        raise DataError(f"labels_downsample={method!r} is not valid; choose one of {', '.join(DOWNSAMPLE)}")
    f = label_factor(labels.shape, grid)
    if f is None:
        raise DataError(f"{what}: the label map is {labels.shape[0]}×{labels.shape[1]} and the cube "
                        f"{grid[0]}×{grid[1]}; downsampling needs the same whole factor on both axes")
    h, w = grid[:2]
    if method == "nearest":
        return np.ascontiguousarray(labels[f // 2::f, f // 2::f][:h, :w])
    blocks = labels[:h * f, :w * f].reshape(h, f, w, f).transpose(0, 2, 1, 3).reshape(h * w, f * f)
    ids = np.unique(blocks)
    ids = ids[ids > 0]
    if ids.size == 0:
        return np.zeros((h, w), labels.dtype)
    counts = np.stack([(blocks == i).sum(axis=1) for i in ids], axis=1)
    out = ids[counts.argmax(axis=1)]
    out[counts.max(axis=1) == 0] = 0
    return out.reshape(h, w).astype(labels.dtype)


def resolution_hint(label_shape, grid) -> str:
    """A sentence for a spatial-size mismatch when the labels are a whole multiple of the cube."""
    f = label_factor(label_shape, grid)
    if f is None:
        return ""
    return (f". The label map is exactly {f}× the cube's resolution: pass --labels-downsample nearest|majority "
            "(labels_downsample=... in Python) to bring it to the cube's grid.")


def parse_class_names(text):
    """``--class-names``: a comma-separated list (``"soil,corn,water"``) or the path of a text file
    with one name per line; ``None`` stays ``None``."""
    if text is None or not isinstance(text, str):
        return text
    from pathlib import Path

    p = Path(text).expanduser()
    if p.is_file():
        names = [ln.strip() for ln in p.read_text().splitlines() if ln.strip()]
    else:
        names = [n.strip() for n in text.split(",")]
    if not names or any(not n for n in names):
        raise DataError(f"class names {text!r}: give a comma-separated list without empty names, "
                        "or a text file with one name per line")
    return names
