"""Exercises of notebook 08 (inductive versus transductive few-shot learning)."""

from __future__ import annotations

import math

import numpy as np

from .core import Fail, as_array, call, register

NB = "08_inductive_vs_transductive"

STEPS = (
    "source episodes",
    "support-only adaptation",
    "pseudo-labelling of the queries",
    "intermediate-domain mixup",
    "prototypes from the support set",
    "label propagation at evaluation",
)
_USES_QUERIES = {"pseudo-labelling of the queries", "intermediate-domain mixup", "label propagation at evaluation"}


# ---------------------------------------------------------------- 08.1 paired differences
def _ref_paired(a, b):
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(d.mean()), float(d.std())


def _paired_wrong():
    return [
        lambda a, b: (float(np.mean(a) - np.mean(b)), float(np.std(a) - np.std(b))),    # difference of stds
        lambda a, b: (float(np.mean(a) - np.mean(b)), float(np.hypot(np.std(a), np.std(b)))),  # unpaired spread
        lambda a, b: (float(np.mean(np.subtract(a, b))), float(np.std(np.subtract(a, b), ddof=1))),  # sample std
    ]


@register("08.1", NB, "paired differences over the same episodes",
          "Both modes ran on the same seeds, so compare episode by episode: take d_e = a_e − b_e for "
          "every episode e, then the mean and the population std (ddof = 0) of those d_e.",
          reference=lambda: _ref_paired, wrong_answers=_paired_wrong, expects="function")
def _check_paired(fn):
    for a, b in [([80.0, 72.0, 91.0, 65.0], [78.0, 71.5, 88.0, 66.0]), ([50.0, 60.0, 70.0], [49.0, 58.0, 71.0])]:
        out = call(fn, list(a), list(b))
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise Fail("return the pair (mean, std).")
        want = _ref_paired(a, b)
        for got, w, what in zip(out, want, ("mean", "std")):
            g = as_array(got, f"your {what}")
            if g.size != 1:
                raise Fail(f"your {what} should be one number.")
            g = float(g.reshape(-1)[0])
            if not math.isclose(g, w, rel_tol=1e-6, abs_tol=1e-9):
                side = "too high" if g > w else "too low"
                raise Fail(f"your {what} of the paired differences ({g:.5g}) is {side}.")


# ---------------------------------------------------------------- 08.2 which steps see the queries
def _steps_wrong():
    return [
        lambda: {"pseudo-labelling of the queries", "label propagation at evaluation"},
        lambda: {"pseudo-labelling of the queries", "intermediate-domain mixup", "label propagation at evaluation",
                 "support-only adaptation"},
        lambda: {"pseudo-labelling of the queries"},
    ]


@register("08.2", NB, "which steps look at the unlabelled query pixels",
          "Follow the unlabelled target pixels through a transductive test episode: where are they "
          "embedded and used — to make training targets, to build training samples, or to refine "
          "predictions? The support set and the source scene are labelled data, not queries.",
          reference=lambda: (lambda: set(_USES_QUERIES)), wrong_answers=_steps_wrong, expects="function")
def _check_steps(fn):
    got = call(fn)
    if isinstance(got, str) or not hasattr(got, "__iter__"):
        raise Fail("return a set of step names (strings from STEPS).")
    got = set(got)
    unknown = sorted(s for s in got if s not in STEPS)
    if unknown:
        raise Fail(f"{unknown} are not among the step names; copy them from STEPS exactly.")
    wrong, missing = len(got - _USES_QUERIES), len(_USES_QUERIES - got)
    if wrong or missing:
        raise Fail(f"{wrong} of your steps do not use the unlabelled queries, and {missing} step(s) that do "
                   "are missing.")


# ---------------------------------------------------------------- 08.3 an inductive predictor
def _ref_inductive(support_emb, support_y, query_emb, n_classes):
    s, q = np.asarray(support_emb, dtype=np.float64), np.asarray(query_emb, dtype=np.float64)
    y = np.asarray(support_y)
    protos = np.stack([s[y == c].mean(0) for c in range(n_classes)])
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    pn = protos / np.linalg.norm(protos, axis=1, keepdims=True)
    return (qn @ pn.T).argmax(1)


def _inductive_wrong():
    def centred(s, y, q, n):          # subtracts the query-batch mean: a transductive leak
        q = np.asarray(q, dtype=np.float64)
        s = np.asarray(s, dtype=np.float64)
        mu = q.mean(0, keepdims=True)
        return _ref_inductive(s - mu, y, q - mu, n)

    def euclidean(s, y, q, n):
        s, q, y = np.asarray(s, dtype=np.float64), np.asarray(q, dtype=np.float64), np.asarray(y)
        protos = np.stack([s[y == c].mean(0) for c in range(n)])
        return ((q[:, None, :] - protos[None]) ** 2).sum(-1).argmin(1)

    def dot(s, y, q, n):
        s, q, y = np.asarray(s, dtype=np.float64), np.asarray(q, dtype=np.float64), np.asarray(y)
        protos = np.stack([s[y == c].mean(0) for c in range(n)])
        return (q @ protos.T).argmax(1)

    return [centred, euclidean, dot]


@register("08.3", NB, "an inductive nearest-prototype predictor",
          "Prototypes are the class means of the support embeddings; each query gets the class whose "
          "prototype has the highest *cosine* similarity with it. Nothing may depend on the other "
          "queries (no statistics of the query batch).",
          reference=lambda: _ref_inductive, wrong_answers=_inductive_wrong, expects="function")
def _check_inductive(fn):
    import torch

    rng = np.random.default_rng(12)
    n_classes, shots, D = 4, 5, 6
    centres = rng.normal(size=(n_classes, D)) + 2.0
    y = np.repeat(np.arange(n_classes), shots)
    s = centres[y] * rng.uniform(0.5, 3, size=(y.size, 1)) + 0.6 * rng.normal(size=(y.size, D))
    yq = rng.integers(0, n_classes, 80)
    q = centres[yq] * rng.uniform(0.3, 4, size=(80, 1)) + 0.8 * rng.normal(size=(80, D))
    got = as_array(call(fn, torch.as_tensor(s), torch.as_tensor(y), torch.as_tensor(q), n_classes), "your predictions")
    if got.shape != (80,):
        raise Fail(f"return one class id per query: shape (80,), got {got.shape}.")
    part = as_array(call(fn, torch.as_tensor(s), torch.as_tensor(y), torch.as_tensor(q[:10]), n_classes),
                    "your predictions")
    if part.shape != (10,) or not np.array_equal(part, got[:10]):
        raise Fail("the predictions for the first 10 queries change when the other 70 are left out: your "
                   "predictor uses the query batch, which makes it transductive.")
    want = _ref_inductive(s, y, q, n_classes)
    wrong = int((got != want).sum())
    if wrong:
        raise Fail(f"{wrong} of 80 predictions differ from the nearest prototype by cosine similarity "
                   "(are you using the cosine — normalised vectors — and class-mean prototypes?).")
