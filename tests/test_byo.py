"""Bring-your-own scenes end to end, and the run-folder guarantees behind them.

* a scene given only as a TIFF cube plus a CSV of 5 points per class yields a class map with one
  command (sparse-label mode), written atomically, named, and scoring nothing;
* ``mifomo_lite.run(scene, cfg)`` prints the CLI's table and records the real scene (name, files,
  sha256) instead of the config's default target;
* run folders: an interrupted run leaves nothing, ``overwrite`` replaces an older folder whole.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from mifomo_lite.data import synthetic_scene


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("MIFOMO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MIFOMO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MIFOMO_OFFLINE", "1")
    return tmp_path


# GeoTIFF georeferencing: 30 m pixels, a UTM-like tie point, a minimal GeoKey directory.
GEO = [(33550, "d", 3, (30.0, 30.0, 0.0), True), (33922, "d", 6, (0.0, 0.0, 0.0, 500000.0, 4.0e6, 0.0), True),
       (34735, "H", 8, (1, 1, 0, 1, 1024, 0, 1, 1), True)]


def _field(tmp_path: Path, per_class: int = 5):
    """A 40×40×30 synthetic scene saved as a multi-page GeoTIFF, ``per_class`` random points per class
    in a CSV (class names, header line), and the hidden truth."""
    import tifffile

    scene = synthetic_scene(height=40, width=40, n_bands=30, n_classes=3, seed=1, name="field")
    tifffile.imwrite(tmp_path / "field.tif", np.moveaxis(scene.cube, -1, 0), extratags=GEO)
    rng = np.random.default_rng(0)
    names = ["soil", "corn", "water"]
    lines = ["row,col,class"]
    for c in (1, 2, 3):
        r, k = np.nonzero(scene.labels == c)
        for i in rng.choice(len(r), per_class, replace=False):
            lines.append(f"{r[i]},{k[i]},{names[c - 1]}")
    (tmp_path / "points.csv").write_text("\n".join(lines) + "\n")
    return scene


def test_class_map_from_a_tiff_and_five_points_per_class_in_one_command(offline):
    import tifffile

    from mifomo_lite.cli import main

    truth = _field(offline)
    out = offline / "map"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["run", "--preset", "smoke", "--target", str(offline / "field.tif"),
                     "--support", str(offline / "points.csv"), "--out", str(out), "--no-progress"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "classes.json", "classification_map.npy", "classification_map.png", "classification_map.tif",
        "config.json", "report.md", "scene.json"]
    pred = np.load(out / "classification_map.npy")
    assert pred.shape == (40, 40) and set(np.unique(pred)) <= {1, 2, 3}
    tif = tifffile.imread(out / "classification_map.tif")
    assert np.array_equal(tif, pred)
    with tifffile.TiffFile(out / "classification_map.tif") as tf:
        assert json.loads(tf.pages[0].description)["classes"] == {"1": "soil", "2": "corn", "3": "water"}
        for code, _, _, value, _ in GEO:                 # a GeoTIFF in gives a GeoTIFF out
            assert tuple(tf.pages[0].tags[code].value) == value
    assert json.loads((out / "classes.json").read_text())["points_per_class"] == {"soil": 5, "corn": 5, "water": 5}
    labelled = truth.labels > 0
    agreement = (pred[labelled] == truth.labels[labelled]).mean()
    assert agreement > 0.7, agreement              # 0.86 measured; chance is about 0.33
    assert "Nothing is scored" in stdout.getvalue()
    assert not list(offline.glob("map.*"))        # no .part folder, no lock left


@pytest.mark.slow
def test_python_route_prints_the_table_and_records_the_real_scene(offline):
    import scipy.io

    import mifomo_lite
    from mifomo_lite.data import load_scene
    from mifomo_lite.utils import sha256_file

    scene = synthetic_scene(height=24, width=24, n_bands=30, n_classes=3, seed=2, name="field")
    scipy.io.savemat(offline / "plot7.mat", {"cube": scene.cube, "gt": scene.labels})
    mine = load_scene(offline / "plot7.mat", class_names=["soil", "corn", "water"])
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        result, folder = mifomo_lite.run(mine, "smoke", offline / "run", n_test_episodes=1, baselines=False,
                                         log=lambda *a, **k: None)
    text = stdout.getvalue()
    assert "| MIFOMO-lite (final" in text and f"run folder: {folder}" in text
    assert json.loads((folder / "config.json").read_text())["target"] == "plot7"
    rec = json.loads((folder / "scene.json").read_text())
    assert rec["name"] == "plot7" and [c["name"] for c in rec["classes"]] == ["soil", "corn", "water"]
    assert rec["sha256"]["cube"] == sha256_file(offline / "plot7.mat")


def test_an_interrupted_run_leaves_no_folder_and_no_lock(offline):
    from mifomo_lite.train.outdir import run_folder

    out = offline / "run"
    with pytest.raises(KeyboardInterrupt):
        with run_folder(out) as part:
            (part / "metrics.json").write_text("{}")
            raise KeyboardInterrupt
    assert sorted(p.name for p in offline.iterdir()) == []


def test_overwrite_replaces_the_whole_folder(offline):
    from mifomo_lite.errors import OutputError
    from mifomo_lite.train.outdir import run_folder

    out = offline / "run"
    with run_folder(out) as part:
        (part / "tsne.png").write_bytes(b"old")
    with pytest.raises(OutputError, match="already holds files"):
        with run_folder(out):
            pass
    with run_folder(out, overwrite=True) as part:
        (part / "metrics.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json"]
    assert sorted(p.name for p in offline.iterdir()) == ["run"]


def test_run_folder_names_stay_under_runs():
    from mifomo_lite.train.outdir import default_dir, safe_name

    for target in ("../../x.mat", "/etc/passwd", "..", "a b/c:d.tif", "indian_pines"):
        path = default_dir("runs", "smoke", target, "cp")
        assert Path("runs").resolve() in path.resolve().parents
        assert "/" not in safe_name(target) and ".." not in safe_name(target)
