"""One entry point for every adaptation method: :func:`apply_adaptation`.

``apply_adaptation(model, method, **options)`` freezes the model, installs the adapter of
``method``, marks by name what trains, and returns an :class:`AdaptationSummary`:

* ``"cp"`` — coalescent projection in every attention layer (:mod:`.cp`; Paeedeh et al., CPLSR
  arXiv 2507.15243, MIFOMO arXiv 2601.22581). Options: ``shared_across_heads`` (False),
  ``init`` (``"almost_diagonal"`` | ``"identity"`` | ``"normal"`` | ``"kaiming"`` |
  ``"uniform"``), ``std`` (0.02), ``value_side`` (False).
* ``"lora"`` — low-rank updates of frozen projections (:mod:`.lora`; Hu et al. 2021). Options:
  ``rank`` (16), ``alpha`` (None → α = r, scaling 1), ``targets`` (``("q", "v")``; any of
  q, k, v, proj, fc1, fc2), ``variant`` (``"input"`` standard LoRA | ``"output"`` MIFOMO's
  code: adapt the projected q/v, use with ``rank=3, alpha=None``).
* ``"prompt"`` — deep prompts in every encoder with a ``prompts`` slot (:mod:`.prompts`;
  VPT, Jia et al. 2022). Options: ``n_prompts`` (8), ``std`` (None → D^-½).
* ``"full"`` — full fine-tuning: every parameter trains (no adapter). The classical transfer
  baseline and the upper bound of what adaptation can change; in MIFOMO's ablation
  (``full_fine_tuning``, arXiv 2601.22581, SPEC §7.3) it trains about 145× as many parameters as
  per-head CP (base: 171.7M vs 1.18M), and with five shots per class the backbone can drift far
  from its pretrained features.
* ``"head"`` — head only: the transformer blocks stay frozen and only the protocol's task head and
  fresh embedding/fusion layers train (MIFOMO's "without CP / all disabled" ablation,
  ``PEFT_type: Disabled``, SPEC §7.3). It measures what the adapter itself adds. Note that the
  pixel embedding sits *below* the blocks, so activation gradients still flow through every
  executed block (SPEC §10.4): head-only saves the backbone's weight gradients and optimiser
  state, not the backward pass. The same holds for CP, LoRA and prompts.

Besides the adapter, the protocol's named trainable set trains (:mod:`.protocol`):
``trainable_set="code"`` (released code, default) or ``"cp_only"`` (the paper: adapter only),
in ``phase="source"`` (phase 1) or ``"target"``; ``extra_trainable`` adds name prefixes.

**Switching methods** on one model instance is supported but explicit: applying a method to a
model that already carries one raises :class:`~.errors.AdaptationError` unless ``replace=True``
(then the previous adapters are unmerged and removed first, leaving the original modules and
weights — a full fine-tune's weight changes of course stay). :func:`remove_adaptation` undoes an
adaptation by hand.

The optimiser groups and merging of adapters into the frozen weights are in :mod:`.merge`.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from torch import nn

from ..models.blocks import Attention, Block
from .counts import closed_form_adapter_params
from .cp import CoalescentProjection, install_cp, remove_cp
from .errors import AdaptationError
from .lora import LoRALinear, unwrap_lora
from .prompts import find_prompt_encoders, install_prompts, remove_prompts
from .options import CPOptions, LoRAOptions, PromptOptions, parse_options
from .protocol import matches_any, protocol_trainables

__all__ = [
    "METHODS", "CPOptions", "LoRAOptions", "PromptOptions", "AdaptationSummary", "PartCount",
    "apply_adaptation", "set_trainables", "remove_adaptation", "current_adaptation", "adapter_parameters",
    "summarize",
]

METHODS = ("cp", "lora", "prompt", "full", "head")
ADAPTATION_ATTR = "_mifomo_adaptation"


# --------------------------------------------------------------------------------- summary
@dataclass
class PartCount:
    """Parameters of one part of the model: ``kind`` is ``"adapter"`` or ``"model"``."""

    name: str
    kind: str
    trainable: int
    total: int


@dataclass
class AdaptationSummary:
    """What :func:`apply_adaptation` did: trainable parameters per part and in total, next to
    the backbone size (the model's parameters without adapters). ``closed_form`` is the adapter
    count predicted by :func:`~mifomo_lite.peft.counts.closed_form_adapter_params`.
    ``effective_trainable`` leaves out trainable parameters that cannot receive a gradient because
    their block never runs (MIFOMO's spectral encoder stops after its tap: for base, 786,432 of the
    1,179,648 per-head CP parameters are used, SPEC §7.1)."""

    method: str
    options: dict
    trainable_set: str
    phase: str
    parts: list = field(default_factory=list)
    trainable: int = 0
    adapter: int = 0
    backbone: int = 0
    total: int = 0
    closed_form: int = 0
    effective_trainable: int = 0
    trainable_names: list = field(default_factory=list)

    @property
    def trainable_fraction(self) -> float:
        """Trainable parameters as a fraction of the backbone."""
        return self.trainable / self.backbone if self.backbone else 0.0

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["trainable_fraction"] = self.trainable_fraction
        return d

    def __str__(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in self.options.items())
        title = f"adaptation: {self.method}" + (f" ({opts})" if opts else "")
        title += f" | trainable_set={self.trainable_set}, phase={self.phase}"
        w = max([len(p.name) for p in self.parts] + [34])
        lines = [title, f"{'part':<{w}}  {'kind':<7}  {'trainable':>12}  {'total':>12}", "-" * (w + 39)]
        for p in self.parts:
            lines.append(f"{p.name:<{w}}  {p.kind:<7}  {p.trainable:>12,}  {p.total:>12,}")
        lines.append("-" * (w + 39))
        lines.append(f"{'adapter parameters (closed form ' + format(self.closed_form, ',') + ')':<{w}}"
                     f"  {'':<7}  {self.adapter:>12,}")
        lines.append(f"{'trainable parameters':<{w}}  {'':<7}  {self.trainable:>12,}"
                     f"  ({100 * self.trainable_fraction:.3f} % of backbone)")
        if self.effective_trainable != self.trainable:
            lines.append(f"{'  of which in blocks that run':<{w}}  {'':<7}  {self.effective_trainable:>12,}")
        lines.append(f"{'backbone (model without adapters)':<{w}}  {'':<7}  {'':>12}  {self.backbone:>12,}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------- helpers
def adapter_parameters(model: nn.Module) -> dict[str, tuple[str, nn.Parameter]]:
    """Every adapter parameter of ``model``: qualified name → (kind, parameter), kind being
    ``"cp"``, ``"lora"`` or ``"prompt"``."""
    out: dict[str, tuple[str, nn.Parameter]] = {}
    prompt_encoders = find_prompt_encoders(model)
    for mname, mod in model.named_modules():
        pre = f"{mname}." if mname else ""
        if isinstance(mod, CoalescentProjection):
            out[pre + "weight"] = ("cp", mod.weight)
        elif isinstance(mod, LoRALinear):
            for k, p in mod.lora_A.items():
                out[f"{pre}lora_A.{k}"] = ("lora", p)
            for k, p in mod.lora_B.items():
                out[f"{pre}lora_B.{k}"] = ("lora", p)
        if mname in prompt_encoders and isinstance(getattr(mod, "prompts", None), nn.Parameter):
            out[pre + "prompts"] = ("prompt", mod.prompts)
    return out


def current_adaptation(model: nn.Module) -> Optional[dict]:
    """``{"method", "options", "trainable_set", "phase", "extra_trainable"}`` of the adaptation
    applied to ``model`` by :func:`apply_adaptation`, or ``None``."""
    rec = getattr(model, ADAPTATION_ATTR, None)
    return copy.deepcopy(rec) if rec else None


def _set_child(root: nn.Module, qualname: str, new: nn.Module) -> None:
    parent_name, _, child = qualname.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)


def remove_adaptation(model: nn.Module) -> int:
    """Remove every adapter (CPs, LoRA wrappers, deep prompts), unmerging first where needed, and
    make all parameters trainable again (a fresh module's state). Returns the number of adapter
    modules/tensors removed."""
    n = 0
    for mod in list(model.modules()):
        if isinstance(mod, Attention):
            n += remove_cp(mod)
    for name, mod in list(model.named_modules()):
        if isinstance(mod, LoRALinear):
            _set_child(model, name, unwrap_lora(mod))
            n += 1
    for enc in find_prompt_encoders(model).values():
        n += int(remove_prompts(enc))
    if hasattr(model, ADAPTATION_ATTR):
        delattr(model, ADAPTATION_ATTR)
    model.requires_grad_(True)
    return n


def _top_part(model: nn.Module, name: str) -> str:
    parts = name.split(".")
    if len(parts) >= 2:
        top = getattr(model, parts[0], None)
        if isinstance(getattr(top, "blocks", None), nn.ModuleList):
            return ".".join(parts[:2])  # inside an encoder: spat_encoder.blocks, spat_encoder.pos_embed ...
    return parts[0]


def _executed_depth(enc: nn.Module) -> int:
    """How many leading blocks of an encoder its forward pass runs."""
    n = len(enc.blocks)
    if isinstance(getattr(enc, "executed_blocks", None), int):
        return min(n, enc.executed_blocks)
    for attr in ("out_indices", "taps"):
        taps = getattr(enc, attr, None)
        if taps:
            return min(n, max(int(t) for t in taps) + 1)
    return n


def _unused_block_prefixes(model: nn.Module) -> tuple[list[str], dict[str, float]]:
    """Name prefixes of blocks that never run, and per encoder the run fraction of its prompts."""
    prefixes, prompt_frac = [], {}
    for name, mod in model.named_modules():
        blocks = getattr(mod, "blocks", None)
        if isinstance(blocks, nn.ModuleList) and blocks and isinstance(blocks[0], Block):
            pre = f"{name}." if name else ""
            d = _executed_depth(mod)
            prefixes += [f"{pre}blocks.{i}." for i in range(d, len(blocks))]
            prompt_frac[f"{pre}prompts"] = d / len(blocks)
    return prefixes, prompt_frac


def summarize(model: nn.Module, method: Optional[str] = None) -> AdaptationSummary:
    """The :class:`AdaptationSummary` of the model's current state (parameters' ``requires_grad``
    and installed adapters)."""
    rec = current_adaptation(model) or {}
    method = method or rec.get("method", "none")
    adapters = adapter_parameters(model)
    adapter_kind = {id(p): k for k, p in adapters.values()}
    unused, prompt_frac = _unused_block_prefixes(model)
    parts: dict[tuple[str, str], list[int]] = {}
    names, total, effective = [], 0, 0
    seen: set[int] = set()
    for name, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        if id(p) in adapter_kind:
            kind_name = adapter_kind[id(p)]
            owner = name.split(".")[0]
            top = getattr(model, owner, None)
            is_encoder_child = isinstance(getattr(top, "blocks", None), nn.ModuleList)
            key = (f"{owner}.{kind_name}" if is_encoder_child else kind_name, "adapter")
        else:
            key = (_top_part(model, name), "model")
        c = parts.setdefault(key, [0, 0])
        c[1] += p.numel()
        total += p.numel()
        if p.requires_grad:
            c[0] += p.numel()
            names.append(name)
            if name in prompt_frac:
                effective += round(p.numel() * prompt_frac[name])
            elif not name.startswith(tuple(unused)):
                effective += p.numel()
    rows = [PartCount(n, k, t, a) for (n, k), (t, a) in parts.items()]
    rows.sort(key=lambda r: (r.kind != "adapter", r.name))
    adapter = sum(p.numel() for _, p in adapters.values())
    opts = rec.get("options", {})
    return AdaptationSummary(
        method=method,
        options=dict(opts),
        trainable_set=rec.get("trainable_set", "-"),
        phase=rec.get("phase", "-"),
        parts=rows,
        trainable=sum(r.trainable for r in rows),
        adapter=adapter,
        backbone=total - adapter,
        total=total,
        closed_form=closed_form_adapter_params(model, method, **opts) if method in METHODS else 0,
        effective_trainable=effective,
        trainable_names=names,
    )


# --------------------------------------------------------------------------------- install
def _install_cp(model: nn.Module, o: CPOptions) -> None:
    attns = [m for m in model.modules() if isinstance(m, Attention)]
    if not attns:
        raise AdaptationError(f"{type(model).__name__} has no attention layers to put a CP into")
    for a in attns:
        install_cp(a, shared=o.shared_across_heads, init=o.init, std=o.std, value_side=o.value_side)


def _install_lora(model: nn.Module, o: LoRAOptions) -> None:
    blocks = [(n, m) for n, m in model.named_modules() if isinstance(m, Block)]
    if not blocks:
        raise AdaptationError(f"{type(model).__name__} has no transformer blocks to put LoRA into")
    qkv_targets = [t for t in o.targets if t in ("q", "k", "v")]
    for name, blk in blocks:
        pre = f"{name}." if name else ""
        D = blk.attn.dim
        if qkv_targets:
            base = blk.attn.qkv
            if not isinstance(base, nn.Linear):
                raise AdaptationError(f"{pre}attn.qkv is a {type(base).__name__}, not an nn.Linear")
            slices = {t: ("qkv".index(t) * D, ("qkv".index(t) + 1) * D) for t in qkv_targets}
            blk.attn.qkv = LoRALinear(base, slices, o.rank, o.alpha, o.variant)
        for t, owner, attr in (("proj", blk.attn, "proj"), ("fc1", blk.mlp, "fc1"), ("fc2", blk.mlp, "fc2")):
            if t in o.targets:
                base = getattr(owner, attr)
                if not isinstance(base, nn.Linear):
                    raise AdaptationError(f"{pre}{t} is a {type(base).__name__}, not an nn.Linear")
                setattr(owner, attr, LoRALinear(base, {t: (0, base.out_features)}, o.rank, o.alpha, o.variant))


def _install_prompts(model: nn.Module, o: PromptOptions) -> None:
    encoders = find_prompt_encoders(model)
    if not encoders:
        raise AdaptationError(
            f"{type(model).__name__} has no encoder with a 'prompts' slot (a module with 'blocks' "
            "and a 'prompts' attribute passed to run_blocks)")
    for enc in encoders.values():
        install_prompts(enc, o.n_prompts, o.std)


_INSTALLERS = {"cp": _install_cp, "lora": _install_lora, "prompt": _install_prompts}


def set_trainables(model: nn.Module, method: str, trainable_set: str = "code", phase: str = "source",
                   extra_trainable: Sequence[str] = ()) -> None:
    """The one rule for what trains: everything for ``method="full"``; otherwise everything
    frozen, then the adapter parameters, the protocol's trainable set of ``phase`` and the
    ``extra_trainable`` name prefixes unfrozen. Used when an adapter is installed and again at
    every phase switch of a run."""
    if method == "full":
        model.requires_grad_(True)
        return
    model.requires_grad_(False)
    for _, p in adapter_parameters(model).values():
        p.requires_grad_(True)
    prefixes = protocol_trainables(trainable_set, phase) + tuple(extra_trainable)
    for name, p in model.named_parameters():
        if matches_any(name, prefixes):
            p.requires_grad_(True)


def apply_adaptation(
    model: nn.Module,
    method: str = "cp",
    *,
    trainable_set: str = "code",
    phase: str = "source",
    extra_trainable: Sequence[str] = (),
    replace: bool = False,
    **options: Any,
) -> AdaptationSummary:
    """Adapt ``model`` in place with ``method`` (``"cp"``, ``"lora"``, ``"prompt"``, ``"full"``
    or ``"head"``) and return an :class:`AdaptationSummary` (see the module docstring for the
    methods, their options and the switching rule).

    Everything is frozen first; then the adapter parameters, the protocol's trainable set
    (``trainable_set``/``phase``, see :func:`~mifomo_lite.peft.protocol.protocol_trainables`)
    and ``extra_trainable`` name prefixes are made trainable (all parameters for ``"full"``).
    The train/eval mode is left alone. On any error the model is left without adapters.
    """
    if method not in METHODS:
        raise AdaptationError(f"unknown adaptation method {method!r}; choose one of {METHODS}")
    opts = parse_options(method, dict(options))
    prefixes = protocol_trainables(trainable_set, phase) + tuple(extra_trainable)
    prev = current_adaptation(model)
    if prev is not None or adapter_parameters(model):
        if not replace:
            what = f"method {prev['method']!r}" if prev else "adapters"
            raise AdaptationError(
                f"{type(model).__name__} already carries {what}; pass replace=True to remove it "
                "first (its adapter weights are discarded — save_adapter() keeps them), or call "
                "remove_adaptation(model)")
        remove_adaptation(model)
    try:
        model.requires_grad_(False)
        if method in _INSTALLERS:
            _INSTALLERS[method](model, opts)
        set_trainables(model, method, trainable_set, phase, extra_trainable)
        if not any(p.requires_grad for p in model.parameters()):
            raise AdaptationError(
                f"method {method!r} with trainable_set={trainable_set!r} leaves nothing trainable in "
                f"{type(model).__name__} (no parameter matches {list(prefixes)}); use "
                "extra_trainable=(...) to name the head")
        rec = {
            "method": method,
            "options": dataclasses.asdict(opts) if opts is not None else {},
            "trainable_set": trainable_set,
            "phase": phase,
            "extra_trainable": list(extra_trainable),
        }
        if "targets" in rec["options"]:
            rec["options"]["targets"] = list(rec["options"]["targets"])
        setattr(model, ADAPTATION_ATTR, rec)
    except Exception:
        remove_adaptation(model)
        raise
    return summarize(model)
