"""Exercises of notebook 02 (coalescent projection versus LoRA)."""

from __future__ import annotations


import numpy as np

from .core import expected, Fail, as_array, call, expect_close, expect_equal, register

NB = "02_cp_vs_lora"


# ---------------------------------------------------------------- 02.1 CP attention


@register("02.1", NB, "attention with a coalescent projection",
          "Per head: logits = (q/√dh)·C·kᵀ, softmax over the keys, then multiply by v. With "
          "q, k, v of shape (B, H, N, dh) and C of shape (H, dh, dh), broadcasting does the heads: "
          "C[None] has shape (1, H, dh, dh).",
          expects="function")
def _check_cp_attention(fn):
    import torch

    g = torch.Generator().manual_seed(5)
    B, H, N, dh = 2, 3, 6, 8
    q, k, v = (torch.randn(B, H, N, dh, generator=g, dtype=torch.float64) for _ in range(3))
    C = torch.eye(dh, dtype=torch.float64).repeat(H, 1, 1) + 0.3 * torch.randn(H, dh, dh, generator=g,
                                                                                  dtype=torch.float64)
    got = as_array(call(fn, q.clone(), k.clone(), v.clone(), C.clone()), "your output")
    want = expected("02.1", q, k, v, C).numpy()
    if got.shape == (B, H, N, N):
        raise Fail("you returned the attention weights (B, H, N, N); multiply them by v.")
    expect_close(got, want, "your output", atol=1e-6,
                 mismatch="Is C between q and kᵀ (q·C·kᵀ, not q·Cᵀ·kᵀ or ·C after v), and is q scaled by 1/√dh?")
    # with C = I it must be plain attention
    eye = torch.eye(dh, dtype=torch.float64).repeat(H, 1, 1)
    expect_close(as_array(call(fn, q, k, v, eye)), expected("02.1", q, k, v, eye).numpy(),
                 "your output with C = I", atol=1e-6)


# ---------------------------------------------------------------- 02.2 CP parameter count


@register("02.2", NB, "CP parameter count",
          "Every attention layer gets one dh×dh matrix per head — or a single dh×dh matrix shared by "
          "all heads of that layer when shared=True. Count over all layers.",
          expects="function")
def _check_cp_params(fn):
    for L, h, d, s in [(24, 12, 64, False), (24, 12, 64, True), (12, 4, 32, False), (7, 6, 32, True),
                       (1, 1, 3, False)]:
        got = call(fn, L, h, d, s)
        try:
            expect_equal(got, expected("02.2", L, h, d, s), "your count")
        except Fail as exc:
            raise Fail(f"for {L} layers, {h} heads of width {d}, shared={s}: {exc}") from None


# ---------------------------------------------------------------- 02.3 LoRA parameter count


@register("02.3", NB, "LoRA parameter count",
          "Each wrapped projection W (d_out × d_in) gets A (r × d_in) and B (d_out × r); the frozen W "
          "itself does not count. Multiply by the number of wrapped projections.",
          expects="function")
def _check_lora_params(fn):
    for r, a, b, n in [(16, 768, 768, 48), (3, 768, 768, 32), (4, 128, 512, 6), (8, 100, 30, 1)]:
        got = call(fn, r, a, b, n)
        try:
            expect_equal(got, expected("02.3", r, a, b, n), "your count")
        except Fail as exc:
            raise Fail(f"for rank {r}, {a} → {b}, {n} projection(s): {exc}") from None


# ---------------------------------------------------------------- 02.4 merging a CP


@register("02.4", NB, "folding a CP into the query weights",
          "Queries are rows: q = x·Wᵀ + b. You need W', b' with x·W'ᵀ + b' = (x·Wᵀ + b)·C for every x. "
          "Expand the right-hand side and read off W'ᵀ and b'.",
          expects="function")
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
