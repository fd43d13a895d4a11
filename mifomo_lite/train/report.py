"""Figures, tables and the run folder: what a student looks at after a run.

Everything here takes plain arrays / dicts so it can be reused from notebooks and benchmarks.
Figures use matplotlib's Agg backend when no display is available.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np

from ..utils import atomic_path, write_json  # noqa: F401  (re-exported: benchmarks write run folders too)


def _plt():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg",) and not _has_display():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _has_display() -> bool:
    import os

    try:
        import IPython  # noqa: F401

        from IPython import get_ipython

        if get_ipython() is not None:
            return True
    except ImportError:
        pass
    return bool(os.environ.get("DISPLAY"))


def class_colours(n: int) -> np.ndarray:
    """``n`` distinguishable RGB colours (tab20, then hsv), background black at index 0."""
    import matplotlib

    base = matplotlib.colormaps["tab20"](np.linspace(0, 1, 20))[:, :3]
    if n > 20:
        extra = matplotlib.colormaps["hsv"](np.linspace(0, 1, n - 20, endpoint=False))[:, :3]
        base = np.concatenate([base, extra])
    return np.concatenate([np.zeros((1, 3)), base[:n]])


def save_figure(fig, path: Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    _plt().close(fig)
    return path


def plot_classification_map(pred: np.ndarray, gt: np.ndarray, class_names: Sequence[str],
                            title: str = "", mask_unlabelled: bool = False):
    """Side-by-side ground truth and predicted map. ``pred``/``gt`` hold 0 (none) or 1..C."""
    plt = _plt()
    n = len(class_names)
    cmap = np.asarray(class_colours(n))
    shown = pred.copy()
    if mask_unlabelled:
        shown = np.where(gt > 0, pred, 0)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    for ax, img, name in zip(axes, (gt, shown), ("ground truth", title or "prediction")):
        ax.imshow(cmap[np.clip(img, 0, n)], interpolation="nearest")
        ax.set_title(name)
        ax.axis("off")
    from matplotlib.patches import Patch

    handles = [Patch(color=cmap[i + 1], label=f"{i + 1} {class_names[i]}") for i in range(n)]
    fig.legend(handles=handles, loc="center right", fontsize=7, frameon=False)
    fig.subplots_adjust(right=0.78)
    return fig


def plot_tsne(embeddings: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
              title: str = "t-SNE of embeddings", max_points: int = 2000, seed: int = 0):
    """2-D t-SNE (sklearn) of at most ``max_points`` embeddings, stratified by class."""
    from sklearn.manifold import TSNE

    plt = _plt()
    rng = np.random.default_rng(seed)
    idx = np.arange(len(labels))
    if len(idx) > max_points:
        idx = np.sort(rng.choice(idx, size=max_points, replace=False))
    perplexity = float(min(30, max(5, (len(idx) - 1) // 4)))
    from threadpoolctl import threadpool_limits

    # With torch's OpenMP runtime loaded in the same process, sklearn's t-SNE threads contend
    # with it and run ~20× slower; one thread is fast for 2,000 points.
    with threadpool_limits(limits=1):
        xy = TSNE(n_components=2, init="pca", random_state=seed, perplexity=perplexity).fit_transform(
            np.asarray(embeddings[idx], dtype=np.float64))
    cmap = class_colours(len(class_names))
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    for c in np.unique(labels[idx]):
        m = labels[idx] == c
        ax.scatter(xy[m, 0], xy[m, 1], s=6, color=cmap[c + 1], label=class_names[c])
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=6, markerscale=2, loc="center left", bbox_to_anchor=(1, 0.5), frameon=False)
    return fig


def plot_curves(history: Mapping[str, Sequence[float]], title: str = "training curves",
                ylabel: str = "loss"):
    """One line per named series (e.g. per phase), x = step."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for name, values in history.items():
        if len(values):
            ax.plot(np.arange(len(values)), values, label=name, lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def plot_lambda(trajectory: Sequence[Mapping[str, float]], title: str = "λ scheduler"):
    """λ and the two Wasserstein distances over intermediate-domain steps."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    steps = [t["step"] for t in trajectory]
    ax.plot(steps, [t["lambda"] for t in trajectory], label="λ (source share)", color="k")
    ax.set_xlabel("intermediate-domain step")
    ax.set_ylabel("λ")
    ax.set_ylim(-0.02, 1.02)
    if trajectory and "W_SM" in trajectory[0]:
        ax2 = ax.twinx()
        ax2.plot(steps, [t["W_SM"] for t in trajectory], label="W(S, M)", color="tab:blue", alpha=0.6)
        ax2.plot(steps, [t["W_TM"] for t in trajectory], label="W(T, M)", color="tab:red", alpha=0.6)
        ax2.set_ylabel("Wasserstein distance")
        ax2.legend(loc="lower right", fontsize=8)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title)
    return fig


def fmt_pm(mean: float, std: float, digits: int = 2) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def results_table(rows: Iterable[Mapping], digits: int = 2) -> str:
    """Markdown table of ``{"name", "OA", "AA", "kappa"}`` rows where each value is a
    ``{"mean", "std"}`` mapping."""
    lines = ["| method | OA (%) | AA (%) | κ (×100) |", "|---|---|---|---|"]
    for r in rows:
        cells = [fmt_pm(r[k]["mean"], r[k]["std"], digits) for k in ("OA", "AA", "kappa")]
        lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)



#: How every figure of the labelled pool is marked wherever it is shown.
LABELLED_POOL_MARK = "uses the GT mask — optimistic"


def pools_table(rows: Iterable[Mapping], digits: int = 2) -> str:
    """Markdown table of the propagated results in both node pools, side by side: rows
    ``{"name", "labelled", "scene", "paired_labelled", "paired_scene"}`` where each of the first two
    is a ``{"mean", "std"}`` OA mapping (or None) and each paired value a
    :func:`~mifomo_lite.train.summary.paired_differences` entry (kit − this method; or None)."""
    lines = [f"| method | OA (%), labelled pool ({LABELLED_POOL_MARK}) | OA (%), scene pool (every pixel a node) "
             f"| kit − method, paired, labelled pool ({LABELLED_POOL_MARK}) | kit − method, paired, scene pool |",
             "|---|---|---|---|---|"]
    for r in rows:
        cells = [fmt_pm(r[k]["mean"], r[k]["std"], digits) if r.get(k) else "—" for k in ("labelled", "scene")]
        cells += [_paired_cell(r.get(k), digits) for k in ("paired_labelled", "paired_scene")]
        lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _paired_cell(p: Optional[Mapping], digits: int) -> str:
    if not p:
        return "—"
    pval = f", p = {p['p']:.2g}" if p.get("p") is not None else ""
    return f"{p['mean']:+.{digits}f} ± {p['std']:.{digits}f} ({p['wins']}/{p['n']} ahead{pval})"


def _mean_or_none(values: Sequence) -> Optional[float]:
    """Mean of the values that are not None (None when there are none)."""
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def _drift_points(drift: Mapping) -> list:
    """``(label, record)`` of every drift measurement in run order (episodes averaged per stage)."""
    points = [(name.replace("_", " ").replace("phase", "phase "), rec) for name, rec in drift.get("phases", {}).items()]
    for stage in ("after_support", "after_intermediate"):
        recs = [ep[stage] for ep in drift.get("episodes", []) if stage in ep]
        if recs:
            mean = {k: float(np.mean([r[k] for r in recs])) for k in ("cosine", "knn_overlap")}
            mean["weights"] = {key: _mean_or_none([r["weights"][key] for r in recs])
                               for key in ("adapter_rel_delta", "other_rel_delta")}
            points.append((f"{stage.replace('_', ' ')} (mean of {len(recs)} episodes)", mean))
    return points


def drift_section(drift: Optional[Mapping]) -> list:
    """Markdown lines: how far each phase moved the model from the frozen one (empty when off)."""
    if not drift:
        return []

    def cell(v):
        return "—" if v is None else f"{v:.4f}"

    lines = ["", "## Drift: did adaptation move the model?", "",
             f"Embeddings of {drift['probe']['n_pixels']} scene pixels (drawn without the ground truth), "
             "compared with the frozen model at build: cosine (1 = unchanged direction), share of each "
             "pixel's 10 nearest neighbours kept (1 = same geometry), and ‖ΔW‖/‖W‖ of the adapters "
             "(merged form) and of the other trained weights.", "",
             "| after | cosine | 10-NN overlap | adapter ‖ΔW‖/‖W‖ | other ‖ΔW‖/‖W‖ |",
             "|---|---|---|---|---|"]
    for label, rec in _drift_points(drift):
        w = rec["weights"]
        lines.append(f"| {label} | {rec['cosine']:.4f} | {rec['knn_overlap']:.3f} | "
                     f"{cell(w['adapter_rel_delta'])} | {cell(w['other_rel_delta'])} |")
    return lines


def plot_drift(drift: Mapping, title: str = "drift from the frozen model"):
    """Cosine to the frozen embeddings and 10-NN overlap after each phase (episodes averaged)."""
    plt = _plt()
    points = _drift_points(drift)
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    x = np.arange(len(points))
    ax.plot(x, [p[1]["cosine"] for p in points], "o-", label="embedding cosine")
    ax.plot(x, [p[1]["knn_overlap"] for p in points], "s--", label="10-NN overlap")
    ax.set_xticks(x, [p[0].split(" (")[0] for p in points], fontsize=8)
    ax.set_ylim(0.0, 1.02)
    ax.set_ylabel("1 = unchanged")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig
