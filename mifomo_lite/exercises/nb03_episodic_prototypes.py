"""Exercises of notebook 03 (episodic prototypical training)."""

from __future__ import annotations

import math

import numpy as np

from .core import expected, Fail, as_array, call, expect_close, register

NB = "03_episodic_prototypes"


# ---------------------------------------------------------------- 03.1 prototypes


@register("03.1", NB, "class-mean prototypes",
          "A prototype is the plain average of the support embeddings of its class: select the rows "
          "with y == c, average them over the rows (axis 0), and stack the C results in class order.",
          expects="function")
def _check_prototypes(fn):
    import torch

    rng = np.random.default_rng(3)
    n_classes, shots, D = 4, 5, 7
    y = rng.permutation(np.repeat(np.arange(n_classes), shots))
    emb = rng.normal(size=(n_classes * shots, D)) + 3.0 * y[:, None]
    got = as_array(call(fn, torch.as_tensor(emb), torch.as_tensor(y), n_classes), "your prototypes")
    if got.shape == (D, n_classes):
        raise Fail(f"your prototypes have shape {got.shape}: one row per class is expected, (C, D).")
    expect_close(got, expected("03.1", emb, y, n_classes), "your prototypes", atol=1e-6,
                 mismatch="Are they means (not sums) of the raw embeddings of each class, in class order 0..C-1?")


# ---------------------------------------------------------------- 03.2 cosine logits


@register("03.2", NB, "scaled cosine logits",
          "logit[i, c] = s · cos(q_i, p_c): divide every query row and every prototype row by its L2 "
          "norm, take the matrix product query·protosᵀ (shape n_query × C), then multiply by s.",
          expects="function")
def _check_cosine_logits(fn):
    import torch

    rng = np.random.default_rng(4)
    q = rng.normal(size=(6, 5)) * rng.uniform(0.5, 4, size=(6, 1))
    p = rng.normal(size=(3, 5)) * rng.uniform(0.5, 4, size=(3, 1))
    for s in (20.0, 3.5):
        got = as_array(call(fn, torch.as_tensor(q), torch.as_tensor(p), s), "your logits")
        if got.shape == (3, 6):
            raise Fail("your logits have shape (C, n_query); rows should be queries: (n_query, C).")
        expect_close(got, expected("03.2", q, p, s), f"your logits for s = {s}", atol=1e-6,
                     mismatch="Normalise both queries and prototypes, and multiply the cosine by the scale s.")
    if np.abs(got).max() > s + 1e-6:
        raise Fail("some of your logits exceed s in absolute value — a cosine lies in [-1, 1].")


# ---------------------------------------------------------------- 03.3 sampling an episode


def _as_int_vector(x, name):
    arr = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
    if arr.ndim != 1:
        raise Fail(f"{name} should be a 1-D array, got shape {arr.shape}.")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.mod(arr, 1) == 0):
            raise Fail(f"{name} should hold whole numbers (indices / labels).")
    return arr.astype(np.int64)


@register("03.3", NB, "sampling an N-way K-shot episode",
          "Pick n_way distinct classes with the seeded generator, then for each chosen class draw "
          "n_shot + n_query *distinct* pixels in one go (replace=False) and split them: the first "
          "n_shot are support, the rest query — so no pixel is both. Episode label k means the k-th "
          "chosen class in increasing class-id order (re-indexed 0..n_way-1, not the original ids).",
          expects="function")
def _check_sample_episode(fn):
    rng = np.random.default_rng(11)
    n_classes, per_class = 9, 9
    labels = rng.permutation(np.repeat(np.arange(10, 10 + n_classes), per_class))  # ids 10..18
    n_way, n_shot, n_query = 4, 3, 5
    chosen_sets, first_picks = set(), set()
    for seed in range(8):
        out = call(fn, labels.copy(), n_way, n_shot, n_query, seed)
        if not isinstance(out, (tuple, list)) or len(out) != 4:
            raise Fail("return the four arrays (support_idx, query_idx, support_y, query_y).")
        s, q, sy, qy = (_as_int_vector(a, n) for a, n in
                        zip(out, ("support_idx", "query_idx", "support_y", "query_y")))
        if s.size != n_way * n_shot or q.size != n_way * n_query:
            raise Fail(f"a {n_way}-way {n_shot}-shot episode with {n_query} queries per class has "
                       f"{n_way * n_shot} support and {n_way * n_query} query pixels; you returned "
                       f"{s.size} and {q.size}.")
        if sy.size != s.size or qy.size != q.size:
            raise Fail("support_y / query_y must have one label per support / query index.")
        if s.min() < 0 or q.min() < 0 or max(s.max(), q.max()) >= labels.size:
            raise Fail("some indices are outside the pixel pool.")
        both = np.concatenate([s, q])
        if np.unique(both).size != both.size:
            raise Fail("a pixel appears twice in the episode (twice in the support, twice in the query, "
                       "or in both): draw each class's pixels without replacement, in one draw.")
        if set(np.unique(np.concatenate([sy, qy])).tolist()) != set(range(n_way)):
            raise Fail(f"episode labels must be re-indexed to 0..{n_way - 1} (you may have returned "
                       "the original class ids).")
        classes = []
        for k in range(n_way):
            cs, cq = labels[s[sy == k]], labels[q[qy == k]]
            if cs.size != n_shot or cq.size != n_query:
                raise Fail(f"episode class {k} has {cs.size} support and {cq.size} query pixels; "
                           f"expected {n_shot} and {n_query}.")
            if np.unique(np.concatenate([cs, cq])).size != 1:
                raise Fail(f"the pixels labelled {k} in your episode come from different pool classes.")
            classes.append(int(cs[0]))
        if len(set(classes)) != n_way:
            raise Fail("two episode labels stand for the same pool class; choose n_way *distinct* classes.")
        if classes != sorted(classes):
            raise Fail("episode label k should be the k-th chosen class in increasing class-id order.")
        again = call(fn, labels.copy(), n_way, n_shot, n_query, seed)
        if not all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(out, again)):
            raise Fail("the same seed gave two different episodes: draw everything from "
                       "np.random.default_rng(seed).")
        chosen_sets.add(tuple(classes))
        first_picks.add(int(s[0]))
    if len(chosen_sets) == 1:
        raise Fail("every seed chose the same classes: the n_way classes must be drawn at random.")
    if len(first_picks) == 1:
        raise Fail("every seed chose the same pixels: the shots must be drawn at random.")


# ---------------------------------------------------------------- 03.4 why the scale


@register("03.4", NB, "the most confident softmax a cosine head can give",
          "Logits are s·cos with cos in [-1, 1]. The best case for one class: cos = 1 to its own "
          "prototype and cos = -1 to each of the n_way - 1 others. Write the softmax of that class.",
          expects="function")
def _check_max_confidence(fn):
    for s, n in [(1.0, 5), (20.0, 16), (5.0, 19), (0.5, 2), (2.0, 9)]:
        got = as_array(call(fn, s, n), "your value")
        if got.size != 1:
            raise Fail(f"return one number (a probability), got an array of shape {got.shape}.")
        got, want = float(got.reshape(-1)[0]), expected("03.4", s, n)
        if not math.isclose(got, want, rel_tol=1e-5, abs_tol=1e-9):
            side = "too high" if got > want else "too low"
            raise Fail(f"for s = {s}, n_way = {n}: your value ({got:.6g}) is {side}.")
