"""Small shared helpers: seeding, device choice, user cache paths, atomic writes, run records."""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import numpy as np
import torch

from .errors import DeviceError

PathLike = Union[str, "os.PathLike[str]"]


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a fresh torch Generator with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def resolve_device(device: str = "auto", allow_fallback: bool = False) -> torch.device:
    """``auto`` → CUDA when available, else CPU. Asking for CUDA on a machine without it raises a
    :class:`DeviceError` unless ``allow_fallback`` is true (then CPU is used)."""
    device = (device or "auto").lower()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        if allow_fallback:
            return torch.device("cpu")
        raise DeviceError(
            f"device {device!r} was requested but CUDA is not available on this machine "
            "(torch.cuda.is_available() is False); use device='cpu' or 'auto', "
            "or allow the CPU fallback explicitly"
        )
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise DeviceError(f"unknown device {device!r}: {exc}") from None


def user_cache_dir(sub: str = "") -> Path:
    """Root of the kit's user cache (``$MIFOMO_CACHE_DIR`` or ``$XDG_CACHE_HOME/mifomo_lite``)."""
    root = os.environ.get("MIFOMO_CACHE_DIR")
    if root:
        base = Path(root)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mifomo_lite"
    return base / sub if sub else base


def sha256_file(path: PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(target: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is renamed onto ``target``
    atomically, on any exception it is removed — so ``target`` is never half-written."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600 files; give the result the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def git_revision(cwd: Optional[PathLike] = None) -> Optional[str]:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd or Path(__file__).parent,
            capture_output=True, text=True, timeout=5,
        )
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def environment_record() -> dict:
    """Versions and machine facts to store next to every result (reproducibility)."""
    import scipy
    import sklearn

    from . import __version__

    return {
        "mifomo_lite": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "sklearn": sklearn.__version__,
        "git_revision": git_revision(),
    }


def json_default(obj: Any):
    """The kit's one ``json.dumps(default=...)``: NumPy scalars and arrays, torch tensors and paths
    become plain JSON values; anything else is a clear ``TypeError`` naming its type."""
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist") and hasattr(obj, "ndim"):   # NumPy arrays/scalars, torch tensors
        return obj.item() if obj.ndim == 0 else obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json(path: PathLike, payload: Any, *, indent: Optional[int] = 2, sort_keys: bool = True) -> Path:
    """Write ``payload`` as JSON to ``path`` atomically (:func:`atomic_path`, :func:`json_default`)."""
    import json

    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=indent, sort_keys=sort_keys, default=json_default))
    return path
