"""benchmarks/tune_extensions.py, the held-out tuning experiment: its fast sweep (one factorisation
for every seed of a pool) gives the library's propagation, its image-edge graph is the
8-neighbourhood, and its stored grid table reads back to the same choice."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from mifomo_lite import data as D

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tune():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "tune_extensions.py"
    spec = importlib.util.spec_from_file_location("tune_extensions", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def scene_and_embedding():
    scene = D.synthetic_scene(height=24, width=22, n_bands=12, n_classes=4, seed=5)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(scene.n_classes + 1, 6))
    emb = centres[scene.labels] + rng.normal(scale=1.2, size=scene.labels.shape + (6,))
    return scene, emb.astype(np.float32)


def test_fast_sweep_equals_the_library_in_both_pools(tune, scene_and_embedding):
    scene, emb = scene_and_embedding
    split = D.few_shot_split(scene, n_shot=3, seed=1)
    for point in ({"feature_smoothing": 1, "graph_k": 10, "graph_alpha": 0.99, "graph_sigma_scale": 1.0,
                   "propagation_class_mass": "estimated"},
                  {"feature_smoothing": 3, "graph_k": 5, "graph_alpha": 0.9, "graph_sigma_scale": 1.0,
                   "propagation_class_mass": "none"}):
        tune.check_against_library(emb, scene.labels, split, point)     # raises on a mismatch
    with pytest.raises(AssertionError, match="library gives"):
        bad = dict(point, graph_k=5)
        orig = tune.Neighbours.graph
        try:   # a sweep that builds another graph than the library is caught
            tune.Neighbours.graph = lambda self, k, s, spatial=None: orig(self, min(k, 2), s * 0.2)
            tune.check_against_library(emb, scene.labels, split, bad)
        finally:
            tune.Neighbours.graph = orig


def test_grid_adjacency_is_the_8_neighbourhood_of_the_nodes(tune):
    pos = np.arange(20).reshape(4, 5)
    pos[1, 2] = pos[3, 0] = -1
    pos[pos >= 0] = np.arange(int((pos >= 0).sum()))
    got = tune.grid_adjacency(pos).toarray()
    want = np.zeros_like(got)
    for r, c in zip(*np.nonzero(pos >= 0)):
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                rr, cc = r + dr, c + dc
                if (dr, dc) != (0, 0) and 0 <= rr < 4 and 0 <= cc < 5 and pos[rr, cc] >= 0:
                    want[pos[r, c], pos[rr, cc]] = 1
    np.testing.assert_array_equal(got, want)


def test_stored_table_reads_back_to_the_same_choice(tune, scene_and_embedding):
    scene, emb = scene_and_embedding
    splits = tune.episodes(scene, [0, 1])
    grid = dict(feature_smoothing=(1, 3), graph_k=(5,), graph_alpha=(0.9, 0.99), graph_sigma_scale=(1.0,),
                propagation_class_mass=("none",), score_smoothing=(1, 3))
    rows = {p: tune.sweep_pool(emb, scene.labels, splits, p, grid, log=lambda *_: None) for p in tune.POOLS}
    assert len(rows["labelled"]) == 4 and len(rows["scene"]) == 8
    back = tune.table_rows(tune.table_record(rows))
    assert tune.joint_choice(back) == tune.joint_choice(rows)
    assert tune.knobs(tune.best(back["scene"])) == tune.knobs(tune.best(rows["scene"]))
