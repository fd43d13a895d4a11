"""Notebook 04's shift sweep as a library function: paired rows, their summary, the growth of the
bridge's gain with the shift, the figure and the errors."""

import numpy as np
import pytest

from mifomo_lite.data import synthetic_domain_pair
from mifomo_lite.errors import ConfigError, EpisodeError
from mifomo_lite.train import shift_sweep as sw
from mifomo_lite.train.presets import preset


def _rows():
    """Two strengths, three episodes; the bridge gains 0, 1, 2 points at 0 and 3, 4, 8 at 1."""
    rows = []
    for s, gains in ((0.0, (0.0, 1.0, 2.0)), (1.0, (3.0, 4.0, 8.0))):
        for e, g in enumerate(gains):
            rows.append({"strength": s, "spectral_angle": 0.1 * s, "episode": e, "seed": 10 + e,
                         "oa_support": 50.0, "oa_bridge": 60.0 + g - 5 * s, "oa_no_bridge": 60.0 - 5 * s,
                         "difference": g})
    return rows


def test_summary_and_gain_growth_on_known_rows():
    summ = sw.sweep_summary(_rows())
    assert [r["strength"] for r in summ] == [0.0, 1.0] and [r["n"] for r in summ] == [3, 3]
    assert summ[0]["difference"] == pytest.approx(1.0) and summ[1]["difference"] == pytest.approx(5.0)
    assert summ[1]["oa_no_bridge"] == pytest.approx(55.0) and summ[1]["oa_bridge"] == pytest.approx(60.0)
    # three positive differences: the exact sign-flip p is 2/8
    assert summ[1]["p"] == pytest.approx(0.25)
    assert sw.gain_growth(_rows()).tolist() == [3.0, 3.0, 6.0]
    fig = sw.plot_bridge_sweep(_rows())
    assert len(fig.axes[0].lines) >= 2


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ConfigError, match="strengths"):
        sw._strengths([0.0, 1.5])
    with pytest.raises(ConfigError, match="strengths"):
        sw._strengths([0.5, 0.5])
    with pytest.raises(ConfigError, match="two different strengths"):
        sw.gain_growth(_rows(), low=0.0, high=0.0)
    with pytest.raises(ConfigError, match="no rows"):
        sw.sweep_summary([])
    unpaired = [dict(r, seed=r["seed"] + 100 * r["strength"]) for r in _rows()]
    with pytest.raises(EpisodeError, match="share no episode seed"):
        sw.gain_growth(unpaired)


@pytest.mark.slow
def test_sweep_runs_paired_arms_on_a_synthetic_pair():
    src, tgt = synthetic_domain_pair(seed=0, size=20, n_source_classes=6, n_target_classes=4)
    cfg = preset("smoke").replace(n_test_episodes=2, source_episodes=0, target_ssl_steps=0, source_n_way=4,
                                  source_n_query=5, source_mixups=10, support_steps=1, intermediate_steps=2,
                                  max_query_pixels=60, progress=False)
    lines = []
    rows = sw.bridge_shift_sweep(cfg, [1.0, 0.0], target_scene=tgt, source_scenes=[src], log=lines.append)
    assert [(r["strength"], r["episode"]) for r in rows] == [(0.0, 0), (0.0, 1), (1.0, 0), (1.0, 1)]
    assert len(lines) == 2 and "paired episodes" in lines[0]
    at0, at1 = rows[0], rows[2]
    assert at0["spectral_angle"] == pytest.approx(0.0, abs=1e-6) and at1["spectral_angle"] > 0.01
    assert at0["seed"] == at1["seed"]                       # same episode at every strength
    for r in rows:
        assert 0.0 <= r["oa_bridge"] <= 100.0 and 0.0 <= r["oa_no_bridge"] <= 100.0
        assert r["difference"] == pytest.approx(r["oa_bridge"] - r["oa_no_bridge"])
    # the shift changes what the model sees: the support-only OA is not the same at both strengths
    assert not np.allclose([r["oa_support"] for r in rows[:2]], [r["oa_support"] for r in rows[2:]])
    # the no-bridge arm run for real gives what the bridge run reads after its support-only stage
    both = sw.bridge_shift_sweep(cfg, [1.0], target_scene=tgt, source_scenes=[src], reuse_support=False)
    assert both == rows[2:]                                  # (and the sweep is deterministic)
    with pytest.raises(ConfigError, match="stage"):
        sw.bridge_shift_sweep(cfg, [0.0], target_scene=tgt, source_scenes=[src], stage="final")
