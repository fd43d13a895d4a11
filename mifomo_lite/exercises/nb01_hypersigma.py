"""Exercises of notebook 01 (HyperSIGMA: two branches, tokens, attention, MAE)."""

from __future__ import annotations


import numpy as np

from .core import expected, Fail, as_array, call, expect_close, expect_equal, register

NB = "01_hypersigma"


# ---------------------------------------------------------------- 01.1 how many tokens


@register("01.1", NB, "counting tokens",
          "Spatial tokens tile the window: a conv tokeniser with kernel = stride = p makes "
          "⌊window/p⌋ tokens per side (p = 1 is MIFOMO's pixel tokens). The spectral branch pools "
          "the channels into a fixed number T of band groups, whatever the channel count.",
          expects="function")
def _check_tokens(fn):
    cases = [(9, 1, 50, 100), (33, 2, 30, 100), (9, 1, 50, 25), (64, 8, 100, 100), (27, 4, 16, 49)]
    for w, p, c, t in cases:
        got = call(fn, w, p, c, t)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Fail("return a pair (spatial_tokens, spectral_tokens).")
        want = expected("01.1", w, p, c, t)
        for name, g, v in (("spatial", got[0], want[0]), ("spectral", got[1], want[1])):
            try:
                expect_equal(g, v, f"the {name} token count")
            except Fail as exc:
                raise Fail(f"for a {w}×{w} window, p={p}, {c} channels, T={t}: {exc}") from None


# ---------------------------------------------------------------- 01.2 attention weights


@register("01.2", NB, "attention weights",
          "A = softmax(q·kᵀ / √dh): scores between every query (row) and every key (column), divided "
          "by the square root of the head width, then a softmax over the keys so that each row sums "
          "to 1. Works on (..., N, dh) tensors: use k.transpose(-2, -1).",
          expects="function")
def _check_attention(fn):
    import torch

    g = torch.Generator().manual_seed(3)
    q = torch.randn(2, 3, 7, 16, generator=g, dtype=torch.float64)
    k = torch.randn(2, 3, 7, 16, generator=g, dtype=torch.float64)
    got = as_array(call(fn, q.clone(), k.clone()), "your attention")
    want = expected("01.2", q, k).numpy()
    if got.shape == want.shape:
        rows = got.sum(-1)
        if not np.allclose(rows, 1, atol=1e-5):
            raise Fail("the rows of your attention matrix do not sum to 1: softmax over the keys (last axis).")
    expect_close(got, want, "your attention", atol=1e-6,
                 mismatch="Did you scale the scores by 1/√dh (dh = q.shape[-1]) before the softmax?")


# ---------------------------------------------------------------- 01.3 MAE: visible tokens


@register("01.3", NB, "MAE visible tokens",
          "The encoder only sees the tokens that are *not* masked: a fraction (1 − mask_ratio) of "
          "them, rounded down as int() does — but never fewer than one token.",
          expects="function")
def _check_visible(fn):
    for n, r in [(81, 0.75), (100, 0.25), (25, 0.25), (256, 0.75), (10, 0.95), (81, 0.0), (49, 0.5)]:
        got = call(fn, n, r)
        try:
            expect_equal(got, expected("01.3", n, r), "the number of visible tokens")
        except Fail as exc:
            raise Fail(f"with {n} tokens and mask ratio {r}: {exc}") from None


# ---------------------------------------------------------------- 01.4 attention layer parameters


@register("01.4", NB, "parameters of an attention layer",
          "An attention layer has a fused qkv Linear (D → 3D, with a 3D bias only when qkv_bias) "
          "and an output proj Linear (D → D, always with a bias). Heads only reshape: they add no "
          "parameters.",
          expects="function")
def _check_attn_params(fn):
    for d, b in [(128, True), (768, True), (768, False), (1024, True), (96, False)]:
        got = call(fn, d, b)
        try:
            expect_equal(got, expected("01.4", d, b), "your parameter count")
        except Fail as exc:
            raise Fail(f"for D={d}, qkv_bias={b}: {exc}") from None
