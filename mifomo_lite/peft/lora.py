"""LoRA: low-rank updates of frozen projections (Hu et al., *LoRA: Low-Rank Adaptation of Large
Language Models*, arXiv 2106.09685, 2021).

**The method.** A frozen linear map ``y = x·Wᵀ + b`` is given a trainable low-rank correction
``W + (α/r)·B·A`` with ``A ∈ ℝ^{r×d_in}`` and ``B ∈ ℝ^{d_out×r}``, ``r ≪ min(d_in, d_out)``.
``A`` starts Kaiming-uniform (a = √5, as huggingface/peft) and ``B`` at zero, so at step 0 the
adapted model *is* the frozen model. Each wrapped projection adds ``r·(d_in + d_out)``
parameters. After training, ``B·A`` can be folded into ``W`` (:meth:`LoRALinear.merge`) and
inference costs nothing extra.

**Fused qkv.** HyperSIGMA has one ``qkv`` Linear (D → 3D). Adapting "q and v" (the default, as
MIFOMO's ablation, ``LoRA_qkv_mask = [True, False, True]``) means one (A, B) pair per chosen
output slice: rows ``[0, D)`` for q, ``[D, 2D)`` for k, ``[2D, 3D)`` for v, each counted as one
wrapped projection with ``d_in = d_out = D``. ``proj``, ``fc1`` and ``fc2`` can be targeted too.

**Two variants.**

* ``variant="input"`` (default; standard LoRA, as peft): ``y_s ← y_s + (α/r)·(x·Aᵀ)·Bᵀ``.
* ``variant="output"`` — what MIFOMO's released code does (``model/shared.py``, SPEC §7.3): the
  low-rank map acts on the *projected* slice, ``q ← q + W_up·W_down·q`` (``W_down`` = A,
  ``r × D``; ``W_up`` = B, ``D × r``), with **no α/r scaling** (use ``alpha=None`` with this
  variant: scaling 1) and rank 3 by default in that code (16 in its LoRA ablation configs).
  It also folds exactly: ``y_s' = y_s·(I + B·A)ᵀ`` gives ``W_s' = W_s + B·(A·W_s)`` and
  ``b_s' = b_s + B·(A·b_s)``.

**Wrapping.** :class:`LoRALinear` takes over the base Linear's ``weight`` and ``bias`` (the very
same Parameter objects, frozen), so state-dict keys such as ``blocks.0.attn.qkv.weight`` do not
change and pretrained checkpoints still load; the adapters appear as ``qkv.lora_A.q``,
``qkv.lora_B.q`` and so on. :func:`unwrap_lora` puts a plain ``nn.Linear`` back. Because the
wrapper *is* ``attn.qkv``, sparse sampling attention also computes its sampling offsets from the
adapted query — merged or not, so merging LoRA is exact in SSA layers too (unlike a query CP).
"""

from __future__ import annotations

import math
from typing import Mapping, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .errors import AdaptationError

__all__ = ["LORA_VARIANTS", "LoRALinear", "unwrap_lora"]

LORA_VARIANTS = ("input", "output")


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus LoRA pairs on named slices of its output rows.

    ``slices`` maps a name (``"q"``, ``"v"``, ``"all"``...) to ``(start, stop)`` output rows.
    Call signature, ``weight``, ``bias``, ``in_features`` and ``out_features`` are those of the
    base Linear, so it can stand in for ``attn.qkv`` (SSA calls it twice per forward — fine).
    """

    def __init__(
        self,
        base: nn.Linear,
        slices: Mapping[str, tuple[int, int]],
        rank: int,
        alpha: Optional[float] = None,
        variant: str = "input",
    ):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise AdaptationError(f"LoRA wraps nn.Linear layers, got {type(base).__name__}")
        if variant not in LORA_VARIANTS:
            raise AdaptationError(f"unknown LoRA variant {variant!r}; choose one of {LORA_VARIANTS}")
        if int(rank) < 1:
            raise AdaptationError(f"LoRA rank must be ≥ 1, got {rank}")
        if not slices:
            raise AdaptationError("LoRA needs at least one output slice to adapt")
        self.in_features = base.in_features
        self.out_features = base.out_features
        self.weight = base.weight
        self.bias = base.bias
        self.weight.requires_grad_(False)
        if self.bias is not None:
            self.bias.requires_grad_(False)
        self.rank = int(rank)
        self.alpha = None if alpha is None else float(alpha)
        self.scaling = 1.0 if alpha is None else float(alpha) / self.rank
        self.variant = variant
        self.slices: dict[str, tuple[int, int]] = {}
        spans = sorted((int(a), int(b), k) for k, (a, b) in slices.items())
        for i, (a, b, k) in enumerate(spans):
            if not (0 <= a < b <= self.out_features):
                raise AdaptationError(f"LoRA slice {k!r}=({a}, {b}) is outside 0..{self.out_features}")
            if i and a < spans[i - 1][1]:
                raise AdaptationError(f"LoRA slices {spans[i - 1][2]!r} and {k!r} overlap")
            self.slices[k] = (a, b)
        w = base.weight
        self.lora_A = nn.ParameterDict()
        self.lora_B = nn.ParameterDict()
        for k, (a, b) in self.slices.items():
            d_in = self.in_features if variant == "input" else b - a
            A = torch.empty(self.rank, d_in, device=w.device, dtype=w.dtype)
            nn.init.kaiming_uniform_(A, a=math.sqrt(5))
            self.lora_A[k] = nn.Parameter(A)
            self.lora_B[k] = nn.Parameter(torch.zeros(b - a, self.rank, device=w.device, dtype=w.dtype))
        self.merged = False
        self._orig: dict[str, torch.Tensor] = {}

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"slices={self.slices}, rank={self.rank}, scaling={self.scaling:g}, "
            f"variant={self.variant}, merged={self.merged}"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight, self.bias)
        if self.merged:
            return y
        deltas = {}
        for k, (a, b) in self.slices.items():
            src = x if self.variant == "input" else y[..., a:b]
            delta = F.linear(F.linear(src, self.lora_A[k]), self.lora_B[k])
            deltas[a] = (b, delta * self.scaling if self.scaling != 1.0 else delta)
        # Assemble out of place: the output variant saved views of y for backward.
        pieces, pos = [], 0
        for a in sorted(deltas):
            b, delta = deltas[a]
            if a > pos:
                pieces.append(y[..., pos:a])
            pieces.append(y[..., a:b] + delta)
            pos = b
        if pos < self.out_features:
            pieces.append(y[..., pos:])
        return torch.cat(pieces, dim=-1)

    # -- merging ---------------------------------------------------------------------------
    def delta_weights(self) -> dict[str, tuple[torch.Tensor, Optional[torch.Tensor]]]:
        """Per slice, the merged ``(weight rows, bias rows)`` (computed in float64, cast back);
        bias rows are ``None`` when the bias does not change. Modifies nothing."""
        out = {}
        for k, (a, b) in self.slices.items():
            A = self.lora_A[k].detach().double()
            B = self.lora_B[k].detach().double()
            W = self.weight[a:b].detach().double()
            if self.variant == "input":
                W_new = W + self.scaling * (B @ A)
                b_new = None
            else:
                W_new = W + self.scaling * (B @ (A @ W))
                b_new = None
                if self.bias is not None:
                    bb = self.bias[a:b].detach().double()
                    b_new = (bb + self.scaling * (B @ (A @ bb))).to(self.bias.dtype)
            out[k] = (W_new.to(self.weight.dtype), b_new)
        return out

    def merge(self, safe: bool = False) -> None:
        """Fold every ``B·A`` into ``weight`` (and, for the output variant, ``bias``); keep the
        original rows so :meth:`unmerge` is exact. ``safe=True`` (peft's ``safe_merge``) checks
        all folded tensors for NaN/Inf first and leaves the layer untouched if any is found."""
        if self.merged:
            raise AdaptationError("this LoRA layer is already merged; call unmerge() first")
        new = self.delta_weights()
        if safe:
            for k, (W_new, b_new) in new.items():
                if not torch.isfinite(W_new).all() or (b_new is not None and not torch.isfinite(b_new).all()):
                    raise AdaptationError(f"safe merge refused: LoRA slice {k!r} would give NaN/Inf weights")
        with torch.no_grad():
            for k, (W_new, b_new) in new.items():
                a, b = self.slices[k]
                self._orig[f"w.{k}"] = self.weight[a:b].detach().clone()
                self.weight[a:b] = W_new
                if b_new is not None:
                    self._orig[f"b.{k}"] = self.bias[a:b].detach().clone()
                    self.bias[a:b] = b_new
        self.merged = True

    def unmerge(self) -> None:
        """Write the stored original rows back (bit-exact; nothing is subtracted)."""
        if not self.merged:
            raise AdaptationError("this LoRA layer is not merged")
        with torch.no_grad():
            for k, (a, b) in self.slices.items():
                self.weight[a:b] = self._orig.pop(f"w.{k}")
                if f"b.{k}" in self._orig:
                    self.bias[a:b] = self._orig.pop(f"b.{k}")
        self.merged = False

    def _apply(self, fn, recurse=True):  # keep stored originals on the same device/dtype
        out = super()._apply(fn, recurse)
        self._orig = {k: fn(v) for k, v in self._orig.items()}
        return out


def unwrap_lora(layer: LoRALinear) -> nn.Linear:
    """Return a plain ``nn.Linear`` holding the layer's (unmerged) weight and bias Parameters."""
    if layer.merged:
        layer.unmerge()
    lin = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None, device="meta")
    lin.weight = layer.weight
    if layer.bias is not None:
        lin.bias = layer.bias
    return lin
