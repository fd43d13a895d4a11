"""Helpers the notebooks call: set a notebook up for a profile, and record its metrics.

::

    from mifomo_lite.notebooks import setup, record_metrics
    nb = setup(profile, device, seed)          # seeds everything, resolves the device, prints a line
    steps = nb.pick(smoke=5, lite=200, paper=2000)
    ...
    record_metrics({"train_acc": acc})          # → <out>/<notebook>.metrics.json under the runner

Under ``mifomo-lite notebooks run`` (papermill), the runner sets ``MIFOMO_NOTEBOOK_OUT`` and
``MIFOMO_NOTEBOOK_NAME`` for the kernel; elsewhere ``record_metrics`` only returns the dict.
The runner, the student edition and the book are tooling outside the kit: :mod:`mifomo_tools.nbrun`.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from .errors import ConfigError

PROFILES = ("smoke", "lite", "colab", "paper")
# What ``run_config`` changes on top of the lite preset where the paper's own setting cannot run:
# ``paper`` without the official HyperSIGMA weights and Chikusei keeps the paper's episode budget
# on the kit's shipped ``tiny`` model; ``colab`` is the paper's budget cut to fit a T4 (16 GB) in
# one Colab session (≈ 1–2 h) on the same model.
PROFILE_OVERRIDES: Dict[str, Dict[str, Any]] = {
    "paper": dict(model="tiny", n_test_episodes=20, source_episodes=1500),
    "colab": dict(model="tiny", n_test_episodes=10, source_episodes=300),
}
ENV_OUT = "MIFOMO_NOTEBOOK_OUT"     # folder the metrics JSON goes to (set by the runner)
ENV_NAME = "MIFOMO_NOTEBOOK_NAME"   # notebook name (file stem)
ENV_PROFILE = "MIFOMO_NOTEBOOK_PROFILE"

__all__ = ["setup", "record_metrics", "batch_mode", "NotebookSession", "metrics_path", "band_explorer",
           "labelled_subset", "band_near", "corrupt_labels"]


def batch_mode() -> bool:
    """True when the notebook is executed unattended (papermill runner, CI, book build): widgets
    then fall back to static figures."""
    return bool(os.environ.get(ENV_OUT)) or os.environ.get("CI") == "true"


@dataclass
class NotebookSession:
    profile: str
    device: Any
    seed: int
    config: Any = field(repr=False, default=None)
    precision: Any = None   # the training Precision (mifomo_lite.precision) chosen for ``device``

    def pick(self, **by_profile: Any) -> Any:
        """The value for the current profile: ``nb.pick(smoke=5, lite=200, paper=2000)``;
        ``colab`` falls back to ``paper``, and ``paper`` to ``lite``, when not given."""
        order = {"colab": ("colab", "paper", "lite"), "paper": ("paper", "lite")}.get(self.profile, (self.profile,))
        for name in order:
            if name in by_profile:
                return by_profile[name]
        raise ConfigError(f"no value given for profile {self.profile!r} (got {', '.join(by_profile)})")

    def run_config(self, **overrides: Any):
        """This notebook's :class:`~mifomo_lite.train.config.RunConfig`: the profile's preset on the
        session's device and seed, progress bars off, then ``overrides``. ``paper`` is the
        paper's preset when the official HyperSIGMA weights and Chikusei are there (notebook 07
        sets them up); without them, and for ``colab``, it is the lite preset with the budget of
        :data:`PROFILE_OVERRIDES` — and it says so."""
        from .train.presets import preset

        base = dict(device=str(self.device), seed=self.seed, progress=False)
        if self.profile in ("smoke", "lite"):
            cfg = preset(self.profile, **base)
        else:
            cfg = preset("paper", **base) if self.profile == "paper" else None
            if cfg is None or not (cfg.official_spatial and cfg.official_spectral):
                extra = PROFILE_OVERRIDES[self.profile]
                if self.profile == "paper":
                    print("the paper preset needs the official HyperSIGMA weights and Chikusei (see notebook 07); "
                          "using the paper's budget on the kit's models here")
                print(f"profile {self.profile}: the lite preset with " + ", ".join(f"{k}={v}" for k, v in extra.items()))
                cfg = preset("lite", **base, **extra)
        return cfg.replace(**overrides) if overrides else cfg

    @property
    def is_gpu(self) -> bool:
        return getattr(self.device, "type", str(self.device)) == "cuda"


def setup(profile: str = "lite", device: str = "auto", seed: int = 0, *, quiet: bool = False) -> NotebookSession:
    """Seed everything, resolve ``device`` (``auto`` → CUDA if present, else CPU), build the run
    configuration of ``profile`` (``smoke`` | ``lite`` | ``colab`` | ``paper``) and report the
    training precision the runs will use on that device (:func:`mifomo_lite.precision.choose_precision`:
    bf16 on Ampere or newer, fp16 with a GradScaler before, fp32 on a CPU)."""
    import torch

    from .precision import training_precision
    from .train.presets import preset
    from .utils import resolve_device, seed_everything
    from .validation import check_device, check_seed

    profile = str(profile).lower()
    if profile not in PROFILES:
        raise ConfigError(f"profile {profile!r} is not valid; choose one of {', '.join(PROFILES)}")
    # papermill injects parameters with the type the user typed (-p seed abc → str): check them here
    if not isinstance(device, str):
        raise ConfigError(f"device must be text ('auto', 'cpu', 'cuda' or 'cuda:N'), got {device!r} "
                          f"({type(device).__name__}); with papermill: -p device cpu")
    seed = check_seed(_int_parameter("seed", seed))      # the validator RunConfig uses
    device = check_device(device)
    seed_everything(seed)
    dev = resolve_device(device, allow_fallback=(device == "auto"))
    cfg = preset(profile if profile in ("smoke", "lite", "paper") else "lite", device=str(dev), seed=seed)
    precision = training_precision(dev, cfg.amp)
    if not quiet:
        mode = "batch (papermill)" if batch_mode() else "interactive"
        print(f"profile={profile} device={dev} seed={seed} torch={torch.__version__} "
              f"threads={torch.get_num_threads()} mode={mode}")
        print(f"training precision: {precision.name} ({precision.reason})")
    return NotebookSession(profile, dev, int(seed), cfg, precision)


def _int_parameter(name: str, value: Any) -> int:
    """An integer notebook parameter: ints, and whole numbers given as text or float, are accepted
    (``-r seed 3`` → ``"3"``); anything else raises a :class:`ConfigError` naming the parameter."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, bool):
        try:
            number = float(str(value).strip())
        except ValueError:
            number = float("nan")
        if number.is_integer():
            return int(number)
    raise ConfigError(f"{name} must be an integer, got {value!r} ({type(value).__name__}); "
                      f"with papermill: -p {name} 0")


def _plain(value: Any, key: str) -> Any:
    """JSON-friendly scalars: numpy/torch scalars become Python numbers."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return value  # kept as is; the comparison reports it
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v, key) for v in value]
    raise ConfigError(f"metric {key!r} has a value of type {type(value).__name__}; record numbers, "
                      "strings, booleans or lists of them")


def metrics_path() -> Optional[Path]:
    out, name = os.environ.get(ENV_OUT), os.environ.get(ENV_NAME)
    return Path(out) / f"{name}.metrics.json" if out and name else None


def record_metrics(metrics: Optional[Mapping[str, Any]] = None, **more: Any) -> None:
    """Record this notebook's metrics for the regression run (merged with earlier calls) and print
    them; writes ``<out>/<notebook>.metrics.json`` only under the runner (see
    :func:`metrics_path`)."""
    values = {**(dict(metrics) if metrics else {}), **more}
    plain = {str(k): _plain(v, str(k)) for k, v in values.items()}
    path = metrics_path()
    if path is not None:
        old: Dict[str, Any] = {}
        if path.exists():
            try:
                old = json.loads(path.read_text(encoding="utf-8")).get("metrics", {})
            except (OSError, ValueError):
                old = {}
        merged = {**old, **plain}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_text(json.dumps({"notebook": path.name[: -len(".metrics.json")], "metrics": merged},
                                  indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    width = max((len(k) for k in plain), default=0)
    for k, v in plain.items():
        shown = f"{v:.4g}" if isinstance(v, float) else v
        print(f"  {k:<{width}}  {shown}", file=sys.stdout)


# --- interactive helpers ------------------------------------------------------------------------

def _draw_band_and_spectrum(scene: Any, band: int, row: int, col: int, fig: Any = None):
    import matplotlib.pyplot as plt
    import numpy as np

    cube = scene.cube
    wl = scene.wavelengths if scene.wavelengths is not None else np.arange(cube.shape[2])
    if fig is None:
        fig = plt.figure(figsize=(10, 3.8))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.4]})
    ax1.imshow(cube[:, :, band], cmap="gray")
    ax1.plot([col], [row], marker="+", color="red", markersize=14, mew=2)
    ax1.set_title(f"band {band} ({wl[band]:.0f} nm)")
    ax1.set_axis_off()
    ax2.plot(wl, cube[row, col, :], color="tab:blue")
    ax2.axvline(wl[band], color="red", lw=1, ls="--")
    lab = int(scene.labels[row, col])
    name = scene.class_names[lab - 1] if lab > 0 else "unlabelled"
    ax2.set_title(f"pixel ({row}, {col}) — {name}")
    ax2.set_xlabel("wavelength (nm)" if scene.wavelengths is not None else "band")
    ax2.set_ylabel("value")
    fig.tight_layout()
    return fig


def band_explorer(scene: Any, band: Optional[int] = None, row: Optional[int] = None,
                  col: Optional[int] = None):
    """An ipywidgets explorer: a band slider showing that band as an image, and row/column
    sliders choosing the pixel whose spectrum is drawn beside it.

    In batch mode (papermill, CI, the book) or without ipywidgets it draws one static figure of
    the initial state instead and returns ``None``; interactively it returns the widget."""
    import matplotlib.pyplot as plt

    b = scene.n_bands // 2 if band is None else int(band)
    rows, cols = scene.labels.nonzero()
    r = int(rows[len(rows) // 2]) if row is None and len(rows) else int(row or 0)
    c = int(cols[len(cols) // 2]) if col is None and len(cols) else int(col or 0)
    try:
        if batch_mode():
            raise ImportError
        import ipywidgets as w
    except ImportError:
        _draw_band_and_spectrum(scene, b, r, c)
        plt.show()
        print("(static view — run the notebook in Jupyter or Colab for the interactive explorer)")
        return None

    sb = w.IntSlider(value=b, min=0, max=scene.n_bands - 1, description="band",
                     continuous_update=False)
    sr = w.IntSlider(value=r, min=0, max=scene.height - 1, description="row", continuous_update=False)
    sc = w.IntSlider(value=c, min=0, max=scene.width - 1, description="column", continuous_update=False)
    out = w.Output()

    def redraw(*_):
        with out:
            out.clear_output(wait=True)
            _draw_band_and_spectrum(scene, sb.value, sr.value, sc.value)
            plt.show()

    for s in (sb, sr, sc):
        s.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([sb, sr, sc]), out])


def labelled_subset(scene: Any, per_class: Optional[int], seed: int = 0):
    """A copy of ``scene`` whose label map keeps at most ``per_class`` labelled pixels per class
    (a seeded random choice; the cube is shared, not copied). Used to keep evaluations fast in the
    ``smoke`` profile; ``per_class=None`` returns ``scene`` itself."""
    import dataclasses

    import numpy as np

    if per_class is None:
        return scene
    rng = np.random.default_rng(seed)
    labels = np.zeros_like(scene.labels)
    for c in range(1, scene.n_classes + 1):
        rows, cols = np.nonzero(scene.labels == c)
        keep = rng.choice(rows.size, size=min(int(per_class), rows.size), replace=False)
        labels[rows[keep], cols[keep]] = c
    return dataclasses.replace(scene, labels=labels, train_mask=None, test_mask=None,
                               meta={**scene.meta, "subset": f"≤ {per_class} labelled pixels per class"})


def band_near(wavelengths: Any, nm: float) -> int:
    """Index of the band whose centre wavelength is closest to ``nm`` (notebook figures use it;
    exercise 00.1 asks the learner to write it)."""
    import numpy as np

    wl = np.asarray(wavelengths, dtype=np.float64)
    if wl.ndim != 1 or wl.size == 0:
        raise ConfigError(f"wavelengths must be a non-empty 1-D array, got shape {wl.shape}")
    return int(np.abs(wl - float(nm)).argmin())


def corrupt_labels(labels: Any, n_classes: int, rate: float, rng: Any):
    """A copy of the integer ``labels`` (0..n_classes−1) in which exactly ``round(rate · n)``
    positions, chosen by the NumPy generator ``rng``, hold another class drawn uniformly: known
    label noise for the experiments of notebook 05 (exercise 05.3 asks for the same)."""
    import numpy as np

    if not 0.0 <= float(rate) <= 1.0:
        raise ConfigError(f"rate must be in [0, 1], got {rate}")
    if int(n_classes) < 2:
        raise ConfigError(f"label noise needs at least 2 classes, got n_classes={n_classes}")
    out = np.array(labels, dtype=np.int64, copy=True)
    chosen = rng.choice(out.size, size=int(round(float(rate) * out.size)), replace=False)
    shift = rng.integers(1, int(n_classes), size=chosen.size)
    out[chosen] = (out[chosen] + shift) % int(n_classes)
    return out
