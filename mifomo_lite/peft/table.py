"""The parameter table of the kit's sizes: adapter parameters as allocated next to their closed
forms (:mod:`mifomo_lite.peft.counts`), the other trainables of the protocol, and the backbone."""

from __future__ import annotations

from typing import Iterable, Mapping, Optional, Sequence

from torch import nn

from .api import apply_adaptation, remove_adaptation

__all__ = ["parameter_table", "format_parameter_table", "DEFAULT_TABLE_METHODS"]

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
