"""Pseudo-labels for the unlabelled target queries: refinement and confident selection.

MIFOMO (arXiv 2601.22581) trains its intermediate domain on target queries labelled by the model
itself. Such pseudo-labels are noisy in the 5-shot regime, so they are first *refined* and then only
the most confident ones are kept (SPEC §8.4–8.5, §9 switches ``pseudo_label_refiner`` and
``pseudo_label_target``).

Refinement (:func:`refine_pseudo_labels`):

* ``"lgc"`` (default, the released code): label propagation over the support + query graph,
  :func:`~mifomo_lite.fsl.propagation.label_propagation` (Zhou et al., NIPS 2003). Output: the raw,
  unnormalised F* scores.
* ``"eps_smoothing"`` (the paper's text, "label smoothing"): the classic ε-label smoothing of
  Szegedy et al. ("Rethinking the Inception Architecture", CVPR 2016) applied to the hard
  pseudo-label, ``(1-ε)·onehot(argmax p) + ε/C``. It tempers over-confidence but cannot change a
  wrong argmax — which is why the code's propagation is a very different method under the same
  name.
* ``"none"``: the classifier's probabilities unchanged.

Selection (:func:`select_confident_pseudo_labels`, the released ``refine_one_hot_pseuodo_labels``):
drop classes with fewer than ``min_count`` (5 = 2 + 3 intermediate shots) argmax predictions, keep
the ``top_k`` most confident queries per predicted class (10 for Indian Pines, 100 otherwise;
stable descending sort by the largest retained score), drop rows whose retained scores sum to 0, and
emit soft labels as raw scores (``"lgc_raw"``, the code), row-normalised scores
(``"lgc_normalised"``) or one-hot vectors (``"onehot"``, the paper's ŷ_T).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import List, Optional

import torch
import torch.nn.functional as F

from ..errors import ConfigError, DataError
from ._checks import check_choice
from .propagation import label_propagation

logger = logging.getLogger(__name__)

REFINERS = ("lgc", "eps_smoothing", "none")
TARGET_FORMS = ("lgc_raw", "lgc_normalised", "onehot")


def eps_label_smoothing(scores: torch.Tensor, epsilon: float = 0.1) -> torch.Tensor:
    """ε-label smoothing of hard pseudo-labels: ``(1-ε)·onehot(argmax scores) + ε/C`` (rows sum
    to 1; Szegedy et al. 2016). ``scores`` is ``[n, C]`` (probabilities or logits)."""
    if scores.dim() != 2:
        raise DataError(f"scores must be [n, n_classes]; got shape {tuple(scores.shape)}")
    if not 0.0 <= epsilon <= 1.0:
        raise ConfigError(f"epsilon must lie in [0, 1]; got {epsilon}")
    c = scores.shape[1]
    dtype = scores.dtype if scores.is_floating_point() else torch.float32
    onehot = F.one_hot(scores.argmax(dim=1), c).to(dtype)
    return (1.0 - epsilon) * onehot + epsilon / c


def refine_pseudo_labels(query_probs: torch.Tensor, method: str = "lgc", *, support_emb: Optional[torch.Tensor] = None,
                         support_y_onehot: Optional[torch.Tensor] = None, query_emb: Optional[torch.Tensor] = None,
                         epsilon: float = 0.1, alpha: float = 0.9, sigma: float = 50.0, distance: str = "cosine",
                         batch_size: Optional[int] = 80, query_init: str = "probs",
                         solver: str = "solve") -> torch.Tensor:
    """Refine the query pseudo-label scores ``query_probs`` ``[n_query, C]`` by ``method``
    (switch ``pseudo_label_refiner``: ``"lgc"`` default, ``"eps_smoothing"``, ``"none"``).

    ``"lgc"`` needs ``support_emb``, ``support_y_onehot`` and ``query_emb`` and forwards α, σ,
    distance, batch size, query initialisation and solver to
    :func:`~mifomo_lite.fsl.propagation.label_propagation` (output: unnormalised F*);
    ``"eps_smoothing"`` returns :func:`eps_label_smoothing` of the argmax; ``"none"`` returns the
    probabilities unchanged (a clone). See the module docstring for the background."""
    check_choice("method", method, REFINERS)
    if query_probs.dim() != 2:
        raise DataError(f"query_probs must be [n_query, n_classes]; got shape {tuple(query_probs.shape)}")
    if method == "none":
        return query_probs.detach().clone()
    if method == "eps_smoothing":
        return eps_label_smoothing(query_probs.detach(), epsilon)
    missing = [n for n, v in (("support_emb", support_emb), ("support_y_onehot", support_y_onehot),
                              ("query_emb", query_emb)) if v is None]
    if missing:
        raise ConfigError(f"method='lgc' needs {', '.join(missing)} (the graph is built on embeddings)")
    return label_propagation(support_emb, support_y_onehot, query_emb, query_probs, alpha=alpha, sigma=sigma,
                             distance=distance, batch_size=batch_size, query_init=query_init, solver=solver)


@dataclass
class PseudoLabelSelection:
    """Result of :func:`select_confident_pseudo_labels`.

    ``query_indices``: rows of the original query set that were kept (grouped by predicted class in
    ascending class order, most confident first within a class — the released code's order).
    ``query_labels``: ``[n_kept, C']`` soft labels in the chosen ``pseudo_label_target`` form over
    the surviving classes. ``kept_classes``: the original class id of each of the C' columns.
    ``support_mask`` / ``support_labels``: support rows whose class survived and their one-hot labels
    over the C' columns (``None`` when no support labels were given). ``warnings``: human-readable
    notes (dropped classes, classes with fewer than ``top_k`` candidates)."""

    query_indices: torch.Tensor
    query_labels: torch.Tensor
    kept_classes: torch.Tensor
    support_mask: Optional[torch.Tensor] = None
    support_labels: Optional[torch.Tensor] = None
    warnings: List[str] = field(default_factory=list)

    @property
    def n_classes(self) -> int:
        return int(self.kept_classes.numel())


@torch.no_grad()
def select_confident_pseudo_labels(query_scores: torch.Tensor, support_y_onehot: Optional[torch.Tensor] = None,
                                   min_count: int = 5, top_k: int = 10,
                                   pseudo_label_target: str = "lgc_raw") -> PseudoLabelSelection:
    """The released code's pseudo-label filter (``refine_one_hot_pseuodo_labels``, SPEC §8.5).

    1. Count argmax predictions per class; keep the classes with at least ``min_count`` of them and
       drop the other columns (and the support rows of dropped classes).
    2. Re-take the argmax over the kept columns and the confidence = largest kept score; sort all
       queries by confidence, descending and **stable** (ties keep query order); for each predicted
       class keep its ``top_k`` most confident queries (``top_k <= 0`` keeps them all — the released
       code mis-indexes in that case). A class with fewer than ``top_k`` gives a warning.
    3. Drop query rows whose kept scores sum to 0 (or less), as the code does.
    4. Labels: ``"lgc_raw"`` the kept scores as they are; ``"lgc_normalised"`` divided by their row
       sum; ``"onehot"`` the one-hot argmax.

    If no class reaches ``min_count`` the selection is empty (``n_classes == 0``) and a warning says
    so; the caller decides whether to skip the intermediate phase.
    """
    check_choice("pseudo_label_target", pseudo_label_target, TARGET_FORMS)
    n_q, c = _check_scores(query_scores, support_y_onehot)
    scores = query_scores.detach()
    warnings: List[str] = []

    pred = scores.argmax(dim=1) if n_q else torch.zeros(0, dtype=torch.long)
    counts = torch.bincount(pred.cpu(), minlength=c)
    kept = torch.nonzero(counts >= min_count).squeeze(1)
    dropped = torch.nonzero(counts < min_count).squeeze(1).tolist()
    if dropped:
        warnings.append(f"classes {dropped} have fewer than min_count={min_count} predicted queries "
                        f"(counts {[int(counts[i]) for i in dropped]}) and were dropped")
    kept_dev = kept.to(scores.device)
    s_kept = scores[:, kept_dev]

    if kept.numel() == 0 or n_q == 0:
        warnings.append("no class has enough predicted queries: the pseudo-labelled pool is empty")
        chosen = torch.zeros(0, dtype=torch.long)
    else:
        chosen = _top_k_per_class(s_kept, kept, top_k, warnings)

    labels = s_kept[chosen.to(scores.device)]
    keep_rows = (labels.sum(dim=1) > 0).cpu()
    if bool((~keep_rows).any()):
        warnings.append(f"{int((~keep_rows).sum())} selected queries had kept scores summing to <= 0 and were removed")
    chosen, labels = chosen[keep_rows], labels[keep_rows.to(scores.device)]

    labels = _target_form(labels, pseudo_label_target, kept.numel())

    support_mask = support_labels = None
    if support_y_onehot is not None:
        sy = support_y_onehot[:, kept.to(support_y_onehot.device)]
        support_mask = sy.sum(dim=1) > 0
        support_labels = sy[support_mask]

    for w in warnings:
        logger.warning(w)
    return PseudoLabelSelection(query_indices=chosen, query_labels=labels, kept_classes=kept,
                                support_mask=support_mask, support_labels=support_labels, warnings=warnings)


def _top_k_per_class(s_kept: torch.Tensor, kept: torch.Tensor, top_k: int, warnings: List[str]) -> torch.Tensor:
    """Query indices: per predicted (kept) class its ``top_k`` most confident queries, classes in
    ascending order, confidence descending with a stable sort (ties keep query order)."""
    pred_k = s_kept.argmax(dim=1).cpu()
    conf = s_kept.max(dim=1).values.cpu()
    order = torch.argsort(conf, descending=True, stable=True)
    pred_sorted = pred_k[order]
    parts = []
    for cls in torch.unique(pred_k).tolist():
        members = order[pred_sorted == cls]
        if top_k > 0:
            if members.numel() < top_k:
                warnings.append(f"class {int(kept[cls])} has only {members.numel()} pseudo-labelled "
                                f"queries (< top_k={top_k}); all are kept")
            members = members[:top_k]
        parts.append(members)
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)


def _target_form(labels: torch.Tensor, form: str, n_kept: int) -> torch.Tensor:
    """The soft labels in the ``pseudo_label_target`` form (see :func:`select_confident_pseudo_labels`)."""
    if form == "lgc_normalised":
        return labels / labels.sum(dim=1, keepdim=True)
    if form == "onehot":
        if not labels.shape[0]:
            return labels.float()
        return F.one_hot(labels.argmax(dim=1), n_kept).to(labels.dtype if labels.is_floating_point() else torch.float32)
    return labels.clone()


def _check_scores(query_scores: torch.Tensor, support_y_onehot: Optional[torch.Tensor]) -> tuple[int, int]:
    """``(n_query, n_classes)`` of ``query_scores``; a clear error for a shape that does not fit."""
    if query_scores.dim() != 2:
        raise DataError(f"query_scores must be [n_query, n_classes]; got shape {tuple(query_scores.shape)}")
    n_q, c = query_scores.shape
    if support_y_onehot is not None and (support_y_onehot.dim() != 2 or support_y_onehot.shape[1] != c):
        raise DataError(
            f"support_y_onehot must be [n_support, {c}] to match query_scores; got shape {tuple(support_y_onehot.shape)}"
        )
    return n_q, c
