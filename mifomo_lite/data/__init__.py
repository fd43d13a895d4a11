"""Hyperspectral data for mifomo_lite: scenes, files, downloads, synthetic scenes,
MIFOMO preprocessing, few-shot splits and episodes.

Typical use::

    from mifomo_lite.data import load_scene, prepare_scene, few_shot_split, EpisodeSampler

    scene = load_scene("indian_pines")            # works offline (tensorly copy)
    print(scene.summary())
    prepared = prepare_scene(scene, n_components=50, patch_size=9)   # PCA-50, z-score, reflect
    split = few_shot_split(scene, n_shot=5, seed=0)                  # 5 per class + the rest
    sx, sy = split.support_tensors(prepared)                         # (80, 50, 9, 9)
    for qx, qy in split.query_batches(prepared, batch_size=1024):    # never all at once
        ...

Module map: :mod:`.registry` (scene facts, URLs, checksums), :mod:`.scene` (the ``Scene``
container), :mod:`.checks` (cube and label-map checks), :mod:`.io` (file readers: MATLAB
v5/v7.3 in :mod:`.io_matlab`, NumPy, TIFF and ENVI in :mod:`.io_envi_tiff`, what they share in
:mod:`.io_common`), :mod:`.download` (safe downloads, checksum records), :mod:`.datafolder`
(where scene files are found), :mod:`.fetch` (``fetch_scene``), :mod:`.loaders`
(``load_scene``), :mod:`.own_scene` (``load_path``: your own files), :mod:`.synthetic`,
:mod:`.preprocess`, :mod:`.splits`, :mod:`.plots`, :mod:`.cli`.
"""

from .checks import check_cube, check_label_map, remap_labels
from .datafolder import data_root, scene_dir
from .download import check_file, download_file, is_offline
from .fetch import fetch_scene
from .io import list_variables, read_array
from .loaders import load_scene
from .own_scene import load_path
from .preprocess import (PreparedScene, prepare_scene, preprocess_cube, preprocess_scene,
                         reflect_pad)
from .registry import SCENES, FileSpec, SceneInfo, get_scene_info, list_scenes
from .scene import Scene
from .splits import Episode, EpisodeSampler, FewShotSplit, few_shot_split
from .synthetic import endmember_spectra, synthetic_domain_pair, synthetic_scene

__all__ = [
    "SCENES", "SceneInfo", "FileSpec", "get_scene_info", "list_scenes",
    "Scene", "check_cube", "check_label_map", "remap_labels",
    "load_scene", "load_path", "fetch_scene", "data_root", "scene_dir",
    "download_file", "check_file", "is_offline",
    "read_array", "list_variables",
    "synthetic_scene", "synthetic_domain_pair", "endmember_spectra",
    "preprocess_cube", "preprocess_scene", "reflect_pad", "PreparedScene", "prepare_scene",
    "few_shot_split", "FewShotSplit", "EpisodeSampler", "Episode",
]
