"""Computations that notebooks 03, 05 and 08 show, kept in the kit (and tested) so that a notebook
holds only what the learner should read.

* notebook 03 (episodes and prototypes): :func:`pca2`, the 2-D picture of an episode's
  embeddings, and :func:`episode_and_target_accuracy`, the two accuracies measured before and after
  the source phase;
* notebook 05 (pseudo-labels): :func:`refine_scores` (a refiner with the run's settings),
  :func:`argmax_accuracy` and :func:`graded_selection` (the confident-pseudo-label filter, graded
  with the true labels);
* notebook 08 (inductive versus transductive): :func:`episode_oa` and :func:`mean_per_class` read
  a run's per-episode metrics, :func:`propagated_scores` propagates one episode's query scores.
"""

from __future__ import annotations

from typing import Any, List, Mapping, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ConfigError, DataError

__all__ = ["pca2", "episode_and_target_accuracy", "refine_scores", "argmax_accuracy", "graded_selection",
           "episode_oa", "mean_per_class", "propagated_scores"]


# --- notebook 03 -------------------------------------------------------------------------------

def pca2(*arrays: torch.Tensor) -> List[np.ndarray]:
    """Project several (n, D) arrays on the top-2 principal axes of all of them together (one
    common picture, so support, queries and prototypes can be drawn on the same axes)."""
    if not arrays:
        raise DataError("pca2 needs at least one (n, D) array")
    ts = [torch.as_tensor(a).detach().cpu().float() for a in arrays]
    widths = {t.shape[1] if t.dim() == 2 else None for t in ts}
    if len(widths) != 1 or None in widths:
        raise DataError(f"pca2 needs (n, D) arrays of one width; got shapes {[tuple(t.shape) for t in ts]}")
    allx = torch.cat(ts)
    mean = allx.mean(0, keepdim=True)
    _, _, v = torch.linalg.svd(allx - mean, full_matrices=False)
    return [((t - mean) @ v[:2].T).numpy() for t in ts]


@torch.no_grad()
def episode_and_target_accuracy(model, sampler, n_eval: int, source, target, split, device) -> Tuple[float, float]:
    """Nearest-prototype accuracy of ``model`` (prototypes from the support only) on the first
    ``n_eval`` episodes of ``sampler`` over the ``source`` domain (mean), and on the target few-shot
    ``split`` of ``target`` — the two numbers notebook 03 compares before and after training."""
    from .fsl import prototypes
    from .train.embedding import embed_pixels

    if int(n_eval) < 1:
        raise ConfigError(f"n_eval must be ≥ 1; got {n_eval}")
    model.eval()
    src_acc = []
    for i in range(int(n_eval)):
        e = sampler.episode(i)
        sx, sy, qx, qy = e.to_tensors(source.prepared, device=device)
        p = prototypes(model(sx).float(), sy, e.n_way)
        src_acc.append(float((model.classifier.predict(model(qx).float(), p) == qy).float().mean()))
    s_emb = embed_pixels(model, target.prepared, split.support_rows, split.support_cols)
    q_emb = embed_pixels(model, target.prepared, split.query_rows, split.query_cols)
    p = prototypes(s_emb, torch.as_tensor(split.support_labels), split.n_classes)
    pred = model.classifier.predict(q_emb.to(device), p.to(device)).cpu().numpy()
    return float(np.mean(src_acc)), float((pred == split.query_labels).mean())


# --- notebook 05 -------------------------------------------------------------------------------

def refine_scores(method: str, scores: torch.Tensor, *, cfg, support_emb, support_y_onehot, query_emb,
                  **overrides: Any) -> torch.Tensor:
    """:func:`~mifomo_lite.fsl.refine_pseudo_labels` with the run configuration's ε, α, σ and
    batch size (``cfg``), any of them replaced by ``overrides`` (``sigma=``, ``batch_size=None``…)."""
    from .fsl import refine_pseudo_labels

    opts = dict(epsilon=cfg.eps_smoothing, alpha=cfg.lgc_alpha, sigma=cfg.lgc_sigma, batch_size=cfg.lgc_batch_size)
    unknown = sorted(set(overrides) - set(opts) - {"distance", "query_init", "solver"})
    if unknown:
        raise ConfigError(f"refine_scores: unknown option(s) {unknown}; use {sorted(opts)}")
    opts.update(overrides)
    return refine_pseudo_labels(scores, method, support_emb=support_emb, support_y_onehot=support_y_onehot,
                                query_emb=query_emb, **opts)


def argmax_accuracy(scores, y_true) -> float:
    """Share of rows of ``scores`` (n, C) whose argmax is the true class ``y_true`` (n,)."""
    s = torch.as_tensor(scores)
    y = np.asarray(y_true).reshape(-1)
    if s.dim() != 2 or s.shape[0] != len(y):
        raise DataError(f"scores must be (n, C) with n = {len(y)} labels; got shape {tuple(s.shape)}")
    return float((s.argmax(1).cpu().numpy() == y).mean())


def graded_selection(scores: torch.Tensor, support_y_onehot: torch.Tensor, y_true, cfg, top_k: int):
    """The released code's confident-pseudo-label filter (``select_confident_pseudo_labels`` with
    the run's ``min_class_count`` and ``pseudo_label_target``) at ``top_k``, graded with the true
    query labels: returns ``(selection, n_kept, accuracy of the kept labels)`` (NaN if none)."""
    from .fsl import select_confident_pseudo_labels

    sel = select_confident_pseudo_labels(scores, support_y_onehot, min_count=cfg.min_class_count, top_k=top_k,
                                         pseudo_label_target=cfg.pseudo_label_target)
    idx = sel.query_indices.numpy()
    if not len(idx):
        return sel, 0, float("nan")
    pred = sel.kept_classes[sel.query_labels.argmax(1)].numpy()
    return sel, len(idx), float((pred == np.asarray(y_true)[idx]).mean())


# --- notebook 08 -------------------------------------------------------------------------------

def episode_oa(episodes: Sequence[Mapping[str, Any]], stage: str, kind: str) -> np.ndarray:
    """The OA (%) of every episode of a run's ``metrics["episodes"]`` at ``stage`` (``final``,
    ``after_support``…) for ``kind`` (``plain`` / ``propagated``); episodes without it are left out."""
    missing = [i for i, e in enumerate(episodes) if stage not in e]
    if missing:
        raise DataError(f"episode(s) {missing} have no stage {stage!r}; stages: {sorted(episodes[missing[0]])}")
    return np.array([e[stage][kind]["oa"] for e in episodes if kind in e[stage]], dtype=float)


def mean_per_class(episodes: Sequence[Mapping[str, Any]], kind: str = "plain", stage: str = "final") -> np.ndarray:
    """Per-class accuracy (%) averaged over the episodes, ignoring classes an episode did not score
    (``None`` in its ``per_class_accuracy``)."""
    vals = np.array([[np.nan if v is None else v for v in e[stage][kind]["per_class_accuracy"]] for e in episodes],
                    dtype=float)
    if vals.ndim != 2 or vals.size == 0:
        raise DataError(f"no per-class accuracies at {stage}/{kind} in {len(episodes)} episode(s)")
    return np.nanmean(vals, axis=0)


@torch.no_grad()
def propagated_scores(head, protos: torch.Tensor, support_emb: torch.Tensor, support_y, queries: torch.Tensor,
                      sigma: float) -> torch.Tensor:
    """LGC label propagation on one graph of the support set and ``queries``, from the head's
    prototype probabilities: its argmax is a *transductive* prediction (it depends on which
    queries are in the graph)."""
    from .fsl import label_propagation

    ys = torch.as_tensor(support_y)
    probs = head.probabilities(queries, protos).float()
    return label_propagation(support_emb, F.one_hot(ys, protos.shape[0]).float(), queries, probs,
                             batch_size=None, sigma=float(sigma))
