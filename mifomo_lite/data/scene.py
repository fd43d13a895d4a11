"""The :class:`Scene` container and the checks every scene goes through.

A hyperspectral *scene* is an image cube of H×W pixels, each with a spectrum of B bands, plus a
ground-truth *label map* (H×W) in which 0 means "unlabelled" and 1..C are the classes.

Published label maps do not always use 1..C: Salinas-A, for example, uses the full-Salinas ids
{1, 10, 11, 12, 13, 14}. The kit therefore *remaps* the ids present to 1..C in sorted order and
keeps the original value of every class in :attr:`Scene.original_ids` — the same rule MIFOMO uses
(SPEC §3.5: "subtract 1, then remap the labels present to 0..C−1 in sorted order"; the kit keeps
0 for background and counts classes from 1, and every few-shot helper returns 0-based labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import DataError

ClassNames = Union[Sequence[str], Mapping[int, str], None]


# --------------------------------------------------------------------------------------- checks
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


# ---------------------------------------------------------------------------------------- Scene
@dataclass
class Scene:
    """A loaded hyperspectral scene, ready for preprocessing.

    Attributes:
        name: scene name (registry key, file stem or ``"synthetic"``).
        cube: (H, W, B) float32 image; raw sensor values (no scaling applied).
        labels: (H, W) int64 label map; 0 = unlabelled, classes 1..C (contiguous).
        class_names: C names; ``class_names[c - 1]`` names class ``c``.
        original_ids: (C,) int64; the label value class ``c`` had in the source file.
        wavelengths: (B,) band centres in nm, or ``None`` when unknown.
        sensor: sensor name.
        train_mask, test_mask: optional (H, W) label maps in the same 1..C space as ``labels``
            (Houston 2013 ships its support pool and test set this way).
        meta: provenance — files read, sha256, checksum status, source, notes.

    Build one from raw arrays with :meth:`Scene.from_arrays` (validates and remaps); the plain
    constructor only checks the invariants above.
    """

    name: str
    cube: np.ndarray
    labels: np.ndarray
    class_names: List[str]
    original_ids: np.ndarray
    wavelengths: Optional[np.ndarray] = None
    sensor: str = "unknown"
    train_mask: Optional[np.ndarray] = None
    test_mask: Optional[np.ndarray] = None
    meta: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cube = np.asarray(self.cube)
        if self.cube.ndim != 3:
            raise DataError(f"scene {self.name!r}: cube must be (H, W, B), got {self.cube.shape}")
        if self.cube.dtype != np.float32:
            self.cube = self.cube.astype(np.float32)
        self.labels = np.asarray(self.labels)
        if self.labels.dtype != np.int64:
            self.labels = self.labels.astype(np.int64)
        check_same_grid(self.cube.shape, self.labels.shape)
        self.class_names = [str(n) for n in self.class_names]
        self.original_ids = np.asarray(self.original_ids, dtype=np.int64).reshape(-1)
        c = len(self.class_names)
        if self.original_ids.size != c:
            raise DataError(f"scene {self.name!r}: {c} class names but "
                            f"{self.original_ids.size} original ids")
        lo, hi = int(self.labels.min()), int(self.labels.max())
        if lo < 0 or hi > c:
            raise DataError(f"scene {self.name!r}: labels must lie in 0..{c} (found {lo}..{hi}); "
                            "use Scene.from_arrays to remap arbitrary ids")
        for mname in ("train_mask", "test_mask"):
            m = getattr(self, mname)
            if m is not None:
                m = np.asarray(m, dtype=np.int64)
                check_same_grid(self.cube.shape, m.shape, what=mname)
                if m.min() < 0 or m.max() > c:
                    raise DataError(f"scene {self.name!r}: {mname} values must lie in 0..{c}")
                setattr(self, mname, m)
        if self.wavelengths is not None:
            self.wavelengths = np.asarray(self.wavelengths, dtype=np.float64).reshape(-1)
            if self.wavelengths.size != self.cube.shape[2]:
                raise DataError(f"scene {self.name!r}: {self.wavelengths.size} wavelengths for "
                                f"{self.cube.shape[2]} bands")

    # ---------------------------------------------------------------- construction from arrays
    @classmethod
    def from_arrays(cls, cube: Any, labels: Any, *, name: str = "custom",
                    class_names: ClassNames = None, wavelengths: Optional[Sequence[float]] = None,
                    sensor: str = "unknown", train_mask: Any = None, test_mask: Any = None,
                    meta: Optional[Dict[str, Any]] = None) -> "Scene":
        """Validate raw arrays and build a :class:`Scene`.

        ``labels`` may use any non-negative integer ids (gaps allowed); they are remapped to
        1..C and the original values kept in ``original_ids``. ``train_mask``/``test_mask`` (if
        given) are remapped with the same table; when ``labels`` is ``None`` and both masks are
        given, the label map is their union.
        """
        cube = check_cube(cube, what=f"{name}: cube")
        masks = {}
        for mname, m in (("train_mask", train_mask), ("test_mask", test_mask)):
            if m is not None:
                m = check_label_map(m, what=f"{name}: {mname}")
                check_same_grid(cube.shape, m.shape, what=mname)
                masks[mname] = m
        if labels is None:
            if len(masks) != 2:
                raise DataError(f"{name}: no label map given")
            labels = union_of_masks(masks["train_mask"], masks["test_mask"])
        labels = check_label_map(labels, what=f"{name}: labels")
        check_same_grid(cube.shape, labels.shape)
        maps, ids = remap_labels(labels, *masks.values())
        if ids.size == 0:
            raise DataError(f"{name}: the label map has no labelled pixels (all values are 0)")
        names = resolve_class_names(class_names, ids)
        remapped = dict(zip(masks, maps[1:]))
        meta = dict(meta or {})
        if not np.array_equal(ids, np.arange(1, ids.size + 1)):
            meta.setdefault("label_remap", {int(o): i + 1 for i, o in enumerate(ids)})
        return cls(name=name, cube=cube, labels=maps[0], class_names=names, original_ids=ids,
                   wavelengths=None if wavelengths is None else np.asarray(wavelengths, float),
                   sensor=sensor, train_mask=remapped.get("train_mask"),
                   test_mask=remapped.get("test_mask"), meta=meta)

    # ------------------------------------------------------------------------------ properties
    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_bands(self) -> int:
        return int(self.cube.shape[2])

    @property
    def shape(self) -> Tuple[int, int, int]:
        """``(height, width, bands)``."""
        return tuple(int(s) for s in self.cube.shape)  # type: ignore[return-value]

    @property
    def height(self) -> int:
        return int(self.cube.shape[0])

    @property
    def width(self) -> int:
        return int(self.cube.shape[1])

    @property
    def n_labelled(self) -> int:
        return int(np.count_nonzero(self.labels))

    def class_counts(self, which: str = "labels") -> np.ndarray:
        """Pixels per class, as an int64 array of length C (entry ``c - 1`` counts class ``c``).

        ``which`` is ``"labels"`` (default), ``"train"`` or ``"test"`` (Houston-style masks).
        """
        m = self._map(which)
        return np.bincount(m.ravel(), minlength=self.n_classes + 1)[1:].astype(np.int64)

    def _map(self, which: str) -> np.ndarray:
        if which == "labels":
            return self.labels
        m = {"train": self.train_mask, "test": self.test_mask}.get(which, "bad")
        if isinstance(m, str):
            raise ValueError(f"which must be 'labels', 'train' or 'test', not {which!r}")
        if m is None:
            raise DataError(f"scene {self.name!r} has no {which} mask")
        return m

    def labelled_pixels(self, which: str = "labels") -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows, cols, labels0)`` of every labelled pixel in row-major order; ``labels0`` is
        0-based (class ``c`` → ``c - 1``), as the models expect."""
        m = self._map(which)
        rows, cols = np.nonzero(m)
        return rows.astype(np.int64), cols.astype(np.int64), m[rows, cols] - 1

    def class_table(self) -> List[Dict[str, Any]]:
        """One dict per class: ``label`` (1..C), ``original_id``, ``name``, ``pixels`` (and
        ``train``/``test`` counts when the scene has masks)."""
        counts = self.class_counts()
        train = self.class_counts("train") if self.train_mask is not None else None
        test = self.class_counts("test") if self.test_mask is not None else None
        rows = []
        for c in range(self.n_classes):
            row = {"label": c + 1, "original_id": int(self.original_ids[c]),
                   "name": self.class_names[c], "pixels": int(counts[c])}
            if train is not None:
                row["train"] = int(train[c])
            if test is not None:
                row["test"] = int(test[c])
            rows.append(row)
        return rows

    def summary(self) -> str:
        """A human-readable description: size, bands, wavelengths, classes and provenance."""
        h, w, b = self.shape
        lines = [f"Scene {self.name!r} — sensor {self.sensor}",
                 f"  size: {h} × {w} pixels × {b} bands (float32, "
                 f"{self.cube.nbytes / 2**20:.1f} MiB)"]
        if self.wavelengths is not None:
            approx = " (approximate band centres)" if self.meta.get("wavelengths_approximate") else ""
            lines.append(f"  wavelengths: {self.wavelengths[0]:.0f}–{self.wavelengths[-1]:.0f} nm"
                         + approx)
        lines.append(f"  value range: {float(self.cube.min()):g} … {float(self.cube.max()):g}")
        total = self.n_labelled
        lines.append(f"  labelled pixels: {total:,} of {h * w:,} "
                     f"({100.0 * total / (h * w):.1f}%), {self.n_classes} classes")
        has_masks = self.train_mask is not None and self.test_mask is not None
        header = "    label  orig  pixels" + ("  train   test" if has_masks else "") + "  name"
        lines.append(header)
        for row in self.class_table():
            extra = f"  {row['train']:5d}  {row['test']:5d}" if has_masks else ""
            lines.append(f"    {row['label']:5d}  {row['original_id']:4d}  {row['pixels']:6d}"
                         f"{extra}  {row['name']}")
        source = self.meta.get("source")
        if source:
            lines.append(f"  source: {source}")
        status = self.meta.get("checksum_status")
        if status:
            lines.append(f"  checksum: {status}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        h, w, b = self.shape
        return (f"Scene(name={self.name!r}, shape=({h}, {w}, {b}), n_classes={self.n_classes}, "
                f"n_labelled={self.n_labelled}, sensor={self.sensor!r})")


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
