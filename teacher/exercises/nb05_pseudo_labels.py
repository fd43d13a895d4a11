"""Reference solutions and typical mistakes of nb05_pseudo_labels (teacher edition; not in the kit)."""

from __future__ import annotations

import numpy as np
from mifomo_lite.exercises.core import Fail, as_array, call, expect_close, register


def _ref_eps_smooth(probs, eps):
    p = np.asarray(probs, dtype=np.float64)
    c = p.shape[1]
    return (1.0 - eps) * np.eye(c)[p.argmax(axis=1)] + eps / c


def _eps_wrong():
    def over_c_minus_1(probs, eps):
        p = np.asarray(probs, dtype=np.float64)
        c = p.shape[1]
        onehot = np.eye(c)[p.argmax(axis=1)]
        return (1 - eps) * onehot + eps / (c - 1) * (1 - onehot)

    def smooth_probs(probs, eps):
        p = np.asarray(probs, dtype=np.float64)
        return (1 - eps) * p + eps / p.shape[1]

    def no_spread(probs, eps):
        p = np.asarray(probs, dtype=np.float64)
        return (1 - eps) * np.eye(p.shape[1])[p.argmax(axis=1)]

    return [over_c_minus_1, smooth_probs, no_spread]


def _ref_top_k(scores, k):
    s = np.asarray(scores, dtype=np.float64)
    pred, conf = s.argmax(axis=1), s.max(axis=1)
    keep = []
    for c in np.unique(pred):
        members = np.flatnonzero(pred == c)
        keep.extend(members[np.argsort(-conf[members], kind="stable")][:k].tolist())
    return np.array(sorted(keep), dtype=np.int64)


def _top_k_wrong():
    def global_top(scores, k):
        s = np.asarray(scores)
        n_keep = k * s.shape[1]
        return np.argsort(-s.max(axis=1))[:n_keep]

    def per_column(scores, k):
        s = np.asarray(scores)
        return np.unique(np.concatenate([np.argsort(-s[:, c])[:k] for c in range(s.shape[1])]))

    def least_confident(scores, k):
        s = np.asarray(scores, dtype=np.float64)
        pred, conf = s.argmax(axis=1), s.max(axis=1)
        keep = []
        for c in np.unique(pred):
            members = np.flatnonzero(pred == c)
            keep.extend(members[np.argsort(conf[members])][:k].tolist())
        return np.array(keep)

    return [global_top, per_column, least_confident]


def _ref_inject_noise(labels, n_classes, rate, seed):
    y = np.asarray(labels).astype(np.int64).copy()
    rng = np.random.default_rng(seed)
    n_flip = int(round(rate * y.size))
    idx = rng.choice(y.size, size=n_flip, replace=False)
    shift = rng.integers(1, n_classes, size=n_flip)      # 1..C-1: never the same class
    y[idx] = (y[idx] + shift) % n_classes
    return y


def _noise_wrong():
    def random_class(labels, n_classes, rate, seed):
        y = np.asarray(labels).copy()
        rng = np.random.default_rng(seed)
        idx = rng.choice(y.size, size=int(round(rate * y.size)), replace=False)
        y[idx] = rng.integers(0, n_classes, size=idx.size)     # may draw the same class again
        return y

    def bernoulli(labels, n_classes, rate, seed):
        y = np.asarray(labels).copy()
        rng = np.random.default_rng(seed)
        m = rng.random(y.size) < rate
        y[m] = (y[m] + rng.integers(1, n_classes, size=int(m.sum()))) % n_classes
        return y

    def next_class(labels, n_classes, rate, seed):
        y = np.asarray(labels).copy()
        rng = np.random.default_rng(seed)
        idx = rng.choice(y.size, size=int(round(rate * y.size)), replace=False)
        y[idx] = (y[idx] + 1) % n_classes                      # not uniform over the wrong classes
        return y

    return [random_class, bernoulli, next_class]


def _ref_lgc(a_hat, y, alpha):
    a_hat, y = np.asarray(a_hat, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return np.linalg.solve(np.eye(a_hat.shape[0]) - alpha * a_hat, y)


def _lgc_wrong():
    return [
        lambda a, y, al: np.linalg.solve(np.eye(len(a)) - np.asarray(a), np.asarray(y)),   # no α
        lambda a, y, al: al * np.asarray(a) @ np.asarray(y) + (1 - al) * np.asarray(y),    # one iteration
        lambda a, y, al: (np.eye(len(a)) - al * np.asarray(a)) @ np.asarray(y),            # forgot the inverse
    ]


REFERENCES = {"05.1": _ref_eps_smooth, "05.2": _ref_top_k, "05.3": _ref_inject_noise, "05.4": _ref_lgc}
ANSWERS = {"05.1": lambda: _ref_eps_smooth, "05.2": lambda: _ref_top_k, "05.3": lambda: _ref_inject_noise, "05.4": lambda: _ref_lgc}
WRONG = {"05.1": _eps_wrong, "05.2": _top_k_wrong, "05.3": _noise_wrong, "05.4": _lgc_wrong}
