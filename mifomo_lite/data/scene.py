"""The :class:`Scene` container (its cube and label checks live in :mod:`.checks`).

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
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import DataError
from .checks import (ClassNames, check_cube, check_label_map, check_same_grid, remap_labels,
                     resolve_class_names, union_of_masks)


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
