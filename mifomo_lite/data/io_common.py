"""What every file reader shares: the read record (:class:`ArrayRead`), file-type detection,
variable-key selection, and the checks made before and after reading (missing or empty file,
complex values, arrays too large for this machine's memory)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import DataError, DataFileNotFound


@dataclass
class ArrayRead:
    """The result of reading one array: the data plus where it came from."""

    array: np.ndarray
    path: Path
    key: Optional[str]
    format: str
    wavelengths: Optional[np.ndarray] = None
    class_names: Optional[List[str]] = None
    meta: Dict[str, Any] = field(default_factory=dict)


def file_format(path: Path) -> str:
    """``"mat73"``, ``"mat5"``, ``"npy"``, ``"npz"`` or ``"envi"`` (by suffix and magic bytes)."""
    suffix = path.suffix.lower()
    if suffix == ".mat":
        with open(path, "rb") as fh:
            head = fh.read(128)
        if b"MATLAB 7.3" in head or _is_hdf5(path):
            return "mat73"
        return "mat5"
    if suffix == ".npy":
        return "npy"
    if suffix == ".npz":
        return "npz"
    if suffix == ".hdr" or envi_header_for(path) is not None:
        return "envi"
    if suffix in (".h5", ".hdf5"):
        return "mat73"
    if suffix in (".tif", ".tiff"):
        return "tiff"
    raise DataError(
        f"{path}: unsupported file type {suffix or '(no suffix)'!r}; supported: .mat (MATLAB v5 "
        "or v7.3), .npy, .npz, .tif/.tiff, and ENVI (.hdr with its image file)")


def _is_hdf5(path: Path) -> bool:
    import h5py

    try:
        return bool(h5py.is_hdf5(str(path)))
    except Exception:  # pragma: no cover - h5py quirks on odd files
        return False


def envi_header_for(path: Path) -> Optional[Path]:
    """The ``.hdr`` belonging to an ENVI image file (``x.img`` → ``x.hdr`` or ``x.img.hdr``)."""
    for cand in (path.with_suffix(".hdr"), path.with_name(path.name + ".hdr")):
        if cand != path and cand.exists():
            return cand
    return None


def require_file(path: Path, what: str = "file") -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise DataFileNotFound(f"{what} not found: {path}")
    if path.is_dir():
        raise DataError(f"{what} {path} is a directory; pass the path of a data file")
    if path.stat().st_size == 0:
        raise DataError(f"{what} {path} is empty (0 bytes): an interrupted download or copy? "
                        "Delete it and fetch it again")
    return path


def choose_key(found: Dict[str, Tuple[int, ...]], wanted: Sequence[str], path: Path, *,
               strict: bool = False, ndim: Optional[int] = None, what: str = "variable") -> str:
    """Pick a variable name from ``found`` (name → shape).

    1. the first of ``wanted`` present (exact, then case-insensitive);
    2. unless ``strict``: the single variable in the file;
    3. unless ``strict``: the single variable with ``ndim`` dimensions (a file holding both a
       cube and a label map);
    otherwise raise a :class:`DataError` that lists the variables found.
    """
    for key in wanted:
        if key in found:
            return key
    lower = {k.lower(): k for k in found}
    for key in wanted:
        if key.lower() in lower:
            return lower[key.lower()]
    if not strict:
        if len(found) == 1:
            return next(iter(found))
        if ndim is not None:
            same = [k for k, shp in found.items() if len(shp) == ndim]
            if len(same) == 1:
                return same[0]
    listing = ", ".join(f"{k} {tuple(shp)}" for k, shp in found.items()) or "(no variables)"
    if wanted:
        ask = " or ".join(repr(k) for k in wanted)
        problem = f"no {what} named {ask}"
    else:
        problem = f"cannot tell which variable is the {what}"
    flag = "--labels-key" if ndim == 2 or "label" in what else "--cube-key"
    arg = "labels_key" if flag == "--labels-key" else "cube_key"
    raise DataError(f"{path}: {problem}; variables found: {listing}. Name the right one with {flag} NAME "
                    f"on the command line ({arg}='NAME' in Python).")


def unreadable(path: Path, exc: BaseException) -> DataError:
    return DataError(
        f"{path}: cannot read the file — it is truncated, corrupt or not the format its name "
        f"says ({type(exc).__name__}: {exc}). Delete it and download or copy it again.")


def real_array(arr: np.ndarray, path: Path, what: str, as_float32: bool = False) -> np.ndarray:
    """``arr`` (as float32 when asked), refusing complex values — a cast would silently drop the
    imaginary part."""
    if np.iscomplexobj(arr):
        raise DataError(f"{path}: the {what} holds complex values (dtype {arr.dtype}); hyperspectral "
                        "images are real. Save the real part (np.real) or the magnitude (np.abs) yourself "
                        "if that is what you mean")
    return np.asarray(arr, dtype=np.float32) if as_float32 else arr


# Largest array a reader allocates, as a share of the machine's physical memory.
MEMORY_SHARE = 0.8


def check_size(shape: Sequence[Any], itemsize: int, path: Path, what: str) -> None:
    """Refuse, before allocating it, an array larger than ``MEMORY_SHARE`` of this machine's RAM
    (or than ``$MIFOMO_MAX_ARRAY_BYTES``), naming its shape and size."""
    import os

    dims = [int(d) for d in shape if isinstance(d, (int, np.integer))]
    need = int(np.prod(dims, dtype=object)) * int(itemsize) if dims else 0
    limit = os.environ.get("MIFOMO_MAX_ARRAY_BYTES")
    if limit:
        cap = int(float(limit))
    else:
        try:
            cap = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * MEMORY_SHARE)
        except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
            return
    if need > cap:
        raise DataError(f"{path}: the {what} has shape {tuple(dims)} and needs {need / 2**30:,.1f} GiB as "
                        f"{'float32' if itemsize == 4 else f'{itemsize}-byte values'}, more than the "
                        f"{cap / 2**30:,.1f} GiB this machine allows; crop the scene or fix the file's dimensions")
