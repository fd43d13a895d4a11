"""Reference solutions and typical mistakes of nb01_hypersigma (teacher edition; not in the kit)."""

from __future__ import annotations

import math
import numpy as np
from mifomo_lite.exercises.core import Fail, as_array, call, expect_close, expect_equal, register


def _ref_token_counts(window, patch, n_channels, spectral_tokens):
    return ((window // patch) ** 2, spectral_tokens)


def _token_wrong():
    return [
        lambda w, p, c, t: ((w // p) ** 2, c),        # spectral tokens = channels
        lambda w, p, c, t: (w // p, t),               # forgot the square
        lambda w, p, c, t: (round(w / p) ** 2, t),    # rounds instead of flooring
        lambda w, p, c, t: (w * w // p, t),
    ]


def _ref_attention(q, k):
    import torch

    q, k = torch.as_tensor(q, dtype=torch.float64), torch.as_tensor(k, dtype=torch.float64)
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)


def _attention_wrong():
    import torch

    return [
        lambda q, k: torch.softmax(q @ k.transpose(-2, -1), dim=-1),                       # no scale
        lambda q, k: torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1], dim=-1),          # 1/d
        lambda q, k: torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-2),  # wrong axis
        lambda q, k: q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]),                      # no softmax
    ]


def _ref_visible(n_tokens, mask_ratio):
    return max(1, int(n_tokens * (1 - mask_ratio)))


def _visible_wrong():
    return [
        lambda n, r: int(n * r),                   # counts the masked ones
        lambda n, r: math.ceil(n * (1 - r)),       # rounds up
        lambda n, r: int(n * (1 - r)),             # no minimum of one token
    ]


def _ref_attn_params(dim, qkv_bias=True):
    return 3 * dim * dim + (3 * dim if qkv_bias else 0) + dim * dim + dim


def _attn_params_wrong():
    return [
        lambda d, b=True: 4 * d * d,                                   # no biases
        lambda d, b=True: 4 * d * d + 4 * d,                           # ignores qkv_bias
        lambda d, b=True: 3 * d * d + (3 * d if b else 0),            # forgot proj
    ]


REFERENCES = {"01.1": _ref_token_counts, "01.2": _ref_attention, "01.3": _ref_visible, "01.4": _ref_attn_params}
ANSWERS = {"01.1": lambda: _ref_token_counts, "01.2": lambda: _ref_attention, "01.3": lambda: _ref_visible, "01.4": lambda: _ref_attn_params}
WRONG = {"01.1": _token_wrong, "01.2": _attention_wrong, "01.3": _visible_wrong, "01.4": _attn_params_wrong}
