"""Exercises of notebook 07 (reproducing the paper on a GPU: budget and significance)."""

from __future__ import annotations

import math


from .core import expected, Fail, as_array, call, expect_equal, register

NB = "07_paper_gpu"


# ---------------------------------------------------------------- 07.1 patches per intermediate step


@register("07.1", NB, "patches through the network per intermediate-domain step",
          "One step embeds a source episode (every source class, n_shot + n_query each), a target "
          "episode (every kept target class, n_shot + n_query each) and the n_mix input-level mixes. "
          "The embedding-level mixes are made from embeddings already computed: they cost no pass.",
          expects="function")
def _check_patches(fn):
    for args in [(19, 16), (19, 9, 2, 3, 10), (5, 4, 1, 2, 6), (19, 15, 2, 3, 20)]:
        got = call(fn, *args)
        try:
            expect_equal(got, expected("07.1", *args), "your count")
        except Fail as exc:
            raise Fail(f"for arguments {args}: {exc}") from None


# ---------------------------------------------------------------- 07.2 query pixels of the protocol


@register("07.2", NB, "how many query pixels an episode has",
          "MIFOMO's query set is *all* labelled pixels except the support: every class gives n_shot "
          "pixels to the support and all its others to the queries.",
          expects="function")
def _check_n_query(fn):
    ip = [46, 1428, 830, 237, 483, 730, 28, 478, 20, 972, 2455, 593, 205, 1265, 386, 93]
    for counts, k in [(ip, 5), ([10, 20, 30], 5), ([7, 8], 1)]:
        got = call(fn, list(counts), k)
        try:
            expect_equal(got, expected("07.2", counts, k), "your count")
        except Fail as exc:
            raise Fail(f"for {len(counts)} classes and n_shot = {k}: {exc}") from None


# ---------------------------------------------------------------- 07.3 Welch's t statistic


@register("07.3", NB, "Welch's t statistic",
          "Welch's t does not pool the variances: t = (m1 − m2) / sqrt(s1²/n1 + s2²/n2), with the "
          "*variances* (squared standard deviations) of the two groups.",
          expects="function")
def _check_welch(fn):
    for args in [(94.80, 4.44, 20, 81.3, 3.1, 10), (96.92, 5.21, 20, 95.1, 1.2, 10), (70.0, 2.0, 5, 72.0, 8.0, 12)]:
        got = as_array(call(fn, *args), "your t")
        if got.size != 1:
            raise Fail(f"return one number, got an array of shape {got.shape}.")
        got, want = float(got.reshape(-1)[0]), expected("07.3", *args)
        if not math.isclose(got, want, rel_tol=1e-6):
            side = "too high" if got > want else "too low"
            raise Fail(f"for (m1, s1, n1, m2, s2, n2) = {args}: your t ({got:.5g}) is {side}.")
