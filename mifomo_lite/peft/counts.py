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
parameters :func:`~mifomo_lite.peft.apply_adaptation` actually allocates.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping, Optional, Sequence

from torch import nn

from ..models.blocks import Attention, Block
from .prompts import find_prompt_encoders

__all__ = [
    "cp_param_count", "lora_param_count", "prompt_param_count", "closed_form_adapter_params",
    "parameter_table", "format_parameter_table", "DEFAULT_TABLE_METHODS",
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


#: (label, method, options) rows of :func:`parameter_table`.
DEFAULT_TABLE_METHODS: tuple[tuple[str, str, dict], ...] = (
    ("CP (per head)", "cp", {}),
    ("CP (shared across heads)", "cp", {"shared_across_heads": True}),
    ("CP + value CP", "cp", {"value_side": True}),
    ("LoRA q,v r=3 (MIFOMO code)", "lora", {"rank": 3, "variant": "output"}),
    ("LoRA q,v r=16", "lora", {"rank": 16}),
    ("deep prompts n=8", "prompt", {"n_prompts": 8}),
    ("head only", "head", {}),
    ("full fine-tuning", "full", {}),
)


def parameter_table(
    sizes: Sequence[str] = ("tiny", "base"),
    methods: Iterable[tuple[str, str, dict]] = DEFAULT_TABLE_METHODS,
    phase: str = "target",
    trainable_set: str = "code",
    models: Optional[Mapping[str, nn.Module]] = None,
) -> list[dict]:
    """One row per (size, method): adapter parameters (allocated and closed form), other
    trainable parameters (the protocol set of ``phase``/``trainable_set``), total trainable,
    those in blocks that actually run (MIFOMO's spectral encoder stops at its tap), and the
    backbone size. The prototypical classifier's scale (1 parameter) lives outside the model and
    is not counted.

    By default the MIFOMO model of each size is built on the ``meta`` device (no memory, no
    init cost) through :func:`mifomo_lite.models.factory.create_model`; pass ``models`` (name → factory
    result or module) to tabulate other models. Each model is re-adapted in place per row.
    """
    from .api import apply_adaptation, remove_adaptation

    if models is None:
        from ..models.factory import create_model  # the MIFOMO model of the given size

        models = {s: create_model(s, kind="mifomo", device="meta") for s in sizes}
    rows = []
    for size, model in models.items():
        for label, method, opts in methods:
            summ = apply_adaptation(model, method, phase=phase, trainable_set=trainable_set, replace=True, **opts)
            rows.append({
                "size": size,
                "label": label,
                "method": method,
                "options": dict(opts),
                "adapter": summ.adapter,
                "adapter_closed_form": summ.closed_form,
                "other_trainable": summ.trainable - summ.adapter,
                "trainable": summ.trainable,
                "trainable_in_blocks_that_run": summ.effective_trainable,
                "backbone": summ.backbone,
                "trainable_pct_of_backbone": round(100.0 * summ.trainable / max(summ.backbone, 1), 4),
            })
        remove_adaptation(model)
    return rows


def format_parameter_table(rows: Sequence[dict]) -> str:
    """Render :func:`parameter_table` rows as a Markdown table."""
    head = ("| size | method | adapter params | closed form | other trainable | total trainable | "
            "in blocks that run | backbone | % of backbone |")
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['label']} | {r['adapter']:,} | {r['adapter_closed_form']:,} | "
            f"{r['other_trainable']:,} | {r['trainable']:,} | {r['trainable_in_blocks_that_run']:,} | "
            f"{r['backbone']:,} | {r['trainable_pct_of_backbone']:.2f} |"
        )
    return "\n".join(lines)
