"""Loading your own scene from files: a cube in any supported format plus a label map given as a
path, an array, or a second variable in the cube's own ``.mat``/``.npz``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from ..errors import DataError, DataFileNotFound
from .checks import ClassNames, check_label_map, check_same_grid
from .io import ArrayRead, list_variables, orient_cube, read_array
from .scene import Scene
from .validate import downsample_labels, resolution_hint


def load_path(path: Any, *, cube_key: Optional[str] = None, labels: Any = None,
              labels_key: Optional[str] = None, class_names: ClassNames = None,
              wavelengths: Optional[Sequence[float]] = None, name: Optional[str] = None,
              sensor: Optional[str] = None, labels_downsample: Optional[str] = None) -> Scene:
    """Load your own scene from files (see :func:`load_scene` for the arguments)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataFileNotFound(f"image file not found: {path}")
    cube_read = read_array(path, (cube_key,) if cube_key else (), strict=cube_key is not None,
                           ndim=3, what="image cube", as_float32=True)
    cube = cube_read.array
    files = {"cube": str(path)}
    keys = {"cube": cube_read.key}
    label_arr, label_read = _read_labels(path, cube_read, labels, labels_key)
    if label_read is not None:
        files["labels"] = str(label_read.path)
        keys["labels"] = label_read.key
    label_arr = check_label_map(label_arr, what=f"{path.name}: labels")
    if labels_downsample is not None:
        label_arr = downsample_labels(label_arr, cube.shape[:2], labels_downsample, what=path.name)
    oriented = orient_cube(cube, grid=label_arr.shape)
    moved = oriented is not cube and oriented.shape != cube.shape
    if tuple(oriented.shape[:2]) != tuple(label_arr.shape):
        try:
            check_same_grid(oriented.shape, label_arr.shape)
        except DataError as exc:
            raise DataError(str(exc) + resolution_hint(label_arr.shape, oriented.shape)) from None
    if class_names is None and label_read is not None and label_read.class_names:
        names = label_read.class_names
        class_names = {i: n for i, n in enumerate(names)} if len(names) > 1 else None
    wl = wavelengths if wavelengths is not None else cube_read.wavelengths
    meta = {
        "source": f"file {path}",
        "files": files,
        "keys": keys,
        "formats": {"cube": cube_read.format,
                    "labels": label_read.format if label_read else "array"},
        "checksum_status": "not checked (your own file)",
        "sha256": {},
    }
    if labels_downsample is not None:
        meta["labels_downsample"] = labels_downsample
    if moved:
        meta["note"] = "cube was stored bands-first (B, H, W); moved to (H, W, B)"
    return Scene.from_arrays(oriented, label_arr, name=name or path.stem,
                             class_names=class_names, wavelengths=wl,
                             sensor=sensor or "unknown", meta=meta)


def _read_labels(path: Path, cube_read: ArrayRead, labels: Any, labels_key: Optional[str]
                 ) -> Tuple[np.ndarray, Optional[ArrayRead]]:
    """The label map of your own scene: from ``labels`` (a path or an array), else from the cube's
    own .mat/.npz file; with the read record when it came from a file."""
    if labels is None:
        label_read = _labels_from_same_file(path, cube_read, labels_key)
        if label_read is None:
            raise DataError(
                f"{path}: no label map given. Pass --labels PATH (labels=<path or array> in Python; with "
                "--labels-key NAME for a .mat/.npz holding several variables), or store a 2-D label map in "
                "the same .mat/.npz file.")
        return label_read.array, label_read
    if isinstance(labels, (str, os.PathLike)):
        label_read = read_array(Path(labels).expanduser(), (labels_key,) if labels_key else (),
                                strict=labels_key is not None, ndim=2, what="label map")
        return label_read.array, label_read
    return np.asarray(labels), None


def _labels_from_same_file(path: Path, cube_read: ArrayRead,
                           labels_key: Optional[str]) -> Optional[ArrayRead]:
    if cube_read.format.startswith(("MATLAB", "NumPy npz")) and cube_read.key is not None:
        found = {k: s for k, s in list_variables(path).items() if k != cube_read.key}
        if labels_key is not None:
            return read_array(path, (labels_key,), strict=True, ndim=2, what="label map")
        two_d = [k for k, s in found.items() if len(s) == 2 and "struct" not in s]
        preferred = [k for k in two_d if any(t in k.lower() for t in ("gt", "label", "mask",
                                                                         "truth"))]
        pick = preferred if len(preferred) == 1 else two_d
        if len(pick) == 1:
            return read_array(path, (pick[0],), strict=True, ndim=2, what="label map")
    return None
