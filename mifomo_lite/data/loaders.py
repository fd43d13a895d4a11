"""Loading scenes: registry scenes from the data folder (downloading them if asked), Indian Pines
from the copy inside the ``tensorly`` wheel, and your own files by path.

Where the files are looked for: :mod:`.datafolder`; downloading: :mod:`.fetch`; reading your own
files: :mod:`.own_scene`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import DataError, DataFileNotFound
from ..utils import sha256_file
from . import download as dl
from .checks import ClassNames, check_label_map
from .datafolder import TENSORLY_IP, candidate_paths, data_root, locate_file, tensorly_indian_pines
from .fetch import fetch_scene, manual_download_message
from .io import ArrayRead, orient_cube, orient_labels, read_array
from .own_scene import load_path
from .registry import SCENES, FileSpec, SceneInfo, get_scene_info, resolve_scene_name, \
    unknown_scene_message
from .scene import Scene


def load_scene(name_or_path: Any, root: Any = None, download: bool = False, *,
               cube_key: Optional[str] = None, labels: Any = None,
               labels_key: Optional[str] = None, class_names: ClassNames = None,
               wavelengths: Optional[Sequence[float]] = None, name: Optional[str] = None,
               sensor: Optional[str] = None, progress: bool = True,
               labels_downsample: Optional[str] = None) -> Scene:
    """Load a hyperspectral scene as a validated :class:`Scene`.

    Args:
        name_or_path: a registry name (``"indian_pines"``, ``"PaviaU"``, ``"ip"``, ... — see
            ``mifomo-lite data list``) or the path of your own file: ``.mat`` (v5 or v7.3),
            ``.npy``, ``.npz`` or an ENVI ``.hdr``/image.
        root: data folder for registry scenes (default ``$MIFOMO_DATA_DIR`` or the user cache).
        download: fetch missing registry files from their public URL.
        cube_key: variable name of the cube inside a ``.mat``/``.npz`` of your own (detected
            when the file holds one 3-D array).
        labels: your own label map: a path (any supported format) or an (H, W) array. When
            omitted, a 2-D array stored in the cube's own ``.mat``/``.npz`` is used if there is
            exactly one.
        labels_key: variable name of the label map inside ``labels`` (or the cube file).
        class_names: names for your classes: one per class present, one per id, or a dict
            ``{id: name}``. For an ENVI classification file, its ``class names`` are used.
        wavelengths: band centres in nm for your data (ENVI headers provide them).
        name, sensor: labels for your scene (default: file stem, "unknown").
        progress: show a progress bar while downloading.
        labels_downsample: ``"nearest"`` or ``"majority"`` — for your own label map drawn at a
            whole multiple of the cube's resolution (e.g. 512×512 labels for a 128×128 cube).

    Indian Pines works offline: if no ``.mat`` pair is in the data folder, the copy inside the
    installed ``tensorly`` package is used (its sha256 checked against PROVENANCE.md).

    Raises:
        DataError: unknown scene name (with the closest names), wrong/missing key (lists the
            keys found), spatial mismatch, NaN/Inf, negative or non-integer labels, unreadable
            or truncated files.
        DataFileNotFound: a registry scene's files are not in the data folder and
            ``download`` is false (the message says where to put them), or a path is missing.
        ChecksumError / DownloadError: see :func:`fetch_scene`.
    """
    if isinstance(name_or_path, (str, os.PathLike)):
        text = os.fspath(name_or_path)
        key = resolve_scene_name(text) if isinstance(name_or_path, str) else None
        if key is not None and not Path(text).is_file():
            own = {"cube_key": cube_key, "labels": labels, "labels_key": labels_key,
                   "class_names": class_names, "wavelengths": wavelengths,
                   "labels_downsample": labels_downsample}
            given = [k for k, v in own.items() if v is not None]
            if given:
                raise DataError(
                    f"{', '.join(given)} only apply to your own files; {text!r} is the registered "
                    f"scene {key!r}, whose keys, labels and class names are known. Pass a file "
                    "path to load your own data.")
            return _load_registry(SCENES[key], root, download, progress=progress)
        path = Path(text).expanduser()
        if path.exists() or _looks_like_path(text):
            return load_path(path, cube_key=cube_key, labels=labels, labels_key=labels_key,
                             class_names=class_names, wavelengths=wavelengths, name=name,
                             sensor=sensor, labels_downsample=labels_downsample)
        raise DataError(unknown_scene_message(text))
    raise TypeError(f"load_scene expects a scene name or a path, not {type(name_or_path).__name__}")


def _looks_like_path(text: str) -> bool:
    return os.sep in text or "/" in text or bool(Path(text).suffix)


def _load_registry(info: SceneInfo, root: Any, download: bool, *, progress: bool) -> Scene:
    root_path = data_root(root)
    located = {s.role: locate_file(info, s, root_path) for s in info.files}
    missing = [s for s in info.files if located[s.role] is None]
    source = f"data folder {root_path}"
    if missing and info.offline_copy == "tensorly":
        tl = tensorly_indian_pines()
        if tl is not None:
            return _load_tensorly_ip(info, tl)
    if missing:
        if not download:
            raise DataFileNotFound(_missing_message(info, root_path, missing))
        fetched = fetch_scene(info.name, root_path, progress=progress)
        located = {role: fetched[role] for role in fetched}
        source = f"downloaded to {root_path}"
    files: Dict[str, Path] = {r: p for r, p in located.items() if p is not None}
    statuses: Dict[str, str] = {}
    digests: Dict[str, str] = {}
    for spec in info.files:
        status, digest = dl.check_file(files[spec.role], spec.sha256, url=spec.url)
        statuses[spec.role], digests[spec.role] = status, digest
    cube_spec = info.file("cube")
    cube_read = read_array(files["cube"], cube_spec.keys, ndim=3, what="image cube",
                           as_float32=True)
    cube = orient_cube(cube_read.array, expected=info.shape, allow_spatial_transpose=True)
    grid = cube.shape[:2]
    reads: Dict[str, ArrayRead] = {"cube": cube_read}
    maps: Dict[str, np.ndarray] = {}
    for spec in info.files:
        if spec.role == "cube":
            continue
        r = read_array(files[spec.role], spec.keys, ndim=2, what=f"{spec.role.replace('_', ' ')}")
        reads[spec.role] = r
        arr = check_label_map(r.array, what=f"{info.name}: {spec.role}")
        maps[spec.role] = orient_labels(arr, grid)
    meta = _provenance(info, source, files, reads, statuses, digests)
    scene = Scene.from_arrays(
        cube, maps.get("labels"), name=info.name, class_names=list(info.class_names),
        wavelengths=info.wavelengths() if cube.shape[2] == info.n_bands else None,
        sensor=info.sensor, train_mask=maps.get("train_mask"), test_mask=maps.get("test_mask"),
        meta=meta)
    scene.meta["wavelengths_approximate"] = scene.wavelengths is not None
    _check_against_registry(scene, info)
    return scene


def _load_tensorly_ip(info: SceneInfo, paths: Dict[str, Path]) -> Scene:
    from ..errors import ChecksumError

    digests = {}
    for role, p in paths.items():
        digest = sha256_file(p)
        expected = TENSORLY_IP[role][1]
        if digest != expected:
            raise ChecksumError(
                f"checksum mismatch for {p} (Indian Pines copy inside tensorly): expected "
                f"{expected}, got {digest}. Reinstall tensorly (pip install --force-reinstall "
                "tensorly) or put the EHU .mat files in the data folder.")
        digests[role] = digest
    cube = np.load(paths["cube"], allow_pickle=False)
    labels = np.load(paths["labels"], allow_pickle=False)
    meta = {
        "scene": info.name,
        "title": info.title,
        "source": "tensorly wheel (offline copy of Indian Pines)",
        "files": {r: str(p) for r, p in paths.items()},
        "keys": {"cube": None, "labels": None},
        "formats": {"cube": "NumPy npy", "labels": "NumPy npy"},
        "sha256": digests,
        "checksum": {r: "verified" for r in paths},
        "checksum_status": dl.describe_status("tensorly"),
        "urls": {s.role: s.url for s in info.files},
        "citation": info.citation,
        "licence": info.licence,
        "wavelengths_approximate": True,
    }
    scene = Scene.from_arrays(cube, labels, name=info.name, class_names=list(info.class_names),
                              wavelengths=info.wavelengths(), sensor=info.sensor, meta=meta)
    _check_against_registry(scene, info)
    return scene


def _provenance(info: SceneInfo, source: str, files: Dict[str, Path],
                reads: Dict[str, ArrayRead], statuses: Dict[str, str],
                digests: Dict[str, str]) -> Dict[str, Any]:
    overall = ("verified" if all(s == "verified" for s in statuses.values()) else
               "recorded" if all(s in ("verified", "recorded") for s in statuses.values()) else
               "unrecorded")
    return {
        "scene": info.name,
        "title": info.title,
        "source": source,
        "files": {r: str(p) for r, p in files.items()},
        "keys": {r: reads[r].key for r in reads},
        "formats": {r: reads[r].format for r in reads},
        "sha256": digests,
        "checksum": statuses,
        "checksum_status": dl.describe_status(overall),
        "urls": {s.role: s.url or (s.archive.url if s.archive else None) for s in info.files},
        "citation": info.citation,
        "licence": info.licence,
    }


def _check_against_registry(scene: Scene, info: SceneInfo) -> None:
    """Warn-free sanity check: a registry scene whose size differs from the registry is a
    different file than expected — say so clearly."""
    if scene.shape != info.shape:
        raise DataError(
            f"scene {info.name!r}: the files in {scene.meta.get('files')} hold a "
            f"{scene.shape[0]}×{scene.shape[1]}×{scene.shape[2]} cube but {info.title} is "
            f"{info.height}×{info.width}×{info.n_bands}; the files are not the expected ones")


def _missing_message(info: SceneInfo, root: Path, missing: List[FileSpec]) -> str:
    lines = [f"scene {info.name!r}: file(s) not found in the data folder {root}:"]
    for spec in missing:
        tried = ", ".join(str(p) for p in candidate_paths(info, spec, root)[:2])
        lines.append(f"  {spec.filename} (looked for {tried}, and alternative names)")
    if info.downloadable:
        lines.append(f"Download them with load_scene({info.name!r}, download=True) or "
                     f"`mifomo-lite data fetch {info.name}`, or set MIFOMO_DATA_DIR / root= to "
                     "the folder that holds them.")
    else:
        lines.append(manual_download_message(info, root))
    return "\n".join(lines)


def available_locally(name: str, root: Any = None) -> Tuple[bool, str]:
    """Whether a registry scene can be loaded without downloading, and from where."""
    info = get_scene_info(name)
    root_path = data_root(root)
    if all(locate_file(info, s, root_path) is not None for s in info.files):
        return True, f"data folder ({root_path / info.name})"
    if info.offline_copy == "tensorly" and tensorly_indian_pines() is not None:
        return True, "tensorly wheel (offline copy)"
    return False, "not downloaded" if info.downloadable else "manual download needed"
