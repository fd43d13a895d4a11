"""Closed-form parameter counts of the adapters, and the parameter table for the kit's sizes.

=============================  =====================================================
adapter                        trainable parameters
=============================  =====================================================
CP, one matrix per head        layers × heads × dh²   (× 2 with the value side)
CP, shared across heads        layers × dh²           (× 2 with the value side)
LoRA, ``variant="input"``      r · (d_in + d_out) per wrapped projection
LoRA, ``variant="output"``     r · 2·d_out per wrapped projection (= r·(d_in + d_out)
                               for q/k/v/proj, where d_in = d_out = D)
deep prompts                   depth × n_prompts × D per encoder
=============================  =====================================================

:func:`closed_form_adapter_params` applies these formulas to a model's architecture (it reads
layer counts, heads and widths, never the adapter tensors), so tests can compare them with the
parameters :func:`~mifomo_lite.peft.apply_adaptation` actually allocates; the table of the kit's
sizes is :mod:`mifomo_lite.peft.table`.
"""

from __future__ import annotations

from collections import Counter
from torch import nn

from ..models.blocks import Attention, Block
from .prompts import find_prompt_encoders

__all__ = [
    "cp_param_count", "lora_param_count", "prompt_param_count", "closed_form_adapter_params",
]


def cp_param_count(layers: int, heads: int, head_dim: int, shared: bool = False, value_side: bool = False) -> int:
    """``layers × heads × dh²`` (per head) or ``layers × dh²`` (shared); doubled with value CP."""
    per_layer = head_dim * head_dim * (1 if shared else heads)
    return layers * per_layer * (2 if value_side else 1)


def lora_param_count(rank: int, d_in: int, d_out: int, n_wrapped: int = 1) -> int:
    """``r·(d_in + d_out)`` per wrapped projection (A is r×d_in, B is d_out×r)."""
    return n_wrapped * rank * (d_in + d_out)


def prompt_param_count(depth: int, n_prompts: int, dim: int) -> int:
    """``depth × n × D`` for one encoder."""
    return depth * n_prompts * dim


def _lora_dims(block: Block, target: str) -> tuple[int, int]:
    D = block.attn.dim
    if target in ("q", "k", "v", "proj"):
        return D, D
    hidden = block.mlp.fc1.out_features
    return (D, hidden) if target == "fc1" else (hidden, D)


def closed_form_adapter_params(model: nn.Module, method: str, **options) -> int:
    """Adapter parameters that ``apply_adaptation(model, method, **options)`` should allocate,
    from the closed forms above (0 for ``full`` and ``head``)."""
    if method == "cp":
        shared = bool(options.get("shared_across_heads", False))
        value_side = bool(options.get("value_side", False))
        groups = Counter((m.num_heads, m.head_dim) for m in model.modules() if isinstance(m, Attention))
        return sum(cp_param_count(n, h, dh, shared, value_side) for (h, dh), n in groups.items())
    if method == "lora":
        rank = int(options.get("rank", 16))
        targets = options.get("targets", ("q", "v"))
        targets = (targets,) if isinstance(targets, str) else tuple(targets)
        variant = options.get("variant", "input")
        total = 0
        for blk in (m for m in model.modules() if isinstance(m, Block)):
            for t in targets:
                d_in, d_out = _lora_dims(blk, t)
                total += lora_param_count(rank, d_in if variant == "input" else d_out, d_out)
        return total
    if method == "prompt":
        n = int(options.get("n_prompts", 8))
        return sum(
            prompt_param_count(len(enc.blocks), n, enc.blocks[0].attn.dim)
            for enc in find_prompt_encoders(model).values()
        )
    return 0
