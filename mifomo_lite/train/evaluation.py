"""Prediction and evaluation of one stage of a test episode: prototype scores, label propagation
(the variant ``eval_propagation`` names), class mass normalisation, and the metrics of both."""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import fsl
from .config import RunConfig
from .domains import Domain
from .embedding import EmbeddingCache, embed_split

__all__ = ["onehot", "head_probabilities", "full_graph_scores", "propagated_scores", "predict", "stage_metrics",
           "evaluate_stage"]


def onehot(y: torch.Tensor, n: int) -> torch.Tensor:
    return F.one_hot(y.long(), n).float()


def head_probabilities(model: nn.Module, query_emb: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
    """Prototype-head probabilities computed on the head's device (embeddings are kept on the
    CPU between stages; the head's learnable scale lives with the model), returned on the CPU."""
    dev = next(model.classifier.parameters()).device
    with torch.no_grad():
        return model.classifier.probabilities(query_emb.to(dev), protos.to(dev)).float().cpu()


def full_graph_scores(support_emb: torch.Tensor, support_y, query_emb: torch.Tensor, n_classes: int,
                      class_mass: str = "none") -> torch.Tensor:
    """LGC over one k-NN graph of the support and *all* query embeddings (the transductive
    baselines' propagation, :func:`mifomo_lite.fsl.propagation_baseline`, with the same
    ``class_mass`` option): ``[n_query, C]`` scores, row-normalised to sum to 1 (rows with no mass
    stay 0)."""
    res = fsl.propagation_baseline(support_emb.float().numpy(), np.asarray(support_y), query_emb.float().numpy(),
                                   n_classes=n_classes, class_mass=class_mass)
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
        return full_graph_scores(support_emb, support_y, query_emb, n_classes, cfg.propagation_class_mass)
    ys = torch.as_tensor(support_y)
    probs = head_probabilities(model, query_emb, fsl.prototypes(support_emb, ys, n_classes))
    scores = fsl.label_propagation(support_emb, onehot(ys, n_classes), query_emb, probs,
                                   alpha=cfg.lgc_alpha, sigma=cfg.lgc_sigma, batch_size=cfg.lgc_batch_size)
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


def stage_metrics(model, split, cfg: RunConfig, s_emb: torch.Tensor, q_emb: torch.Tensor, *, propagate: bool) -> dict:
    """Metrics of one evaluation stage, without and (optionally) with propagation."""
    C = split.n_classes
    out = {"plain": fsl.classification_metrics(split.query_labels,
                                               predict(model, s_emb, split.support_labels, q_emb, C, cfg, False), C)}
    if propagate:
        out["propagated"] = fsl.classification_metrics(
            split.query_labels, predict(model, s_emb, split.support_labels, q_emb, C, cfg, True), C)
    return out


def evaluate_stage(model, target: Domain, split, cfg: RunConfig, device, *, propagate: bool,
                   progress_desc: str = "query", cache: Optional[EmbeddingCache] = None):
    """Embed support and all query pixels (:func:`embed_split`); metrics without and (optionally)
    with propagation. Returns ``(metrics, s_emb, q_emb)``."""
    s_emb, q_emb, _ = embed_split(model, target, split, cfg, device, progress_desc=progress_desc, cache=cache)
    return stage_metrics(model, split, cfg, s_emb, q_emb, propagate=propagate), s_emb, q_emb
