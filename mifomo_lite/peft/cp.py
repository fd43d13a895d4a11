"""Coalescent projection (CP): one learnable dh×dh matrix per attention head.

**The method.** Coalescent projection was introduced by Paeedeh, Pratama, Mayer, Cao and
Kowalczyk, *Cross-Domain Few-Shot Learning with Coalescent Projections and Latent Space
Reservation* (CPLSR, arXiv 2507.15243) as a successor to soft prompts, and is the adaptation
mechanism of MIFOMO (Paeedeh et al., arXiv 2601.22581). The backbone stays frozen; in every
attention layer ℓ and head h a single matrix ``C_{ℓ,h} ∈ ℝ^{dh×dh}`` is inserted between the
queries and the keys::

    logits = (q·dh^-½) · C · kᵀ          (SPEC §7.1; the paper writes Softmax(Q·C·Kᵀ/√D')·V)

so each head learns a bilinear form ``q·C·kᵀ`` instead of the dot product ``q·kᵀ``. With
``C = I`` the layer is exactly the pretrained one; MIFOMO starts from "almost diagonal" ``C``
(trunc-normal std 0.02, then the diagonal set to 1). One matrix per head gives
``layers × heads × dh²`` parameters (1,179,648 for the two ViT-B encoders); the ablation
"one CP for all heads" shares one ``dh×dh`` matrix across the heads of a layer
(``layers × dh²``). An optional value-side CP (``v ← v·C_v``, "dual CP" in
``Naeem-Paeedeh/CVLC``) is implemented but off by default, as in MIFOMO.

**Where it plugs in.** :class:`CoalescentProjection` is installed as
``Attention.query_adapter`` (and ``value_adapter`` for the value side) of
:mod:`mifomo_lite.models.blocks`, which applies it to the *scaled* per-head queries
``(B, heads, N, dh)``. Full attention (MHSA) and sparse sampling attention (SSA) share
``split_heads``, so CP works in both.

**Why merging is exact.** For head h let ``W_h ∈ ℝ^{dh×D}`` and ``b_h ∈ ℝ^{dh}`` be its rows
of the query part of ``qkv`` and ``s = dh^-½``. Queries are row vectors, so::

    (x·W_hᵀ + b_h)·s·C_h = s·(x·W_hᵀ·C_h + b_h·C_h) = s·(x·(C_hᵀ·W_h)ᵀ + b_h·C_h)

The scale ``s`` is a scalar and commutes with ``C_h``; therefore replacing the query rows by
``W_h' = C_hᵀ·W_h`` and the query bias by ``b_h' = b_h·C_h`` gives *the same* scaled, adapted
queries with no adapter at run time (zero inference overhead). The value side folds the same way
into the value rows (``v·C_v``; in SSA bilinear sampling is linear per channel, so it commutes
with ``C_v`` too). :meth:`CoalescentProjection.merge` does this (in float64, then cast back) and
keeps a copy of the original rows, so :meth:`~CoalescentProjection.unmerge` restores them
*bit for bit* — it never inverts ``C`` (which may be ill-conditioned or singular).

**One exception: query CP inside SSA.** SSA computes its sampling offsets from the raw projected
query ``qkv(x)[..., :D]``, which the query adapter does not touch. Folding ``C`` into those rows
would change the offsets, so merging a *query* CP of an SSA layer is refused (a value-side CP
merges exactly). MIFOMO's backbone uses full attention everywhere (SPEC §5.9), so its CPs merge.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..models.blocks import Attention, SparseSamplingAttention
from .errors import AdaptationError

__all__ = ["CP_INITS", "CoalescentProjection", "init_cp_", "install_cp", "remove_cp"]

#: Initialisations of the official code (``InitializationType``) under snake-case names.
#: ``identity`` is the official ``Diagonal``; ``almost_diagonal`` is the default.
CP_INITS = ("almost_diagonal", "identity", "normal", "kaiming", "uniform")


def init_cp_(weight: torch.Tensor, init: str = "almost_diagonal", std: float = 0.02) -> torch.Tensor:
    """Initialise a CP tensor ``[dh, dh]`` or ``[heads, dh, dh]`` in place, as
    ``initialize_a_tensor`` of the official code does (``model/shared.py``):

    * ``almost_diagonal``: ``trunc_normal_(std)`` (torch's default cut at ±2, i.e. effectively
      untruncated for std 0.02), then every diagonal entry set to 1;
    * ``identity``: exactly ``I`` per head;
    * ``normal`` (trunc-normal std), ``kaiming`` (Kaiming-normal), ``uniform`` (U(−0.08, 0.08)).
    """
    if init not in CP_INITS:
        raise AdaptationError(f"unknown CP init {init!r}; choose one of {', '.join(CP_INITS)}")
    if weight.ndim not in (2, 3) or weight.shape[-1] != weight.shape[-2]:
        raise AdaptationError(f"a CP tensor is [dh, dh] or [heads, dh, dh]; got {tuple(weight.shape)}")
    with torch.no_grad():
        if init in ("almost_diagonal", "normal"):
            nn.init.trunc_normal_(weight, std=std)
        elif init == "identity":
            weight.zero_()
        elif init == "kaiming":
            nn.init.kaiming_normal_(weight)
        else:
            nn.init.uniform_(weight, -0.08, 0.08)
        if init in ("almost_diagonal", "identity"):
            weight.diagonal(dim1=-2, dim2=-1).fill_(1.0)
    return weight


class CoalescentProjection(nn.Module):
    """One CP: ``x ↦ x·C`` on per-head tensors ``(B, heads, N, dh)``.

    ``weight`` is ``[heads, dh, dh]`` (one matrix per head, the MIFOMO default) or ``[dh, dh]``
    (``shared=True``: one matrix for every head of the layer). ``side`` is ``"query"`` (logits
    ``(q·s)·C·kᵀ``) or ``"value"`` (``v·C_v``). See the module docstring for the method, its
    papers, and why :meth:`merge` is exact.

    While merged, :meth:`forward` is the identity (``C`` already lives in ``qkv``); merging is
    meant for inference — ``C`` receives no gradient until :meth:`unmerge`.
    """

    def __init__(
        self,
        num_heads: int,
        head_dim: int,
        shared: bool = False,
        init: str = "almost_diagonal",
        std: float = 0.02,
        side: str = "query",
        device=None,
        dtype=None,
    ):
        super().__init__()
        if side not in ("query", "value"):
            raise AdaptationError(f"CP side must be 'query' or 'value', got {side!r}")
        self.num_heads = int(num_heads)
        self.head_dim = int(head_dim)
        self.shared = bool(shared)
        self.side = side
        self.init = init
        self.std = float(std)
        shape = (head_dim, head_dim) if shared else (num_heads, head_dim, head_dim)
        self.weight = nn.Parameter(torch.empty(shape, device=device, dtype=dtype))
        init_cp_(self.weight, init, std)
        self.merged = False
        # Original qkv rows, kept while merged (not part of the state dict).
        self.register_buffer("_orig_weight", None, persistent=False)
        self.register_buffer("_orig_bias", None, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return x
        # (B, H, N, dh) @ (H, dh, dh) broadcasts over B; a shared (dh, dh) broadcasts over B and H.
        return x @ self.weight.to(x.dtype)

    def extra_repr(self) -> str:
        kind = "shared" if self.shared else f"heads={self.num_heads}"
        return f"side={self.side}, {kind}, head_dim={self.head_dim}, init={self.init}, merged={self.merged}"

    # -- merging ---------------------------------------------------------------------------
    def _rows(self, attn: Attention) -> slice:
        D = attn.num_heads * attn.head_dim
        return slice(0, D) if self.side == "query" else slice(2 * D, 3 * D)

    def _check_owner(self, attn: Attention) -> None:
        if not isinstance(attn, Attention):
            raise AdaptationError(f"merge needs the owning Attention module, got {type(attn).__name__}")
        slot = attn.query_adapter if self.side == "query" else attn.value_adapter
        if slot is not self:
            raise AdaptationError(f"this {self.side}-side CP is not installed in the given attention module")
        qkv = attn.qkv
        if not isinstance(getattr(qkv, "weight", None), torch.Tensor):
            raise AdaptationError(f"cannot fold a CP into attn.qkv of type {type(qkv).__name__} (no weight)")
        if (attn.num_heads, attn.head_dim) != (self.num_heads, self.head_dim):
            raise AdaptationError(
                f"CP built for heads={self.num_heads}, dh={self.head_dim} but the attention has "
                f"heads={attn.num_heads}, dh={attn.head_dim}"
            )

    def merged_rows(self, attn: Attention) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The folded ``(weight rows, bias rows)`` for ``attn.qkv`` (computed in float64):
        ``W_h' = C_hᵀ·W_h`` and ``b_h' = b_h·C_h`` per head. Does not modify anything."""
        self._check_owner(attn)
        H, dh = self.num_heads, self.head_dim
        rows = self._rows(attn)
        W = attn.qkv.weight[rows].detach().double().reshape(H, dh, -1)  # (H, dh, D_in)
        C = self.weight.detach().double()
        C = C.expand(H, dh, dh) if C.ndim == 2 else C
        W_new = (C.transpose(-1, -2) @ W).reshape(H * dh, -1).to(attn.qkv.weight.dtype)
        b = getattr(attn.qkv, "bias", None)
        b_new = None
        if b is not None:
            b_new = (b[rows].detach().double().reshape(H, 1, dh) @ C).reshape(H * dh).to(b.dtype)
        return W_new, b_new

    def merge(self, attn: Attention, safe: bool = False) -> None:
        """Fold ``C`` into the query (or value) rows of ``attn.qkv`` so that inference needs no
        adapter; keep the original rows for an exact :meth:`unmerge`. ``safe=True`` checks the
        folded rows for NaN/Inf before writing them. Merging twice is an error."""
        if self.merged:
            raise AdaptationError("this CP is already merged; call unmerge() first")
        self._check_owner(attn)
        if self.side == "query" and isinstance(attn, SparseSamplingAttention):
            raise AdaptationError(
                "cannot merge a query-side CP into sparse sampling attention: SSA derives its "
                "sampling offsets from the raw projected query, which folding C would change "
                "(the merged model would differ). Keep the CP unmerged in SSA layers."
            )
        W_new, b_new = self.merged_rows(attn)
        if safe:
            bad = not torch.isfinite(W_new).all() or (b_new is not None and not torch.isfinite(b_new).all())
            if bad:
                raise AdaptationError("safe merge refused: folding the CP into qkv gives NaN/Inf weights")
        rows = self._rows(attn)
        with torch.no_grad():
            self._orig_weight = attn.qkv.weight[rows].detach().clone()
            attn.qkv.weight[rows] = W_new
            if b_new is not None:
                self._orig_bias = attn.qkv.bias[rows].detach().clone()
                attn.qkv.bias[rows] = b_new
        self.merged = True

    def unmerge(self, attn: Attention) -> None:
        """Write the stored original rows back into ``attn.qkv`` (exact, no inversion of ``C``)."""
        if not self.merged:
            raise AdaptationError("this CP is not merged")
        self._check_owner(attn)
        rows = self._rows(attn)
        with torch.no_grad():
            attn.qkv.weight[rows] = self._orig_weight
            if self._orig_bias is not None:
                attn.qkv.bias[rows] = self._orig_bias
        self._orig_weight = None
        self._orig_bias = None
        self.merged = False


def install_cp(
    attn: Attention,
    shared: bool = False,
    init: str = "almost_diagonal",
    std: float = 0.02,
    value_side: bool = False,
) -> list[CoalescentProjection]:
    """Put a query-side CP (and optionally a value-side one) into ``attn``; return them.
    The new parameters get the device and dtype of ``attn.qkv.weight``."""
    if attn.query_adapter is not None or attn.value_adapter is not None:
        raise AdaptationError("this attention module already has a query/value adapter installed")
    w = attn.qkv.weight
    kw = dict(shared=shared, init=init, std=std, device=w.device, dtype=w.dtype)
    attn.query_adapter = CoalescentProjection(attn.num_heads, attn.head_dim, side="query", **kw)
    out = [attn.query_adapter]
    if value_side:
        attn.value_adapter = CoalescentProjection(attn.num_heads, attn.head_dim, side="value", **kw)
        out.append(attn.value_adapter)
    return out


def remove_cp(attn: Attention) -> int:
    """Unmerge (if needed) and remove the CPs of ``attn``; return how many were removed."""
    n = 0
    for slot in ("query_adapter", "value_adapter"):
        cp = getattr(attn, slot)
        if isinstance(cp, CoalescentProjection):
            if cp.merged:
                cp.unmerge(attn)
            setattr(attn, slot, None)
            n += 1
    return n
