"""Exceptions the kit raises for bad input. Each message names the problem (file, key, shape,
class, value) so a student can fix it without reading a traceback.

Every error also subclasses the closest built-in (``ValueError``, ``FileNotFoundError``, ...), so
``except ValueError`` keeps working for code that does not know about this module.
"""

from __future__ import annotations


class MifomoError(Exception):
    """Base class of every user-facing error in mifomo_lite."""


class DataError(MifomoError, ValueError):
    """A scene, a label map or a split is unusable (bad shape, NaN, missing key, ...)."""


class DataFileNotFound(MifomoError, FileNotFoundError):
    """A data or weight file is not where it was expected."""


class ChecksumError(MifomoError, ValueError):
    """A file's sha256 differs from the recorded one."""


class DownloadError(MifomoError, OSError):
    """A download failed (offline, HTTP error, interrupted transfer)."""


class EpisodeError(MifomoError, ValueError):
    """An impossible few-shot episode (n_way, shots or queries vs. class sizes)."""


class CheckpointError(MifomoError, ValueError):
    """A checkpoint is of the wrong size/branch, corrupt, or would need unsafe unpickling."""


class ConfigError(MifomoError, ValueError):
    """An unknown configuration key or an invalid value."""


class DeviceError(MifomoError, RuntimeError):
    """A requested device (e.g. CUDA) is not available."""


class OutputError(MifomoError, OSError):
    """An output folder cannot be written safely (it is a file, holds an earlier run, or another
    run is writing it)."""
