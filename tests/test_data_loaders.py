"""load_scene: registry scenes (offline Indian Pines, cached Salinas-A, Houston, Chikusei),
checksum bookkeeping, bring-your-own files and every bad-input error."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import scipy.io

from mifomo_lite.data import SCENES, Scene, get_scene_info, load_scene
from mifomo_lite.data import registry as registry_mod
from mifomo_lite.data.download import sidecar_path
from mifomo_lite.data.datafolder import data_root, tensorly_indian_pines
from mifomo_lite.errors import ChecksumError, DataError, DataFileNotFound

from test_data_io import write_mat73


def _small_registry_entry(monkeypatch, name, **changes):
    """Shrink a registry entry (Houston, Chikusei) so a tiny look-alike file passes the
    size check."""
    info = dataclasses.replace(SCENES[name], **changes)
    monkeypatch.setitem(registry_mod.SCENES, name, info)
    return info


def _seed_salinas_a(shared_dir, root):
    dest = root / "salinas_a"
    dest.mkdir(parents=True)
    for f in (shared_dir / "data" / "salinas_a").glob("*.mat"):
        shutil.copy(f, dest / f.name)
    return dest


# ----------------------------------------------------------------------------- registry scenes
def test_indian_pines_offline_from_tensorly(isolated_cache):
    paths = tensorly_indian_pines()
    assert paths is not None, "tensorly should ship the Indian Pines .npy files"
    scene = load_scene("indian_pines")
    assert scene.shape == (145, 145, 200)
    assert scene.n_classes == 16 and scene.n_labelled == 10249
    assert scene.class_counts().tolist() == list(get_scene_info("ip").class_counts.values())
    assert scene.class_names[0] == "Alfalfa" and scene.cube.dtype == np.float32
    assert scene.meta["source"].startswith("tensorly")
    assert set(scene.meta["checksum"].values()) == {"verified"}
    assert scene.wavelengths.shape == (200,)
    assert "Stone-Steel-Towers" in scene.summary()


def test_tensorly_labels_equal_the_gt_mat(isolated_cache, shared_dir):
    scene = load_scene("indian_pines")
    gt = scipy.io.loadmat(shared_dir / "data" / "gt_only" / "Indian_pines_gt.mat")["indian_pines_gt"]
    np.testing.assert_array_equal(scene.labels, gt)


def test_cached_mat_preferred_and_unknown_checksum_recorded(isolated_cache, shared_dir):
    root = data_root()
    assert root == isolated_cache / "data"
    folder = root / "indian_pines"
    folder.mkdir(parents=True)
    cube = np.load(tensorly_indian_pines()["cube"])
    scipy.io.savemat(folder / "Indian_pines_corrected.mat", {"indian_pines_corrected": cube})
    shutil.copy(shared_dir / "data" / "gt_only" / "Indian_pines_gt.mat", folder)
    scene = load_scene("indian_pines")
    assert scene.meta["source"].startswith("data folder")
    assert scene.meta["checksum"] == {"cube": "recorded", "labels": "verified"}
    assert "recorded, unverified" in scene.meta["checksum_status"]
    record = json.loads(sidecar_path(folder / "Indian_pines_corrected.mat").read_text())
    assert record["sha256"] == scene.meta["sha256"]["cube"]
    assert scene.n_labelled == 10249 and scene.shape == (145, 145, 200)
    # the file changes after it was recorded → refused
    scipy.io.savemat(folder / "Indian_pines_corrected.mat", {"indian_pines_corrected": cube + 1})
    with pytest.raises(ChecksumError, match="recorded as"):
        load_scene("indian_pines")


def test_salinas_a_from_seeded_cache(isolated_cache, shared_dir, monkeypatch):
    root = isolated_cache / "elsewhere"
    _seed_salinas_a(shared_dir, root)
    monkeypatch.setenv("MIFOMO_DATA_DIR", str(root))         # env var picks the data folder
    scene = load_scene("salinas_a")
    assert scene.shape == (83, 86, 204)
    assert scene.n_classes == 6 and scene.n_labelled == 5348
    assert scene.original_ids.tolist() == [1, 10, 11, 12, 13, 14]
    assert scene.class_counts().tolist() == [391, 1343, 616, 1525, 674, 799]
    assert scene.class_names[1] == "Corn_senesced_green_weeds"
    assert sorted(np.unique(scene.labels).tolist()) == [0, 1, 2, 3, 4, 5, 6]
    assert scene.meta["checksum"] == {"cube": "verified", "labels": "verified"}
    assert scene.meta["label_remap"] == {1: 1, 10: 2, 11: 3, 12: 4, 13: 5, 14: 6}
    # root argument wins over the environment
    assert load_scene("SalinasA", root=root).n_labelled == 5348


def test_corrupt_cached_file_is_a_checksum_error(isolated_cache, shared_dir):
    folder = _seed_salinas_a(shared_dir, isolated_cache / "data")
    p = folder / "SalinasA_gt.mat"
    data = bytearray(p.read_bytes())
    data[-1] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=r"SalinasA_gt\.mat.*expected sha256 17814c1d"):
        load_scene("salinas_a")


def test_missing_registry_files(isolated_cache):
    with pytest.raises(DataFileNotFound, match=r"(?s)SalinasA_corrected\.mat.*data fetch salinas_a"):
        load_scene("salinas_a")
    with pytest.raises(DataFileNotFound, match="cannot be downloaded automatically"):
        load_scene("houston2013")


def test_unknown_scene_name(isolated_cache):
    with pytest.raises(DataError, match="Did you mean 'pavia_university'"):
        load_scene("pavia_universty")


def test_own_file_options_refused_for_registry_scenes(isolated_cache):
    with pytest.raises(DataError, match="labels_key only apply to your own files"):
        load_scene("indian_pines", labels_key="gt")


def test_houston_masks(isolated_cache, monkeypatch):
    _small_registry_entry(monkeypatch, "houston2013", height=12, width=20, n_bands=6,
                          wavelength_range=(364.0, 1046.0))
    rng = np.random.default_rng(0)
    folder = isolated_cache / "data" / "houston2013"
    folder.mkdir(parents=True)
    train = np.zeros((12, 20), np.uint8)
    test = np.zeros((12, 20), np.uint8)
    train[:, 0:6] = np.arange(1, 13)[:, None]            # classes 1..12, six pixels each
    train[0:3, 6:12] = np.array([13, 14, 15])[:, None]   # classes 13..15
    test[:, 12:20] = rng.integers(1, 16, size=(12, 8))
    scipy.io.savemat(folder / "data.mat", {"data": rng.random((12, 20, 6))})
    scipy.io.savemat(folder / "mask_train.mat", {"mask_train": train})
    scipy.io.savemat(folder / "mask_test.mat", {"mask_test": test})
    scene = load_scene("houston")
    assert scene.train_mask is not None and scene.test_mask is not None
    assert scene.n_classes == 15 and scene.class_names[5] == "Water"
    np.testing.assert_array_equal(scene.labels, np.where(train > 0, train, test))
    assert scene.class_counts("train").sum() == int((train > 0).sum())
    assert set(scene.meta["checksum"].values()) == {"recorded"}
    assert "train" in scene.summary()


def test_chikusei_v73_look_alike(isolated_cache, monkeypatch):
    _small_registry_entry(monkeypatch, "chikusei", height=9, width=7, n_bands=5,
                          wavelength_range=(363.0, 1018.0))
    rng = np.random.default_rng(3)
    cube = rng.random((9, 7, 5))
    gt = rng.integers(0, 20, size=(9, 7))
    gt[0, :] = np.arange(1, 8)
    gt[1, :] = np.arange(8, 15)
    gt[2, :5] = np.arange(15, 20)
    folder = isolated_cache / "data" / "chikusei" / "Chikusei_MATLAB"     # nested, as unzipped
    folder.mkdir(parents=True)
    write_mat73(folder / "HyperspecVNIR_Chikusei_20140729.mat", {"chikusei": cube})
    write_mat73(folder / "HyperspecVNIR_Chikusei_20140729_Ground_Truth.mat",
                {"GT": {"gt": gt, "cmap": rng.random((3, 20))}})
    scene = load_scene("chikusei")
    assert scene.shape == (9, 7, 5) and scene.n_classes == 19
    np.testing.assert_allclose(scene.cube, cube.astype(np.float32))
    np.testing.assert_array_equal(scene.labels, gt)
    assert scene.meta["formats"]["cube"].startswith("MATLAB v7.3")
    assert scene.class_names[0] == "Water"


def test_registry_file_of_wrong_size(isolated_cache):
    folder = isolated_cache / "data" / "houston2013"
    folder.mkdir(parents=True)
    scipy.io.savemat(folder / "data.mat", {"data": np.ones((4, 4, 3))})
    scipy.io.savemat(folder / "mask_train.mat", {"mask_train": np.ones((4, 4))})
    scipy.io.savemat(folder / "mask_test.mat", {"mask_test": np.zeros((4, 4))})
    with pytest.raises(DataError, match=r"hold a 4×4×3 cube but .* is 349×1905×144"):
        load_scene("houston2013")


# --------------------------------------------------------------------------- bring your own
def _cube_and_labels(h=6, w=5, b=4, seed=0):
    rng = np.random.default_rng(seed)
    cube = rng.random((h, w, b)).astype(np.float32)
    labels = np.zeros((h, w), np.int64)
    labels[:2] = 3
    labels[2:4] = 7
    return cube, labels


def test_own_mat_with_cube_and_labels_in_one_file(tmp_path):
    cube, labels = _cube_and_labels()
    p = tmp_path / "field.mat"
    scipy.io.savemat(p, {"img": cube, "gt": labels.astype(np.uint8)})
    scene = load_scene(p, class_names=["wheat", "barley"])
    assert isinstance(scene, Scene) and scene.name == "field"
    assert scene.original_ids.tolist() == [3, 7] and scene.class_names == ["wheat", "barley"]
    assert scene.meta["keys"] == {"cube": "img", "labels": "gt"}
    # names by original id, as a dict
    scene = load_scene(str(p), class_names={3: "wheat", 7: "barley"})
    assert scene.class_names == ["wheat", "barley"]
    with pytest.raises(DataError, match="no name given for class id"):
        load_scene(p, class_names={3: "wheat"})
    with pytest.raises(DataError, match="got 3 name"):
        load_scene(p, class_names=["a", "b", "c"])


def test_own_files_separate_labels_and_keys(tmp_path):
    cube, labels = _cube_and_labels()
    scipy.io.savemat(tmp_path / "cube.mat", {"radiance": cube, "extra": cube[:, :, :2]})
    np.save(tmp_path / "labels.npy", labels)
    with pytest.raises(DataError, match=r"cannot tell which variable.*radiance \(6, 5, 4\)"):
        load_scene(tmp_path / "cube.mat", labels=tmp_path / "labels.npy")
    with pytest.raises(DataError, match=r"no image cube named 'cube'.*extra \(6, 5, 2\)"):
        load_scene(tmp_path / "cube.mat", cube_key="cube", labels=tmp_path / "labels.npy")
    scene = load_scene(tmp_path / "cube.mat", cube_key="radiance", labels=tmp_path / "labels.npy",
                       wavelengths=[500, 600, 700, 800], sensor="drone")
    assert scene.n_bands == 4 and scene.sensor == "drone"
    assert scene.wavelengths.tolist() == [500, 600, 700, 800]
    # labels given as an array; cube stored bands-first is moved to (H, W, B)
    np.save(tmp_path / "bfirst.npy", np.moveaxis(cube, -1, 0))
    scene = load_scene(tmp_path / "bfirst.npy", labels=labels)
    np.testing.assert_array_equal(scene.cube, cube)


def test_own_npz_and_envi(tmp_path):
    import spectral.io.envi as envi

    cube, labels = _cube_and_labels()
    np.savez(tmp_path / "scene.npz", data=cube, labels=labels)
    assert load_scene(tmp_path / "scene.npz").n_labelled == 20
    envi.save_image(str(tmp_path / "img.hdr"), cube,
                    metadata={"wavelength": [400, 500, 600, 700], "wavelength units": "nm"})
    envi.save_classification(str(tmp_path / "gt.hdr"), labels.astype(np.uint8),
                             class_names=["Unclassified", "a", "b", "c", "grass", "e", "f", "road"])
    scene = load_scene(tmp_path / "img.hdr", labels=tmp_path / "gt.hdr")
    assert scene.class_names == ["c", "road"]
    assert scene.wavelengths.tolist() == [400, 500, 600, 700]


def test_missing_path(tmp_path):
    with pytest.raises(DataFileNotFound, match="not found"):
        load_scene(tmp_path / "nope.mat")
    cube, labels = _cube_and_labels()
    np.save(tmp_path / "c.npy", cube)
    with pytest.raises(DataFileNotFound, match="not found"):
        load_scene(tmp_path / "c.npy", labels=tmp_path / "missing_gt.npy")
    with pytest.raises(DataError, match="no label map given"):
        load_scene(tmp_path / "c.npy")


# ---------------------------------------------------------------------------- bad input cases
def test_spatial_mismatch_names_both_shapes(tmp_path):
    cube, labels = _cube_and_labels()
    np.save(tmp_path / "c.npy", cube)
    with pytest.raises(DataError, match=r"cube is 6×5 pixels \(shape \(6, 5, 4\)\).*5×6 \(shape \(5, 6\)\)"):
        load_scene(tmp_path / "c.npy", labels=labels.T)


def test_nan_and_inf_in_cube(tmp_path):
    cube, labels = _cube_and_labels()
    cube[0, 0, 1] = np.nan
    cube[3, 2, 1] = np.inf
    cube[3, 2, 3] = -np.inf
    np.save(tmp_path / "c.npy", cube)
    with pytest.raises(DataError, match=r"2 pixel\(s\) contain NaN or Inf values, in 2 of 4 band"
                                        r"\(s\) \(0-based band indices: 1, 3\)"):
        load_scene(tmp_path / "c.npy", labels=labels)


def test_negative_and_non_integer_labels(tmp_path):
    cube, labels = _cube_and_labels()
    np.save(tmp_path / "c.npy", cube)
    neg = labels.copy()
    neg[5, 4] = -1
    with pytest.raises(DataError, match=r"1 pixel\(s\) have negative label values \(-1\)"):
        load_scene(tmp_path / "c.npy", labels=neg)
    frac = labels.astype(float)
    frac[0, 0] = 2.5
    with pytest.raises(DataError, match=r"not whole numbers \(e\.g\. 2\.5\)"):
        load_scene(tmp_path / "c.npy", labels=frac)
    with pytest.raises(DataError, match="no labelled pixels"):
        load_scene(tmp_path / "c.npy", labels=np.zeros((6, 5)))


def test_label_gaps_are_remapped_not_errors():
    cube, labels = _cube_and_labels()
    labels[4, :] = 42
    scene = Scene.from_arrays(cube, labels.astype(float))     # whole-number floats are fine
    assert scene.original_ids.tolist() == [3, 7, 42]
    assert scene.class_counts().tolist() == [10, 10, 5]
    assert scene.class_names == ["class_3", "class_7", "class_42"]


def test_scene_invariants():
    cube, labels = _cube_and_labels()
    with pytest.raises(DataError, match="labels must lie in 0..2"):
        Scene("x", cube, labels, ["a", "b"], [1, 2])
    with pytest.raises(DataError, match="3-D"):
        Scene.from_arrays(cube[:, :, 0], labels)
