"""The k-NN graph switches of the ``full_graph`` propagation (``graph_k``, ``graph_alpha``,
``graph_sigma_scale``) and the scene pool's ``score_smoothing``: each one alone changes what it
should, their defaults keep the previous behaviour, bad values fail with a clear error, and the
score smoothing reads no label mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mifomo_lite import fsl
from mifomo_lite.data import few_shot_split
from mifomo_lite.errors import ConfigError, DataError
from mifomo_lite.fsl.propagation import knn_affinity
from mifomo_lite.train.config import RunConfig
from mifomo_lite.train.evaluation import full_graph_scores, propagated_scores, scene_scores
from mifomo_lite.train.presets import preset

from test_train_pools import TINY, _confusions, _run, _scrambled, domains  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _episode(seed: int = 0, n_per_class: int = 40, dim: int = 6, n_classes: int = 3):
    """Overlapping Gaussian classes: 2 labelled support rows per class and the rest as queries."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, size=(n_classes, dim))
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = (centres[y] + rng.normal(0.0, 1.0, size=(y.size, dim))).astype(np.float32)
    first = np.concatenate([np.flatnonzero(y == c)[:2] for c in range(n_classes)])
    rest = np.setdiff1d(np.arange(y.size), first)
    return torch.from_numpy(x[first]), y[first], torch.from_numpy(x[rest]), n_classes


def test_defaults_are_the_previous_graph():
    cfg = RunConfig()
    assert (cfg.graph_k, cfg.graph_alpha, cfg.graph_sigma_scale, cfg.score_smoothing) == (10, 0.99, 1.0, 1)
    s, ys, q, C = _episode()
    res = fsl.propagation_baseline(s.numpy(), ys, q.numpy(), n_classes=C)   # the library's own defaults
    f = np.clip(res.scores, 0, None)
    np.testing.assert_allclose(full_graph_scores(s, ys, q, C).numpy(), f / f.sum(1, keepdims=True), rtol=1e-5)
    smoke = preset("smoke")
    assert (smoke.graph_k, smoke.graph_alpha, smoke.graph_sigma_scale, smoke.score_smoothing) == (10, 0.99, 1.0, 1)


@pytest.mark.parametrize("key,value", [("graph_k", 3), ("graph_alpha", 0.5), ("graph_sigma_scale", 0.25)])
def test_each_graph_switch_alone_changes_the_propagated_scores(key, value):
    s, ys, q, C = _episode()
    cfg = RunConfig(eval_propagation="full_graph")
    base = propagated_scores(None, s, ys, q, C, cfg, "full_graph")
    changed = propagated_scores(None, s, ys, q, C, cfg.replace(**{key: value}), "full_graph")
    assert base.shape == changed.shape == (q.shape[0], C)
    assert (changed - base).abs().max() > 1e-3, f"{key}={value} did not change the scores"
    torch.testing.assert_close(changed.sum(1), torch.ones(q.shape[0]))


def test_sigma_scale_multiplies_the_median_sigma():
    x = np.random.default_rng(1).normal(size=(50, 4))
    _, s1 = knn_affinity(x, 5)
    _, s2 = knn_affinity(x, 5, sigma_scale=2.5)
    assert s2 == pytest.approx(2.5 * s1)
    with pytest.raises(ConfigError, match="sigma_scale"):
        knn_affinity(x, 5, sigma_scale=0.0)


@pytest.mark.parametrize("key,value,match", [
    ("graph_k", 0, "graph_k"), ("graph_alpha", 1.0, r"graph_alpha must lie in \[0, 1\)"),
    ("graph_sigma_scale", 0.0, "graph_sigma_scale"), ("score_smoothing", 4, "score_smoothing must be an odd"),
])
def test_bad_graph_values_name_the_key(key, value, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig().replace(**{key: value})


def test_smooth_node_scores_is_a_window_mean_over_scored_pixels_only():
    # a 3×3 image whose centre pixel is not a node; one fixed (support) pixel at the top-left corner
    rows, cols = np.array([0, 0, 1, 1, 2, 2, 2]), np.array([1, 2, 0, 2, 0, 1, 2])
    scores = torch.tensor([[1.0, 0.0]] * 6 + [[0.0, 1.0]])          # the bottom-right node disagrees
    fixed = (np.array([0]), np.array([0]), torch.tensor([[0.0, 1.0]]))
    out = fsl.smooth_node_scores(scores, rows, cols, 3, 3, 3, fixed)
    # bottom-right (2,2): its window holds (1,2), (2,1) and itself (the centre is not a node)
    torch.testing.assert_close(out[-1], torch.tensor([2 / 3, 1 / 3]))
    # top-middle (0,1): (0,0) fixed [0,1], (0,2), (1,0), (1,2) and itself → 4 of 5 say class 0
    torch.testing.assert_close(out[0], torch.tensor([4 / 5, 1 / 5]))
    assert fsl.smooth_node_scores(scores, rows, cols, 3, 3, 1) is scores
    with pytest.raises(DataError, match=r"scores must be \[7, n_classes\]"):
        fsl.smooth_node_scores(scores[:3], rows, cols, 3, 3, 3)


def test_score_smoothing_alone_changes_only_the_scene_pool(domains):  # noqa: F811
    _, target = domains
    split = few_shot_split(target, n_shot=3, seed=0)
    H, W = target.labels.shape
    rng = np.random.default_rng(0)
    keep = np.ones((H, W), dtype=bool)
    keep[split.support_rows, split.support_cols] = False
    rows, cols = np.nonzero(keep)
    nodes = {"rows": rows, "cols": cols, "shape": (H, W)}
    noisy = torch.from_numpy(rng.random((rows.size, split.n_classes))).float()
    cfg = RunConfig()
    assert scene_scores(noisy, nodes, split, cfg) is noisy
    smoothed = scene_scores(noisy, nodes, split, cfg.replace(score_smoothing=5))
    assert (smoothed.argmax(1) != noisy.argmax(1)).float().mean() > 0.2
    torch.testing.assert_close(smoothed.sum(1), torch.ones(rows.size))


@pytest.mark.slow
def test_score_smoothing_and_graph_knobs_read_no_label_mask(domains, monkeypatch):  # noqa: F811
    """The scene pool's mask-read check (tests/test_train_pools.py) with the new switches on."""
    source, target = domains
    from mifomo_lite.train.domains import subsample_queries

    cfg = preset("smoke", **{**TINY, "max_query_pixels": None}, transductive_pool="scene", score_smoothing=3,
                 graph_k=5, graph_alpha=0.9, graph_sigma_scale=2.0)
    split = few_shot_split(target, n_shot=5, seed=cfg.seed)
    split = subsample_queries(split, None, cfg.seed)
    perm = np.roll(np.arange(split.n_classes), 1)
    scene_b, split_b = _scrambled(target, split, perm)
    a = _run(cfg, target, source, split, monkeypatch).metrics
    b = _run(cfg, scene_b, source, split_b, monkeypatch).metrics
    ca, cb = _confusions(a), _confusions(b)
    assert "final/propagated_scene_pool" in ca and "baselines_scene_pool/PCA 9×9 mean + propagation" in ca
    for key, m in ca.items():
        np.testing.assert_array_equal(cb[key][perm], m, err_msg=f"{key}: a prediction changed with the mask")
