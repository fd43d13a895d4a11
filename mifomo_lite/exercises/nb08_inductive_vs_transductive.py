"""Exercises of notebook 08 (inductive versus transductive few-shot learning)."""

from __future__ import annotations

import math

import numpy as np

from .core import expected, Fail, as_array, call, register, salted_digest

NB = "08_inductive_vs_transductive"

STEPS = (
    "source episodes",
    "support-only adaptation",
    "pseudo-labelling of the queries",
    "intermediate-domain mixup",
    "prototypes from the support set",
    "label propagation at evaluation",
)
# the steps that use the unlabelled queries, stored as salted digests (the answer is not in the kit)
_USES_QUERIES_SHA = frozenset({"892951c5c741cbad", "a9b935f989bbe3d0", "c4ceb56305318697"})


def _uses_queries(step: str) -> bool:
    return salted_digest("08.2", step) in _USES_QUERIES_SHA


# ---------------------------------------------------------------- 08.1 paired differences


@register("08.1", NB, "paired differences over the same episodes",
          "Both modes ran on the same seeds, so compare episode by episode: take d_e = a_e − b_e for "
          "every episode e, then the mean and the population std (ddof = 0) of those d_e.",
          expects="function")
def _check_paired(fn):
    for a, b in [([80.0, 72.0, 91.0, 65.0], [78.0, 71.5, 88.0, 66.0]), ([50.0, 60.0, 70.0], [49.0, 58.0, 71.0])]:
        out = call(fn, list(a), list(b))
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise Fail("return the pair (mean, std).")
        want = expected("08.1", a, b)
        for got, w, what in zip(out, want, ("mean", "std")):
            g = as_array(got, f"your {what}")
            if g.size != 1:
                raise Fail(f"your {what} should be one number.")
            g = float(g.reshape(-1)[0])
            if not math.isclose(g, w, rel_tol=1e-6, abs_tol=1e-9):
                side = "too high" if g > w else "too low"
                raise Fail(f"your {what} of the paired differences ({g:.5g}) is {side}.")


# ---------------------------------------------------------------- 08.2 which steps see the queries


@register("08.2", NB, "which steps look at the unlabelled query pixels",
          "Follow the unlabelled target pixels through a transductive test episode: where are they "
          "embedded and used — to make training targets, to build training samples, or to refine "
          "predictions? The support set and the source scene are labelled data, not queries.",
          expects="function")
def _check_steps(fn):
    got = call(fn)
    if isinstance(got, str) or not hasattr(got, "__iter__"):
        raise Fail("return a set of step names (strings from STEPS).")
    got = set(got)
    unknown = sorted(s for s in got if s not in STEPS)
    if unknown:
        raise Fail(f"{unknown} are not among the step names; copy them from STEPS exactly.")
    wrong = sum(not _uses_queries(s) for s in got)
    missing = len(_USES_QUERIES_SHA) - sum(_uses_queries(s) for s in got)
    if wrong or missing:
        raise Fail(f"{wrong} of your steps do not use the unlabelled queries, and {missing} step(s) that do "
                   "are missing.")


# ---------------------------------------------------------------- 08.3 an inductive predictor


@register("08.3", NB, "an inductive nearest-prototype predictor",
          "Prototypes are the class means of the support embeddings; each query gets the class whose "
          "prototype has the highest *cosine* similarity with it. Nothing may depend on the other "
          "queries (no statistics of the query batch).",
          expects="function")
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
    want = expected("08.3", s, y, q, n_classes)
    wrong = int((got != want).sum())
    if wrong:
        raise Fail(f"{wrong} of 80 predictions differ from the nearest prototype by cosine similarity "
                   "(are you using the cosine — normalised vectors — and class-mean prototypes?).")
