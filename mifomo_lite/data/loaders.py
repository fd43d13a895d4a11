"""Loading scenes: registry scenes from the data folder (downloading them if asked), Indian Pines
from the copy inside the ``tensorly`` wheel, and your own files by path.

Where files live (the *data root*): the ``root`` argument, else the environment variable
``MIFOMO_DATA_DIR``, else ``<user cache>/data`` (``~/.cache/mifomo_lite/data`` on Linux; see
:func:`mifomo_lite.utils.user_cache_dir`). Scene files go in ``<root>/<scene name>/``, e.g.
``~/.cache/mifomo_lite/data/salinas_a/SalinasA_corrected.mat``; files placed directly in
``<root>`` or under the alternative names other code bases use are found too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import DataError, DataFileNotFound, DownloadError
from ..utils import sha256_file, user_cache_dir
from . import download as dl
from .io import ArrayRead, orient_cube, orient_labels, read_array
from .registry import SCENES, FileSpec, SceneInfo, get_scene_info, resolve_scene_name, \
    unknown_scene_message
from .scene import ClassNames, Scene, check_label_map, check_same_grid
from .validate import downsample_labels, resolution_hint

TENSORLY_IP = {
    "cube": ("Indian_pines_corrected.npy",
             "8f038e4d81569e38ebfc72a15c9984c150de42580ab260be10a13442e912e451"),
    "labels": ("Indian_pines_gt.npy",
               "44610d21625b311b05b8e0c4ba9a6cc755c2fbb9df48e4d89419024aa6ad3f9d"),
}


def data_root(root: Any = None) -> Path:
    """The folder scenes are read from / downloaded to (see the module docstring)."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("MIFOMO_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return user_cache_dir("data")


def scene_dir(name: str, root: Any = None) -> Path:
    """``<root>/<scene name>`` — where :func:`fetch_scene` puts a scene's files."""
    return data_root(root) / get_scene_info(name).name


def candidate_paths(info: SceneInfo, spec: FileSpec, root: Path) -> List[Path]:
    names = [spec.filename, *spec.aliases]
    out: List[Path] = []
    for base in (root / info.name, root):
        for n in names:
            p = base / n
            if p not in out:
                out.append(p)
    return out


def locate_file(info: SceneInfo, spec: FileSpec, root: Path) -> Optional[Path]:
    """First existing candidate path of ``spec`` (exact names, then a case-insensitive match)."""
    cands = candidate_paths(info, spec, root)
    for p in cands:
        if p.is_file():
            return p
    wanted = {Path(n).name.lower() for n in (spec.filename, *spec.aliases)}
    for folder in {p.parent for p in cands}:
        if folder.is_dir():
            for child in sorted(folder.iterdir()):
                if child.is_file() and child.name.lower() in wanted:
                    return child
    return None


def tensorly_indian_pines() -> Optional[Dict[str, Path]]:
    """Paths of the Indian Pines ``.npy`` files shipped in the ``tensorly`` wheel, or ``None``."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("tensorly")
    except (ImportError, ValueError):  # pragma: no cover
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    paths = {role: folder / fname for role, (fname, _) in TENSORLY_IP.items()}
    return paths if all(p.is_file() for p in paths.values()) else None


# ------------------------------------------------------------------------------------ fetching
def _file_url(spec: FileSpec, base_url: Optional[str]) -> Optional[str]:
    mirror = base_url or os.environ.get("MIFOMO_DATA_MIRROR")
    if mirror:
        return mirror.rstrip("/") + "/" + Path(spec.filename).name
    return spec.url


def fetch_scene(name: str, root: Any = None, *, force: bool = False,
                base_url: Optional[str] = None, progress: bool = True,
                timeout: float = 60.0) -> Dict[str, Path]:
    """Download the files of a registered scene into ``<root>/<name>/`` and return their paths.

    Files already present are checked (sha256) rather than downloaded again, unless ``force``.
    Files without a published checksum get one recorded next to them (``*.sha256.json``).
    ``base_url`` (or the environment variable ``MIFOMO_DATA_MIRROR``) replaces the official host:
    each file is then fetched from ``<base_url>/<file name>``.

    Raises :class:`DownloadError` for scenes that cannot be downloaded automatically (Houston
    2013), offline use (``MIFOMO_OFFLINE=1``) and network failures, and
    :class:`~mifomo_lite.errors.ChecksumError` for a bad file.
    """
    info = get_scene_info(name)
    root = data_root(root)
    folder = root / info.name
    paths: Dict[str, Path] = {}
    missing_manual = [s for s in info.files if not s.downloadable and not base_url
                      and not os.environ.get("MIFOMO_DATA_MIRROR")]
    for spec in info.files:
        existing = None if force else locate_file(info, spec, root)
        if existing is not None:
            dl.check_file(existing, spec.sha256, url=spec.url)
            paths[spec.role] = existing
            continue
        if spec in missing_manual:
            raise DownloadError(manual_download_message(info, root))
        target = folder / spec.filename
        if spec.archive is not None and not (base_url or os.environ.get("MIFOMO_DATA_MIRROR")):
            _fetch_from_archive(info, spec, folder, progress=progress, timeout=timeout)
        else:
            url = _file_url(spec, base_url)
            assert url is not None
            digest = dl.download_file(url, target, spec.sha256, expected_size=spec.size,
                                      progress=progress, timeout=timeout,
                                      desc=f"{info.name}: {spec.filename}")
            if spec.sha256 is None:
                dl.write_record(target, digest, origin="downloaded", url=url)
        paths[spec.role] = target
    return paths


def _fetch_from_archive(info: SceneInfo, spec: FileSpec, folder: Path, *, progress: bool,
                        timeout: float) -> None:
    arch = spec.archive
    assert arch is not None
    zpath = folder / arch.filename
    if not zpath.exists():
        digest = dl.download_file(arch.url, zpath, arch.sha256, expected_size=arch.size,
                                  progress=progress, timeout=timeout,
                                  desc=f"{info.name}: {arch.filename}")
        if arch.sha256 is None:
            dl.write_record(zpath, digest, origin="downloaded", url=arch.url)
    else:
        dl.check_file(zpath, arch.sha256, url=arch.url)
    target = folder / spec.filename
    dl.extract_member(zpath, spec.filename, target)
    dl.write_record(target, sha256_file(target), origin=f"extracted from {arch.filename}",
                    url=arch.url)
    # Remove the archive once every file of the scene that lives in it has been extracted.
    from_archive = [s for s in info.files if s.archive == arch]
    if all((folder / s.filename).exists() for s in from_archive):
        zpath.unlink()
        side = dl.sidecar_path(zpath)
        if side.exists():
            side.unlink()


def manual_download_message(info: SceneInfo, root: Path) -> str:
    where = ", ".join(str(root / info.name / s.filename) for s in info.files)
    return (f"scene {info.name!r} cannot be downloaded automatically. {info.notes} "
            f"Get the files from {info.landing_page} and put them at: {where}")


# ------------------------------------------------------------------------------------- loading
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


# ------------------------------------------------------------------------- bring your own scene
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
        from .io import list_variables

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


def available_locally(name: str, root: Any = None) -> Tuple[bool, str]:
    """Whether a registry scene can be loaded without downloading, and from where."""
    info = get_scene_info(name)
    root_path = data_root(root)
    if all(locate_file(info, s, root_path) is not None for s in info.files):
        return True, f"data folder ({root_path / info.name})"
    if info.offline_copy == "tensorly" and tensorly_indian_pines() is not None:
        return True, "tensorly wheel (offline copy)"
    return False, "not downloaded" if info.downloadable else "manual download needed"
