"""What follows an adaptation: the optimiser groups of SPEC §8.2 (:func:`param_groups`: adapter
parameters at their own learning rate without weight decay), and folding CP and LoRA into the
frozen weights for inference and back (:func:`merge_adapters` / :func:`unmerge_adapters`)."""

from __future__ import annotations

from typing import Optional

from torch import nn

from ..models.blocks import Attention
from .api import adapter_parameters
from .cp import CoalescentProjection
from .errors import AdaptationError
from .lora import LoRALinear

__all__ = ["param_groups", "merge_adapters", "unmerge_adapters", "is_merged"]


# --------------------------------------------------------------------------------- optimiser
def param_groups(
    model: nn.Module,
    lr_model: float,
    lr_peft: float,
    lr_scale: Optional[float] = None,
    weight_decay: float = 1e-5,
) -> list[dict]:
    """Optimiser parameter groups as MIFOMO's released code builds them (SPEC §8.2):

    * ``peft`` — CP/LoRA/prompt parameters at ``lr_peft``, **no** weight decay;
    * ``scale`` — parameters named ``scale`` (the prototypical temperature) at ``lr_scale``, no
      decay (only when ``lr_scale`` is given; otherwise they join ``model_no_decay``);
    * ``model_decay`` — other trainable tensors with ≥ 2 dimensions, not biases, at ``lr_model``
      with ``weight_decay``;
    * ``model_no_decay`` — biases, 1-D tensors and scalars at ``lr_model``, no decay.

    Only parameters with ``requires_grad`` are included; empty groups are dropped. Every group
    carries a ``"name"``; pass the list to ``torch.optim.AdamW(groups, eps=1e-4)``. To include a
    classifier that lives outside the model (e.g. the prototypical scale), pass a container such
    as ``nn.ModuleDict({"model": model, "classifier": clf})``: adapters are recognised by module
    type and the scale by its name's last component, whatever the prefix.
    """
    adapter_ids = {id(p) for _, p in adapter_parameters(model).values()}
    groups = {"peft": [], "scale": [], "model_decay": [], "model_no_decay": []}
    seen: set[int] = set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        if id(p) in adapter_ids:
            groups["peft"].append(p)
        elif lr_scale is not None and name.rsplit(".", 1)[-1] == "scale":
            groups["scale"].append(p)
        elif p.ndim <= 1 or name.endswith(".bias") or name == "bias":
            groups["model_no_decay"].append(p)
        else:
            groups["model_decay"].append(p)
    settings = {
        "peft": (lr_peft, 0.0),
        "scale": (lr_scale, 0.0),
        "model_decay": (lr_model, weight_decay),
        "model_no_decay": (lr_model, 0.0),
    }
    return [
        {"name": k, "params": v, "lr": settings[k][0], "weight_decay": settings[k][1]}
        for k, v in groups.items() if v
    ]


# --------------------------------------------------------------------------------- merging
def merge_adapters(model: nn.Module, safe: bool = False, strict: bool = True) -> dict:
    """Fold every CP and LoRA adapter into the frozen weights (inference without adapter cost).

    ``safe=True`` checks each folded tensor for NaN/Inf before writing it. A query-side CP inside
    sparse sampling attention cannot be folded exactly (see :mod:`.cp`): with ``strict=True`` this
    raises before anything is merged, with ``strict=False`` those CPs stay active. Returns
    ``{"merged": n, "skipped": m}``. Prompts have nothing to merge.
    """
    from ..models.blocks import SparseSamplingAttention

    todo_cp, skipped = [], 0
    for a in (m for m in model.modules() if isinstance(m, Attention)):
        for cp in (a.query_adapter, a.value_adapter):
            if isinstance(cp, CoalescentProjection) and not cp.merged:
                if cp.side == "query" and isinstance(a, SparseSamplingAttention):
                    if strict:
                        raise AdaptationError(
                            "a query-side CP sits in sparse sampling attention, which cannot be merged "
                            "exactly (SSA computes offsets from the raw query); use strict=False to "
                            "merge the others and keep these active")
                    skipped += 1
                    continue
                todo_cp.append((cp, a))
    todo_lora = [m for m in model.modules() if isinstance(m, LoRALinear) and not m.merged]
    done: list = []
    try:
        for cp, a in todo_cp:
            cp.merge(a, safe=safe)
            done.append((cp, a))
        for m in todo_lora:
            m.merge(safe=safe)
            done.append((m, None))
    except Exception:
        for obj, a in reversed(done):  # leave the model as it was
            obj.unmerge(a) if a is not None else obj.unmerge()
        raise
    return {"merged": len(done), "skipped": skipped}


def unmerge_adapters(model: nn.Module) -> int:
    """Restore the original weights of every merged CP/LoRA (bit-exact); return how many."""
    n = 0
    for a in (m for m in model.modules() if isinstance(m, Attention)):
        for cp in (a.value_adapter, a.query_adapter):
            if isinstance(cp, CoalescentProjection) and cp.merged:
                cp.unmerge(a)
                n += 1
    for m in model.modules():
        if isinstance(m, LoRALinear) and m.merged:
            m.unmerge()
            n += 1
    return n


def is_merged(model: nn.Module) -> bool:
    """Whether any CP or LoRA adapter of ``model`` is currently merged."""
    return any(
        getattr(m, "merged", False) for m in model.modules() if isinstance(m, (CoalescentProjection, LoRALinear))
    )

