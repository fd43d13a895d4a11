"""Reference solutions and typical mistakes of nb08_inductive_vs_transductive (teacher edition; not in the kit)."""

from __future__ import annotations

import math
import numpy as np
from mifomo_lite.exercises.core import Fail, as_array, call, register


_USES_QUERIES = {"pseudo-labelling of the queries", "intermediate-domain mixup", "label propagation at evaluation"}


def _ref_paired(a, b):
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(d.mean()), float(d.std())


def _paired_wrong():
    return [
        lambda a, b: (float(np.mean(a) - np.mean(b)), float(np.std(a) - np.std(b))),    # difference of stds
        lambda a, b: (float(np.mean(a) - np.mean(b)), float(np.hypot(np.std(a), np.std(b)))),  # unpaired spread
        lambda a, b: (float(np.mean(np.subtract(a, b))), float(np.std(np.subtract(a, b), ddof=1))),  # sample std
    ]


def _steps_wrong():
    return [
        lambda: {"pseudo-labelling of the queries", "label propagation at evaluation"},
        lambda: {"pseudo-labelling of the queries", "intermediate-domain mixup", "label propagation at evaluation",
                 "support-only adaptation"},
        lambda: {"pseudo-labelling of the queries"},
    ]


def _ref_inductive(support_emb, support_y, query_emb, n_classes):
    s, q = np.asarray(support_emb, dtype=np.float64), np.asarray(query_emb, dtype=np.float64)
    y = np.asarray(support_y)
    protos = np.stack([s[y == c].mean(0) for c in range(n_classes)])
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    pn = protos / np.linalg.norm(protos, axis=1, keepdims=True)
    return (qn @ pn.T).argmax(1)


def _inductive_wrong():
    def centred(s, y, q, n):          # subtracts the query-batch mean: a transductive leak
        q = np.asarray(q, dtype=np.float64)
        s = np.asarray(s, dtype=np.float64)
        mu = q.mean(0, keepdims=True)
        return _ref_inductive(s - mu, y, q - mu, n)

    def euclidean(s, y, q, n):
        s, q, y = np.asarray(s, dtype=np.float64), np.asarray(q, dtype=np.float64), np.asarray(y)
        protos = np.stack([s[y == c].mean(0) for c in range(n)])
        return ((q[:, None, :] - protos[None]) ** 2).sum(-1).argmin(1)

    def dot(s, y, q, n):
        s, q, y = np.asarray(s, dtype=np.float64), np.asarray(q, dtype=np.float64), np.asarray(y)
        protos = np.stack([s[y == c].mean(0) for c in range(n)])
        return (q @ protos.T).argmax(1)

    return [centred, euclidean, dot]


REFERENCES = {"08.1": _ref_paired, "08.3": _ref_inductive}
ANSWERS = {"08.1": lambda: _ref_paired, "08.2": lambda: (lambda: set(_USES_QUERIES)), "08.3": lambda: _ref_inductive}
WRONG = {"08.1": _paired_wrong, "08.2": _steps_wrong, "08.3": _inductive_wrong}
