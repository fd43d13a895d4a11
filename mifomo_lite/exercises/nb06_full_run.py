"""Exercises of notebook 06 (the full MIFOMO run, the metrics and the Table X ablation)."""

from __future__ import annotations

import math

import numpy as np

from .core import Fail, as_array, call, register

NB = "06_full_run"


def _numbers(out, n: int, what: str):
    if not isinstance(out, (tuple, list)) or len(out) != n:
        raise Fail(f"return {n} numbers as a tuple ({what}).")
    vals = []
    for v in out:
        arr = as_array(v, "each returned value")
        if arr.size != 1:
            raise Fail(f"each returned value should be one number, got shape {arr.shape}.")
        vals.append(float(arr.reshape(-1)[0]))
    return vals


def _close(got: float, want: float, what: str, tol: float = 1e-6) -> None:
    if not math.isfinite(got):
        raise Fail(f"{what} is not finite.")
    if abs(got - want) > tol * max(1.0, abs(want)):
        if abs(got * 100 - want) <= 1e-6 * max(1.0, abs(want)):
            raise Fail(f"{what} looks like a fraction; report it in percent (× 100), as the kit does.")
        side = "too high" if got > want else "too low"
        raise Fail(f"{what} ({got:.6g}) is {side}.")


def _episode(seed: int):
    rng = np.random.default_rng(seed)
    n_classes = 5
    y_true = np.repeat(np.arange(n_classes), [40, 25, 12, 8, 5])          # imbalanced, as real scenes
    y_pred = y_true.copy()
    flip = rng.random(y_true.size) < np.array([0.1, 0.2, 0.4, 0.5, 0.6])[y_true]
    y_pred[flip] = rng.integers(0, n_classes, size=int(flip.sum()))
    return y_true, y_pred, n_classes


# ---------------------------------------------------------------- 06.1 OA and AA
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


@register("06.1", NB, "overall and average accuracy",
          "OA = correctly classified queries / all queries. AA = the mean over classes of each class's "
          "recall (correct predictions among the queries whose *true* class is c). Both in percent.",
          reference=lambda: _ref_oa_aa, wrong_answers=_oa_aa_wrong, expects="function")
def _check_oa_aa(fn):
    for seed in (0, 1):
        y_true, y_pred, n = _episode(seed)
        oa, aa = _numbers(call(fn, y_true.copy(), y_pred.copy(), n), 2, "OA, AA")
        want_oa, want_aa = _ref_oa_aa(y_true, y_pred, n)
        _close(oa, want_oa, "your OA")
        _close(aa, want_aa, "your AA")


# ---------------------------------------------------------------- 06.2 Cohen's kappa
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


@register("06.2", NB, "Cohen's kappa",
          "κ = (p_o − p_e) / (1 − p_e): p_o is the observed agreement (the OA as a fraction); p_e the "
          "agreement expected by chance from the marginals, Σ_c (share of true c) · (share of predicted c). "
          "Report κ × 100.",
          reference=lambda: _ref_kappa, wrong_answers=_kappa_wrong, expects="function")
def _check_kappa(fn):
    for seed in (0, 3):
        y_true, y_pred, n = _episode(seed)
        (got,) = _numbers((call(fn, y_true.copy(), y_pred.copy(), n),), 1, "κ")
        _close(got, _ref_kappa(y_true, y_pred, n), "your κ")


# ---------------------------------------------------------------- 06.3 mean ± population std
def _ref_mean_std(values):
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std())


def _mean_std_wrong():
    return [
        lambda v: (float(np.mean(v)), float(np.std(v, ddof=1))),                  # sample std
        lambda v: (float(np.mean(v)), float(np.var(v))),                           # variance
        lambda v: (float(np.median(v)), float(np.std(v))),                         # median
    ]


@register("06.3", NB, "mean ± population standard deviation over episodes",
          "The released code (and the kit) reports np.std, the *population* standard deviation "
          "(divide by n, ddof = 0), of the per-episode numbers, next to their mean.",
          reference=lambda: _ref_mean_std, wrong_answers=_mean_std_wrong, expects="function")
def _check_mean_std(fn):
    for vals in ([94.1, 88.0, 97.3, 91.5], [50.0, 60.0], [80.25, 83.5, 79.0, 90.0, 85.5, 77.75]):
        mean, std = _numbers(call(fn, list(vals)), 2, "mean, std")
        want_m, want_s = _ref_mean_std(vals)
        _close(mean, want_m, "your mean")
        _close(std, want_s, "your std")


# ---------------------------------------------------------------- 06.4 reading an ablation table
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


@register("06.4", NB, "which component matters most",
          "Each ablation removes one component; its importance is the OA lost relative to 'full'. "
          "Ignore 'full' itself and 'all_off' (which removes everything at once), and return the name "
          "with the largest loss.",
          reference=lambda: _ref_most_important, wrong_answers=_important_wrong, expects="function")
def _check_important(fn):
    tables = [
        {"full": 95.4, "no_label_smoothing": 78.1, "no_intermediate": 93.0, "no_cp": 94.6, "no_mixup": 92.2,
         "all_off": 60.0},
        {"full": 70.0, "no_label_smoothing": 69.5, "no_intermediate": 61.0, "no_cp": 71.2, "no_mixup": 66.0,
         "all_off": 55.0},
    ]
    for t in tables:
        got = call(fn, dict(t))
        want = _ref_most_important(t)
        if not isinstance(got, str):
            raise Fail(f"return the ablation's name (a string such as 'no_cp'), got {type(got).__name__}.")
        if got != want:
            raise Fail(f"for the table {t}, {got!r} is not the component whose removal costs the most OA.")
