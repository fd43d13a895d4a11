"""Few-shot splits (MIFOMO evaluation protocol) and the episode sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mifomo_lite.data import (EpisodeSampler, Scene, few_shot_split, prepare_scene,
                              synthetic_scene)
from mifomo_lite.errors import EpisodeError


@pytest.fixture(scope="module")
def scene():
    return synthetic_scene(40, 40, 30, n_classes=7, seed=0)


@pytest.fixture(scope="module")
def prepared(scene):
    return prepare_scene(scene, n_components=8, patch_size=9)


def test_split_counts_and_disjointness(scene):
    split = few_shot_split(scene, n_shot=5, seed=0)
    assert split.n_support == 35 and split.n_classes == 7
    assert np.bincount(split.support_labels).tolist() == [5] * 7
    assert split.n_support + split.n_query == scene.n_labelled
    s = set(map(tuple, split.support_coords))
    q = set(map(tuple, split.query_coords))
    assert not s & q
    # labels are the 0-based scene labels of the pixels
    assert (scene.labels[split.support_rows, split.support_cols] - 1 == split.support_labels).all()
    assert (scene.labels[split.query_rows, split.query_cols] - 1 == split.query_labels).all()


def test_split_is_seeded(scene):
    a, b, c = (few_shot_split(scene, 5, seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a.support_rows, b.support_rows)
    assert not np.array_equal(a.support_rows, c.support_rows)
    # a plain label map works too
    d = few_shot_split(scene.labels, 5, seed=0)
    np.testing.assert_array_equal(a.support_cols, d.support_cols)


def test_split_tensors(scene, prepared):
    split = few_shot_split(prepared, 3, seed=2)
    x, y = split.support_tensors(prepared)
    assert x.shape == (21, 8, 9, 9) and y.dtype == torch.long
    n = 0
    for qx, qy in split.query_batches(prepared, batch_size=500):
        assert qx.shape[0] == qy.shape[0] <= 500
        n += qx.shape[0]
    assert n == split.n_query


def test_too_small_class_is_named():
    labels = np.zeros((10, 10), np.int64)
    labels[0, :] = 1
    labels[1, :5] = 2                     # exactly 5 pixels: not enough for 5-shot + 1 query
    scene = Scene.from_arrays(np.random.default_rng(0).random((10, 10, 3)), labels,
                              class_names=["Meadows", "Oats"])
    with pytest.raises(EpisodeError, match=r"class 'Oats' \(label 2, original id 2\) has only 5 "
                                           r"labelled pixels.*at least 6"):
        few_shot_split(scene, n_shot=5)
    assert few_shot_split(scene, n_shot=4).n_query == 15 - 8        # 15 labelled − 2×4 support


def test_houston_style_masks():
    rng = np.random.default_rng(0)
    train = np.zeros((12, 12), np.int64)
    test = np.zeros((12, 12), np.int64)
    train[:3, :6] = 1
    train[3:6, :6] = 2
    test[6:, :] = rng.integers(1, 3, size=(6, 12))
    scene = Scene.from_arrays(rng.random((12, 12, 4)), None, train_mask=train, test_mask=test)
    split = few_shot_split(scene, 5, seed=0)
    assert split.n_support == 10
    assert (train[split.support_rows, split.support_cols] > 0).all()
    assert split.n_query == int((test > 0).sum())            # the whole test mask
    plain = few_shot_split(scene, 5, seed=0, use_masks=False)
    assert plain.n_query == scene.n_labelled - 10
    train[3:6, :6] = 0
    train[3, 0:3] = 2
    small = Scene.from_arrays(rng.random((12, 12, 4)), None, train_mask=train, test_mask=test,
                              class_names=["grass", "road"])
    with pytest.raises(EpisodeError, match=r"'road'.*only 3 training-mask pixels"):
        few_shot_split(small, 5)


def test_episode_sampler(scene, prepared):
    sampler = EpisodeSampler(scene, n_way=4, n_shot=3, n_query=6, n_episodes=5, seed=1)
    episodes = list(sampler)
    assert len(episodes) == len(sampler) == 5
    e = episodes[0]
    assert e.n_way == 4 and len(e.classes) == 4 and (np.diff(e.classes) > 0).all()
    assert e.support_labels.tolist() == sum([[k] * 3 for k in range(4)], [])
    assert e.query_labels.shape == (24,)
    # episode labels map back to the chosen scene classes
    orig = scene.labels[e.support_rows, e.support_cols] - 1
    assert (orig == e.classes[e.support_labels]).all()
    assert not set(e.support_index) & set(e.query_index)
    assert e.class_names == [scene.class_names[c] for c in e.classes]
    # reproducible, episode by episode
    again = EpisodeSampler(scene, n_way=4, n_shot=3, n_query=6, n_episodes=5, seed=1)
    np.testing.assert_array_equal(again.episode(3).query_index, episodes[3].query_index)
    assert not np.array_equal(episodes[0].support_index, episodes[1].support_index)
    sx, sy, qx, qy = e.to_tensors(prepared)
    assert sx.shape == (12, 8, 9, 9) and qx.shape == (24, 8, 9, 9)
    assert sy.dtype == qy.dtype == torch.long and int(qy.max()) == 3


def test_episode_sampler_all_way_and_pools(scene, prepared):
    sampler = EpisodeSampler(prepared, n_way="all", n_shot=5, n_query=2, seed=0)
    assert sampler.episode(0).n_way == 7
    coords = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [2, 2], [3, 3]])
    ids = np.array([10, 10, 10, 30, 30, 30])
    e = EpisodeSampler((coords, ids), "all", 1, 2, seed=0).episode(0)
    assert e.classes.tolist() == [10, 30]
    inf = EpisodeSampler(scene.labels, 2, 1, 1, n_episodes=None)
    it = iter(inf)
    assert [next(it).index for _ in range(3)] == [0, 1, 2]


def test_episode_sampler_errors(scene):
    with pytest.raises(EpisodeError, match=r"n_way=8 is larger than the number of classes \(7\)"):
        EpisodeSampler(scene, n_way=8)
    counts = scene.class_counts()
    big = int(counts.min()) + 1
    smallest = int(np.argmin(counts))
    with pytest.raises(EpisodeError, match=rf"class '{scene.class_names[smallest]}' \(label "
                                           rf"{smallest + 1}\) has {counts.min()}"):
        EpisodeSampler(scene, n_way="all", n_shot=1, n_query=big - 1)
    with pytest.raises(EpisodeError, match="n_way must be"):
        EpisodeSampler(scene, n_way="many")
