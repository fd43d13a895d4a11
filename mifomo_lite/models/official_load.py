"""Loading official HyperSIGMA weights into a model, and the report of what happened.

:func:`plan_official_load` maps checkpoint tensors onto a model's encoders (using
:mod:`.official`'s safe reading and name/shape filtering) without touching the model's values;
:func:`load_official_hypersigma` reads the files and applies the plan. Both return a
:class:`LoadReport` listing what loaded, what was skipped (and why), what stays freshly initialised,
and which checkpoint tensors were ignored.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Mapping, Optional

import torch
from torch import nn

from ..errors import CheckpointError
from .foundation import check_weight_tensors
from .official import CheckpointInfo, PathLike, checkpoint_filter_fn, inspect_state_dict, read_checkpoint

__all__ = ["LoadReport", "plan_official_load", "load_official_hypersigma"]


# --------------------------------------------------------------------------- report
def _group(names, coarse: bool = False) -> list[str]:
    """Collapse ``….blocks.7.attn.qkv.weight`` into ``….blocks.*.attn.qkv.weight (×12)``
    (``coarse``: every block tensor into ``….blocks.* (×192)``)."""
    pattern, repl = (r"\.?blocks\.\d+\..*$", ".blocks.*") if coarse else (r"\.blocks\.\d+\.", ".blocks.*.")
    counts = Counter(re.sub(pattern, repl, n) for n in names)
    return [f"{k} (×{v})" if v > 1 else k for k, v in sorted(counts.items())]


@dataclass
class LoadReport:
    """Outcome of :func:`load_official_hypersigma`.

    * ``loaded``: model tensor names that received checkpoint values;
    * ``skipped``: checkpoint key → reason it was not loaded although the model has such a tensor
      (shape mismatch, or an input layer the official recipes re-initialise);
    * ``missing``: model tensor names left at their fresh initialisation;
    * ``ignored``: checkpoint key → reason (MAE decoder, mask token, not in this model);
    * ``sources``: per branch, the file and what it looked like.
    """

    loaded: list = field(default_factory=list)
    skipped: dict = field(default_factory=dict)
    missing: list = field(default_factory=list)
    ignored: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)

    @property
    def fresh(self) -> list:
        """Alias of ``missing``: the tensors that keep their random (or identity) initialisation."""
        return self.missing

    def to_dict(self) -> dict:
        return {"loaded": list(self.loaded), "skipped": dict(self.skipped), "missing": list(self.missing),
                "ignored": dict(self.ignored), "sources": dict(self.sources),
                "summary": {"loaded": len(self.loaded), "skipped": len(self.skipped),
                            "missing": len(self.missing), "ignored": len(self.ignored)}}

    def to_json(self, indent: Optional[int] = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def __str__(self) -> str:
        lines = ["HyperSIGMA checkpoint load report"]
        for branch, src in self.sources.items():
            lines.append(f"  {branch:<8} file: {src.get('path')} — {src.get('description')}")
        lines.append(f"  loaded  : {len(self.loaded)} tensors")
        lines += [f"      {g}" for g in _group(self.loaded, coarse=True)]
        lines.append(f"  skipped : {len(self.skipped)} checkpoint tensors")
        lines += [f"      {k}: {v}" for k, v in sorted(self.skipped.items())]
        lines.append(f"  fresh   : {len(self.missing)} model tensors keep their initialisation")
        lines += [f"      {g}" for g in _group(self.missing)]
        reasons = Counter(self.ignored.values())
        lines.append(f"  ignored : {len(self.ignored)} checkpoint tensors")
        lines += [f"      {n} × {r}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1])]
        return "\n".join(lines)


# --------------------------------------------------------------------------- loading
def _encoders(model: nn.Module) -> dict:
    from .encoders import SpatialEncoder, SpectralEncoder

    if isinstance(model, SpatialEncoder):
        return {"spatial": ("", model)}
    if isinstance(model, SpectralEncoder):
        return {"spectral": ("", model)}
    out = {}
    if hasattr(model, "spat_encoder"):
        out["spatial"] = ("spat_encoder.", model.spat_encoder)
    if hasattr(model, "spec_encoder"):
        out["spectral"] = ("spec_encoder.", model.spec_encoder)
    if not out:
        raise CheckpointError(f"{type(model).__name__} has no spat_encoder/spec_encoder to load HyperSIGMA weights into")
    return out


def _check_compatible(info: CheckpointInfo, branch: str, encoder: nn.Module, where: str) -> None:
    cfg = encoder.cfg
    model_size = cfg.size if cfg.size != "custom" else "custom"
    if info.depth == 0 or info.embed_dim is None:
        raise CheckpointError(f"{where}: no 'blocks.*' tensors found — this is not a HyperSIGMA encoder "
                              f"checkpoint ({info.n_tensors} tensors)")
    enc_name = "spatial" if branch == "spatial" else "spectral"
    if info.branch not in (branch, "unknown"):
        raise CheckpointError(
            f"{where}: this looks like {info.describe()} but it was given as the {branch} checkpoint "
            f"({'it has spat_map and no patch_embed' if info.branch == 'spectral' else 'it has patch_embed and no spat_map'}); "
            "swap the spatial and spectral files")
    if info.embed_dim != cfg.embed_dim:
        raise CheckpointError(
            f"{where}: this looks like {info.describe()} but the {enc_name} encoder is {model_size} "
            f"(D={cfg.embed_dim}, {cfg.depth} blocks); build the model with "
            + (f"size={info.size!r}" if info.size else f"embed_dim={info.embed_dim}, depth={info.depth}"))
    if info.depth != cfg.depth:
        raise CheckpointError(
            f"{where}: the checkpoint has {info.depth} blocks but the {enc_name} encoder has {cfg.depth} "
            f"(both D={cfg.embed_dim})")


def plan_official_load(
    model: nn.Module,
    spatial: Optional[Mapping[str, torch.Tensor]] = None,
    spectral: Optional[Mapping[str, torch.Tensor]] = None,
    keep_input_layers: bool = False,
    paths: Optional[dict] = None,
) -> tuple[dict, LoadReport]:
    """Decide what to load without touching the model's values (works on ``meta`` models).

    ``spatial``/``spectral`` are state dicts (already read). Returns ``(to_load, report)`` where
    ``to_load`` maps full model names to tensors. Raises :class:`CheckpointError` when a file is of
    the wrong branch or size.
    """
    paths = paths or {}
    encs = _encoders(model)
    model_shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    report = LoadReport()
    to_load: dict = {}
    for branch, sd in (("spatial", spatial), ("spectral", spectral)):
        if sd is None:
            continue
        if branch not in encs:
            raise CheckpointError(f"a {branch} checkpoint was given but {type(model).__name__} has no {branch} encoder")
        prefix, enc = encs[branch]
        where = str(paths.get(branch, f"{branch} checkpoint"))
        info = inspect_state_dict(sd, paths.get(branch))
        _check_compatible(info, branch, enc, where)
        enc_shapes = {k[len(prefix):]: s for k, s in model_shapes.items() if k.startswith(prefix)}
        loadable, skipped, ignored = checkpoint_filter_fn(sd, enc, branch, keep_input_layers, enc_shapes)
        check_weight_tensors(loadable, where, enc_shapes)  # dtype, finite values, shape: before any use
        to_load.update({prefix + k: v for k, v in loadable.items()})
        tag = f"{branch}:"
        report.skipped.update({tag + k: v for k, v in skipped.items()})
        report.ignored.update({tag + k: v for k, v in ignored.items()})
        report.sources[branch] = {"path": info.path, "description": info.describe(), "branch": info.branch,
                                  "size": info.size, "embed_dim": info.embed_dim, "depth": info.depth,
                                  "n_tensors": info.n_tensors}
    report.loaded = sorted(to_load)
    report.missing = sorted(k for k in model_shapes if k not in to_load)
    return to_load, report


def load_official_hypersigma(
    model: nn.Module,
    spatial: Optional[PathLike] = None,
    spectral: Optional[PathLike] = None,
    keep_input_layers: bool = False,
    mmap: bool = True,
) -> LoadReport:
    """Load official HyperSIGMA MAE weights into ``model`` and return a :class:`LoadReport`.

    ``model`` is a :class:`~mifomo_lite.models.MifomoHyperSIGMA`,
    :class:`~mifomo_lite.models.HyperSIGMAClassifier` or a bare encoder; ``spatial``/``spectral``
    are paths (``.pth`` official files, or ``.safetensors`` from :func:`convert_official_checkpoint`).
    Every ``blocks.*`` and ``norm.*`` tensor loads; for MIFOMO's model the spectral ``pos_embed``
    loads too (T = 100). The input layers, SSA offsets and the fusion layers stay fresh.

    Example::

        model = create_model("base")
        report = load_official_hypersigma(model, spatial=download_official_checkpoint("spatial"),
                                          spectral=download_official_checkpoint("spectral"))
        print(report)
    """
    if spatial is None and spectral is None:
        raise CheckpointError("give at least one of spatial=PATH / spectral=PATH")
    sds, paths = {}, {}
    for branch, p in (("spatial", spatial), ("spectral", spectral)):
        if p is not None:
            sds[branch], _ = read_checkpoint(p, mmap=mmap)
            paths[branch] = str(p)
    to_load, report = plan_official_load(model, sds.get("spatial"), sds.get("spectral"), keep_input_layers, paths)
    result = model.load_state_dict(to_load, strict=False)
    if result.unexpected_keys:  # cannot happen: the plan only keeps names the model has
        raise CheckpointError(f"internal error: unexpected keys {result.unexpected_keys[:5]}")
    return report
