"""One validator for every configuration value, whichever door it comes through.

The command line (``--set``, ``--seed``, ``--episodes``, ``--device``), the Python API
(``preset(...)``, ``RunConfig.replace``) and the notebooks' ``setup`` all end in
:func:`validate_run_config` (or its field checks), so a value refused in one place is refused in
all of them, with the same message naming the field:

* integers must be integers: ``2.5`` is refused, not truncated; ``2.0`` is accepted as ``2``;
* NaN and ±inf are refused for every number;
* counts, shots, seeds (``0 ≤ seed < 2**32``, the range NumPy can seed), threads and episodes
  have ranges;
* devices come from a known list (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``).
"""

from __future__ import annotations

import math
import re
from dataclasses import fields
from typing import Any, Optional

from .errors import ConfigError

__all__ = ["check_int", "check_float", "check_seed", "check_device", "validate_run_config",
           "SEED_LIMIT", "DEVICES"]

SEED_LIMIT = 2**32
DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d{1,2})?)$")

# Ranges of the integer fields: (lowest, highest); None = unbounded. Fields not listed are ≥ 0.
INT_RANGES: dict[str, tuple[Optional[int], Optional[int]]] = {
    "pca_components": (1, 4096), "patch_size": (1, 255), "n_shot": (1, 10_000),
    "n_test_episodes": (1, 100_000), "seed": (0, SEED_LIMIT - 1),
    "lora_rank": (1, 4096), "n_prompts": (1, 4096), "target_ssl_batch_size": (1, None),
    "source_n_shot": (1, 10_000), "source_n_query": (1, 10_000), "intermediate_n_shot": (1, 10_000),
    "intermediate_n_query": (1, 10_000), "eval_batch_size": (1, None), "lgc_batch_size": (1, None),
    "max_query_pixels": (1, None), "num_threads": (1, 4096), "top_k_confident": (1, None),
    "min_class_count": (1, None), "graph_k": (1, 10_000),
}
# Floats that must be strictly positive (a zero or negative learning rate trains nothing).
POSITIVE_FLOATS = ("lr_model", "lr_peft", "lr_scale", "target_ssl_lr", "adam_eps", "lgc_sigma",
                   "mixup_temperature", "graph_sigma_scale")


def check_int(name: str, value: Any, lo: Optional[int] = None, hi: Optional[int] = None) -> int:
    """``value`` as an ``int`` within ``[lo, hi]``; whole-number floats (``2.0``) are accepted,
    anything else — ``2.5``, NaN, inf, text, booleans — raises a :class:`ConfigError` naming
    ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or hasattr(value, "dtype"):
        if hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:  # numpy / torch scalar
            return check_int(name, value.item(), lo, hi)
        raise ConfigError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite integer, got {value!r}")
        if not value.is_integer():
            raise ConfigError(f"{name} must be a whole number, got {value!r} (it would be truncated "
                              f"to {int(value)} silently otherwise)")
        value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        if hi is None:
            raise ConfigError(f"{name} must be ≥ {lo}, got {value!r}")
        raise ConfigError(f"{name} must lie in [{lo}, {hi}], got {value!r}")
    return value


def check_float(name: str, value: Any, lo: Optional[float] = None, positive: bool = False) -> float:
    """``value`` as a finite ``float`` (> 0 when ``positive``, ≥ ``lo`` when given)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
            return check_float(name, value.item(), lo, positive)
        raise ConfigError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")
    if lo is not None and value < lo:
        raise ConfigError(f"{name} must be ≥ {lo}, got {value!r}")
    return value


def check_seed(value: Any, name: str = "seed") -> int:
    """A seed NumPy, torch and Python can all use: an integer with ``0 ≤ seed < 2**32``."""
    return check_int(name, value, 0, SEED_LIMIT - 1)


def check_device(value: Any, name: str = "device") -> str:
    """A device string from :data:`DEVICES` (``cuda:N`` with any N), lower-cased."""
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be text, one of {', '.join(DEVICES)}; got {value!r} "
                          f"({type(value).__name__})")
    text = value.strip().lower()
    if not _DEVICE_RE.match(text):
        raise ConfigError(f"{name}={value!r} is not a device this kit runs on; choose one of "
                          f"{', '.join(DEVICES)}")
    return text


def _kind(annotation: Any) -> str:
    """A field's declared type as text with ``Optional[...]`` / ``| None`` removed, prefixed by
    ``Optional`` when ``None`` is allowed: ``"int"``, ``"Optional int"``, ``"Union[int, str]"``…"""
    text = str(getattr(annotation, "__name__", annotation)).replace("typing.", "").replace(" ", "")
    optional = text.startswith("Optional[") or "|None" in text or "None|" in text
    if text.startswith("Optional["):
        text = text[len("Optional["):-1]
    text = text.replace("|None", "").replace("None|", "")
    text = {"int|str": "Union[int, str]", "Union[int,str]": "Union[int, str]"}.get(text, text)
    return ("Optional " if optional else "") + text


def validate_run_config(cfg: Any) -> None:
    """Check every field of a :class:`~mifomo_lite.train.config.RunConfig` by its declared type
    and range; normalise whole floats to ``int`` in place. Raises the first problem found."""
    for f in fields(cfg):
        value, kind = getattr(cfg, f.name), _kind(f.type)
        if f.name == "feature_smoothing":  # fsl.spatial.check_window explains odd windows itself
            continue
        if value is None and kind.startswith("Optional"):
            continue
        kind = kind.replace("Optional ", "")
        if kind == "bool":
            if not isinstance(value, bool):
                raise ConfigError(f"{f.name} must be true or false, got {value!r}")
        elif kind == "int":
            lo, hi = INT_RANGES.get(f.name, (0, None))
            object.__setattr__(cfg, f.name, check_int(f.name, value, lo, hi))
        elif kind == "float":
            object.__setattr__(cfg, f.name, check_float(f.name, value, positive=f.name in POSITIVE_FLOATS))
        elif kind == "Union[int, str]" and value != "all":
            object.__setattr__(cfg, f.name, check_int(f.name, value, 2, 10_000))
    check_seed(cfg.seed + cfg.n_test_episodes - 1, "seed + n_test_episodes - 1 (the last episode's seed)")
    object.__setattr__(cfg, "device", check_device(cfg.device))
    for name in ("drop_path_rate", "eps_smoothing", "lgc_alpha", "perturbation_range"):
        if not 0.0 <= getattr(cfg, name) <= 1.0:
            raise ConfigError(f"{name} must lie in [0, 1], got {getattr(cfg, name)!r}")
