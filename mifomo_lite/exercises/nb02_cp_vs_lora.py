"""Exercises of notebook 02 (coalescent projection versus LoRA)."""

from __future__ import annotations

import math

import numpy as np

from .core import Fail, as_array, call, expect_close, expect_equal, register

NB = "02_cp_vs_lora"


# ---------------------------------------------------------------- 02.1 CP attention
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


@register("02.1", NB, "attention with a coalescent projection",
          "Per head: logits = (q/√dh)·C·kᵀ, softmax over the keys, then multiply by v. With "
          "q, k, v of shape (B, H, N, dh) and C of shape (H, dh, dh), broadcasting does the heads: "
          "C[None] has shape (1, H, dh, dh).",
          reference=lambda: _ref_cp_attention, wrong_answers=_cp_attention_wrong, expects="function")
def _check_cp_attention(fn):
    import torch

    g = torch.Generator().manual_seed(5)
    B, H, N, dh = 2, 3, 6, 8
    q, k, v = (torch.randn(B, H, N, dh, generator=g, dtype=torch.float64) for _ in range(3))
    C = torch.eye(dh, dtype=torch.float64).repeat(H, 1, 1) + 0.3 * torch.randn(H, dh, dh, generator=g,
                                                                                  dtype=torch.float64)
    got = as_array(call(fn, q.clone(), k.clone(), v.clone(), C.clone()), "your output")
    want = _ref_cp_attention(q, k, v, C).numpy()
    if got.shape == (B, H, N, N):
        raise Fail("you returned the attention weights (B, H, N, N); multiply them by v.")
    expect_close(got, want, "your output", atol=1e-6,
                 mismatch="Is C between q and kᵀ (q·C·kᵀ, not q·Cᵀ·kᵀ or ·C after v), and is q scaled by 1/√dh?")
    # with C = I it must be plain attention
    eye = torch.eye(dh, dtype=torch.float64).repeat(H, 1, 1)
    expect_close(as_array(call(fn, q, k, v, eye)), _ref_cp_attention(q, k, v, eye).numpy(),
                 "your output with C = I", atol=1e-6)


# ---------------------------------------------------------------- 02.2 CP parameter count
def _ref_cp_params(layers, heads, head_dim, shared=False):
    return layers * head_dim * head_dim * (1 if shared else heads)


def _cp_params_wrong():
    return [
        lambda L, h, d, s=False: L * h * d * d,                     # ignores sharing
        lambda L, h, d, s=False: L * (h * d) ** 2 // (1 if s else 1),  # a D×D matrix per layer
        lambda L, h, d, s=False: h * d * d * (1 if s else 1),       # forgot the layers
    ]


@register("02.2", NB, "CP parameter count",
          "Every attention layer gets one dh×dh matrix per head — or a single dh×dh matrix shared by "
          "all heads of that layer when shared=True. Count over all layers.",
          reference=lambda: _ref_cp_params, wrong_answers=_cp_params_wrong, expects="function")
def _check_cp_params(fn):
    for L, h, d, s in [(24, 12, 64, False), (24, 12, 64, True), (12, 4, 32, False), (7, 6, 32, True),
                       (1, 1, 3, False)]:
        got = call(fn, L, h, d, s)
        try:
            expect_equal(got, _ref_cp_params(L, h, d, s), "your count")
        except Fail as exc:
            raise Fail(f"for {L} layers, {h} heads of width {d}, shared={s}: {exc}") from None


# ---------------------------------------------------------------- 02.3 LoRA parameter count
def _ref_lora_params(rank, d_in, d_out, n_wrapped=1):
    return n_wrapped * rank * (d_in + d_out)


def _lora_params_wrong():
    return [
        lambda r, a, b, n=1: n * r * a * b,          # a full matrix per rank
        lambda r, a, b, n=1: n * r * (a + b) + n * a * b,  # counts the frozen W
        lambda r, a, b, n=1: r * (a + b),            # forgot how many projections
        lambda r, a, b, n=1: n * 2 * r * a,          # assumes square
    ]


@register("02.3", NB, "LoRA parameter count",
          "Each wrapped projection W (d_out × d_in) gets A (r × d_in) and B (d_out × r); the frozen W "
          "itself does not count. Multiply by the number of wrapped projections.",
          reference=lambda: _ref_lora_params, wrong_answers=_lora_params_wrong, expects="function")
def _check_lora_params(fn):
    for r, a, b, n in [(16, 768, 768, 48), (3, 768, 768, 32), (4, 128, 512, 6), (8, 100, 30, 1)]:
        got = call(fn, r, a, b, n)
        try:
            expect_equal(got, _ref_lora_params(r, a, b, n), "your count")
        except Fail as exc:
            raise Fail(f"for rank {r}, {a} → {b}, {n} projection(s): {exc}") from None


# ---------------------------------------------------------------- 02.4 merging a CP
def _ref_merge_cp(W, b, C):
    W, b, C = (np.asarray(t, dtype=np.float64) for t in (W, b, C))
    return C.T @ W, b @ C


def _merge_wrong():
    return [
        lambda W, b, C: (np.asarray(C) @ W, np.asarray(b) @ C),        # C instead of Cᵀ
        lambda W, b, C: (np.asarray(C).T @ W, np.asarray(b)),          # forgot the bias
        lambda W, b, C: (np.asarray(W) @ C, np.asarray(b) @ C),        # wrong side
    ]


@register("02.4", NB, "folding a CP into the query weights",
          "Queries are rows: q = x·Wᵀ + b. You need W', b' with x·W'ᵀ + b' = (x·Wᵀ + b)·C for every x. "
          "Expand the right-hand side and read off W'ᵀ and b'.",
          reference=lambda: _ref_merge_cp, wrong_answers=_merge_wrong, expects="function")
def _check_merge(fn):
    rng = np.random.default_rng(9)
    dh, D = 4, 10
    W, b = rng.normal(size=(dh, D)), rng.normal(size=dh)
    C = np.eye(dh) + 0.5 * rng.normal(size=(dh, dh))
    got = call(fn, W.copy(), b.copy(), C.copy())
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Fail("return the pair (W_merged, b_merged).")
    Wm, bm = as_array(got[0], "your W_merged"), as_array(got[1], "your b_merged")
    x = rng.normal(size=(5, D))
    if Wm.shape != W.shape or bm.shape != b.shape:
        raise Fail(f"W_merged must keep W's shape {W.shape} and b_merged b's shape {b.shape}; got "
                   f"{Wm.shape} and {bm.shape}.")
    expect_close(x @ Wm.T + bm, (x @ W.T + b) @ C, "the queries from your merged weights", atol=1e-8,
                 mismatch="They must equal (x·Wᵀ + b)·C — check Cᵀ versus C, and the bias.")
