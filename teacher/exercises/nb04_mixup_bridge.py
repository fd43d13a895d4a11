"""Reference solutions and typical mistakes of nb04_mixup_bridge (teacher edition; not in the kit)."""

from __future__ import annotations

import math
import numpy as np
from mifomo_lite.exercises.core import Fail, as_array, call, expect_close, register


def _ref_q_active(w_sm, w_tm, tau):
    return math.exp(-w_sm / ((w_sm + w_tm) * tau + 1e-8))


def _q_wrong():
    return [
        lambda w_sm, w_tm, tau: math.exp(-w_sm / (w_sm + tau * w_tm)),        # the commented form
        lambda w_sm, w_tm, tau: math.exp(-w_sm / (w_sm + w_tm)),              # forgot τ
        lambda w_sm, w_tm, tau: math.exp(-w_tm / ((w_sm + w_tm) * tau + 1e-8)),  # W(T, M) on top
    ]


def _ref_lambda_update(lam, step, n_steps, q):
    return (step / n_steps) * (1.0 - q) + q * lam


def _update_wrong():
    return [
        lambda lam, t, n, q: (t / n) * q + (1.0 - q) * lam,          # q on the wrong side
        lambda lam, t, n, q: ((t + 1) / n) * (1.0 - q) + q * lam,    # 1-based step
        lambda lam, t, n, q: (t / n) * (1.0 - q) + lam,              # no q on λ
    ]


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


REFERENCES = {"04.1": _ref_q_active, "04.2": _ref_lambda_update, "04.3": _ref_mix_labels, "04.4": _ref_clipped_fraction}
ANSWERS = {"04.1": lambda: _ref_q_active, "04.2": lambda: _ref_lambda_update, "04.3": lambda: _ref_mix_labels, "04.4": lambda: _ref_clipped_fraction}
WRONG = {"04.1": _q_wrong, "04.2": _update_wrong, "04.3": _mix_wrong, "04.4": _clip_wrong}
