"""The per-episode differences behind the run notebooks' computed claims (mifomo_lite.train.claims)."""


import numpy as np
import pytest

from mifomo_lite.errors import OutputError
from mifomo_lite.train import claims


def _ep(lab, scene):
    return {"final": {"propagated_labelled_pool": {"oa": lab}, "propagated_scene_pool": {"oa": scene}}}


def test_pool_gaps_are_labelled_minus_scene_per_episode():
    eps = [_ep(80.0, 70.5), _ep(60.0, 61.0), {"final": {"plain": {"oa": 50.0}}}]
    assert claims.pool_gaps(eps).tolist() == [9.5, -1.0]          # the episode without both pools is skipped
    assert claims.pool_gaps([]).size == 0


def test_drift_differences_compare_run_level_and_episode_drift():
    drift = {"phases": {"after_phase0": {"cosine": 0.6}, "after_phase1": {"cosine": 0.9}},
             "episodes": [{"episode": 0, "after_support": {"cosine": 0.88}, "after_intermediate": {"cosine": 0.85}},
                          {"episode": 1, "after_support": {"cosine": 0.5}}]}
    assert claims.last_cosine(drift) == 0.9
    np.testing.assert_allclose(claims.drift_differences(drift), [0.1 - 0.05, 0.1 - 0.4])
    assert claims.last_cosine({"phases": {}}) == 1.0
    no_phases = {"phases": {}, "episodes": [{"after_support": {"cosine": 0.7}}]}
    np.testing.assert_allclose(claims.drift_differences(no_phases), [-0.3])
    assert claims.drift_differences(None).size == 0


def test_ablation_episode_oa_reads_the_table_records():
    table = {"ablations": {"no_cp": {"stage": "final/propagated",
                                     "episodes": [{"seed": 0, "headline": 55.0, "plain": 50.0},
                                                  {"seed": 1, "headline": 47.0, "plain": 40.0}]},
                           "full": {"stage": "final/plain"}}}
    assert claims.ablation_episode_oa(table, "no_cp").tolist() == [55.0, 47.0]
    with pytest.raises(OutputError, match="'full' has no per-episode records"):
        claims.ablation_episode_oa(table, "full")
    with pytest.raises(OutputError, match="'no_mixup' has no per-episode records"):
        claims.ablation_episode_oa(table, "no_mixup")


def test_protocol_patches_count_each_phase():
    from mifomo_lite.train.budget import source_phase_patches, target_run_patches
    from mifomo_lite.train.presets import preset

    c = preset("paper", target="indian_pines")
    assert source_phase_patches(c, 19) == 1500 * 19 * (5 + 15)
    assert source_phase_patches(c.replace(source_n_way=5), 19) == 1500 * 5 * 20
    got = target_run_patches(c, 19, 16, 10249)
    assert got["evaluated"] == 20 * 2 * (10249 - 5 * 16)
    assert got["train"] == 20 * (500 * 5 * 16 + 1000 * ((19 + 16) * (2 + 3) + 10))
    off = target_run_patches(c.replace(use_intermediate_domain=False), 19, 16, 10249)
    assert off == {"train": 20 * 500 * 5 * 16, "evaluated": 20 * (10249 - 80)}
