"""The notebook explorers: their computations on small seeded embeddings, and their front ends
(static in batch mode, sliders that redraw interactively)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from mifomo_lite import explore as ex
from mifomo_lite import notebooks as nbh
from mifomo_lite.errors import ConfigError, DataError


def clusters(n_per_class=(30, 40, 25), dim=16, spread=0.3, seed=0):
    """Seeded Gaussian clusters around random unit centres, one per class."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(n_per_class), dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = np.repeat(np.arange(len(n_per_class)), n_per_class)
    return centres[y] + spread * rng.normal(size=(len(y), dim)) / np.sqrt(dim), y


def split(emb, y, shots=3):
    sup = np.concatenate([np.flatnonzero(y == c)[:shots] for c in range(y.max() + 1)])
    mask = np.ones(len(y), bool)
    mask[sup] = False
    return emb[sup], y[sup], emb[mask], y[mask]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_propagation_view_grades_and_alpha_zero_keeps_the_argmax():
    s, sy, q, qy = split(*clusters(spread=1.5))
    v0 = ex.propagation_view(s, sy, q, qy, sigma=0.3, alpha=0.0)
    assert v0.changed == 0.0 and v0.propagated == v0.plain           # F* = Y when α = 0
    v = ex.propagation_view(s, sy, q, qy, sigma=0.3, alpha=0.95, batch_size=None)
    assert v.confusion.shape == (3, 3) and v.confusion.sum() == len(qy)
    assert np.isclose(np.trace(v.confusion) / len(qy), v.propagated)
    assert v.changed > 0                                               # a structured graph moves argmaxes
    easy = ex.propagation_view(*split(*clusters(spread=0.05)), sigma=0.3, alpha=0.9)
    assert easy.plain == 1.0


def test_propagation_view_rejects_bad_inputs():
    s, sy, q, qy = split(*clusters())
    with pytest.raises(ConfigError, match="sigma must be > 0"):
        ex.propagation_view(s, sy, q, qy, sigma=0.0)
    with pytest.raises(DataError, match=r"no shot of class\(es\) \[1\]"):
        ex.propagation_view(s[sy != 1], np.where(sy[sy != 1] == 2, 2, 0), q, qy)
    with pytest.raises(DataError, match="query_y has 3 labels"):
        ex.propagation_view(s, sy, q, qy[:3])


def test_lambda_trajectory_active_follows_the_ramp_and_commented_lags():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(40, 8)), rng.normal(size=(40, 8)) + 1.0
    act = ex.lambda_trajectory(a, b, n_steps=20, n_mix=30, seed=3)
    com = ex.lambda_trajectory(a, b, n_steps=20, n_mix=30, seed=3, form="commented")
    assert len(act["lambda"]) == 20 and np.allclose(act["ramp"], np.arange(20) / 20)
    assert np.abs(act["lambda"] - act["ramp"]).max() < 1e-3            # q ≈ e^-10
    assert (com["ramp"] - com["lambda"]).mean() > 0.02                 # q ≈ 0.4: λ lags the ramp
    assert (act["low"] >= 0).all() and (act["high"] <= 1).all() and act["high"][0] == pytest.approx(0.2)
    again = ex.lambda_trajectory(a, b, n_steps=20, n_mix=30, seed=3)
    assert np.array_equal(again["W_SM"], act["W_SM"])                  # seeded
    with pytest.raises(DataError, match="width 8 != target_emb width 5"):
        ex.lambda_trajectory(a, b[:, :5])


def test_lr_curve_small_lr_changes_nothing_and_a_larger_one_fits_the_support():
    s, sy, q, qy = split(*clusters(spread=2.0), shots=4)
    tiny = ex.lr_curve(s, sy, q, qy, lr=1e-7, steps=10)
    assert len(tiny.loss) == 11 and tiny.loss[0] == pytest.approx(np.log(3))   # zero head: log C
    assert np.allclose(tiny.loss, tiny.loss[0], rtol=1e-4)
    good = ex.lr_curve(s, sy, q, qy, lr=0.05, steps=30)
    assert good.loss[-1] < 0.5 * good.loss[0] and good.support_acc[-1] == 1.0
    assert good.query_acc[-1] > 0.5                                      # 3 classes: chance is 1/3
    with pytest.raises(ConfigError, match="lr must be > 0"):
        ex.lr_curve(s, sy, q, qy, lr=0.0)


def test_shots_view_curve_rises_with_shots_and_is_seeded():
    emb, y = clusters(n_per_class=(60, 50, 70), spread=2.5)
    v = ex.shots_view(emb, y, shots=3, max_shots=10, n_draws=4, seed=0, propagate=True, sigma=0.3)
    assert v["curve"].shape == (10, 4) and list(v["k"]) == list(range(1, 11))
    assert v["curve"][-1].mean() > v["curve"][0].mean()
    assert v["per_class"].shape == (3,) and 0.0 <= v["propagated"] <= 1.0
    assert np.array_equal(ex.shots_view(emb, y, shots=3, max_shots=10, n_draws=4, seed=0)["curve"], v["curve"])
    with pytest.raises(ConfigError, match="smallest class \\(50 pixels\\)"):
        ex.shots_view(emb, y, shots=3, max_shots=50)


def _data():
    emb, y = clusters()
    return emb, y, split(emb, y)


@pytest.mark.parametrize("name", ["propagation", "lambda", "lr", "shots"])
def test_explorers_draw_one_static_figure_in_batch_mode(name, monkeypatch, capsys):
    monkeypatch.setenv(nbh.ENV_OUT, "/nonexistent")
    emb, y, (s, sy, q, qy) = _data()
    calls = {"propagation": lambda: ex.propagation_explorer(s, sy, q, qy),
             "lambda": lambda: ex.lambda_explorer(s, q, n_steps=5, n_mix=10),
             "lr": lambda: ex.lr_explorer(s, sy, q, qy, steps=5),
             "shots": lambda: ex.shots_explorer(emb, y, shots=2, max_shots=5, n_draws=2)}
    assert calls[name]() is None
    assert "static view" in capsys.readouterr().out
    assert plt.get_fignums()                                            # the figure was drawn


def test_explorer_widgets_have_sliders_that_redraw(monkeypatch):
    pytest.importorskip("ipywidgets")
    monkeypatch.delenv(nbh.ENV_OUT, raising=False)
    monkeypatch.delenv("CI", raising=False)
    emb, y, (s, sy, q, qy) = _data()
    box = ex.propagation_explorer(s, sy, q, qy, sigma=0.5, alpha=0.8)
    sigma, alpha = box.children[0].children
    assert (sigma.description, alpha.description) == ("σ", "α")
    assert sigma.value == pytest.approx(0.5) and alpha.value == pytest.approx(0.8)
    alpha.value = 0.3                                                   # redraws without error
    lam = ex.lambda_explorer(s, q, n_steps=5, n_mix=10)
    assert [c.description for c in lam.children[0].children] == ["τ", "σ_p", "steps", "form"]
    lam.children[0].children[3].value = "commented"
    shots = ex.shots_explorer(emb, y, shots=2, max_shots=5, n_draws=2)
    slider = shots.children[0].children[0]
    assert (slider.min, slider.max, slider.value) == (1, 5, 2)
    slider.value = 4


@pytest.mark.parametrize("stem, explorers", [("03_episodic_prototypes", ["lr_explorer", "shots_explorer"]),
                                             ("04_mixup_bridge", ["lambda_explorer"]),
                                             ("05_pseudo_labels", ["propagation_explorer"])])
def test_notebooks_call_their_explorers_before_the_summary(stem, explorers):
    from pathlib import Path

    from mifomo_tools.nbrun import read_py

    cells = read_py(Path(__file__).resolve().parents[1] / "notebooks" / f"{stem}.py").cells
    summary = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## Summary" in c.source)
    for name in explorers:
        at = [i for i, c in enumerate(cells) if c.cell_type == "code" and f"{name}(" in c.source]
        assert at and max(at) < summary, f"{stem}: {name} is not called before the summary (cells {at}, summary {summary})"
