"""Training precision: which floating-point format a device trains in, and the helpers to use it.

The choice is a pure function of the device type and its CUDA compute capability
(:func:`choose_precision`), so it is unit-tested with made-up capabilities on any machine:

* CPU (and anything that is not CUDA): **fp32**. CPU autocast speeds up only the few CPUs with
  native bf16, and only for no-grad inference (``RunConfig.inference_precision``), not training.
* CUDA, capability ≥ 8.0 (Ampere, Hopper, …): **bf16** autocast. bf16 has fp32's exponent range,
  so gradients do not underflow and no loss scaling is needed.
* CUDA below 8.0 (Volta, Turing, …): **fp16** autocast **with a GradScaler**: these GPUs have fp16
  tensor cores but no fast bf16, and fp16's narrow range needs the loss scaled so that small
  gradients survive.

:func:`autocast` and :func:`grad_scaler` turn a :class:`Precision` into a context manager and a
scaler with the ``scale / step / update`` interface — a do-nothing one when no scaling is needed —
so a training loop has one code path for every device.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Optional, Tuple

import torch

from .errors import ConfigError

__all__ = ["Precision", "choose_precision", "precision_for", "training_precision", "autocast", "grad_scaler",
           "NoScaler", "optimizer_step", "REQUESTS"]

BF16_MIN_CAPABILITY = (8, 0)
REQUESTS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """The training format of one device: ``dtype`` (``torch.float32`` means no autocast),
    ``use_grad_scaler`` (fp16 only) and a one-line ``reason`` for logs and reports."""

    dtype: torch.dtype
    use_grad_scaler: bool
    reason: str

    @property
    def name(self) -> str:
        return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    @property
    def autocast_enabled(self) -> bool:
        return self.dtype != torch.float32


def choose_precision(device_type: str, capability: Optional[Tuple[int, int]] = None,
                     requested: str = "auto") -> Precision:
    """The training precision for ``device_type`` (``"cpu"``, ``"cuda"``, ``"mps"``, ``"meta"`` …)
    with CUDA compute ``capability`` (major, minor). ``requested`` = ``auto`` picks as in the
    module docstring; ``fp32`` always works; ``bf16`` / ``fp16`` are checked against the device."""
    if requested not in REQUESTS:
        raise ConfigError(f"unknown precision {requested!r}; choose one of {', '.join(REQUESTS)}")
    cuda = device_type == "cuda"
    cap = tuple(capability) if capability is not None else None
    if requested == "fp32":
        return Precision(torch.float32, False, "fp32 requested")
    if not cuda:
        if requested != "auto":
            raise ConfigError(f"precision {requested!r} is for CUDA training; device {device_type!r} trains in "
                              "fp32 (use precision='fp32' or 'auto')")
        return Precision(torch.float32, False, f"{device_type}: fp32 (mixed precision is for CUDA training)")
    if cap is None:
        if requested != "auto":
            raise ConfigError(f"precision {requested!r} needs the CUDA capability of the device, which is unknown")
        return Precision(torch.float32, False, "cuda with unknown capability: fp32")
    bf16_ok = cap >= BF16_MIN_CAPABILITY
    if requested == "bf16" and not bf16_ok:
        raise ConfigError(f"precision 'bf16' needs CUDA capability ≥ 8.0; this device has "
                          f"{cap[0]}.{cap[1]} (use 'fp16' or 'auto')")
    if requested == "bf16" or (requested == "auto" and bf16_ok):
        return Precision(torch.bfloat16, False, f"cuda capability {cap[0]}.{cap[1]} ≥ 8.0: bf16 autocast")
    return Precision(torch.float16, True, f"cuda capability {cap[0]}.{cap[1]}"
                     f"{' < 8.0' if not bf16_ok else ''}: fp16 autocast + GradScaler")


def precision_for(device: Any, requested: str = "auto") -> Precision:
    """:func:`choose_precision` for a real ``torch.device`` (or its name): queries the capability
    of a CUDA device; CPU and ``meta`` devices never touch CUDA."""
    device = torch.device(device)
    cap = None
    if device.type == "cuda":
        cap = torch.cuda.get_device_capability(device)
    return choose_precision(device.type, cap, requested)


def training_precision(device: Any, amp: bool) -> Precision:
    """The precision of a run whose config has the ``amp`` switch: the device's choice when on,
    fp32 when off."""
    return precision_for(device, "auto" if amp else "fp32")


def autocast(precision: Precision, device_type: str):
    """``torch.autocast`` in ``precision.dtype`` on ``device_type``; a no-op context for fp32."""
    if not precision.autocast_enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=precision.dtype)


class NoScaler:
    """The ``GradScaler`` interface without scaling: ``scale(loss)`` is ``loss``, ``step(opt)``
    is ``opt.step()``, ``unscale_`` and ``update`` do nothing."""

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        return loss

    def unscale_(self, optimizer: torch.optim.Optimizer) -> None:
        return None

    def step(self, optimizer: torch.optim.Optimizer) -> Any:
        return optimizer.step()

    def update(self) -> None:
        return None

    def is_enabled(self) -> bool:
        return False


def grad_scaler(precision: Precision, device_type: str = "cuda"):
    """A ``torch.amp.GradScaler`` when ``precision.use_grad_scaler``, else a :class:`NoScaler`."""
    if not precision.use_grad_scaler:
        return NoScaler()
    return torch.amp.GradScaler(device_type)


def optimizer_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, scaler: Any) -> None:
    """One update through ``scaler`` (a ``GradScaler`` or a :class:`NoScaler`): zero the
    gradients, backward the (scaled) loss, step (skipped by a GradScaler on inf/NaN gradients),
    update the scale."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
