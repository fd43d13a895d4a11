"""Hyperspectral classification metrics per episode and their aggregation over episodes.

The HSI few-shot literature reports three numbers per test episode (MIFOMO ``_evaluate_episode``,
SPEC §2.1, §8.9), and their mean ± **population** standard deviation (``np.std``, ddof = 0) over
the seeded test episodes:

* **OA** (overall accuracy): the fraction of correctly classified query pixels;
* **AA** (average accuracy): the mean over classes of the per-class recall
  ``CM[c, c] / Σ_j CM[c, j]`` (confusion-matrix rows = true classes), which weighs small classes
  as much as large ones;
* **κ** (Cohen's kappa, Cohen 1960): agreement corrected for chance, computed with
  ``sklearn.metrics.cohen_kappa_score``.

All three, and the per-class accuracies, are returned **in percent** (κ × 100, as the papers
print it).

**Classes absent from the ground truth.** The confusion matrix always has ``n_classes`` rows and
columns (``labels=range(n_classes)``). A class with no true sample has an undefined recall: its
per-class accuracy is NaN and AA is the mean over the classes that *are* present in ``y_true``
(predictions *into* an absent class still count as errors of the true class). The released code
instead builds the matrix over the labels that occur, so such a class would turn its AA into NaN;
in the standard protocol (query = all remaining pixels of every class) the two agree. κ is
undefined when ``y_true`` and ``y_pred`` contain one and the same single class; it is NaN then.
"""

from __future__ import annotations

import warnings
from typing import Dict, List, Mapping, Sequence

import numpy as np

from ..errors import DataError

SCALAR_KEYS = ("oa", "aa", "kappa")


def _as_int_array(y, name: str) -> np.ndarray:
    try:
        import torch

        if isinstance(y, torch.Tensor):
            y = y.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise DataError(f"{name} must be 1-D class ids; got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise DataError(f"{name} must hold integer class ids; got dtype {arr.dtype}")
    return arr.astype(np.int64)


def classification_metrics(y_true, y_pred, n_classes: int) -> Dict[str, object]:
    """OA, AA, Cohen's κ (all ×100), per-class accuracy and confusion matrix for one episode.

    ``y_true`` / ``y_pred``: 1-D integer ids in ``0..n_classes-1`` (NumPy, lists or tensors).
    Returns a dict with ``oa``, ``aa``, ``kappa`` (floats, percent), ``per_class_accuracy``
    (float array ``[n_classes]``, percent, NaN for classes absent from ``y_true``),
    ``confusion_matrix`` (int64 ``[n_classes, n_classes]``, rows = truth, columns = prediction),
    ``support`` (true samples per class) and ``n_samples``. See the module docstring for how absent
    classes are handled."""
    from sklearn.metrics import cohen_kappa_score, confusion_matrix

    yt, yp = _as_int_array(y_true, "y_true"), _as_int_array(y_pred, "y_pred")
    if yt.shape != yp.shape:
        raise DataError(f"y_true has {yt.size} entries but y_pred has {yp.size}")
    if yt.size == 0:
        raise DataError("cannot compute metrics on an empty query set (y_true is empty)")
    for name, arr in (("y_true", yt), ("y_pred", yp)):
        if arr.min() < 0 or arr.max() >= n_classes:
            raise DataError(f"{name} holds ids in [{arr.min()}, {arr.max()}] outside 0..{n_classes - 1}")
    labels = np.arange(n_classes)
    cm = confusion_matrix(yt, yp, labels=labels).astype(np.int64)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan) * 100.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kappa = float(cohen_kappa_score(yt, yp, labels=labels)) * 100.0
    return {
        "oa": float(np.trace(cm) / cm.sum() * 100.0),
        "aa": float(np.nanmean(per_class)),
        "kappa": kappa,
        "per_class_accuracy": per_class,
        "confusion_matrix": cm,
        "support": support,
        "n_samples": int(yt.size),
    }


def aggregate_episodes(metrics_list: Sequence[Mapping[str, object]]) -> Dict[str, object]:
    """Mean ± population std (``np.std``, ddof = 0, as the released code) over episodes.

    For each of ``oa``, ``aa``, ``kappa``: ``{"mean", "std", "values"}`` (values = the per-episode
    numbers, in order). ``per_class_accuracy``: per-class ``mean`` and ``std`` arrays ignoring NaN
    (episodes where the class was absent) plus the ``[n_episodes, n_classes]`` ``values``. Also
    ``n_episodes``."""
    if len(metrics_list) == 0:
        raise DataError("aggregate_episodes needs at least one episode's metrics")
    out: Dict[str, object] = {"n_episodes": len(metrics_list)}
    for key in SCALAR_KEYS:
        vals = np.array([float(m[key]) for m in metrics_list], dtype=np.float64)
        out[key] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "values": vals.tolist()}
    if all("per_class_accuracy" in m for m in metrics_list):
        pcs = np.stack([np.asarray(m["per_class_accuracy"], dtype=np.float64) for m in metrics_list])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns → NaN, silently
            out["per_class_accuracy"] = {"mean": np.nanmean(pcs, axis=0), "std": np.nanstd(pcs, axis=0), "values": pcs}
    return out


def to_jsonable(obj):
    """Convert a metrics dict (NumPy arrays, NaN) into plain JSON types (lists, ``None`` for NaN)."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return None if np.isnan(f) else f
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def format_mean_std(agg: Mapping[str, object], keys: List[str] = list(SCALAR_KEYS), digits: int = 2) -> str:
    """``"OA 81.23 ± 2.10 | AA ... | KAPPA ..."`` for an :func:`aggregate_episodes` result."""
    return " | ".join(f"{k.upper()} {agg[k]['mean']:.{digits}f} ± {agg[k]['std']:.{digits}f}" for k in keys)
