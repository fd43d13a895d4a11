"""The checks and conversions every cube and label map goes through before it becomes a
:class:`~mifomo_lite.data.scene.Scene`: a finite numeric (H, W, B) cube, a non-negative integer
label map on the same pixel grid, class ids remapped to 1..C, and class names matched to the
classes present. Each failure raises a :class:`~mifomo_lite.errors.DataError` that names what is
wrong (how many pixels, which values or bands)."""

from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import DataError

ClassNames = Union[Sequence[str], Mapping[int, str], None]


def check_cube(cube: Any, what: str = "cube") -> np.ndarray:
    """Return ``cube`` as a C-contiguous float32 (H, W, B) array, or raise a :class:`DataError`.

    Checks: three dimensions, a numeric dtype, and only finite values. A NaN/Inf error names how
    many pixels and which bands are affected, so you can decide to drop bands or fill pixels.
    """
    arr = np.asarray(cube)
    if arr.ndim != 3:
        raise DataError(
            f"{what}: expected a 3-D image cube (height, width, bands) but got an array of shape "
            f"{arr.shape}")
    if arr.dtype.kind == "c":
        raise DataError(f"{what}: the cube holds complex values (dtype {arr.dtype}); hyperspectral images "
                        "are real. Pass np.real(cube) or np.abs(cube) yourself if that is what you mean")
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{what}: expected numeric values but got dtype {arr.dtype}")
    if arr.dtype != np.float32 or not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.size == 0:
        raise DataError(f"{what}: the cube is empty (shape {arr.shape})")
    # Row-chunked finiteness check: never builds a full boolean copy of a large cube.
    bad_pixels = 0
    bad_bands = np.zeros(arr.shape[2], dtype=bool)
    step = max(1, (1 << 24) // max(1, arr.shape[1] * arr.shape[2]))
    for r0 in range(0, arr.shape[0], step):
        block = arr[r0:r0 + step]
        finite = np.isfinite(block)
        if not finite.all():
            bad = ~finite
            bad_pixels += int(bad.any(axis=2).sum())
            bad_bands |= bad.any(axis=(0, 1))
    if bad_pixels:
        bands = np.flatnonzero(bad_bands)
        shown = ", ".join(str(b) for b in bands[:10]) + (" ..." if bands.size > 10 else "")
        raise DataError(
            f"{what}: {bad_pixels} pixel(s) contain NaN or Inf values, in {bands.size} of "
            f"{arr.shape[2]} band(s) (0-based band indices: {shown}). Remove those bands or fill "
            "the pixels (e.g. np.nan_to_num) before loading.")
    return arr


def check_label_map(labels: Any, what: str = "labels") -> np.ndarray:
    """Return ``labels`` as an int64 (H, W) array of values ≥ 0, or raise a :class:`DataError`.

    Accepts integer, boolean or float arrays whose values are whole numbers (MATLAB often stores
    label maps as double). Trailing singleton axes (an ENVI label file is H×W×1) are dropped.
    Negative values and non-integer values are errors; gaps between ids are *not* (they are
    remapped later, see :func:`remap_labels`).
    """
    arr = np.asarray(labels)
    while arr.ndim > 2 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise DataError(f"{what}: expected a 2-D label map (height, width) but got shape {arr.shape}")
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            n = int((~np.isfinite(arr)).sum())
            raise DataError(f"{what}: {n} label value(s) are NaN or Inf; labels must be integers")
        frac = arr != np.round(arr)
        if frac.any():
            examples = np.unique(arr[frac])[:5]
            raise DataError(
                f"{what}: {int(frac.sum())} label value(s) are not whole numbers (e.g. "
                f"{', '.join(f'{v:g}' for v in examples)}); a label map must hold integer class ids")
        _check_label_range(arr, what)
        arr = arr.astype(np.int64)
    elif arr.dtype.kind in "iu":
        arr = arr.astype(np.int64, copy=False)
    else:
        raise DataError(f"{what}: expected integer class ids but got dtype {arr.dtype}")
    return _check_label_range(np.ascontiguousarray(arr), what)


# Largest class id a label map may hold (int32, what MATLAB and ENVI label maps use).
MAX_LABEL = 2**31 - 1


def _check_label_range(arr: np.ndarray, what: str) -> np.ndarray:
    big = arr > MAX_LABEL
    if big.any():
        values = np.unique(arr[big])[:3]
        raise DataError(
            f"{what}: {int(big.sum())} pixel(s) have label values too large to be class ids "
            f"({', '.join(f'{v:g}' for v in values)}; the largest allowed is {MAX_LABEL}); is this file "
            "a label map?")
    neg = arr < 0
    if neg.any():
        values = np.unique(arr[neg])[:5]
        raise DataError(
            f"{what}: {int(neg.sum())} pixel(s) have negative label values "
            f"({', '.join(str(int(v)) for v in values)}); use 0 for unlabelled pixels and "
            "positive integers for classes")
    return np.ascontiguousarray(arr)


def check_same_grid(cube_shape: Tuple[int, ...], labels_shape: Tuple[int, ...],
                    what: str = "labels") -> None:
    """Raise a :class:`DataError` unless the label map covers exactly the cube's pixel grid."""
    if tuple(cube_shape[:2]) != tuple(labels_shape[:2]):
        raise DataError(
            f"spatial size mismatch: the cube is {cube_shape[0]}×{cube_shape[1]} pixels "
            f"(shape {tuple(cube_shape)}) but the {what} map is "
            f"{labels_shape[0]}×{labels_shape[1]} (shape {tuple(labels_shape)})")


def remap_labels(*maps: np.ndarray, ids: Optional[np.ndarray] = None
                 ) -> Tuple[List[np.ndarray], np.ndarray]:
    """Remap the non-zero ids found in ``maps`` to 1..C in sorted order.

    All maps are remapped with the *same* table (Houston's train and test masks share classes).
    Returns ``(remapped_maps, original_ids)`` where ``original_ids[c - 1]`` is the original value
    of new class ``c``. Pass ``ids`` to force a particular (sorted, positive) id list.
    """
    if ids is None:
        found = [np.unique(m) for m in maps]
        ids = np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)
        ids = ids[ids > 0]
    ids = np.asarray(ids, dtype=np.int64)
    out = []
    for m in maps:
        new = np.zeros(m.shape, dtype=np.int64)
        pos = m > 0
        if pos.any():
            idx = np.searchsorted(ids, m[pos])
            idx = np.clip(idx, 0, max(ids.size - 1, 0))
            if ids.size == 0 or not np.array_equal(ids[idx], m[pos]):
                raise DataError("label map contains ids outside the class list "
                                f"{ids.tolist()}")  # pragma: no cover - internal misuse
            new[pos] = idx + 1
        out.append(new)
    return out, ids


def resolve_class_names(class_names: ClassNames, original_ids: np.ndarray,
                        what: str = "class_names") -> List[str]:
    """Match class names to the classes present.

    ``class_names`` may be ``None`` (names become ``"class_<id>"``), a mapping
    ``{original_id: name}``, a list with one name per class *present* (in sorted id order), or a
    list indexed by original id (``names[id - 1]``, like the registry's lists).
    """
    ids = [int(i) for i in original_ids]
    if class_names is None:
        return [f"class_{i}" for i in ids]
    if isinstance(class_names, Mapping):
        missing = [i for i in ids if i not in class_names and str(i) not in class_names]
        if missing:
            raise DataError(f"{what}: no name given for class id(s) {missing}; "
                            f"ids present in the label map: {ids}")
        return [str(class_names[i] if i in class_names else class_names[str(i)]) for i in ids]
    if isinstance(class_names, str):
        raise DataError(f"{what}: expected a list of names, got the single string {class_names!r}")
    names = [str(n) for n in class_names]
    if len(names) == len(ids):
        return names
    if ids and len(names) >= max(ids):
        return [names[i - 1] for i in ids]
    raise DataError(
        f"{what}: got {len(names)} name(s) but the label map has {len(ids)} class(es) with ids "
        f"{ids}; give one name per class present, one per id up to {max(ids) if ids else 0}, "
        "or a dict {id: name}")


def union_of_masks(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Merge a train and a test label map into one map; a pixel labelled differently in the two
    maps is an error (the Houston masks are disjoint)."""
    both = (train > 0) & (test > 0)
    conflict = both & (train != test)
    if conflict.any():
        r, c = np.argwhere(conflict)[0]
        raise DataError(
            f"train and test masks disagree at {int(conflict.sum())} pixel(s) (first at row {r}, "
            f"column {c}: train {int(train[r, c])} vs test {int(test[r, c])})")
    return np.where(train > 0, train, test)
