"""Exercises of notebook 06 (the full MIFOMO run, the metrics and the Table X ablation)."""

from __future__ import annotations

import math

import numpy as np

from .core import expected, Fail, as_array, call, register

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


@register("06.1", NB, "overall and average accuracy",
          "OA = correctly classified queries / all queries. AA = the mean over classes of each class's "
          "recall (correct predictions among the queries whose *true* class is c). Both in percent.",
          expects="function")
def _check_oa_aa(fn):
    for seed in (0, 1):
        y_true, y_pred, n = _episode(seed)
        oa, aa = _numbers(call(fn, y_true.copy(), y_pred.copy(), n), 2, "OA, AA")
        want_oa, want_aa = expected("06.1", y_true, y_pred, n)
        _close(oa, want_oa, "your OA")
        _close(aa, want_aa, "your AA")


# ---------------------------------------------------------------- 06.2 Cohen's kappa


@register("06.2", NB, "Cohen's kappa",
          "κ = (p_o − p_e) / (1 − p_e): p_o is the observed agreement (the OA as a fraction); p_e the "
          "agreement expected by chance from the marginals, Σ_c (share of true c) · (share of predicted c). "
          "Report κ × 100.",
          expects="function")
def _check_kappa(fn):
    for seed in (0, 3):
        y_true, y_pred, n = _episode(seed)
        (got,) = _numbers((call(fn, y_true.copy(), y_pred.copy(), n),), 1, "κ")
        _close(got, expected("06.2", y_true, y_pred, n), "your κ")


# ---------------------------------------------------------------- 06.3 mean ± population std


@register("06.3", NB, "mean ± population standard deviation over episodes",
          "The released code (and the kit) reports np.std, the *population* standard deviation "
          "(divide by n, ddof = 0), of the per-episode numbers, next to their mean.",
          expects="function")
def _check_mean_std(fn):
    for vals in ([94.1, 88.0, 97.3, 91.5], [50.0, 60.0], [80.25, 83.5, 79.0, 90.0, 85.5, 77.75]):
        mean, std = _numbers(call(fn, list(vals)), 2, "mean, std")
        want_m, want_s = expected("06.3", vals)
        _close(mean, want_m, "your mean")
        _close(std, want_s, "your std")


# ---------------------------------------------------------------- 06.4 reading an ablation table


@register("06.4", NB, "which component matters most",
          "Each ablation removes one component; its importance is the OA lost relative to 'full'. "
          "Ignore 'full' itself and 'all_off' (which removes everything at once), and return the name "
          "with the largest loss.",
          expects="function")
def _check_important(fn):
    tables = [
        {"full": 95.4, "no_label_smoothing": 78.1, "no_intermediate": 93.0, "no_cp": 94.6, "no_mixup": 92.2,
         "all_off": 60.0},
        {"full": 70.0, "no_label_smoothing": 69.5, "no_intermediate": 61.0, "no_cp": 71.2, "no_mixup": 66.0,
         "all_off": 55.0},
    ]
    for t in tables:
        got = call(fn, dict(t))
        want = expected("06.4", t)
        if not isinstance(got, str):
            raise Fail(f"return the ablation's name (a string such as 'no_cp'), got {type(got).__name__}.")
        if got != want:
            raise Fail(f"for the table {t}, {got!r} is not the component whose removal costs the most OA.")
