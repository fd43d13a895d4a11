"""Small input checks shared by the few-shot components (private).

Every check raises a :mod:`mifomo_lite.errors` exception whose message names the argument, the
shape or value at fault and what was expected, so a student can fix the call without a traceback.
"""

from __future__ import annotations

from typing import Iterable, Optional

import numpy as np
import torch

from ..errors import ConfigError, DataError, EpisodeError


def check_choice(name: str, value: str, valid: Iterable[str]) -> str:
    valid = tuple(valid)
    if value not in valid:
        raise ConfigError(f"{name}={value!r} is not a valid choice; valid values: {', '.join(map(repr, valid))}")
    return value


def as_tensor(x, name: str, *, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """Accept a torch tensor or anything NumPy can read; never copies a tensor needlessly."""
    if isinstance(x, torch.Tensor):
        return x if dtype is None else x.to(dtype)
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - defensive
        raise DataError(f"{name} could not be converted to an array: {exc}") from None
    t = torch.from_numpy(np.ascontiguousarray(arr))
    return t if dtype is None else t.to(dtype)


def check_2d(t: torch.Tensor, name: str) -> torch.Tensor:
    if t.dim() != 2:
        raise DataError(f"{name} must be 2-D [n_samples, dim]; got shape {tuple(t.shape)}")
    return t


def check_labels(y: torch.Tensor, n_classes: int, name: str) -> torch.Tensor:
    if y.dim() != 1:
        raise EpisodeError(f"{name} must be a 1-D tensor of integer class ids; got shape {tuple(y.shape)}")
    if y.is_floating_point() or y.dtype == torch.bool:
        raise EpisodeError(f"{name} must hold integer class ids; got dtype {y.dtype}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise EpisodeError(
            f"{name} holds class ids in [{int(y.min())}, {int(y.max())}] but n_classes={n_classes} "
            f"(ids must lie in 0..{n_classes - 1}; re-index each episode's labels from 0)"
        )
    return y.long()


def check_same_rows(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise DataError(
            f"{name_a} has {a.shape[0]} rows but {name_b} has {b.shape[0]}; they must describe the same samples"
        )
