"""Reference solutions and typical mistakes of nb06_full_run (teacher edition; not in the kit)."""

from __future__ import annotations

import math
import numpy as np
from mifomo_lite.exercises.core import Fail, as_array, call, register


def _ref_oa_aa(y_true, y_pred, n_classes):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    oa = float((y_true == y_pred).mean() * 100)
    recalls = [float((y_pred[y_true == c] == c).mean()) for c in range(n_classes) if (y_true == c).any()]
    return oa, float(np.mean(recalls) * 100)


def _oa_aa_wrong():
    def precision_aa(y_true, y_pred, n):
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        prec = [float((y_true[y_pred == c] == c).mean()) for c in range(n) if (y_pred == c).any()]
        return float((y_true == y_pred).mean() * 100), float(np.mean(prec) * 100)

    def aa_equals_oa(y_true, y_pred, n):
        oa = float((np.asarray(y_true) == np.asarray(y_pred)).mean() * 100)
        return oa, oa

    def fractions(y_true, y_pred, n):
        oa, aa = _ref_oa_aa(y_true, y_pred, n)
        return oa / 100, aa / 100

    return [precision_aa, aa_equals_oa, fractions]


def _ref_kappa(y_true, y_pred, n_classes):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    cm = np.zeros((n_classes, n_classes))
    np.add.at(cm, (y_true, y_pred), 1)
    n = cm.sum()
    po = np.trace(cm) / n
    pe = float((cm.sum(0) * cm.sum(1)).sum()) / n ** 2
    return float((po - pe) / (1 - pe) * 100)


def _kappa_wrong():
    def no_chance(y_true, y_pred, n):
        return float((np.asarray(y_true) == np.asarray(y_pred)).mean() * 100)

    def uniform_chance(y_true, y_pred, n):
        po = float((np.asarray(y_true) == np.asarray(y_pred)).mean())
        return (po - 1 / n) / (1 - 1 / n) * 100

    def not_normalised(y_true, y_pred, n):
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        cm = np.zeros((n, n))
        np.add.at(cm, (y_true, y_pred), 1)
        po = np.trace(cm) / cm.sum()
        pe = float((cm.sum(0) * cm.sum(1)).sum()) / cm.sum() ** 2
        return (po - pe) * 100

    return [no_chance, uniform_chance, not_normalised]


def _ref_mean_std(values):
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std())


def _mean_std_wrong():
    return [
        lambda v: (float(np.mean(v)), float(np.std(v, ddof=1))),                  # sample std
        lambda v: (float(np.mean(v)), float(np.var(v))),                           # variance
        lambda v: (float(np.median(v)), float(np.std(v))),                         # median
    ]


def _ref_most_important(table):
    full = table["full"]
    drops = {k: full - v for k, v in table.items() if k not in ("full", "all_off")}
    return max(drops, key=drops.get)


def _important_wrong():
    def least(table):
        drops = {k: table["full"] - v for k, v in table.items() if k not in ("full", "all_off")}
        return min(drops, key=drops.get)

    def includes_all_off(table):
        return min((k for k in table if k != "full"), key=table.get)

    def best_row(table):
        return max((k for k in table if k != "full"), key=table.get)

    return [least, includes_all_off, best_row]


REFERENCES = {"06.1": _ref_oa_aa, "06.2": _ref_kappa, "06.3": _ref_mean_std, "06.4": _ref_most_important}
ANSWERS = {"06.1": lambda: _ref_oa_aa, "06.2": lambda: _ref_kappa, "06.3": lambda: _ref_mean_std, "06.4": lambda: _ref_most_important}
WRONG = {"06.1": _oa_aa_wrong, "06.2": _kappa_wrong, "06.3": _mean_std_wrong, "06.4": _important_wrong}
