"""Label propagation by Local and Global Consistency (LGC) — MIFOMO's pseudo-label "smoothing".

**LGC** (Zhou, Bousquet, Lal, Weston & Schölkopf, "Learning with Local and Global Consistency",
NIPS 2003) spreads labels over a graph whose nodes are all samples (labelled and unlabelled).
With an affinity ``A_ij = exp(-d_ij² / (2σ²))`` (``A_ii = 0``), its symmetric normalisation
``Â = D^-½ A D^-½`` (``D = diag(Σ_j A_ij)``) and an initial label matrix Y, iterating
``F ← α·Â·F + (1-α)·Y`` converges to ``F* ∝ (I - α·Â)^-1 · Y``: each node's scores mix its own
initial label (weight 1-α) with its neighbours' scores (weight α). The argmax of a row of F* is the
propagated label. Because Â's eigenvalues lie in [-1, 1], ``M = I - αÂ`` is symmetric positive
definite with eigenvalues in [1-α, 1+α] for 0 ≤ α < 1, so the linear system is well conditioned
(condition number ≤ (1+α)/(1-α) = 19 for α = 0.9).

**What MIFOMO's released code does** (``lgc.py``, ``predict_query_labels``; SPEC §8.4), which is the
default here:

* nodes = all support embeddings + one batch of **80** queries (``batch_size=None`` uses the full
  graph of all queries at once instead — switch ``lgc_batch_size``);
* Y = one-hot rows for the support and the classifier's **softmax probabilities** for the queries
  (``query_init="probs"``; the textbook LGC puts zero rows for unlabelled nodes, ``"zeros"``);
* distance ``d = 2·(1 - cos)`` (``distance="cosine"``; note this equals the *squared* Euclidean
  distance between the L2-normalised vectors, so the RBF sees ``d²``, a 4th power of the chord) or
  the Euclidean distance (``"euclidean"``);
* α = 0.9, σ = 50, closed form (no iterations), inverse computed as a ridge pseudo-inverse
  ``(MᵀM + 10⁻⁵·I)⁻¹Mᵀ`` (``solver="official"``). The default ``solver="solve"`` calls
  :func:`torch.linalg.solve` on M directly (in float64), which is the numerically sound way; the two
  agree to ~10⁻³ relative error for α = 0.9 (the ridge perturbs by about 10⁻⁵/(1-α)²);
* the output is the query rows of F*: **unnormalised** scores (the factor 1-α is dropped; rows do
  not sum to 1).

**Caveat — σ = 50 makes the graph almost uniform.** With cosine distances ``d ∈ [0, 4]`` every
affinity is ``exp(-d²/5000) ∈ [0.9968, 1]``, so Â is nearly the constant matrix 1/n and LGC adds
almost the same vector (α/(1-α) ≈ 9 times the mean label row) to every query. That shared vector
is large next to a query's own probabilities, so wherever those are not sharply peaked the argmax
is pulled towards the classes predicted most often overall — it is not a neighbourhood smoothing.
Notebook 05 shows the effect on the pseudo-labels. The σ ∈ {10, 100} ablations of the paper barely
change the graph. Use :func:`affinity_matrix` to look at the graph, and e.g. σ ≈ 0.5 (cosine) or
the median-distance heuristic (:func:`median_distance_sigma`) for a graph that actually has
structure.

**Every propagation of the kit lives here**, each behind a name: the batched cosine LGC above
(:func:`label_propagation`; the run's ``eval_propagation="official"``), and the textbook LGC on a
sparse k-NN graph (:func:`graph_label_propagation` with :func:`knn_affinity`; the transductive
baselines and ``"full_graph"``), plus class mass normalisation of their scores
(:func:`class_mass_normalisation`, :func:`class_mass_rescaled`; ``propagation_class_mass``).
"""

from __future__ import annotations

from typing import Literal, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError, DataError
from ._checks import check_2d, check_choice, check_same_rows

Distance = Literal["cosine", "euclidean"]
DISTANCES = ("cosine", "euclidean")
SOLVERS = ("solve", "official")
QUERY_INITS = ("probs", "zeros")
GRAPHS = ("knn", "dense")


def pairwise_distances(x: torch.Tensor, distance: Distance = "cosine") -> torch.Tensor:
    """``[n, n]`` distances used by the LGC graph: ``2·(1 - cos)`` (``"cosine"``, as the released
    code) or the Euclidean distance (``"euclidean"``)."""
    check_choice("distance", distance, DISTANCES)
    check_2d(x, "x")
    if distance == "cosine":
        xn = F.normalize(x, dim=-1)
        return 2.0 * (1.0 - xn @ xn.T)
    return torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist")


def affinity_matrix(x: torch.Tensor, sigma: float = 50.0, distance: Distance = "cosine") -> torch.Tensor:
    """RBF affinity ``A_ij = exp(-d_ij² / (2σ²))`` with a zero diagonal (Zhou et al. 2003)."""
    if sigma <= 0:
        raise ConfigError(f"sigma must be > 0; got {sigma}")
    d = pairwise_distances(x, distance)
    a = torch.exp(-(d * d) / (2.0 * float(sigma) ** 2))
    a.fill_diagonal_(0.0)
    return a


def normalized_affinity(a: torch.Tensor) -> torch.Tensor:
    """``Â = D^-½ A D^-½``. An isolated node (all affinities underflowed to 0) gets a zero row and
    column — it simply keeps its initial label — instead of the NaNs a plain ``1/sqrt(0)`` gives."""
    deg = a.sum(dim=1)
    inv_sqrt = torch.where(deg > 0, deg.clamp_min(torch.finfo(a.dtype).tiny).rsqrt(), torch.zeros_like(deg))
    return inv_sqrt[:, None] * a * inv_sqrt[None, :]


def ridge_pinv(m: torch.Tensor, ridge: float = 1e-5) -> torch.Tensor:
    """The released code's "robust pseudo-inverse" ``(MᵀM + ridge·I)⁻¹ Mᵀ`` (``lgc.pinv_robust``,
    square/tall branch; the wide branch ``Mᵀ(MMᵀ + ridge·I)⁻¹`` is used when M has more columns)."""
    r, c = m.shape
    if r >= c:
        return torch.linalg.inv(m.T @ m + ridge * torch.eye(c, dtype=m.dtype, device=m.device)) @ m.T
    return m.T @ torch.linalg.inv(m @ m.T + ridge * torch.eye(r, dtype=m.dtype, device=m.device))


def lgc_closed_form(x: torch.Tensor, y_init: torch.Tensor, alpha: float = 0.9, sigma: float = 50.0,
                    distance: Distance = "cosine", solver: str = "solve", ridge: float = 1e-5) -> torch.Tensor:
    """``F* = (I - α·Â)⁻¹ · Y`` on the graph of all rows of ``x`` (all rows returned)."""
    check_choice("solver", solver, SOLVERS)
    if not 0.0 <= alpha < 1.0:
        raise ConfigError(f"alpha must lie in [0, 1); got {alpha}")
    check_same_rows(x, y_init, "x", "y_init")
    a_hat = normalized_affinity(affinity_matrix(x, sigma, distance))
    m = torch.eye(x.shape[0], dtype=x.dtype, device=x.device) - alpha * a_hat
    y = y_init.to(x.dtype)
    if solver == "solve":
        return torch.linalg.solve(m, y)
    return ridge_pinv(m, ridge) @ y


def label_propagation(support_emb: torch.Tensor, support_y_onehot: torch.Tensor, query_emb: torch.Tensor,
                      query_probs: Optional[torch.Tensor] = None, alpha: float = 0.9, sigma: float = 50.0,
                      distance: Distance = "cosine", batch_size: Optional[int] = 80,
                      query_init: str = "probs", solver: str = "solve", ridge: float = 1e-5,
                      dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """LGC label propagation of the query scores (Zhou et al. 2003; MIFOMO's ``LGC``).

    Builds the graph {all support} ∪ {a batch of ``batch_size`` queries} for each batch in order
    (the released code's behaviour, default 80) or {all support} ∪ {all queries}
    (``batch_size=None``), sets Y = [``support_y_onehot``; ``query_probs``] (or zero query rows with
    ``query_init="zeros"``), and returns the query rows of ``F* = (I - αÂ)⁻¹Y`` —
    ``[n_query, n_classes]`` unnormalised scores whose argmax is the LGC prediction — in the dtype
    of ``query_probs`` (else of ``query_emb``). The computation runs in ``dtype`` (float64 by
    default) on the embeddings' device, without gradients (inputs are detached: propagation only
    produces targets and predictions, as in the released code). The full graph costs O((n_s + n_q)³) time and
    O((n_s + n_q)²) memory: fine for a few thousand nodes, slow for a whole scene (use batches or
    :func:`mifomo_lite.fsl.baselines.propagation_baseline`'s sparse k-NN graph). See the module
    docstring for the σ = 50 caveat.
    """
    check_choice("query_init", query_init, QUERY_INITS)
    check_2d(support_emb, "support_emb")
    check_2d(query_emb, "query_emb")
    if support_y_onehot.dim() != 2:
        raise DataError(f"support_y_onehot must be [n_support, n_classes]; got shape {tuple(support_y_onehot.shape)}")
    check_same_rows(support_emb, support_y_onehot, "support_emb", "support_y_onehot")
    if support_emb.shape[1] != query_emb.shape[1]:
        raise DataError(f"support_emb width {support_emb.shape[1]} != query_emb width {query_emb.shape[1]}")
    n_classes = support_y_onehot.shape[1]
    if query_init == "probs":
        if query_probs is None:
            raise ConfigError("query_init='probs' needs query_probs (use query_init='zeros' for the textbook LGC)")
        if query_probs.shape != (query_emb.shape[0], n_classes):
            raise DataError(
                f"query_probs has shape {tuple(query_probs.shape)}; expected ({query_emb.shape[0]}, {n_classes})"
            )
    if batch_size is not None and int(batch_size) < 1:
        raise ConfigError(f"batch_size must be >= 1 or None (full graph); got {batch_size}")
    out_dtype = query_probs.dtype if query_probs is not None else (
        query_emb.dtype if query_emb.is_floating_point() else torch.float32)

    dev = support_emb.device
    xs = support_emb.detach().to(dev, dtype)
    ys = support_y_onehot.detach().to(dev, dtype)
    xq_all = query_emb.detach().to(dev, dtype)
    yq_all = (query_probs.detach().to(dev, dtype) if query_init == "probs"
              else torch.zeros(query_emb.shape[0], n_classes, dtype=dtype, device=dev))
    n_q = xq_all.shape[0]
    step = n_q if batch_size is None else int(batch_size)
    outs = []
    for start in range(0, n_q, max(step, 1)):
        xq, yq = xq_all[start:start + step], yq_all[start:start + step]
        f = lgc_closed_form(torch.cat([xs, xq]), torch.cat([ys, yq]), alpha, sigma, distance, solver, ridge)
        outs.append(f[xs.shape[0]:])
    if not outs:
        return torch.zeros(0, n_classes, dtype=out_dtype, device=query_emb.device)
    return torch.cat(outs).to(device=query_emb.device, dtype=out_dtype)


def median_distance_sigma(x: torch.Tensor, distance: Distance = "euclidean", max_samples: int = 2000,
                          generator: Optional[torch.Generator] = None) -> float:
    """Median-distance heuristic for the RBF width: σ = median of the pairwise distances between
    distinct points (on a random subset of at most ``max_samples`` points, so it stays cheap for a
    whole scene). A standard, data-driven choice for kernel methods (e.g. Gretton et al. 2012)
    that keeps ``exp(-d²/(2σ²))`` away from both 0 and 1 for typical pairs."""
    check_2d(x, "x")
    if x.shape[0] < 2:
        raise DataError(f"need at least 2 points for a median distance; got {x.shape[0]}")
    if x.shape[0] > max_samples:
        idx = torch.randperm(x.shape[0], generator=generator)[:max_samples]
        x = x[idx.to(x.device)]
    d = pairwise_distances(x.to(torch.float64), distance)
    iu = torch.triu_indices(d.shape[0], d.shape[0], offset=1)
    med = float(d[iu[0], iu[1]].median())
    return med if med > 0 else 1.0


# ------------------------------------------------ the k-NN graph of the transductive propagation
def knn_affinity(x: np.ndarray, k: int = 10, sigma="median", sigma_scale: float = 1.0):
    """Symmetrised k-NN RBF affinity (sparse CSR) and the σ used.

    Each node is linked to its ``k`` nearest neighbours with weight ``exp(-d²/(2σ²))``; the graph
    is made symmetric by ``W = max(W, Wᵀ)``. ``sigma="median"`` takes σ = ``sigma_scale`` × the
    median of the k-NN distances (a wider or narrower kernel relative to the data's own scale);
    a float is used as given."""
    from scipy import sparse
    from sklearn.neighbors import NearestNeighbors

    n = x.shape[0]
    k = int(min(k, n - 1))
    if k < 1:
        raise DataError(f"need at least 2 nodes for a k-NN graph; got {n}")
    dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    dist, idx = dist[:, 1:], idx[:, 1:]  # drop self
    if isinstance(sigma, str):
        if sigma != "median":
            raise ConfigError(f"sigma must be a positive float or 'median'; got {sigma!r}")
        pos = dist[dist > 0]
        if not sigma_scale > 0:
            raise ConfigError(f"sigma_scale must be > 0; got {sigma_scale!r}")
        sigma_v = float(sigma_scale) * (float(np.median(pos)) if pos.size else 1.0)
    else:
        sigma_v = float(sigma)
        if sigma_v <= 0:
            raise ConfigError(f"sigma must be > 0; got {sigma}")
    w = np.exp(-(dist**2) / (2.0 * sigma_v**2))
    rows = np.repeat(np.arange(n), k)
    a = sparse.csr_matrix((w.ravel(), (rows, idx.ravel())), shape=(n, n))
    a = a.maximum(a.T).tocsr()
    a.setdiag(0.0)
    a.eliminate_zeros()
    return a, sigma_v


CLASS_MASS = ("none", "estimated")


def class_mass_normalisation(scores, prior="estimated") -> np.ndarray:
    """Class mass normalisation (Zhu, Ghahramani & Lafferty 2003): ``g_ic = q_c · f_ic / Σ_j f_jc``.

    ``scores`` are non-negative propagation scores ``[n, C]`` (negative values are clipped to 0).
    Each class column is divided by its total mass and multiplied by the class prior ``q_c``:
    ``prior="estimated"`` takes the mean of the row-normalised scores, ``q_c = mean_i f_ic / Σ_k f_ik``
    (the expected share of class c under the uncorrected scores; rows with no mass are skipped), or
    pass a length-C array of priors. A class with zero mass keeps zero scores. Returns the rescaled
    ``[n, C]`` scores (float64). The true class proportions are never used.

    Why soft shares, not the counts of the uncorrected argmax: the counts feed the argmax's own
    mistakes back, which hurts most on small query sets (the comparison is in docs/results.md)."""
    f = np.clip(np.asarray(scores, dtype=np.float64), 0.0, None)
    if f.ndim != 2 or f.shape[1] < 1:
        raise DataError(f"scores must be [n, n_classes]; got shape {f.shape}")
    n_classes = f.shape[1]
    if isinstance(prior, str):
        check_choice("prior", prior, ("estimated",))
        row = f.sum(axis=1)
        has_mass = row > 0
        q = (f[has_mass] / row[has_mass, None]).mean(axis=0) if has_mass.any() else np.ones(n_classes)
    else:
        q = np.asarray(prior, dtype=np.float64).ravel()
        if q.shape != (n_classes,) or np.any(q < 0) or not np.all(np.isfinite(q)):
            raise DataError(f"prior must be {n_classes} finite non-negative values; got {prior!r}")
    q = q / max(q.sum(), 1e-300)
    mass = f.sum(axis=0)
    scale = np.where(mass > 0, q / np.maximum(mass, 1e-300), 0.0)
    return f * scale[None, :]


def graph_label_propagation(x: np.ndarray, y: np.ndarray, n_labelled: int, alpha: float = 0.99,
                            graph: str = "knn", k: int = 10, sigma="median",
                            sigma_scale: float = 1.0) -> tuple[np.ndarray, dict]:
    """Textbook LGC over all rows of ``x`` (the first ``n_labelled`` labelled, one-hot rows of
    ``y``; the others zero): the unlabelled rows of ``F* = (I - αÂ)⁻¹Y`` and an ``info`` dict.

    ``graph="knn"``: the sparse symmetrised k-NN graph of :func:`knn_affinity`, solved exactly by
    one sparse LU factorisation (iterative solvers change the argmax of the far, tiny scores).
    ``graph="dense"``: the full RBF graph with the same σ, solved densely (a few thousand rows).
    ``sigma_scale`` multiplies the median σ (:func:`knn_affinity`)."""
    check_choice("graph", graph, GRAPHS)
    n_s = n_labelled
    if graph == "dense":
        xt = torch.from_numpy(x)
        sigma_v = knn_affinity(x, k, sigma, sigma_scale)[1]  # the same k-NN median heuristic as the sparse graph
        f = label_propagation(xt[:n_s], torch.from_numpy(y[:n_s]), xt[n_s:], None, alpha=alpha, sigma=sigma_v,
                              distance="euclidean", batch_size=None, query_init="zeros").numpy()
        info = {"graph": "dense", "sigma": sigma_v, "alpha": alpha}
    else:
        from scipy import sparse
        from scipy.sparse.linalg import splu

        a, sigma_v = knn_affinity(x, k, sigma, sigma_scale)
        deg = np.asarray(a.sum(axis=1)).ravel()
        inv_sqrt = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1e-300)), 0.0)
        a_hat = sparse.diags(inv_sqrt) @ a @ sparse.diags(inv_sqrt)
        m = (sparse.identity(x.shape[0], format="csc") - alpha * a_hat).tocsc()
        f = splu(m).solve(y)[n_s:]
        info = {"graph": "knn", "k": int(min(k, x.shape[0] - 1)), "sigma": sigma_v, "alpha": alpha,
                "n_edges": int(a.nnz // 2)}
    return f, info


def class_mass_rescaled(scores: torch.Tensor, class_mass: str = "estimated") -> torch.Tensor:
    """:func:`class_mass_normalisation` of ``scores`` (``class_mass="estimated"``; ``"none"`` returns
    them unchanged) with each row keeping its original sum, so that unnormalised LGC scores keep
    their scale as soft targets; only the split between classes (and so the argmax) changes."""
    check_choice("class_mass", class_mass, CLASS_MASS)
    if class_mass == "none":
        return scores
    f = scores.detach().cpu().double().clamp_min(0.0)
    g = torch.as_tensor(class_mass_normalisation(f.numpy()))
    g = g * (f.sum(1, keepdim=True) / g.sum(1, keepdim=True).clamp_min(1e-300))
    return g.to(scores.dtype)
