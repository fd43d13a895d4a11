"""MATLAB readers: v5 ``.mat`` files with ``scipy.io``, v7.3 ``.mat`` files (HDF5) with ``h5py``.

MATLAB stores arrays column-major, so HDF5 sees every v7.3 array with its axes *reversed*: a
2517×2335×128 cube appears as (128, 2335, 2517). The reader reverses the axes back, and reads large
cubes band by band into float32 so the 6 GB float64 copy never exists. MATLAB structs (Chikusei's
``GT``) are HDF5 groups; the first field (``MATLAB_fields`` order) is taken, like ``GT[0][0][0]``
in scipy, unless a label-like field (``gt``, ``labels``, ...) exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

from ..errors import DataError
from .io_common import ArrayRead, check_size, choose_key, real_array, unreadable

STRUCT_FIELD_PREFERENCE = ("gt", "GT", "labels", "label", "map")


def mat5_variables(path: Path) -> Dict[str, Tuple[int, ...]]:
    """Variable names and shapes in a MATLAB v5 file (without reading the data)."""
    import scipy.io

    return {name: tuple(shape) for name, shape, _ in scipy.io.whosmat(str(path))
            if not name.startswith("__")}


def read_mat5(path: Path, keys, strict, ndim, what, as_float32) -> ArrayRead:
    import scipy.io

    try:
        found = mat5_variables(path)
    except Exception as exc:  # reported as list_variables reports it
        raise unreadable(path, exc) from None
    key = choose_key(found, keys, path, strict=strict, ndim=ndim, what=what)
    check_size(found[key], 4, path, what)
    data = scipy.io.loadmat(str(path), variable_names=[key])
    if key not in data:  # pragma: no cover - whosmat and loadmat disagree: corrupt file
        raise DataError(f"{path}: variable {key!r} is listed but could not be read")
    arr = real_array(_unwrap_scipy(data[key], path, key), path, what, as_float32)
    return ArrayRead(arr, path, key, "MATLAB v5 (scipy)")


def _unwrap_scipy(value: Any, path: Path, key: str) -> np.ndarray:
    """Turn scipy's representation of structs and cells into the numeric array inside.

    A 1×1 struct such as Chikusei's ``GT`` is a structured array; ``GT[0][0][0]`` is its first
    field. A field called ``gt``/``labels``/... is preferred, else the first numeric field."""
    arr = np.asarray(value)
    for _ in range(8):
        if arr.dtype.names:
            rec = arr.reshape(-1)[0]
            names = list(arr.dtype.names)
            pick = next((n for n in STRUCT_FIELD_PREFERENCE if n in names), None)
            if pick is None:
                pick = next((n for n in names if np.asarray(rec[n]).dtype.kind in "biuf"
                             and np.asarray(rec[n]).size > 1), names[0])
            arr = np.asarray(rec[pick])
        elif arr.dtype == object:
            if arr.size != 1:
                raise DataError(f"{path}: variable {key!r} is a MATLAB cell array of {arr.size} "
                                "items; save the array itself instead")
            arr = np.asarray(arr.reshape(-1)[0])
        else:
            return arr
    raise DataError(f"{path}: variable {key!r} is nested too deeply to read")  # pragma: no cover


def h5_shape(obj: Any) -> Tuple[int, ...]:
    import h5py

    if isinstance(obj, h5py.Dataset):
        return tuple(reversed(obj.shape))
    fields = _h5_fields(obj)
    return ("struct", len(fields))  # type: ignore[return-value]


def _h5_fields(group: Any) -> List[str]:
    raw = group.attrs.get("MATLAB_fields")
    names: List[str] = []
    if raw is not None:
        for item in np.asarray(raw, dtype=object).reshape(-1):
            if isinstance(item, (bytes, np.bytes_)):
                names.append(item.decode())
            else:
                names.append(b"".join(np.asarray(item).astype("S1").tolist()).decode())
    names = [n for n in names if n in group]
    return names or [k for k in group.keys() if not k.startswith("#")]


def read_mat73(path: Path, keys, strict, ndim, what, as_float32) -> ArrayRead:
    import h5py

    with h5py.File(path, "r") as f:
        found = {k: h5_shape(f[k]) for k in f.keys() if not k.startswith("#")}
        key = choose_key(found, keys, path, strict=strict, ndim=ndim, what=what)
        obj = f[key]
        field_path = [key]
        for _ in range(8):
            if isinstance(obj, h5py.Group):  # MATLAB struct: take the label-like / first field
                fields = _h5_fields(obj)
                if not fields:
                    raise DataError(f"{path}: struct {key!r} has no fields")
                pick = next((n for n in STRUCT_FIELD_PREFERENCE if n in fields), fields[0])
                obj = obj[pick]
                field_path.append(pick)
            elif obj.dtype.kind == "O" or h5py.check_dtype(ref=obj.dtype) is not None:
                refs = obj[()].reshape(-1)  # MATLAB cell: follow the first reference
                if refs.size != 1:
                    raise DataError(f"{path}: variable {key!r} is a MATLAB cell array of "
                                    f"{refs.size} items; save the array itself instead")
                obj = f[refs[0]]
                field_path.append("{1}")
            else:
                break
        if obj.dtype.names and {"real", "imag"} <= set(obj.dtype.names):
            raise DataError(f"{path}: the {what} {key!r} holds complex values (MATLAB complex); hyperspectral "
                            "images are real. Save the real part or the magnitude yourself if that is what you mean")
        check_size(tuple(reversed(obj.shape)), 4 if as_float32 else obj.dtype.itemsize, path, what)
        arr = _h5_to_numpy(obj, as_float32)
    return ArrayRead(arr, path, key, "MATLAB v7.3 (HDF5, h5py)",
                     meta={"hdf5_path": "/".join(field_path), "axes_reversed": True})


def _h5_to_numpy(ds: Any, as_float32: bool) -> np.ndarray:
    """Read an HDF5 dataset written by MATLAB and return it in MATLAB's axis order."""
    if ds.ndim == 3 and as_float32:
        b, w, h = ds.shape
        out = np.empty((h, w, b), dtype=np.float32)
        for i in range(b):  # one band at a time: peak memory ≈ output + one band
            out[:, :, i] = ds[i].T
        return out
    arr = ds[()]
    arr = np.ascontiguousarray(np.transpose(arr))
    if as_float32:
        arr = arr.astype(np.float32, copy=False)
    return arr
