"""Classical and transductive baselines on feature matrices, for the same episodes as MIFOMO.

Every report puts the kit's numbers next to what a user would otherwise reach for, computed on the
**same support/query split** (support = the labelled shots, query = all other labelled pixels):

* :func:`svm_baseline` — an RBF support-vector machine (Cortes & Vapnik 1995; scikit-learn ``SVC``)
  trained on the support features only, with **fixed** hyper-parameters ``C = 10``,
  ``γ = "scale"`` (= 1 / (n_features · Var(X)), i.e. 1 / n_features after standardisation) on
  z-scored features. Nothing is tuned on the query set: with 5 shots per class there is no data to
  tune on honestly (the DCFSL-family baselines select on the test set, SPEC §2.4 — we don't).
* :func:`nearest_prototype_baseline` — the prototypical rule without any learning: class means of
  the support features, nearest mean (Euclidean on z-scored features, or cosine).
* :func:`propagation_baseline` — **transductive** label propagation (LGC, Zhou et al. 2003) over a
  graph of all support *and all query* pixels, textbook form (query rows of Y are zero): the strong
  "no network" baseline a learned embedding has to beat (its scores are in docs/results.md).

  The graph is a symmetrised **k-nearest-neighbour** graph (k = 10, sparse, so it scales to a whole
  scene) with RBF weights ``exp(-d²/(2σ²))`` and σ from the **median heuristic**: σ = the median
  distance of each node to its k nearest neighbours. A fixed σ cannot work across feature spaces
  (PCA values, embeddings and their distances differ by orders of magnitude), and too small a σ
  disconnects the graph while too large a σ makes it uniform — the failure mode of the released
  code's σ = 50 on cosine distances (see :mod:`mifomo_lite.fsl.propagation`). α = 0.99 as in Zhou
  et al. The sparse system ``(I - αÂ)F = Y`` is solved **exactly** by one sparse LU factorisation
  (``scipy.sparse.linalg.splu``, ≈ 0.1 s for the 10 k pixels of Indian Pines). Iterative solvers are
  a trap here: the scores of pixels far from every shot are tiny (they decay like α^hops), so a
  conjugate-gradient solution to a relative tolerance of 10⁻⁶ still changed the argmax of more than
  half of the Indian Pines queries compared with the exact solution. ``graph="dense"`` uses the full RBF graph (same σ)
  instead (O(n³): a few thousand nodes at most). The median of *all* pairwise distances
  (:func:`~mifomo_lite.fsl.propagation.median_distance_sigma`) is too wide for this purpose: on two
  interleaved moons it connects the moons and propagation collapses to one class.

  ``class_mass="estimated"`` adds **class mass normalisation** (CMN; Zhu, Ghahramani & Lafferty,
  "Semi-Supervised Learning Using Gaussian Fields and Harmonic Functions", ICML 2003, §3) — see
  :func:`class_mass_normalisation`. Every class starts from the same number of shots, so a class
  that covers 20 pixels and one that covers 2,000 push the same total score into the graph: the
  small class's mass spills over its neighbours and wins them (on Indian Pines, the 20-pixel class
  *Oats*). CMN rescales each class's scores to a prior estimated from the uncorrected scores.

All functions take NumPy arrays or tensors ``[n, d]`` and integer labels ``0..n_classes-1`` and
return predictions for the query rows; :func:`run_feature_baselines` wraps them into metrics.
"""

from __future__ import annotations

import time
from typing import Dict, Iterable, NamedTuple, Optional

import numpy as np

from ..errors import ConfigError, DataError, EpisodeError
from ._checks import check_choice
from .metrics import classification_metrics
from .propagation import CLASS_MASS, class_mass_normalisation, graph_label_propagation, knn_affinity

BASELINES = ("svm", "nearest_prototype", "propagation")
__all__ = ["BASELINES", "BaselineResult", "svm_baseline", "nearest_prototype_baseline", "propagation_baseline",
           "run_feature_baselines", "CLASS_MASS", "class_mass_normalisation", "knn_affinity"]


class BaselineResult(NamedTuple):
    """Query predictions, their per-class scores and the settings actually used (e.g. σ)."""

    pred: np.ndarray
    scores: np.ndarray
    info: dict


def _as_features(x, name: str) -> np.ndarray:
    try:
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise DataError(f"{name} must be a 2-D feature matrix [n_samples, n_features]; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name} contains NaN or infinite values")
    return arr


def _check_episode(support_x, support_y, query_x, n_classes: Optional[int]):
    xs, xq = _as_features(support_x, "support_x"), _as_features(query_x, "query_x")
    ys = np.asarray(support_y.detach().cpu().numpy() if hasattr(support_y, "detach") else support_y).astype(np.int64)
    if ys.ndim != 1 or ys.shape[0] != xs.shape[0]:
        raise DataError(f"support_y must be 1-D with {xs.shape[0]} entries; got shape {ys.shape}")
    if xs.shape[1] != xq.shape[1]:
        raise DataError(f"support_x has {xs.shape[1]} features but query_x has {xq.shape[1]}")
    n_classes = int(ys.max()) + 1 if n_classes is None else int(n_classes)
    if ys.size == 0 or ys.min() < 0 or ys.max() >= n_classes:
        raise EpisodeError(f"support_y must hold ids in 0..{n_classes - 1}; got {np.unique(ys).tolist()}")
    missing = sorted(set(range(n_classes)) - set(ys.tolist()))
    if missing:
        raise EpisodeError(f"classes {missing} have no support sample (n_classes={n_classes})")
    return xs, ys, xq, n_classes


def _standardise(fit_on: np.ndarray, *arrays: np.ndarray):
    mu = fit_on.mean(axis=0)
    sd = fit_on.std(axis=0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    return [(a - mu) / sd for a in arrays]


def svm_baseline(support_x, support_y, query_x, n_classes: Optional[int] = None, C: float = 10.0,
                 gamma="scale", standardize: bool = True) -> BaselineResult:
    """RBF-SVM trained on the support features (z-scored with support statistics), fixed ``C`` and
    ``gamma``; scores are the one-vs-rest decision values ``[n_query, n_classes]``."""
    from sklearn.svm import SVC

    xs, ys, xq, n_classes = _check_episode(support_x, support_y, query_x, n_classes)
    if standardize:
        xs, xq = _standardise(xs, xs, xq)
    clf = SVC(kernel="rbf", C=C, gamma=gamma, decision_function_shape="ovr")
    clf.fit(xs, ys)
    dec = clf.decision_function(xq)
    scores = np.full((xq.shape[0], n_classes), -np.inf)
    if dec.ndim == 1:  # two classes: sklearn returns one column (positive = classes_[1])
        dec = np.stack([-dec, dec], axis=1)
    scores[:, clf.classes_] = dec
    return BaselineResult(clf.predict(xq).astype(np.int64), scores, {"C": C, "gamma": gamma, "standardize": standardize})


def nearest_prototype_baseline(support_x, support_y, query_x, n_classes: Optional[int] = None,
                               metric: str = "euclidean", standardize: bool = True) -> BaselineResult:
    """Nearest class mean of the support features (Euclidean on z-scored features, or cosine).
    Scores are negative distances (Euclidean) or cosine similarities."""
    check_choice("metric", metric, ("euclidean", "cosine"))
    xs, ys, xq, n_classes = _check_episode(support_x, support_y, query_x, n_classes)
    if standardize:
        xs, xq = _standardise(xs, xs, xq)
    protos = np.stack([xs[ys == c].mean(axis=0) for c in range(n_classes)])
    if metric == "euclidean":
        d2 = (xq**2).sum(1)[:, None] - 2.0 * xq @ protos.T + (protos**2).sum(1)[None, :]
        scores = -np.sqrt(np.maximum(d2, 0.0))
    else:
        qn = xq / np.maximum(np.linalg.norm(xq, axis=1, keepdims=True), 1e-12)
        pn = protos / np.maximum(np.linalg.norm(protos, axis=1, keepdims=True), 1e-12)
        scores = qn @ pn.T
    return BaselineResult(scores.argmax(axis=1).astype(np.int64), scores, {"metric": metric, "standardize": standardize})


def propagation_baseline(support_x, support_y, query_x, n_classes: Optional[int] = None, alpha: float = 0.99,
                         graph: str = "knn", k: int = 10, sigma="median", standardize: bool = True,
                         class_mass: str = "none", sigma_scale: float = 1.0) -> BaselineResult:
    """Transductive LGC over support + all query features (textbook: zero query rows in Y).

    Returns the query predictions, the query rows of F* as scores and ``info`` with the σ used and
    the graph type. Features are z-scored with the statistics of all nodes (no labels involved).
    ``class_mass="estimated"`` rescales the query scores by :func:`class_mass_normalisation`;
    ``sigma_scale`` multiplies the median σ. See the module docstring for the graph, σ and class-mass choices."""
    check_choice("graph", graph, ("knn", "dense"))
    check_choice("class_mass", class_mass, CLASS_MASS)
    if not 0.0 <= alpha < 1.0:
        raise ConfigError(f"alpha must lie in [0, 1); got {alpha}")
    xs, ys, xq, n_classes = _check_episode(support_x, support_y, query_x, n_classes)
    x = np.concatenate([xs, xq])
    if standardize:
        (x,) = _standardise(x, x)
    n_s = xs.shape[0]
    y = np.zeros((x.shape[0], n_classes))
    y[np.arange(n_s), ys] = 1.0

    f, info = graph_label_propagation(x, y, n_s, alpha=alpha, graph=graph, k=k, sigma=sigma,
                                      sigma_scale=sigma_scale)
    info["standardize"] = standardize
    info["class_mass"] = class_mass
    if class_mass == "estimated":
        f = class_mass_normalisation(f)
    return BaselineResult(f.argmax(axis=1).astype(np.int64), f, info)


def run_feature_baselines(support_x, support_y, query_x, query_y, n_classes: Optional[int] = None,
                          methods: Iterable[str] = BASELINES, **kwargs) -> Dict[str, dict]:
    """Run several baselines on one episode's features and score them with
    :func:`~mifomo_lite.fsl.metrics.classification_metrics`. ``kwargs`` may hold per-method option
    dicts, e.g. ``propagation={"k": 15}``. Returns ``{method: {"metrics", "info", "seconds"}}``."""
    funcs = {"svm": svm_baseline, "nearest_prototype": nearest_prototype_baseline,
             "propagation": propagation_baseline}
    unknown = set(kwargs) - set(funcs)
    if unknown:
        raise ConfigError(f"unknown baseline option groups {sorted(unknown)}; valid: {list(funcs)}")
    _, _, _, n_classes = _check_episode(support_x, support_y, query_x, n_classes)
    out = {}
    for name in methods:
        check_choice("method", name, BASELINES)
        t0 = time.perf_counter()
        res = funcs[name](support_x, support_y, query_x, n_classes, **kwargs.get(name, {}))
        out[name] = {"metrics": classification_metrics(query_y, res.pred, n_classes), "info": res.info,
                     "seconds": time.perf_counter() - t0}
    return out
