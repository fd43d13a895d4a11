"""Deep prompt tuning (Jia et al., *Visual Prompt Tuning*, ECCV 2022, arXiv 2203.12119).

**The method.** A frozen ViT is steered by ``n`` learnable tokens prepended to the sequence at
*every* block ("VPT-deep"): block ℓ sees ``[P_ℓ; x]``, and its output prompt positions are
discarded and replaced by ``P_{ℓ+1}`` before the next block. Only the prompts train:
``depth × n × D`` parameters per encoder. The tapped features never contain prompt tokens.

**In MIFOMO** (``PEFT_type: Prompt``, SPEC §7.3) each branch gets 8 prompts per layer,
initialised as ``D^-½·N(0, 1)``. In this kit the encoders own an attribute
``prompts: Optional[nn.Parameter]`` of shape ``(depth, n, D)`` that they pass to
:func:`mifomo_lite.models.blocks.run_blocks`; :func:`install_prompts` just sets it.
Deep prompts need full attention (SSA samples keys from the token grid and refuses prompts), so
installing them on an encoder with SSA blocks is refused here, before any forward pass.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..models.blocks import SparseSamplingAttention
from .errors import AdaptationError

__all__ = ["install_prompts", "remove_prompts", "find_prompt_encoders"]


def find_prompt_encoders(model: nn.Module) -> dict[str, nn.Module]:
    """Encoders that accept deep prompts: modules with a ``blocks`` ModuleList and a ``prompts``
    attribute (``None`` or a Parameter), keyed by their qualified name (``""`` for the root)."""
    out = {}
    for name, mod in model.named_modules():
        if isinstance(getattr(mod, "blocks", None), nn.ModuleList) and hasattr(mod, "prompts"):
            out[name] = mod
    return out


def install_prompts(encoder: nn.Module, n_prompts: int = 8, std: Optional[float] = None) -> nn.Parameter:
    """Give ``encoder`` deep prompts ``(depth, n_prompts, D)`` drawn from ``std·N(0, 1)``
    (``std`` defaults to ``D^-½``, as MIFOMO) and return the new Parameter."""
    if int(n_prompts) < 1:
        raise AdaptationError(f"n_prompts must be ≥ 1, got {n_prompts}")
    if getattr(encoder, "prompts", None) is not None:
        raise AdaptationError(f"{type(encoder).__name__} already has deep prompts")
    blocks = encoder.blocks
    ssa = [i for i, b in enumerate(blocks) if isinstance(b.attn, SparseSamplingAttention)]
    if ssa:
        raise AdaptationError(
            f"deep prompts need full attention, but {type(encoder).__name__} uses sparse sampling "
            f"attention in blocks {ssa}; build the encoder with full MHSA (attention='mhsa') or "
            "choose another method"
        )
    ref = blocks[0].attn.qkv.weight
    depth, D = len(blocks), blocks[0].attn.dim
    scale = D ** -0.5 if std is None else float(std)
    p = nn.Parameter(scale * torch.randn(depth, int(n_prompts), D, device=ref.device, dtype=ref.dtype))
    encoder.prompts = p
    return p


def remove_prompts(encoder: nn.Module) -> bool:
    """Drop the encoder's deep prompts; return whether it had any."""
    had = getattr(encoder, "prompts", None) is not None
    if had:
        encoder.prompts = None
    return had
