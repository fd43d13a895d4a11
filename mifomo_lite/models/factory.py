"""Build models by name and measure them (parameters per part, FLOPs per sample)."""

from __future__ import annotations

import contextlib
from typing import Any, Optional, Union

import torch
from torch import nn

from ..errors import ConfigError
from .config import HyperSIGMAConfig, get_config
from .fusion import HyperSIGMAClassifier, MifomoHyperSIGMA

__all__ = ["create_model", "count_parameters", "count_flops", "MODEL_KINDS"]

MODEL_KINDS = ("mifomo", "hypersigma")


def create_model(
    size: Union[str, HyperSIGMAConfig] = "tiny",
    kind: str = "mifomo",
    num_classes: int = 17,
    device: Optional[Union[str, torch.device]] = None,
    init: bool = True,
    **overrides: Any,
) -> nn.Module:
    """Build a model from a preset name (or a config) plus field overrides.

    ``kind="mifomo"`` → :class:`MifomoHyperSIGMA` (defaults: 9×9 windows, 50 PCA components, full
    attention); ``kind="hypersigma"`` → :class:`HyperSIGMAClassifier` with HyperSIGMA's
    classification defaults (33×33, 30 PCA, conv p = 2, SSA) and ``num_classes`` outputs.

    ``device="meta"`` builds the structure without allocating memory (for counting parameters and
    FLOPs of large/huge, or for planning a checkpoint load); ``init=False`` skips the random
    initialisation (useful right before loading weights).
    """
    if kind not in MODEL_KINDS:
        raise ConfigError(f"unknown model kind {kind!r}; choose one of {MODEL_KINDS}")
    if kind == "hypersigma" and not isinstance(size, HyperSIGMAConfig):
        cfg = HyperSIGMAClassifier.default_config(size, **overrides)
    else:
        cfg = get_config(size, **overrides)
    if device is not None and torch.device(device).type == "meta":
        init = False  # nothing to initialise: meta tensors hold no values
    ctx = torch.device(device) if device is not None else contextlib.nullcontext()
    with ctx:
        if kind == "mifomo":
            return MifomoHyperSIGMA(cfg, init=init)
        return HyperSIGMAClassifier(cfg, num_classes=num_classes, init=init)


def _numel(params) -> int:
    return int(sum(p.numel() for p in params))


def count_parameters(model: nn.Module) -> dict:
    """Parameters per part of a fusion model (works on ``meta`` models too).

    Returns a flat dict of counts: ``spatial.*`` (patch_embed, pos_embed, blocks, ssa_offsets,
    norm, fpn), ``spectral.*`` (spat_map, pos_embed, blocks_executed, blocks_unused, ssa_offsets,
    norm, l1), ``fusion`` (gates, DR, merger, classifier head), ``other`` (anything else, e.g. PEFT
    adapters or prompts), ``total``, ``trainable`` and ``used_in_forward`` (total minus the spectral
    blocks after the tap, which never run). SSA offsets are counted separately from ``blocks``.
    """
    named = dict(model.named_parameters())
    seen: set[str] = set()
    out: dict[str, int] = {}

    def take(key: str, names) -> None:
        names = [n for n in names if n not in seen]
        seen.update(names)
        out[key] = out.get(key, 0) + _numel(named[n] for n in names)

    spat, spec = getattr(model, "spat_encoder", None), getattr(model, "spec_encoder", None)
    if spat is not None:
        p = "spat_encoder."
        take("spatial.patch_embed", [n for n in named if n.startswith(p + "patch_embed.")])
        take("spatial.pos_embed", [n for n in named if n == p + "pos_embed"])
        take("spatial.ssa_offsets", [n for n in named if n.startswith(p + "blocks.") and "sampling_offsets" in n])
        take("spatial.blocks", [n for n in named if n.startswith(p + "blocks.") and "sampling_offsets" not in n
                                and _is_block_weight(n)])
        take("spatial.norm", [n for n in named if n.startswith(p + "norm.")])
        take("spatial.fpn", [n for n in named if n.startswith(p + "fpn")])
    if spec is not None:
        p = "spec_encoder."
        last = spec.tap
        take("spectral.spat_map", [n for n in named if n.startswith(p + "spat_map.")])
        take("spectral.pos_embed", [n for n in named if n == p + "pos_embed"])
        take("spectral.ssa_offsets", [n for n in named if n.startswith(p + "blocks.") and "sampling_offsets" in n
                                      and _block_index(n) <= last])
        take("spectral.blocks_executed", [n for n in named if n.startswith(p + "blocks.") and _is_block_weight(n)
                                          and _block_index(n) <= last])
        take("spectral.blocks_unused", [n for n in named if n.startswith(p + "blocks.") and _is_block_weight(n)
                                        and _block_index(n) > last])
        take("spectral.norm", [n for n in named if n.startswith(p + "norm.")])
        take("spectral.l1", [n for n in named if n.startswith(p + "l1.")])
    take("fusion.gates", [n for n in named if n.startswith(("mlp_spec", "fc_spec"))])
    take("fusion.DR", [n for n in named if n.startswith("DR")])
    take("fusion.merger", [n for n in named if n.startswith("merger.")])
    take("fusion.classifier", [n for n in named if n.startswith("classifier.")])
    take("other", [n for n in named if n not in seen])
    out = {k: v for k, v in out.items() if v or k in ("other",)}
    out["spatial"] = sum(v for k, v in out.items() if k.startswith("spatial."))
    out["spectral"] = sum(v for k, v in out.items() if k.startswith("spectral."))
    out["fusion"] = sum(v for k, v in out.items() if k.startswith("fusion."))
    out["total"] = _numel(named.values())
    out["trainable"] = _numel(p for p in named.values() if p.requires_grad)
    out["used_in_forward"] = out["total"] - out.get("spectral.blocks_unused", 0)
    return out


def _is_block_weight(name: str) -> bool:
    return _block_index(name) >= 0


def _block_index(name: str) -> int:
    parts = name.split(".")
    try:
        return int(parts[parts.index("blocks") + 1])
    except (ValueError, IndexError):
        return -1


def count_flops(model: nn.Module, batch_size: int = 1, backward: bool = False) -> dict:
    """FLOPs of one forward (and optionally backward) pass, per sample, counted with
    :class:`torch.utils.flop_counter.FlopCounterMode` (2 FLOPs per multiply-add; matmuls,
    convolutions and attention — the elementwise ops and ``grid_sample`` are not counted).

    The model runs on the ``meta`` device when it lives there (no memory, no time), otherwise on
    its own device with a zero batch. Returns ``{"total", "spatial", "spectral", "fusion"}`` per
    sample (plus ``"backward"`` when requested).
    """
    from torch.utils.flop_counter import FlopCounterMode

    cfg = model.cfg
    param = next(model.parameters())
    x = torch.zeros(batch_size, cfg.in_chans, cfg.patch_size, cfg.patch_size, device=param.device,
                    requires_grad=False)
    counter = FlopCounterMode(display=False)
    was_training = model.training
    model.eval()
    try:
        if backward:
            with counter:
                out = model(x)
                out.float().sum().backward()
        else:
            with torch.no_grad(), counter:
                model(x)
    finally:
        model.train(was_training)
        if backward:
            model.zero_grad(set_to_none=True)
    by_module = counter.get_flop_counts()
    total = counter.get_total_flops()
    name = type(model).__name__

    def part(sub: str) -> int:
        return int(sum(by_module.get(f"{name}.{sub}", {}).values()))

    spatial, spectral = part("spat_encoder"), part("spec_encoder")
    res = {"total": total / batch_size, "spatial": spatial / batch_size, "spectral": spectral / batch_size,
           "fusion": (total - spatial - spectral) / batch_size}
    if backward:
        res["note"] = "total includes the backward pass"
    return res
