"""Notebook-side helpers: setup, profile picks, the band explorer (interactive and batch), the
labelled subset."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from mifomo_lite import notebooks as nbh
from mifomo_lite.data import synthetic_scene
from mifomo_lite.errors import ConfigError


@pytest.fixture(scope="module")
def scene():
    return synthetic_scene(height=16, width=18, n_bands=12, n_classes=4, seed=1)


def test_setup_and_pick(capsys):
    s = nbh.setup("smoke", "cpu", 3)
    assert s.profile == "smoke" and s.seed == 3 and str(s.device) == "cpu"
    assert s.config.preset == "smoke" and s.config.seed == 3
    assert "profile=smoke" in capsys.readouterr().out
    assert s.pick(smoke=1, lite=2) == 1
    assert nbh.setup("paper", "cpu", quiet=True).pick(smoke=1, lite=2) == 2  # paper falls back to lite
    with pytest.raises(ConfigError, match="no value given for profile 'smoke'"):
        s.pick(lite=2)
    with pytest.raises(ConfigError, match="profile 'fast' is not valid"):
        nbh.setup("fast")


def test_setup_reports_the_precision_policy_of_the_device(capsys, monkeypatch):
    s = nbh.setup("smoke", "cpu", 0)
    assert s.precision.name == "fp32" and "training precision: fp32 (cpu:" in capsys.readouterr().out
    import mifomo_lite.precision as P

    # a pre-Ampere GPU (T4, capability 7.5) gets fp16 + GradScaler, an Ampere one bf16 — setup shows
    # whatever the policy returns for its device
    monkeypatch.setattr(P, "precision_for", lambda dev, req="auto": P.choose_precision("cuda", (7, 5), req))
    s = nbh.setup("smoke", "cpu", 0)
    assert s.precision.name == "fp16" and s.precision.use_grad_scaler
    assert "training precision: fp16 (cuda capability 7.5 < 8.0: fp16 autocast + GradScaler)" in capsys.readouterr().out


def test_band_explorer_is_static_in_batch_mode(scene, monkeypatch, capsys):
    monkeypatch.setenv(nbh.ENV_OUT, "/nonexistent")
    assert nbh.batch_mode()
    assert nbh.band_explorer(scene) is None
    assert "static view" in capsys.readouterr().out


def test_band_explorer_widget(scene, monkeypatch):
    pytest.importorskip("ipywidgets")
    monkeypatch.delenv(nbh.ENV_OUT, raising=False)
    monkeypatch.delenv("CI", raising=False)
    box = nbh.band_explorer(scene, band=3, row=2, col=5)
    sliders = box.children[0].children
    assert [s.description for s in sliders] == ["band", "row", "column"]
    assert (sliders[0].value, sliders[0].max) == (3, scene.n_bands - 1)
    assert sliders[1].max == scene.height - 1 and sliders[2].max == scene.width - 1
    sliders[0].value = 7  # redraws without error
    sliders[1].value = scene.height - 1


def test_labelled_subset(scene):
    sub = nbh.labelled_subset(scene, per_class=5, seed=0)
    assert sub.cube is scene.cube
    assert np.all(sub.class_counts() == np.minimum(scene.class_counts(), 5))
    assert np.all((sub.labels == 0) | (sub.labels == scene.labels))
    assert nbh.labelled_subset(scene, None) is scene


def test_run_config_builds_the_profile_preset_and_falls_back_from_paper(capsys):
    cfg = nbh.setup("smoke", "cpu", seed=3, quiet=True).run_config(n_test_episodes=1)
    assert cfg.preset == "smoke" and cfg.seed == 3 and cfg.device == "cpu" and not cfg.progress
    assert cfg.n_test_episodes == 1
    paper = nbh.setup("paper", "cpu", quiet=True).run_config()
    assert paper.preset == "lite" and paper.model == "tiny" and paper.n_test_episodes == 20
    assert "using the paper's budget on the kit's models" in capsys.readouterr().out


def test_band_near_picks_the_closest_centre():
    from mifomo_lite.notebooks import band_near

    wl = np.array([400.0, 500.0, 600.0, 700.0])
    assert [band_near(wl, nm) for nm in (0, 449, 451, 650.1, 5000)] == [0, 0, 1, 3, 3]
    with pytest.raises(ConfigError, match="1-D"):
        band_near(np.zeros((2, 2)), 500)


def test_corrupt_labels_changes_exactly_the_rate_and_never_keeps_the_class():
    from mifomo_lite.notebooks import corrupt_labels

    y = np.arange(200) % 5
    for rate in (0.0, 0.25, 1.0):
        out = corrupt_labels(y, 5, rate, np.random.default_rng(1))
        assert (out != y).sum() == round(rate * y.size)
        assert out.min() >= 0 and out.max() < 5 and y.tolist() == (np.arange(200) % 5).tolist()
    a = corrupt_labels(y, 5, 0.3, np.random.default_rng(7))
    assert np.array_equal(a, corrupt_labels(y, 5, 0.3, np.random.default_rng(7)))
    with pytest.raises(ConfigError, match="rate"):
        corrupt_labels(y, 5, 1.5, np.random.default_rng(0))
