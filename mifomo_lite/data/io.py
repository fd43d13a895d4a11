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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import DataError, DataFileNotFound, MifomoError

ENVI_IMAGE_SUFFIXES = (".img", ".bsq", ".bil", ".bip", ".raw", ".dat", "")
STRUCT_FIELD_PREFERENCE = ("gt", "GT", "labels", "label", "map")


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


# ------------------------------------------------------------------------------ format detection
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


# ----------------------------------------------------------------------------- key selection
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


# ----------------------------------------------------------------------------------- readers
def list_variables(path: Path) -> Dict[str, Tuple[int, ...]]:
    """Variable names and shapes stored in a ``.mat``/``.npz``/``.npy``/ENVI file."""
    path = require_file(Path(path))
    fmt = file_format(path)
    try:
        if fmt == "mat5":
            import scipy.io

            return {name: tuple(shape) for name, shape, _ in scipy.io.whosmat(str(path))
                    if not name.startswith("__")}
        if fmt == "mat73":
            import h5py

            with h5py.File(path, "r") as f:
                return {k: _h5_shape(f[k]) for k in f.keys() if not k.startswith("#")}
        if fmt == "npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: tuple(z[k].shape) for k in z.files}
        if fmt == "npy":
            return {"array": tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape)}
        if fmt == "tiff":
            import tifffile

            with tifffile.TiffFile(path) as tf:
                return {"image": tuple(tf.series[0].shape)}
        return {"image": tuple(_open_envi(path).shape)}
    except MifomoError:
        raise
    except Exception as exc:
        raise unreadable(path, exc) from None


def unreadable(path: Path, exc: BaseException) -> DataError:
    return DataError(
        f"{path}: cannot read the file — it is truncated, corrupt or not the format its name "
        f"says ({type(exc).__name__}: {exc}). Delete it and download or copy it again.")


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
            return _read_mat5(path, keys, strict, ndim, what, as_float32)
        if fmt == "mat73":
            return _read_mat73(path, keys, strict, ndim, what, as_float32)
        if fmt in ("npy", "npz"):
            return _read_numpy(path, fmt, keys, strict, ndim, what, as_float32)
        if fmt == "tiff":
            return _read_tiff(path, what, as_float32)
        return _read_envi(path, as_float32)
    except (MifomoError, MemoryError):
        raise
    except Exception as exc:
        raise unreadable(path, exc) from None


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


def _read_mat5(path: Path, keys, strict, ndim, what, as_float32) -> ArrayRead:
    import scipy.io

    found = list_variables(path)
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


def _h5_shape(obj: Any) -> Tuple[int, ...]:
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


def _read_mat73(path: Path, keys, strict, ndim, what, as_float32) -> ArrayRead:
    import h5py

    with h5py.File(path, "r") as f:
        found = {k: _h5_shape(f[k]) for k in f.keys() if not k.startswith("#")}
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


def _read_numpy(path: Path, fmt: str, keys, strict, ndim, what, as_float32) -> ArrayRead:
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


# GeoTIFF georeferencing tags (pixel scale, tie points, transformation, GeoKey directory and its
# double / ASCII parameters, GDAL no-data): carried from an input cube to the maps written for it.
GEOTIFF_TAGS = (33550, 33922, 34264, 34735, 34736, 34737, 42113)


def _read_tiff(path: Path, what: str, as_float32: bool) -> ArrayRead:
    """A TIFF/GeoTIFF: the first image series (pages become the first axis, so a multi-page cube
    arrives bands-first and is moved later by :func:`orient_cube`)."""
    import tifffile

    with tifffile.TiffFile(path) as tf:
        series = tf.series[0]
        check_size(series.shape, 4 if as_float32 else np.dtype(series.dtype).itemsize, path, what)
        arr, axes = series.asarray(), str(series.axes)
        geo = [(code, int(t.dtype), int(t.count), t.value) for code in GEOTIFF_TAGS
               if (t := tf.pages[0].tags.get(code)) is not None]
    if arr.ndim == 3 and axes[:1] in ("I", "Q", "Z", "C", "S") and axes[1:] == "YX":
        arr = np.moveaxis(arr, 0, -1)   # pages / planar samples are the bands
    return ArrayRead(np.ascontiguousarray(real_array(np.asarray(arr), path, what, as_float32)), path, None,
                     "TIFF (tifffile)", meta={"tiff_axes": axes, "geotiff_tags": geo})


def _open_envi(path: Path):
    import spectral.io.envi as envi

    if path.suffix.lower() == ".hdr":
        hdr = path
        image = None
        for suffix in ENVI_IMAGE_SUFFIXES:
            cand = path.with_suffix(suffix) if suffix else path.with_suffix("")
            if cand.exists() and cand != path:
                image = cand
                break
        if image is None:
            raise DataFileNotFound(f"{path}: ENVI header found but no image file next to it "
                                   f"(tried {', '.join(s or '(no suffix)' for s in ENVI_IMAGE_SUFFIXES)})")
    else:
        hdr = envi_header_for(path)
        image = path
    try:
        return envi.open(str(hdr), str(image))
    except FileNotFoundError as exc:
        raise DataFileNotFound(f"{path}: ENVI file missing ({exc})") from None


def _read_envi(path: Path, as_float32: bool) -> ArrayRead:
    img = _open_envi(path)
    check_size(img.shape, 4 if as_float32 else np.dtype(img.dtype).itemsize, path, "image")
    arr = real_array(np.asarray(img.load()), path, "image", as_float32)
    meta = dict(img.metadata)
    wavelengths = None
    if "wavelength" in meta:
        try:
            wl = np.asarray([float(v) for v in meta["wavelength"]], dtype=np.float64)
            units = str(meta.get("wavelength units", "")).lower()
            if units.startswith("micro") or units in ("um", "µm") or (not units and wl.max() < 100):
                wl = wl * 1000.0
            wavelengths = wl
        except (TypeError, ValueError):
            wavelengths = None
    names = meta.get("class names")
    class_names = [str(n) for n in names] if names else None
    return ArrayRead(arr, path, None, "ENVI (spectral)", wavelengths=wavelengths,
                     class_names=class_names, meta={"envi_header": {k: meta[k] for k in
                                                                   ("samples", "lines", "bands",
                                                                    "interleave", "data type")
                                                                   if k in meta}})


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
