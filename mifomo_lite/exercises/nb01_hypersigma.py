"""Exercises of notebook 01 (HyperSIGMA: two branches, tokens, attention, MAE)."""

from __future__ import annotations

import math

import numpy as np

from .core import Fail, as_array, call, expect_close, expect_equal, register

NB = "01_hypersigma"


# ---------------------------------------------------------------- 01.1 how many tokens
def _ref_token_counts(window, patch, n_channels, spectral_tokens):
    return ((window // patch) ** 2, spectral_tokens)


def _token_wrong():
    return [
        lambda w, p, c, t: ((w // p) ** 2, c),        # spectral tokens = channels
        lambda w, p, c, t: (w // p, t),               # forgot the square
        lambda w, p, c, t: (round(w / p) ** 2, t),    # rounds instead of flooring
        lambda w, p, c, t: (w * w // p, t),
    ]


@register("01.1", NB, "counting tokens",
          "Spatial tokens tile the window: a conv tokeniser with kernel = stride = p makes "
          "⌊window/p⌋ tokens per side (p = 1 is MIFOMO's pixel tokens). The spectral branch pools "
          "the channels into a fixed number T of band groups, whatever the channel count.",
          reference=lambda: _ref_token_counts, wrong_answers=_token_wrong, expects="function")
def _check_tokens(fn):
    cases = [(9, 1, 50, 100), (33, 2, 30, 100), (9, 1, 50, 25), (64, 8, 100, 100), (27, 4, 16, 49)]
    for w, p, c, t in cases:
        got = call(fn, w, p, c, t)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Fail("return a pair (spatial_tokens, spectral_tokens).")
        want = _ref_token_counts(w, p, c, t)
        for name, g, v in (("spatial", got[0], want[0]), ("spectral", got[1], want[1])):
            try:
                expect_equal(g, v, f"the {name} token count")
            except Fail as exc:
                raise Fail(f"for a {w}×{w} window, p={p}, {c} channels, T={t}: {exc}") from None


# ---------------------------------------------------------------- 01.2 attention weights
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


@register("01.2", NB, "attention weights",
          "A = softmax(q·kᵀ / √dh): scores between every query (row) and every key (column), divided "
          "by the square root of the head width, then a softmax over the keys so that each row sums "
          "to 1. Works on (..., N, dh) tensors: use k.transpose(-2, -1).",
          reference=lambda: _ref_attention, wrong_answers=_attention_wrong, expects="function")
def _check_attention(fn):
    import torch

    g = torch.Generator().manual_seed(3)
    q = torch.randn(2, 3, 7, 16, generator=g, dtype=torch.float64)
    k = torch.randn(2, 3, 7, 16, generator=g, dtype=torch.float64)
    got = as_array(call(fn, q.clone(), k.clone()), "your attention")
    want = _ref_attention(q, k).numpy()
    if got.shape == want.shape:
        rows = got.sum(-1)
        if not np.allclose(rows, 1, atol=1e-5):
            raise Fail("the rows of your attention matrix do not sum to 1: softmax over the keys (last axis).")
    expect_close(got, want, "your attention", atol=1e-6,
                 mismatch="Did you scale the scores by 1/√dh (dh = q.shape[-1]) before the softmax?")


# ---------------------------------------------------------------- 01.3 MAE: visible tokens
def _ref_visible(n_tokens, mask_ratio):
    return max(1, int(n_tokens * (1 - mask_ratio)))


def _visible_wrong():
    return [
        lambda n, r: int(n * r),                   # counts the masked ones
        lambda n, r: math.ceil(n * (1 - r)),       # rounds up
        lambda n, r: int(n * (1 - r)),             # no minimum of one token
    ]


@register("01.3", NB, "MAE visible tokens",
          "The encoder only sees the tokens that are *not* masked: a fraction (1 − mask_ratio) of "
          "them, rounded down as int() does — but never fewer than one token.",
          reference=lambda: _ref_visible, wrong_answers=_visible_wrong, expects="function")
def _check_visible(fn):
    for n, r in [(81, 0.75), (100, 0.25), (25, 0.25), (256, 0.75), (10, 0.95), (81, 0.0), (49, 0.5)]:
        got = call(fn, n, r)
        try:
            expect_equal(got, _ref_visible(n, r), "the number of visible tokens")
        except Fail as exc:
            raise Fail(f"with {n} tokens and mask ratio {r}: {exc}") from None


# ---------------------------------------------------------------- 01.4 attention layer parameters
def _ref_attn_params(dim, qkv_bias=True):
    return 3 * dim * dim + (3 * dim if qkv_bias else 0) + dim * dim + dim


def _attn_params_wrong():
    return [
        lambda d, b=True: 4 * d * d,                                   # no biases
        lambda d, b=True: 4 * d * d + 4 * d,                           # ignores qkv_bias
        lambda d, b=True: 3 * d * d + (3 * d if b else 0),            # forgot proj
    ]


@register("01.4", NB, "parameters of an attention layer",
          "An attention layer has a fused qkv Linear (D → 3D, with a 3D bias only when qkv_bias) "
          "and an output proj Linear (D → D, always with a bias). Heads only reshape: they add no "
          "parameters.",
          reference=lambda: _ref_attn_params, wrong_answers=_attn_params_wrong, expects="function")
def _check_attn_params(fn):
    for d, b in [(128, True), (768, True), (768, False), (1024, True), (96, False)]:
        got = call(fn, d, b)
        try:
            expect_equal(got, _ref_attn_params(d, b), "your parameter count")
        except Fail as exc:
            raise Fail(f"for D={d}, qkv_bias={b}: {exc}") from None
