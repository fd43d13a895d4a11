"""Adapter-only save/load in safetensors.

A file written by :func:`save_adapter` holds the adapter tensors (CP matrices, LoRA A/B, deep
prompts) under their parameter names in the model, plus — with ``include_trainable=True`` — every
other trainable tensor (the protocol's embedding/fusion layers, i.e. what MIFOMO's phase-1
checkpoint stores, SPEC §6.6). The safetensors metadata records the method and its options, so
:func:`load_adapter` can refuse a file made for another method or configuration with a clear
message, or apply the adaptation itself to a model that has none yet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Union

import torch
from torch import nn

from ..errors import DataFileNotFound
from ..utils import atomic_path
from .api import adapter_parameters, apply_adaptation, current_adaptation
from .merge import is_merged
from .errors import AdapterFileError

__all__ = ["save_adapter", "load_adapter", "read_adapter_metadata", "FORMAT"]

FORMAT = "mifomo_lite.adapter/1"


def save_adapter(model: nn.Module, path: Union[str, Path], include_trainable: bool = False) -> Path:
    """Write the adapter of ``model`` (and, with ``include_trainable``, its other trainable
    tensors) to ``path`` as safetensors, atomically. Returns the path."""
    from safetensors.torch import save_file

    rec = current_adaptation(model)
    if rec is None:
        raise AdapterFileError(
            f"{type(model).__name__} has no adaptation applied; call apply_adaptation() first")
    tensors = {name: p.detach() for name, (_, p) in adapter_parameters(model).items()}
    adapter_names = sorted(tensors)
    if include_trainable:
        for name, p in model.named_parameters():
            if p.requires_grad and name not in tensors:
                tensors[name] = p.detach()
    if not tensors:
        raise AdapterFileError(
            f"method {rec['method']!r} has no adapter tensors to save; use include_trainable=True "
            "to save the trainable layers (or save the whole state_dict for 'full')")
    tensors = {k: v.to("cpu").contiguous().clone() for k, v in tensors.items()}
    meta = {
        "format": FORMAT,
        "method": rec["method"],
        "options": json.dumps(rec["options"], sort_keys=True),
        "trainable_set": rec["trainable_set"],
        "phase": rec["phase"],
        "extra_trainable": json.dumps(rec.get("extra_trainable", [])),
        "adapter_keys": json.dumps(adapter_names),
        "include_trainable": str(bool(include_trainable)),
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def read_adapter_metadata(path: Union[str, Path]) -> dict:
    """The metadata of an adapter file (method, options decoded from JSON, ...)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise DataFileNotFound(f"adapter file {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = dict(fh.metadata() or {})
    except Exception as exc:  # safetensors raises its own error types
        raise AdapterFileError(f"{path} is not a readable safetensors file: {exc}") from None
    if meta.get("format") != FORMAT:
        raise AdapterFileError(f"{path} is not a mifomo_lite adapter file (format={meta.get('format')!r})")
    meta["options"] = json.loads(meta["options"])
    meta["extra_trainable"] = json.loads(meta.get("extra_trainable", "[]"))
    meta["adapter_keys"] = json.loads(meta["adapter_keys"])
    meta["include_trainable"] = meta.get("include_trainable") == "True"
    return meta


def load_adapter(model: nn.Module, path: Union[str, Path], apply: bool = True) -> dict:
    """Load an adapter file into ``model``.

    If ``model`` carries no adaptation and ``apply`` is true, the file's method and options are
    applied first (:func:`~mifomo_lite.peft.apply_adaptation`). Otherwise the model's method and
    options must equal the file's. Every adapter tensor of the model must be in the file and have
    the same shape; mismatches raise :class:`~.errors.AdapterFileError` naming the key. Returns
    the file's metadata. Loading into a merged model is refused (unmerge first).
    """
    from safetensors.torch import load_file

    meta = read_adapter_metadata(path)
    rec = current_adaptation(model)
    if rec is None:
        if not apply:
            raise AdapterFileError(
                f"{type(model).__name__} has no adaptation; the file {path} needs method "
                f"{meta['method']!r} with {meta['options']} (or pass apply=True)")
        apply_adaptation(model, meta["method"], trainable_set=meta["trainable_set"], phase=meta["phase"],
                         extra_trainable=meta["extra_trainable"], **meta["options"])
        rec = current_adaptation(model)
    if rec["method"] != meta["method"]:
        raise AdapterFileError(
            f"{path} holds a {meta['method']!r} adapter but the model is adapted with {rec['method']!r}")
    if rec["options"] != meta["options"]:
        diff = {k: (rec["options"].get(k), meta["options"].get(k))
                for k in set(rec["options"]) | set(meta["options"])
                if rec["options"].get(k) != meta["options"].get(k)}
        raise AdapterFileError(f"{path}: {meta['method']} options differ (model, file): {diff}")
    if is_merged(model):
        raise AdapterFileError("the model's adapters are merged; call unmerge_adapters(model) before loading")
    tensors = load_file(str(path))
    adapters = adapter_parameters(model)
    missing = sorted(set(adapters) - set(tensors))
    if missing:
        raise AdapterFileError(f"{path} lacks adapter tensor(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    params = dict(model.named_parameters())
    unknown = sorted(k for k in tensors if k not in params)
    if unknown:
        raise AdapterFileError(f"{path} has tensor(s) {unknown[:5]} that the model does not have")
    for k, t in tensors.items():
        if tuple(params[k].shape) != tuple(t.shape):
            raise AdapterFileError(
                f"{path}: tensor {k!r} has shape {tuple(t.shape)} but the model expects "
                f"{tuple(params[k].shape)}")
    with torch.no_grad():
        for k, t in tensors.items():
            params[k].copy_(t.to(params[k].dtype))
    return meta
