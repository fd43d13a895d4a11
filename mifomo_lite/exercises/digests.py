"""Digests: salted answer digests (exercise 08.2, the concept quizzes: no answer held as text in
the package) and the fingerprint of a checker's inputs (the key of its stored expected output)."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import numpy as np


def salted_digest(salt: str, value: str) -> str:
    """The first 16 hex digits of sha256(``"salt:value"``): how answers are stored in the kit, so
    that the package data never holds an answer as text (the salt keeps equal answers of
    different questions from sharing a digest)."""
    return hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()[:16]


def fingerprint(value: Any) -> str:
    """A stable digest of a checker's inputs: arrays by dtype, shape and values (floats rounded to
    9 significant digits, so last-bit differences between machines do not matter)."""
    h = hashlib.sha256()
    _feed(h, value)
    return h.hexdigest()[:24]


def _feed(h: Any, v: Any) -> None:
    if hasattr(v, "detach") and hasattr(v, "numpy"):
        v = v.detach().cpu().numpy()
    if isinstance(v, np.ndarray):
        h.update(f"nd{v.dtype.kind}{v.shape}".encode())
        if v.dtype.kind == "f":
            v = np.array([float(f"{x:.9g}") for x in v.ravel()]) + 0.0
        h.update(np.ascontiguousarray(v).tobytes() if v.dtype.kind != "O" else repr(v.tolist()).encode())
    elif isinstance(v, (float, np.floating)):
        h.update(f"f{float(v):.9g}".encode())
    elif isinstance(v, (bool, int, str, type(None), np.integer, np.bool_)):
        h.update(f"{type(v).__name__[:1]}{v!r}".encode())
    elif isinstance(v, (list, tuple)):
        h.update(f"[{len(v)}".encode())
        for x in v:
            _feed(h, x)
    elif isinstance(v, dict):
        for k in sorted(v, key=str):
            _feed(h, str(k))
            _feed(h, v[k])
    elif dataclasses.is_dataclass(v):
        h.update(type(v).__name__.encode())
        for f in dataclasses.fields(v):
            if f.name != "meta":
                _feed(h, getattr(v, f.name))
    else:
        raise TypeError(f"cannot fingerprint a {type(v).__name__} for an expected value")
