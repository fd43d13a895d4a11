"""Errors of :mod:`mifomo_lite.peft` (subclasses of :class:`mifomo_lite.errors.MifomoError`)."""

from __future__ import annotations

from ..errors import CheckpointError, ConfigError

__all__ = ["AdaptationError", "AdapterFileError"]


class AdaptationError(ConfigError):
    """An adaptation cannot be applied, switched, merged or unmerged as asked (the message says
    which method, option, module or value is at fault)."""


class AdapterFileError(CheckpointError):
    """An adapter file does not fit the model (method, option, key or shape mismatch)."""
