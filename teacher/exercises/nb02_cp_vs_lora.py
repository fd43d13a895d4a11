"""Reference solutions and typical mistakes of nb02_cp_vs_lora (teacher edition; not in the kit)."""

from __future__ import annotations

import math
import numpy as np
from mifomo_lite.exercises.core import Fail, as_array, call, expect_close, expect_equal, register


def _ref_cp_attention(q, k, v, C):
    import torch

    q, k, v, C = (torch.as_tensor(t, dtype=torch.float64) for t in (q, k, v, C))
    logits = (q / math.sqrt(q.shape[-1])) @ C @ k.transpose(-2, -1)
    return torch.softmax(logits, dim=-1) @ v


def _cp_attention_wrong():
    import torch

    def no_c(q, k, v, C):
        return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1) @ v

    def c_transposed(q, k, v, C):
        return torch.softmax(q @ C.transpose(-2, -1) @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1) @ v

    def c_on_values(q, k, v, C):
        return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1) @ v @ C

    def weights_only(q, k, v, C):
        return torch.softmax(q @ C @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1)

    return [no_c, c_transposed, c_on_values, weights_only]


def _ref_cp_params(layers, heads, head_dim, shared=False):
    return layers * head_dim * head_dim * (1 if shared else heads)


def _cp_params_wrong():
    return [
        lambda L, h, d, s=False: L * h * d * d,                     # ignores sharing
        lambda L, h, d, s=False: L * (h * d) ** 2 // (1 if s else 1),  # a D×D matrix per layer
        lambda L, h, d, s=False: h * d * d * (1 if s else 1),       # forgot the layers
    ]


def _ref_lora_params(rank, d_in, d_out, n_wrapped=1):
    return n_wrapped * rank * (d_in + d_out)


def _lora_params_wrong():
    return [
        lambda r, a, b, n=1: n * r * a * b,          # a full matrix per rank
        lambda r, a, b, n=1: n * r * (a + b) + n * a * b,  # counts the frozen W
        lambda r, a, b, n=1: r * (a + b),            # forgot how many projections
        lambda r, a, b, n=1: n * 2 * r * a,          # assumes square
    ]


def _ref_merge_cp(W, b, C):
    W, b, C = (np.asarray(t, dtype=np.float64) for t in (W, b, C))
    return C.T @ W, b @ C


def _merge_wrong():
    return [
        lambda W, b, C: (np.asarray(C) @ W, np.asarray(b) @ C),        # C instead of Cᵀ
        lambda W, b, C: (np.asarray(C).T @ W, np.asarray(b)),          # forgot the bias
        lambda W, b, C: (np.asarray(W) @ C, np.asarray(b) @ C),        # wrong side
    ]


REFERENCES = {"02.1": _ref_cp_attention, "02.2": _ref_cp_params, "02.3": _ref_lora_params, "02.4": _ref_merge_cp}
ANSWERS = {"02.1": lambda: _ref_cp_attention, "02.2": lambda: _ref_cp_params, "02.3": lambda: _ref_lora_params, "02.4": lambda: _ref_merge_cp}
WRONG = {"02.1": _cp_attention_wrong, "02.2": _cp_params_wrong, "02.3": _lora_params_wrong, "02.4": _merge_wrong}
