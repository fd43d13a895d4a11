"""Reference solutions and typical mistakes of nb03_episodic_prototypes (teacher edition; not in the kit)."""

from __future__ import annotations

import math
import numpy as np
from mifomo_lite.exercises.core import Fail, as_array, call, expect_close, register


def _ref_prototypes(emb, y, n_classes):
    emb, y = np.asarray(emb, dtype=np.float64), np.asarray(y)
    return np.stack([emb[y == c].mean(axis=0) for c in range(n_classes)])


def _prototypes_wrong():
    def summed(emb, y, n):
        emb, y = np.asarray(emb), np.asarray(y)
        return np.stack([emb[y == c].sum(axis=0) for c in range(n)])

    def global_mean(emb, y, n):
        return np.repeat(np.asarray(emb).mean(axis=0, keepdims=True), n, axis=0)

    def normalised_first(emb, y, n):
        emb, y = np.asarray(emb, dtype=np.float64), np.asarray(y)
        e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        return np.stack([e[y == c].mean(axis=0) for c in range(n)])

    return [summed, global_mean, normalised_first]


def _ref_cosine_logits(query, protos, scale):
    q, p = np.asarray(query, dtype=np.float64), np.asarray(protos, dtype=np.float64)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    pn = p / np.linalg.norm(p, axis=1, keepdims=True)
    return scale * qn @ pn.T


def _cosine_wrong():
    def dot(query, protos, scale):
        return scale * np.asarray(query) @ np.asarray(protos).T

    def no_scale(query, protos, scale):
        return _ref_cosine_logits(query, protos, 1.0)

    def queries_only(query, protos, scale):
        q = np.asarray(query, dtype=np.float64)
        return scale * (q / np.linalg.norm(q, axis=1, keepdims=True)) @ np.asarray(protos).T

    return [dot, no_scale, queries_only]


def _ref_sample_episode(labels, n_way, n_shot, n_query, seed):
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes = np.sort(rng.choice(np.unique(labels), size=n_way, replace=False))
    s_idx, q_idx = [], []
    for c in classes:
        pick = rng.choice(np.flatnonzero(labels == c), size=n_shot + n_query, replace=False)
        s_idx.append(pick[:n_shot])
        q_idx.append(pick[n_shot:])
    way = np.arange(n_way)
    return (np.concatenate(s_idx), np.concatenate(q_idx), np.repeat(way, n_shot), np.repeat(way, n_query))


def _episode_wrong():
    def with_replacement(labels, n_way, n_shot, n_query, seed):
        labels = np.asarray(labels)
        rng = np.random.default_rng(seed)
        classes = np.sort(rng.choice(np.unique(labels), size=n_way, replace=False))
        s, q = [], []
        for c in classes:
            pick = rng.choice(np.flatnonzero(labels == c), size=n_shot + n_query, replace=True)
            s.append(pick[:n_shot])
            q.append(pick[n_shot:])
        way = np.arange(n_way)
        return np.concatenate(s), np.concatenate(q), np.repeat(way, n_shot), np.repeat(way, n_query)

    def original_ids(labels, n_way, n_shot, n_query, seed):
        s, q, _, _ = _ref_sample_episode(labels, n_way, n_shot, n_query, seed)
        labels = np.asarray(labels)
        return s, q, labels[s], labels[q]

    def independent_query(labels, n_way, n_shot, n_query, seed):
        labels = np.asarray(labels)
        rng = np.random.default_rng(seed)
        classes = np.sort(rng.choice(np.unique(labels), size=n_way, replace=False))
        s, q = [], []
        for c in classes:
            members = np.flatnonzero(labels == c)
            s.append(rng.choice(members, size=n_shot, replace=False))
            q.append(rng.choice(members, size=n_query, replace=False))
        way = np.arange(n_way)
        return np.concatenate(s), np.concatenate(q), np.repeat(way, n_shot), np.repeat(way, n_query)

    def first_classes(labels, n_way, n_shot, n_query, seed):
        labels = np.asarray(labels)
        rng = np.random.default_rng(seed)
        s, q = [], []
        for c in np.unique(labels)[:n_way]:
            pick = rng.choice(np.flatnonzero(labels == c), size=n_shot + n_query, replace=False)
            s.append(pick[:n_shot])
            q.append(pick[n_shot:])
        way = np.arange(n_way)
        return np.concatenate(s), np.concatenate(q), np.repeat(way, n_shot), np.repeat(way, n_query)

    return [with_replacement, original_ids, independent_query, first_classes]


def _ref_max_confidence(scale, n_way):
    return math.exp(scale) / (math.exp(scale) + (n_way - 1) * math.exp(-scale))


def _confidence_wrong():
    return [
        lambda s, n: math.exp(s) / (math.exp(s) + (n - 1)),             # others at cos = 0
        lambda s, n: math.exp(s) / (math.exp(s) + n * math.exp(-s)),    # counts its own class twice
        lambda s, n: 1.0 / n,                                          # ignores the scale
    ]


REFERENCES = {"03.1": _ref_prototypes, "03.2": _ref_cosine_logits, "03.3": _ref_sample_episode, "03.4": _ref_max_confidence}
ANSWERS = {"03.1": lambda: _ref_prototypes, "03.2": lambda: _ref_cosine_logits, "03.3": lambda: _ref_sample_episode, "03.4": lambda: _ref_max_confidence}
WRONG = {"03.1": _prototypes_wrong, "03.2": _cosine_wrong, "03.3": _episode_wrong, "03.4": _confidence_wrong}
