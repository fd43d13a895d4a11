"""notebook 02's adaptation experiment, as a library function: what it trains, what it measures."""

import numpy as np
import pytest
import torch

from mifomo_lite.data import few_shot_split, prepare_scene, synthetic_scene
from mifomo_lite.errors import ConfigError
from mifomo_lite.lessons import AdaptationCurve, episode_split, support_adaptation_curve
from mifomo_lite.train.presets import preset


@pytest.fixture(scope="module")
def episode():
    scene = synthetic_scene(height=20, width=20, n_bands=60, n_classes=4, seed=1)
    prepared = prepare_scene(scene, n_components=50, patch_size=9, seed=0)
    split = few_shot_split(prepared, n_shot=5, seed=0)
    sx, sy = split.support_tensors(prepared)
    qx = prepared.patches(split.query_rows[:40], split.query_cols[:40])
    qy = torch.as_tensor(split.query_labels[:40])
    return sx, sy, qx, qy


def test_episode_split_is_per_class_and_disjoint():
    p, q = episode_split(4, 5, 2, torch.Generator().manual_seed(0))
    assert len(p) == 8 and len(q) == 12 and set(p.tolist()).isdisjoint(q.tolist())
    assert sorted(p.tolist() + q.tolist()) == list(range(20))
    assert all((idx // 5).bincount(minlength=4).tolist() == [k] * 4 for idx, k in ((p, 2), (q, 3)))


def test_curve_is_deterministic_and_in_range(episode):
    sx, sy, qx, qy = episode
    cfg = preset("smoke")
    a = support_adaptation_curve("micro", "cp", sx, sy, qx, qy, cfg, steps=2, every=1, seed=3)
    b = support_adaptation_curve("micro", "cp", sx, sy, qx, qy, cfg, steps=2, every=1, seed=3)
    assert isinstance(a, AdaptationCurve) and a.points == b.points
    arr = a.as_array()
    assert arr[:, 0].tolist() == [0, 1, 2] and ((arr[:, 1:] >= 0) & (arr[:, 1:] <= 1)).all()
    assert a.trainable > 0 and a.gap == pytest.approx(arr[-1, 1] - arr[-1, 2])


def test_full_fine_tuning_trains_more_parameters_than_head_only(episode):
    sx, sy, qx, qy = episode
    cfg = preset("smoke")
    head = support_adaptation_curve("micro", "head", sx, sy, qx, qy, cfg, steps=0, every=1)
    full = support_adaptation_curve("micro", "full", sx, sy, qx, qy, cfg, steps=0, every=1)
    assert full.trainable > head.trainable
    assert head.points == full.points  # step 0: the same pretrained model, nothing trained yet


def test_bad_support_order_and_budgets_are_clear_errors(episode):
    sx, sy, qx, qy = episode
    cfg = preset("smoke")
    with pytest.raises(ConfigError, match="class-major"):
        support_adaptation_curve("micro", "cp", sx, sy.flip(0), qx, qy, cfg, steps=1, every=1)
    with pytest.raises(ConfigError, match="n_proto"):
        support_adaptation_curve("micro", "cp", sx, sy, qx, qy, cfg, steps=1, every=1, n_proto=5)


def test_sign_flip_p_exact_and_its_floor():
    from mifomo_lite.lessons import paired_verdict, sign_flip_p

    assert sign_flip_p([1.0] * 5) == pytest.approx(2 / 32)       # the floor with 5 pairs
    assert sign_flip_p([1.0] * 10) == pytest.approx(2 / 1024)
    assert sign_flip_p([1.0, -1.0, 1.0, -1.0]) == 1.0
    assert 0 < sign_flip_p(list(range(1, 20))) < 0.01             # random flips beyond 12 pairs
    ok, text = paired_verdict([2.0, 3.0, 1.0, 2.5, 1.5, 2.0, 3.0, 1.0, 2.0, 2.0], "X helps")
    assert ok and text.startswith("supported: X helps")
    ok, text = paired_verdict([2.0, 3.0, 1.0, 2.5, 1.5], "X helps")
    assert not ok and "not supported at this budget" in text and "p ≥ 0.062" in text
    ok, _ = paired_verdict([-2.0] * 10, "X helps")                 # significant, but the other way
    assert not ok
    with pytest.raises(ConfigError):
        sign_flip_p([])


def test_curve_records_the_drift_from_the_frozen_model(episode):
    """No step leaves the weights where they were; steps move them (full fine-tuning the model's
    own weights, CP its adapters) and the embeddings drift away from the frozen model's."""
    from mifomo_lite.lessons import drift_row, plot_method_drift

    sx, sy, qx, qy = episode
    cfg = preset("smoke").replace(lr_peft=1e-2, lr_model=1e-3)
    still = drift_row(support_adaptation_curve("micro", "cp", sx, sy, qx, qy, cfg, steps=0, every=1, seed=3))
    # a CP starts near (not at) the identity: the embeddings barely differ from the frozen model's
    assert still["cosine"] == pytest.approx(1.0, abs=1e-3) and still["knn_overlap"] > 0.9
    assert still["adapter_rel_delta"] == 0.0 and still["other_rel_delta"] == 0.0
    rows = [drift_row(support_adaptation_curve("micro", m, sx, sy, qx, qy, cfg, steps=3, every=3, seed=3))
            for m in ("cp", "full")]
    cp, full = rows
    assert cp["method"] == "cp" and cp["adapter_rel_delta"] > 1e-5
    assert full["adapter_rel_delta"] == 0.0 and full["other_rel_delta"] > 1e-5
    assert all(0.0 <= r["knn_overlap"] <= 1.0 and -1.0 <= r["cosine"] < still["cosine"] for r in rows)
    assert len(plot_method_drift(rows).axes) == 3
    with pytest.raises(ConfigError, match="no drift record"):
        drift_row(AdaptationCurve("cp", 1))


def test_mixing_distances_move_from_target_to_source():
    """Embedding-level mixes: at λ = 0 the mix is the target (distance 0), at λ = 1 the source; the
    distance to the target grows with λ and the one to the source shrinks."""
    from mifomo_lite.lessons import mixing_distances, normalised_wasserstein, pca_plane

    g = torch.Generator().manual_seed(0)
    e_s, e_t = torch.randn(30, 8, generator=g) + 3.0, torch.randn(30, 8, generator=g) - 3.0
    lams = [0.0, 0.25, 0.5, 0.75, 1.0]
    d = mixing_distances(e_s, e_t, {lam: lam * e_s + (1 - lam) * e_t for lam in lams})
    assert d.shape == (5, 2) and d[0, 1] == pytest.approx(0.0, abs=1e-6) and d[-1, 0] == pytest.approx(0.0, abs=1e-6)
    assert (np.diff(d[:, 1]) > 0).all() and (np.diff(d[:, 0]) < 0).all()
    assert normalised_wasserstein(e_s, 5 * e_s) == pytest.approx(0.0, abs=1e-6)   # scale-free
    proj = pca_plane(torch.cat([e_s, e_t]))
    xy = proj(e_s)
    assert xy.shape == (30, 2) and abs(proj(e_s)[:, 0].mean() - proj(e_t)[:, 0].mean()) > 5.0
    with pytest.raises(ConfigError, match="pca_plane"):
        pca_plane(torch.zeros(1, 3))
    with pytest.raises(ConfigError, match="at least one"):
        mixing_distances(e_s, e_t, {})
