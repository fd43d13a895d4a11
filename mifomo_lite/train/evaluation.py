"""Prediction and evaluation of one stage of a test episode: prototype scores, label propagation
(the variant ``eval_propagation`` names, solved as ``lgc_solver`` says), class mass normalisation,
and the metrics of both.

Propagation runs over one of two node pools (``transductive_pool``):

* ``"labelled"`` — the split's query pixels, i.e. the scene's ground-truth-labelled pixels (the
  paper's protocol: it uses the GT mask, so its figures are optimistic);
* ``"scene"`` — every pixel of the scene except the support shots (:func:`scene_nodes`): what a user
  without ground truth has. The label mask is read only to score: the predictions of the labelled
  query pixels are read from the scene-wide scores at their positions.

Every evaluation reports both (``propagated_labelled_pool`` and ``propagated_scene_pool``, from the
same embeddings); ``propagated`` repeats the run's own pool.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import fsl
from ..fsl.lgc_solvers import propagation_solver
from .config import RunConfig
from .domains import Domain
from .embedding import EmbeddingCache, embed, embed_split

__all__ = ["POOLS", "scene_nodes", "run_scene_nodes", "pool_key", "onehot", "head_probabilities", "full_graph_scores", "propagated_scores", "predict", "stage_metrics",
           "evaluate_stage", "node_embeddings"]


POOLS = ("labelled", "scene")


def pool_key(pool: str) -> str:
    """The metrics key of the propagated prediction over ``pool`` (``propagated_<pool>_pool``)."""
    return f"propagated_{pool}_pool"


def scene_nodes(height: int, width: int, split, sample: Optional[int] = None, seed: int = 0) -> dict:
    """The ``"scene"`` pool of ``split``: every pixel of an ``height``×``width`` scene except the
    support shots, in raster order. Built from the scene's shape and the support coordinates alone
    (no label mask); ``query_pos`` — where each query pixel sits among the nodes — is the one
    scoring lookup. ``sample`` (smoke runs, which also subsample the queries): keep a seeded random
    ``sample`` of those pixels, drawn without looking at the mask, plus the query pixels to score.
    Returns ``{"rows", "cols", "query_pos"}``."""
    keep = np.ones((int(height), int(width)), dtype=bool)
    keep[np.asarray(split.support_rows), np.asarray(split.support_cols)] = False
    if sample is not None and int(keep.sum()) > int(sample) + len(split.query_rows):
        rows, cols = np.nonzero(keep)
        pick = np.random.default_rng([int(seed), 77]).choice(rows.size, size=int(sample), replace=False)
        keep[:] = False
        keep[rows[pick], cols[pick]] = True
        keep[split.query_rows, split.query_cols] = True
    rows, cols = np.nonzero(keep)
    position = np.full(keep.shape, -1, dtype=np.int64)
    position[rows, cols] = np.arange(rows.size)
    return {"rows": rows, "cols": cols, "query_pos": position[split.query_rows, split.query_cols]}


def run_scene_nodes(target: Domain, split, cfg: RunConfig) -> dict:
    """:func:`scene_nodes` of the run's target, sampled as the run's ``max_query_pixels`` says (the
    kit and the baselines get the same nodes)."""
    return scene_nodes(target.prepared.height, target.prepared.width, split, cfg.max_query_pixels,
                       getattr(split, "seed", 0))


def onehot(y: torch.Tensor, n: int) -> torch.Tensor:
    return F.one_hot(y.long(), n).float()


def head_probabilities(model: nn.Module, query_emb: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
    """Prototype-head probabilities computed on the head's device (embeddings are kept on the
    CPU between stages; the head's learnable scale lives with the model), returned on the CPU."""
    dev = next(model.classifier.parameters()).device
    with torch.no_grad():
        return model.classifier.probabilities(query_emb.to(dev), protos.to(dev)).float().cpu()


def full_graph_scores(support_emb: torch.Tensor, support_y, query_emb: torch.Tensor, n_classes: int,
                      class_mass: str = "none", k: int = 10, alpha: float = 0.99,
                      sigma_scale: float = 1.0) -> torch.Tensor:
    """LGC over one k-NN graph of the support and *all* query embeddings (the transductive
    baselines' propagation, :func:`mifomo_lite.fsl.propagation_baseline`, with the same
    ``class_mass``, ``k``, ``alpha`` and ``sigma_scale`` options): ``[n_query, C]`` scores,
    row-normalised to sum to 1 (rows with no mass stay 0)."""
    res = fsl.propagation_baseline(support_emb.float().numpy(), np.asarray(support_y), query_emb.float().numpy(),
                                   n_classes=n_classes, class_mass=class_mass, k=k, alpha=alpha,
                                   sigma_scale=sigma_scale)
    f = torch.as_tensor(np.clip(res.scores, 0.0, None), dtype=torch.float32)
    return f / f.sum(1, keepdim=True).clamp_min(1e-12)


def propagated_scores(model: nn.Module, support_emb: torch.Tensor, support_y, query_emb: torch.Tensor,
                      n_classes: int, cfg: RunConfig, graph: str) -> torch.Tensor:
    """``[n_query, C]`` label-propagated query scores on the graph ``graph`` names (the choices of
    ``eval_propagation`` and ``pseudo_label_propagation``), class-mass normalised as the run says:

    * ``"official"`` — the released code's LGC: all support + each batch of ``lgc_batch_size``
      queries, cosine RBF graph (``lgc_sigma``), ``lgc_alpha``, query rows initialised with the
      prototype head's probabilities; unnormalised scores;
    * ``"full_graph"`` — one k-NN graph over the support and all queries
      (:func:`full_graph_scores`); rows sum to 1."""
    if graph == "full_graph":  # the graph alone: no prototype scores needed
        return full_graph_scores(support_emb, support_y, query_emb, n_classes, cfg.propagation_class_mass,
                                 cfg.graph_k, cfg.graph_alpha, cfg.graph_sigma_scale)
    ys = torch.as_tensor(support_y)
    probs = head_probabilities(model, query_emb, fsl.prototypes(support_emb, ys, n_classes))
    scores = fsl.label_propagation(support_emb, onehot(ys, n_classes), query_emb, probs,
                                   alpha=cfg.lgc_alpha, sigma=cfg.lgc_sigma, batch_size=cfg.lgc_batch_size,
                                   solver=propagation_solver(cfg.lgc_solver))
    return _class_mass(scores, cfg)


def predict(model: nn.Module, support_emb: torch.Tensor, support_y: np.ndarray, query_emb: torch.Tensor,
            n_classes: int, cfg: RunConfig, propagate: bool) -> np.ndarray:
    """Query predictions: the prototype head's argmax, or with ``propagate`` the argmax of the
    scores propagated on the ``eval_propagation`` graph."""
    if propagate:
        return propagated_scores(model, support_emb, support_y, query_emb, n_classes, cfg,
                                 cfg.eval_propagation).argmax(1).numpy()
    ys = torch.as_tensor(support_y)
    return head_probabilities(model, query_emb, fsl.prototypes(support_emb, ys, n_classes)).argmax(1).numpy()


def _class_mass(scores: torch.Tensor, cfg: RunConfig) -> torch.Tensor:
    """The run's class mass normalisation of the official LGC's scores, row sums kept."""
    return fsl.class_mass_rescaled(scores, cfg.propagation_class_mass)


def stage_metrics(model, split, cfg: RunConfig, s_emb: torch.Tensor, q_emb: torch.Tensor, *, propagate: bool,
                  nodes: Optional[dict] = None) -> dict:
    """Metrics of one evaluation stage: ``plain`` (prototype head) and, with ``propagate``, the
    propagated prediction over each pool (:data:`POOLS`, keys :func:`pool_key`) plus ``propagated``
    = the run's ``transductive_pool``. ``nodes``: the scene pool with its embeddings (``"emb"``;
    see :func:`scene_nodes`); without it only the labelled pool is scored."""
    C = split.n_classes
    out = {"plain": fsl.classification_metrics(split.query_labels,
                                               predict(model, s_emb, split.support_labels, q_emb, C, cfg, False), C)}
    if not propagate:
        return out
    out[pool_key("labelled")] = fsl.classification_metrics(
        split.query_labels, predict(model, s_emb, split.support_labels, q_emb, C, cfg, True), C)
    if nodes is not None:
        scores = propagated_scores(model, s_emb, split.support_labels, nodes["emb"], C, cfg, cfg.eval_propagation)
        pred = scores[torch.as_tensor(nodes["query_pos"])].argmax(1).numpy()
        out[pool_key("scene")] = fsl.classification_metrics(split.query_labels, pred, C)
    out["propagated"] = out[pool_key(cfg.transductive_pool)]
    return out


def evaluate_stage(model, target: Domain, split, cfg: RunConfig, device, *, propagate: bool,
                   progress_desc: str = "query", cache: Optional[EmbeddingCache] = None):
    """Embed support and all query pixels (:func:`embed_split`) — and, with ``propagate``, every
    node of the scene pool (:func:`node_embeddings`); metrics without and (optionally) with
    propagation over both pools. Returns ``(metrics, s_emb, q_emb)``."""
    s_emb, q_emb, fmap = embed_split(model, target, split, cfg, device, progress_desc=progress_desc, cache=cache)
    nodes = node_embeddings(model, target, split, cfg, device, fmap, cache, q_emb) if propagate else None
    return stage_metrics(model, split, cfg, s_emb, q_emb, propagate=propagate, nodes=nodes), s_emb, q_emb


def node_embeddings(model, target: Domain, split, cfg: RunConfig, device, fmap=None,
                    cache: Optional[EmbeddingCache] = None, query_emb: Optional[torch.Tensor] = None) -> dict:
    """The scene pool of ``split`` (:func:`run_scene_nodes`) with ``"emb"``: each node's embedding
    as the evaluation reads it (through the run's ``feature_smoothing`` window). Reuses the feature
    map the split's embedding already computed (``fmap``) or the run's frozen-backbone cache; on
    the plain path the query pixels' embeddings ``query_emb`` are reused and only the other nodes
    are embedded, so a pixel is embedded at most once per evaluation (once per run when frozen)."""
    nodes = run_scene_nodes(target, split, cfg)
    if fmap is None and cache is not None:
        fmap = cache.scene_map()
    if fmap is not None:
        nodes["emb"] = fmap.read(nodes["rows"], nodes["cols"])
        return nodes
    rest = np.ones(len(nodes["rows"]), dtype=bool)
    if query_emb is not None:
        rest[nodes["query_pos"]] = False
    emb = embed(model, target.prepared, nodes["rows"][rest], nodes["cols"][rest], cfg, device, desc="scene pool")
    if query_emb is not None:
        full = emb.new_zeros(len(nodes["rows"]), emb.shape[1])
        full[torch.from_numpy(rest)] = emb
        full[torch.as_tensor(nodes["query_pos"])] = query_emb.to(emb.dtype)
        emb = full
    nodes["emb"] = emb
    return nodes
