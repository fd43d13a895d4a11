"""Reference solutions and typical mistakes of nb07_paper_gpu (teacher edition; not in the kit)."""

from __future__ import annotations

import math
import numpy as np
from mifomo_lite.exercises.core import Fail, as_array, call, expect_equal, register


def _ref_patches(n_source_classes, n_target_classes, n_shot=2, n_query=3, n_mix=10):
    return (n_source_classes + n_target_classes) * (n_shot + n_query) + n_mix


def _patches_wrong():
    return [
        lambda ns, nt, s=2, q=3, m=10: (ns + nt) * (s + q),              # forgets the mixed inputs
        lambda ns, nt, s=2, q=3, m=10: (ns + nt) * (s + q) + 2 * m,      # counts embedding mixes too
        lambda ns, nt, s=2, q=3, m=10: ns * (s + q) + m,                 # forgets the target episode
    ]


def _ref_n_query(class_counts, n_shot=5):
    counts = np.asarray(class_counts, dtype=np.int64)
    return int(counts.sum() - n_shot * counts.size)


def _n_query_wrong():
    return [
        lambda counts, n_shot=5: int(np.sum(counts) - n_shot),                       # one shot in total
        lambda counts, n_shot=5: int(np.sum(counts)),                               # forgets the support
        lambda counts, n_shot=5: int(np.sum(np.asarray(counts) - n_shot) - n_shot),  # off by one class
    ]


def _ref_welch(m1, s1, n1, m2, s2, n2):
    return (m1 - m2) / math.sqrt(s1 ** 2 / n1 + s2 ** 2 / n2)


def _welch_wrong():
    def pooled(m1, s1, n1, m2, s2, n2):
        sp = math.sqrt(((n1 - 1) * s1 ** 2 + (n2 - 1) * s2 ** 2) / (n1 + n2 - 2))
        return (m1 - m2) / (sp * math.sqrt(1 / n1 + 1 / n2))

    return [
        pooled,
        lambda m1, s1, n1, m2, s2, n2: (m1 - m2) / math.sqrt(s1 / n1 + s2 / n2),      # std instead of variance
        lambda m1, s1, n1, m2, s2, n2: (m1 - m2) / (s1 ** 2 / n1 + s2 ** 2 / n2),     # forgot the square root
    ]


REFERENCES = {"07.1": _ref_patches, "07.2": _ref_n_query, "07.3": _ref_welch}
ANSWERS = {"07.1": lambda: _ref_patches, "07.2": lambda: _ref_n_query, "07.3": lambda: _ref_welch}
WRONG = {"07.1": _patches_wrong, "07.2": _n_query_wrong, "07.3": _welch_wrong}
