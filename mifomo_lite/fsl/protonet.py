"""Prototypical classification: class-mean prototypes, scaled cosine logits and the episode losses.

**Prototypical networks** (Snell, Swersky & Zemel, "Prototypical Networks for Few-shot Learning",
NeurIPS 2017) classify a query by its similarity to one *prototype* per class, the mean of that
class's support embeddings. Snell et al. use the negative squared Euclidean distance; MIFOMO
(arXiv 2601.22581, ``shared.py::PrototypicalClassifier``) uses the cosine similarity multiplied by a
learnable scale *s* (initialised to 20), as in "cosine classifiers" with a learned temperature.
Without the scale the logits would lie in [-1, 1] and the softmax could never become confident.

Two logit forms exist in the released code (SPEC §8.1):

* ``cosine_similarity`` (phase 1): ``logit_c = s·cos(e, p_c)``;
* ``cosine_distance`` (target phases): ``logit_c = -s·(1 - cos(e, p_c))``.

They differ by the constant ``-s`` in every column, so the softmax, the cross-entropy and the
argmax are identical; only the raw logits differ. Both are available for fidelity.

Losses: ``L_fsl`` is the usual cross-entropy on hard labels; mixed samples carry *soft* labels and
use ``soft_cross_entropy`` = ``-Σ_c y_c log softmax(logits)_c`` averaged over the batch, exactly
what ``torch.nn.functional.cross_entropy`` does with probability targets — in particular the target
rows are **not** renormalised (raw LGC scores whose rows do not sum to 1 scale the loss).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import DataError, EpisodeError
from ._checks import check_2d, check_choice, check_labels, check_same_rows

LogitForm = Literal["cosine_similarity", "cosine_distance"]
LOGIT_FORMS = ("cosine_similarity", "cosine_distance")


def prototypes(support_emb: torch.Tensor, support_y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Class-mean prototypes ``p_c = mean{e_i : y_i = c}`` (Snell et al. 2017).

    ``support_emb`` is ``[n_support, D]``, ``support_y`` holds integer ids in ``0..n_classes-1``.
    Returns ``[n_classes, D]`` in the embeddings' dtype and device; differentiable w.r.t. the
    embeddings (it is a matrix product with the normalised one-hot matrix). A class with no support
    sample has no prototype, so it raises :class:`~mifomo_lite.errors.EpisodeError` naming it.
    """
    check_2d(support_emb, "support_emb")
    y = check_labels(torch.as_tensor(support_y, device=support_emb.device), n_classes, "support_y")
    check_same_rows(support_emb, y, "support_emb", "support_y")
    onehot = F.one_hot(y, n_classes).to(support_emb.dtype).T  # [C, n]
    counts = onehot.sum(dim=1, keepdim=True)
    if bool((counts == 0).any()):
        empty = torch.nonzero(counts.squeeze(1) == 0).squeeze(1).tolist()
        raise EpisodeError(f"classes {empty} have no support sample, so no prototype (n_classes={n_classes})")
    return (onehot @ support_emb) / counts


def class_means(emb: torch.Tensor, labels: torch.Tensor, n: int) -> torch.Tensor:
    """Class-mean prototypes ``[n, D]`` where a class may have no member: its prototype is zero
    (cosine logit 0), as the intermediate domain needs for target classes an episode did not draw.
    ``labels`` are integer ids on ``emb``'s device."""
    out = emb.new_zeros(n, emb.shape[1])
    out.index_add_(0, labels, emb)
    counts = torch.bincount(labels, minlength=n).clamp_min(1).to(emb.dtype)
    return out / counts[:, None]


def cosine_similarity_matrix(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``[n_a, n_b]`` matrix of cosine similarities between the rows of ``a`` and ``b``."""
    return F.normalize(a, dim=-1, eps=eps) @ F.normalize(b, dim=-1, eps=eps).T


class PrototypicalHead(nn.Module):
    """Scaled-cosine prototype classifier with a learnable scale (MIFOMO ``PrototypicalClassifier``).

    ``forward(query_emb, protos)`` returns ``[n_query, n_classes]`` logits, either
    ``s·cos(e, p)`` (``logit_form="cosine_similarity"``, phase 1 of the released code) or
    ``-s·(1 - cos(e, p))`` (``"cosine_distance"``, its target phases) — the same softmax. The scale
    ``s`` (attribute ``scale``) starts at ``init_scale`` = 20 and is an ``nn.Parameter`` trained
    with its own learning rate (``lr_temperature_prototypical_classifier``); with
    ``learnable=False`` it is a fixed buffer. ``probabilities`` gives the pseudo-labelling
    probabilities ``softmax(s·cos)`` (SPEC §8.1), ``predict`` the argmax class.
    """

    def __init__(self, init_scale: float = 20.0, logit_form: LogitForm = "cosine_similarity", learnable: bool = True):
        super().__init__()
        self.logit_form = check_choice("logit_form", logit_form, LOGIT_FORMS)
        init = torch.tensor(float(init_scale))
        if learnable:
            self.scale = nn.Parameter(init)
        else:
            self.register_buffer("scale", init)

    def extra_repr(self) -> str:
        return f"logit_form={self.logit_form!r}, scale={float(self.scale.detach()):.4g}"

    def forward(self, query_emb: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
        check_2d(query_emb, "query_emb")
        check_2d(protos, "protos")
        if query_emb.shape[1] != protos.shape[1]:
            raise DataError(
                f"query_emb has width {query_emb.shape[1]} but protos have width {protos.shape[1]}"
            )
        cos = cosine_similarity_matrix(query_emb, protos)
        if self.logit_form == "cosine_similarity":
            return self.scale * cos
        return -self.scale * (1.0 - cos)

    @torch.no_grad()
    def probabilities(self, query_emb: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``softmax(s·cos(e, p_c))`` (identical for both logit forms)."""
        return torch.softmax(self.forward(query_emb, protos), dim=-1)

    @torch.no_grad()
    def predict(self, query_emb: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
        """Predicted class ids (argmax of the logits)."""
        return self.forward(query_emb, protos).argmax(dim=-1)


def fsl_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Episode loss ``L_fsl``: mean cross-entropy of the query logits against hard labels ``y``.

    Labels must already be episode-local ids ``0..C-1`` (the released code re-indexes with
    ``torch.unique``; here the sampler is expected to do it, and a wrong id raises instead of being
    silently remapped)."""
    check_2d(logits, "logits")
    y = check_labels(torch.as_tensor(y, device=logits.device), logits.shape[1], "y")
    check_same_rows(logits, y, "logits", "y")
    return F.cross_entropy(logits, y)


def soft_cross_entropy(logits: torch.Tensor, soft_targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Soft-label cross-entropy ``-Σ_c y_c · log_softmax(logits)_c`` per row, then mean (or sum/none).

    Used for mixup targets (Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018)
    and for the intermediate-domain loss of MIFOMO. The targets are **not** renormalised, matching
    ``F.cross_entropy`` with probability targets and the official code; for one-hot targets it
    equals the ordinary cross-entropy."""
    check_2d(logits, "logits")
    if soft_targets.shape != logits.shape:
        raise DataError(
            f"soft_targets has shape {tuple(soft_targets.shape)} but logits have {tuple(logits.shape)}; "
            "they must match (one target column per class)"
        )
    per_row = -(soft_targets.to(logits.dtype) * F.log_softmax(logits, dim=-1)).sum(dim=-1)
    if reduction == "mean":
        return per_row.mean()
    if reduction == "sum":
        return per_row.sum()
    if reduction == "none":
        return per_row
    check_choice("reduction", reduction, ("mean", "sum", "none"))
    raise AssertionError  # pragma: no cover
