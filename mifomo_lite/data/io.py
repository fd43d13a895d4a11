"""Reading arrays out of the file formats hyperspectral data come in.

Supported:

* **MATLAB v5** ``.mat`` (most benchmark scenes) — ``scipy.io``;
* **MATLAB v7.3** ``.mat`` (Chikusei) — these are HDF5 files, read with ``h5py``. MATLAB stores
  arrays column-major, so HDF5 sees every array with its axes *reversed*: a 2517×2335×128 cube
  appears as (128, 2335, 2517). The reader reverses the axes back, and reads large cubes band by
  band into float32 so the 6 GB float64 copy never exists. MATLAB structs (Chikusei's ``GT``) are
  HDF5 groups; the first field (``MATLAB_fields`` order) is taken, like ``GT[0][0][0]`` in scipy;
* NumPy ``.npy`` and ``.npz``;
* **ENVI** header/image pairs (``.hdr`` + ``.img``/``.bsq``/``.bil``/``.bip``/raw) — ``spectral``;
* **TIFF / GeoTIFF** (``.tif``/``.tiff``; a cube as pages or samples per pixel) — ``tifffile``.

Variable keys: the key you ask for is used if present; otherwise, when the caller allows it, the
only variable in the file; otherwise a :class:`~mifomo_lite.errors.DataError` lists every variable
found with its shape, so you can pass the right key.

This module dispatches on the file type and reads NumPy files itself; the MATLAB readers live in
:mod:`.io_matlab`, the TIFF and ENVI readers in :mod:`.io_envi_tiff`, and what they share (the
:class:`ArrayRead` record, type detection, key choice, size and value checks) in :mod:`.io_common`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from ..errors import MifomoError
from .io_common import (ArrayRead, check_size, choose_key, file_format, real_array,
                        require_file, unreadable)
from .io_envi_tiff import open_envi, read_envi, read_tiff
from .io_matlab import h5_shape, mat5_variables, read_mat5, read_mat73


def list_variables(path: Path) -> Dict[str, Tuple[int, ...]]:
    """Variable names and shapes stored in a ``.mat``/``.npz``/``.npy``/ENVI file."""
    path = require_file(Path(path))
    fmt = file_format(path)
    try:
        if fmt == "mat5":
            return mat5_variables(path)
        if fmt == "mat73":
            import h5py

            with h5py.File(path, "r") as f:
                return {k: h5_shape(f[k]) for k in f.keys() if not k.startswith("#")}
        if fmt == "npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: tuple(z[k].shape) for k in z.files}
        if fmt == "npy":
            return {"array": tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape)}
        if fmt == "tiff":
            import tifffile

            with tifffile.TiffFile(path) as tf:
                return {"image": tuple(tf.series[0].shape)}
        return {"image": tuple(open_envi(path).shape)}
    except MifomoError:
        raise
    except Exception as exc:
        raise unreadable(path, exc) from None


def read_array(path: Any, keys: Sequence[str] = (), *, strict: bool = False,
               ndim: Optional[int] = None, what: str = "variable",
               as_float32: bool = False) -> ArrayRead:
    """Read one array from ``path``.

    Args:
        keys: variable names to try (MATLAB/npz); see :func:`choose_key`.
        strict: if true, only ``keys`` are accepted (used when *you* passed a key).
        ndim: dimensionality expected (3 for a cube, 2 for a label map) — used to pick between
            several variables, and to decide how to read large v7.3 cubes.
        as_float32: read straight into float32 (saves memory for big cubes).
    """
    path = require_file(Path(path), what=f"{what} file")
    fmt = file_format(path)
    try:
        if fmt == "mat5":
            return read_mat5(path, keys, strict, ndim, what, as_float32)
        if fmt == "mat73":
            return read_mat73(path, keys, strict, ndim, what, as_float32)
        if fmt in ("npy", "npz"):
            return read_numpy(path, fmt, keys, strict, ndim, what, as_float32)
        if fmt == "tiff":
            return read_tiff(path, what, as_float32)
        return read_envi(path, as_float32)
    except (MifomoError, MemoryError):
        raise
    except Exception as exc:
        raise unreadable(path, exc) from None


def read_numpy(path: Path, fmt: str, keys, strict, ndim, what, as_float32) -> ArrayRead:
    if fmt == "npy":
        head = np.load(path, mmap_mode="r", allow_pickle=False)
        check_size(head.shape, head.dtype.itemsize, path, what)
        arr = np.load(path, allow_pickle=False)
        key = None
    else:
        with np.load(path, allow_pickle=False) as z:
            found = {k: tuple(z[k].shape) for k in z.files}
            key = choose_key(found, keys, path, strict=strict, ndim=ndim, what=what)
            arr = z[key]
    return ArrayRead(np.asarray(real_array(arr, path, what, as_float32)), path, key, "NumPy " + fmt)


def orient_cube(cube: np.ndarray, grid: Optional[Tuple[int, int]] = None,
                expected: Optional[Tuple[int, int, int]] = None, *,
                allow_spatial_transpose: bool = False) -> np.ndarray:
    """Put a cube into (H, W, B) order.

    ``grid`` is the (H, W) of the label map, ``expected`` the registry's (H, W, B). Tries, in
    order: as-is and bands-first (B, H, W); with ``allow_spatial_transpose`` (registry scenes
    whose size is known) also the fully reversed HDF5 order (B, W, H) and (W, H, B). A cube that
    already matches is returned untouched; one that matches nothing is returned as-is so the
    caller reports the mismatch with both shapes."""
    target_hw = tuple(expected[:2]) if expected is not None else (tuple(grid) if grid else None)
    if target_hw is None or cube.ndim != 3:
        return cube
    candidates = [cube, np.moveaxis(cube, 0, -1)]
    if allow_spatial_transpose:
        candidates += [np.transpose(cube, (2, 1, 0)), np.transpose(cube, (1, 0, 2))]
    for cand in candidates:
        if tuple(cand.shape[:2]) == target_hw and (expected is None or cand.shape[2] == expected[2]):
            return np.ascontiguousarray(cand)
    return cube


def orient_labels(labels: np.ndarray, grid: Tuple[int, int]) -> np.ndarray:
    """Transpose a 2-D label map when that (and only that) makes it match ``grid``."""
    if labels.ndim == 2 and labels.shape != tuple(grid) and labels.shape[::-1] == tuple(grid):
        return np.ascontiguousarray(labels.T)
    return labels
