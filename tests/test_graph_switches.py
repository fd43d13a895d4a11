"""The k-NN graph switches of the ``full_graph`` propagation (``graph_k``, ``graph_alpha``,
``graph_sigma_scale``): each one alone changes the propagated scores, the defaults keep the previous
graph, bad values fail with a clear error, and the scene pool still reads no label mask with them
set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mifomo_lite import fsl
from mifomo_lite.data import few_shot_split
from mifomo_lite.errors import ConfigError
from mifomo_lite.fsl.propagation import knn_affinity
from mifomo_lite.train.config import RunConfig
from mifomo_lite.train.evaluation import full_graph_scores, propagated_scores
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
    assert (cfg.graph_k, cfg.graph_alpha, cfg.graph_sigma_scale) == (10, 0.99, 1.0)
    s, ys, q, C = _episode()
    res = fsl.propagation_baseline(s.numpy(), ys, q.numpy(), n_classes=C)   # the library's own defaults
    f = np.clip(res.scores, 0, None)
    np.testing.assert_allclose(full_graph_scores(s, ys, q, C).numpy(), f / f.sum(1, keepdims=True), rtol=1e-5)
    smoke = preset("smoke")
    lite = preset("lite")
    assert {(c.graph_k, c.graph_alpha, c.graph_sigma_scale) for c in (smoke, lite)} == {(10, 0.99, 1.0)}


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
    ("graph_sigma_scale", 0.0, "graph_sigma_scale"),
])
def test_bad_graph_values_name_the_key(key, value, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig().replace(**{key: value})


@pytest.mark.slow
def test_graph_knobs_read_no_label_mask(domains, monkeypatch):  # noqa: F811
    """The scene pool's mask-read check (tests/test_train_pools.py) with the graph switches set."""
    source, target = domains
    from mifomo_lite.train.domains import subsample_queries

    cfg = preset("smoke", **{**TINY, "max_query_pixels": None}, transductive_pool="scene",
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
