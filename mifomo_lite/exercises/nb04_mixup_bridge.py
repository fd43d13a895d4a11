"""Exercises of notebook 04 (mixup domain bridging and the Wasserstein λ scheduler)."""

from __future__ import annotations

import math

import numpy as np

from .core import Fail, as_array, call, expect_close, register

NB = "04_mixup_bridge"


def _scalar(x, what: str) -> float:
    arr = as_array(x, what)
    if arr.size != 1:
        raise Fail(f"{what} should be one number, got an array of shape {arr.shape}.")
    return float(arr.reshape(-1)[0])


def _close_scalar(got: float, want: float, context: str, rel: float = 1e-6) -> None:
    if not math.isfinite(got):
        raise Fail(f"{context}: your value is not finite.")
    if not math.isclose(got, want, rel_tol=rel, abs_tol=1e-12):
        side = "too high" if got > want else "too low"
        raise Fail(f"{context}: your value ({got:.6g}) is {side}.")


# ---------------------------------------------------------------- 04.1 q of Eq. 18 (active form)
def _ref_q_active(w_sm, w_tm, tau):
    return math.exp(-w_sm / ((w_sm + w_tm) * tau + 1e-8))


def _q_wrong():
    return [
        lambda w_sm, w_tm, tau: math.exp(-w_sm / (w_sm + tau * w_tm)),        # the commented form
        lambda w_sm, w_tm, tau: math.exp(-w_sm / (w_sm + w_tm)),              # forgot τ
        lambda w_sm, w_tm, tau: math.exp(-w_tm / ((w_sm + w_tm) * tau + 1e-8)),  # W(T, M) on top
    ]


@register("04.1", NB, "the scheduler's coefficient q (active form)",
          "The code that runs divides W(S, M) by τ times the *sum* W(S, M) + W(T, M) (plus 1e-8), "
          "and takes exp of minus that ratio. The numerator is the distance to the *source*.",
          reference=lambda: _ref_q_active, wrong_answers=_q_wrong, expects="function")
def _check_q(fn):
    for w_sm, w_tm, tau in [(0.5, 0.5, 0.05), (0.2, 0.9, 0.05), (0.8, 0.1, 0.1), (0.05, 1.2, 0.02)]:
        got = _scalar(call(fn, w_sm, w_tm, tau), "your q")
        _close_scalar(got, _ref_q_active(w_sm, w_tm, tau), f"for W_SM = {w_sm}, W_TM = {w_tm}, τ = {tau}",
                      rel=1e-5)


# ---------------------------------------------------------------- 04.2 λ update (Eq. 19)
def _ref_lambda_update(lam, step, n_steps, q):
    return (step / n_steps) * (1.0 - q) + q * lam


def _update_wrong():
    return [
        lambda lam, t, n, q: (t / n) * q + (1.0 - q) * lam,          # q on the wrong side
        lambda lam, t, n, q: ((t + 1) / n) * (1.0 - q) + q * lam,    # 1-based step
        lambda lam, t, n, q: (t / n) * (1.0 - q) + lam,              # no q on λ
    ]


@register("04.2", NB, "the λ update (Eq. 19)",
          "λ_new is a convex combination of the linear ramp t/N and the previous λ: the ramp gets "
          "weight 1 − q and the old λ gets weight q (t is 0-based).",
          reference=lambda: _ref_lambda_update, wrong_answers=_update_wrong, expects="function")
def _check_update(fn):
    for lam, t, n, q in [(0.0, 0, 10, 0.3), (0.2, 5, 10, 4.5e-5), (0.5, 7, 20, 0.39), (0.9, 19, 20, 0.9)]:
        got = _scalar(call(fn, lam, t, n, q), "your λ")
        _close_scalar(got, _ref_lambda_update(lam, t, n, q), f"for λ = {lam}, t = {t}, N = {n}, q = {q}")


# ---------------------------------------------------------------- 04.3 joint-space mixed labels
def _ref_mix_labels(y_s, y_t, lam):
    y_s, y_t = np.asarray(y_s, dtype=np.float64), np.asarray(y_t, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64).reshape(-1, 1)
    return np.concatenate([lam * y_s, (1.0 - lam) * y_t], axis=1)


def _mix_wrong():
    def swapped(y_s, y_t, lam):
        lam = np.asarray(lam, dtype=np.float64).reshape(-1, 1)
        return np.concatenate([(1 - lam) * np.asarray(y_s), lam * np.asarray(y_t)], axis=1)

    def target_first(y_s, y_t, lam):
        lam = np.asarray(lam, dtype=np.float64).reshape(-1, 1)
        return np.concatenate([(1 - lam) * np.asarray(y_t), lam * np.asarray(y_s)], axis=1)

    def renormalised(y_s, y_t, lam):
        out = _ref_mix_labels(y_s, y_t, lam)
        return out / out.sum(axis=1, keepdims=True)

    return [swapped, target_first, renormalised]


@register("04.3", NB, "mixed labels in the joint label space",
          "Source labels own the first n_S columns, target labels the last n_T. A mixed sample with "
          "weight λ on the source gets λ·y_S in the source columns and (1 − λ)·y_T in the target "
          "columns, one λ per row. Target vectors may be raw propagation scores: do not renormalise.",
          reference=lambda: _ref_mix_labels, wrong_answers=_mix_wrong, expects="function")
def _check_mix(fn):
    import torch

    rng = np.random.default_rng(8)
    n, n_s, n_t = 6, 5, 3
    y_s = np.eye(n_s)[rng.integers(0, n_s, n)]
    y_t = rng.uniform(0, 3, size=(n, n_t))            # raw, unnormalised scores
    lam = rng.uniform(0, 1, size=n)
    got = as_array(call(fn, torch.as_tensor(y_s), torch.as_tensor(y_t), torch.as_tensor(lam)), "your labels")
    if got.shape != (n, n_s + n_t):
        raise Fail(f"your labels have shape {got.shape}; expected ({n}, n_S + n_T) = ({n}, {n_s + n_t}).")
    expect_close(got, _ref_mix_labels(y_s, y_t, lam), "your labels", atol=1e-6,
                 mismatch="Source columns first with weight λ, target columns after with weight 1 − λ, "
                          "no renormalisation.")


# ---------------------------------------------------------------- 04.4 clipping of λ̃
def _ref_clipped_fraction(lam, sigma_p):
    lo = min(max((sigma_p - lam) / (2 * sigma_p), 0.0), 1.0)
    hi = min(max((lam + sigma_p - 1.0) / (2 * sigma_p), 0.0), 1.0)
    return lo + hi


def _clip_wrong():
    return [
        lambda lam, s: max((s - lam) / (2 * s), 0.0),                 # forgets the clip at 1
        lambda lam, s: max((s - lam) / s, 0.0) + max((lam + s - 1) / s, 0.0),  # interval width σ, not 2σ
        lambda lam, s: 0.0,                                            # "clipping is rare"
    ]


@register("04.4", NB, "how often λ̃ is clipped",
          "λ̃ is uniform on [λ − σ_p, λ + σ_p] (width 2σ_p) and then clipped to [0, 1]. The clipped "
          "fraction is the part of that interval below 0 plus the part above 1, divided by its width "
          "(each part at least 0).",
          reference=lambda: _ref_clipped_fraction, wrong_answers=_clip_wrong, expects="function")
def _check_clip(fn):
    for lam, s in [(0.0, 0.2), (0.1, 0.2), (0.5, 0.2), (0.95, 0.2), (1.0, 0.3), (0.05, 0.1)]:
        got = _scalar(call(fn, lam, s), "your fraction")
        _close_scalar(got, _ref_clipped_fraction(lam, s), f"for λ = {lam}, σ_p = {s}", rel=1e-6)
