"""Downloading a registered scene's files into the data folder (see :mod:`.datafolder`), from
the official hosts, a zip archive, or a mirror; files already present are checked instead."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional

from ..errors import DownloadError
from ..utils import sha256_file
from . import download as dl
from .datafolder import data_root, locate_file
from .registry import FileSpec, SceneInfo, get_scene_info


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
