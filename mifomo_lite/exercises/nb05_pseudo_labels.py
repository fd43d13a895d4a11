"""Exercises of notebook 05 (pseudo-labels, ε-smoothing and label propagation)."""

from __future__ import annotations

import numpy as np

from .core import expected, Fail, as_array, call, expect_close, register

NB = "05_pseudo_labels"


# ---------------------------------------------------------------- 05.1 ε-smoothing


@register("05.1", NB, "ε-label smoothing of hard pseudo-labels",
          "Take the hard label (argmax of each row) as a one-hot vector, multiply it by 1 − ε and add "
          "ε/C to *every* entry (C = number of classes), so each row still sums to 1.",
          expects="function")
def _check_eps(fn):
    import torch

    rng = np.random.default_rng(5)
    probs = rng.dirichlet(np.ones(6), size=9)
    for eps in (0.1, 0.3):
        got = as_array(call(fn, torch.as_tensor(probs), eps), "your smoothed labels")
        expect_close(got, expected("05.1", probs, eps), f"your smoothed labels for ε = {eps}", atol=1e-6,
                     mismatch="Smooth the one-hot argmax, not the probabilities, and spread ε evenly over all C classes.")


# ---------------------------------------------------------------- 05.2 top-k per predicted class


@register("05.2", NB, "the k most confident pseudo-labels per class",
          "Group the queries by their *predicted* class (argmax of the row). Within each group sort by "
          "confidence (the row's largest score), highest first, and keep the first k (all of them "
          "when the group is smaller). Return the kept row indices.",
          expects="function")
def _check_top_k(fn):
    import torch

    rng = np.random.default_rng(6)
    n, c = 60, 4
    logits = rng.normal(size=(n, c)) * 2
    logits[:, 3] -= 2.5                           # class 3 rarely wins: fewer than k members
    scores = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    for k in (5, 12):
        got = as_array(call(fn, torch.as_tensor(scores), k), "your indices")
        if got.ndim != 1:
            raise Fail(f"return a 1-D array of row indices, got shape {got.shape}.")
        got_set, want = set(got.astype(int).tolist()), set(expected("05.2", scores, k).tolist())
        if len(got_set) != got.size:
            raise Fail("some row indices appear twice.")
        if got_set != want:
            extra, missing = len(got_set - want), len(want - got_set)
            raise Fail(f"for k = {k} you keep {len(got_set)} rows; {extra} of them should not be kept and "
                       f"{missing} rows are missing. Are the groups the predicted classes, ranked by the "
                       "largest score, most confident first?")


# ---------------------------------------------------------------- 05.3 controlled label noise


@register("05.3", NB, "injecting controlled label noise",
          "Choose exactly round(rate · n) *distinct* positions with the seeded generator and give each "
          "a wrong class drawn uniformly from the other C − 1 classes (a random shift 1..C−1 modulo C "
          "does it). Work on a copy; the other labels stay as they were.",
          expects="function")
def _check_noise(fn):
    rng = np.random.default_rng(7)
    for n, c, rate in [(200, 5, 0.3), (101, 3, 0.5), (50, 4, 0.0), (40, 6, 1.0)]:
        y = rng.integers(0, c, size=n)
        y_in = y.copy()
        got = as_array(call(fn, y_in, c, rate, 3), "your labels").astype(np.int64)
        if not np.array_equal(y_in, y):
            raise Fail("your function modified the labels it was given; work on a copy.")
        if got.shape != y.shape:
            raise Fail(f"your labels have shape {got.shape}, expected {y.shape}.")
        if got.min() < 0 or got.max() >= c:
            raise Fail(f"some of your labels are outside 0..{c - 1}.")
        n_changed, want = int((got != y).sum()), int(round(rate * n))
        if n_changed != want:
            raise Fail(f"with n = {n} and rate = {rate} exactly {want} labels must change; {n_changed} did. "
                       "Flipping to a random class can draw the same class again, and a per-label coin "
                       "flip does not give an exact count.")
    # the wrong class must be uniform over the C - 1 others
    n, c = 6000, 4
    y = np.zeros(n, dtype=np.int64)
    got = as_array(call(fn, y, c, 0.5, 1), "your labels").astype(np.int64)
    counts = np.bincount(got[got != 0], minlength=c)[1:]
    if counts.min() < 0.8 * counts.sum() / (c - 1):
        raise Fail("the wrong classes are not spread evenly: each of the C − 1 other classes should be "
                   "about equally likely.")
    other = as_array(call(fn, y, c, 0.5, 2), "your labels")
    if np.array_equal(other, got):
        raise Fail("two different seeds flipped exactly the same labels; use np.random.default_rng(seed).")


# ---------------------------------------------------------------- 05.4 LGC closed form


@register("05.4", NB, "label propagation in closed form",
          "F* = (I − α·Â)⁻¹ · Y: build M = I − α·Â (n × n) and solve M·F = Y (np.linalg.solve or "
          "torch.linalg.solve) rather than iterating.",
          expects="function")
def _check_lgc(fn):
    import torch

    rng = np.random.default_rng(9)
    n, c = 8, 3
    a = rng.uniform(0, 1, size=(n, n))
    a = (a + a.T) / 2
    np.fill_diagonal(a, 0)
    d = 1 / np.sqrt(a.sum(1))
    a_hat = d[:, None] * a * d[None, :]
    y = rng.dirichlet(np.ones(c), size=n)
    for alpha in (0.9, 0.5):
        got = as_array(call(fn, torch.as_tensor(a_hat), torch.as_tensor(y), alpha), "your F*")
        expect_close(got, expected("05.4", a_hat, y, alpha), f"your F* for α = {alpha}", rtol=1e-5, atol=1e-6,
                     mismatch="Is it (I − α·Â)⁻¹·Y — with α, and the inverse (not the matrix itself)?")
