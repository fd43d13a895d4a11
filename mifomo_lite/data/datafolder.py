"""Where scene files live.

The *data root* is the ``root`` argument, else the environment variable ``MIFOMO_DATA_DIR``, else
``<user cache>/data`` (``~/.cache/mifomo_lite/data`` on Linux; see
:func:`mifomo_lite.utils.user_cache_dir`). Scene files go in ``<root>/<scene name>/``, e.g.
``~/.cache/mifomo_lite/data/salinas_a/SalinasA_corrected.mat``; files placed directly in
``<root>`` or under the alternative names other code bases use are found too. Indian Pines also
ships inside the ``tensorly`` wheel, which serves as an offline copy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..utils import user_cache_dir
from .registry import FileSpec, SceneInfo, get_scene_info

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
