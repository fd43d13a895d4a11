"""Same seed, same machine, CPU ⇒ identical metrics (issue 7; see docs/determinism.md).

The ``smoke`` preset on the embedded default scenario (Indian Pines target from the offline copy,
synthetic source, every phase, pseudo-labels, the λ scheduler, propagation and all baselines) is
run twice in this process and the two ``metrics.json`` documents are compared as JSON text, after
removing only what is *meant* to differ between runs: ``timings`` (wall-clock seconds) and
``environment`` (machine facts — equal here anyway). Everything else — config, seeds, per-episode
OA/AA/κ, per-class accuracies, confusion matrices, pseudo-label counts, baselines — must be
byte-identical.

The encoder is the ``micro`` size with random weights (about 30 CPU-seconds per run instead of 80
with ``tiny``): determinism is a property of the code paths and seeds, which are the same for every
model size.
"""

from __future__ import annotations

import json
import math

import pytest

VOLATILE = ("timings", "environment")


def _jsonable(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    return str(o)


def comparable(metrics: dict) -> str:
    """The metrics as canonical JSON text, without the fields that legitimately vary."""
    kept = {k: v for k, v in metrics.items() if k not in VOLATILE}
    return json.dumps(kept, sort_keys=True, default=_jsonable)


def _first_difference(a, b, path="metrics"):
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                return f"{path}.{k}: present in one run only"
            d = _first_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            d = _first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    same = a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))
    return None if same else f"{path}: {a!r} vs {b!r}"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_smoke_run_is_deterministic_on_cpu():
    from mifomo_lite.train.presets import preset
    from mifomo_lite.train.pipeline import run_pipeline

    cfg = preset("smoke", progress=False, device="cpu", model="micro", weights="random")
    quiet = dict(log=lambda *a, **k: None, keep_model=False)
    first = run_pipeline(cfg, **quiet).metrics
    second = run_pipeline(cfg, **quiet).metrics

    a, b = comparable(first), comparable(second)
    if a != b:
        pytest.fail("two smoke runs with the same seed differ — first difference: "
                    + str(_first_difference(json.loads(a), json.loads(b))))
    # the comparison covered real results, not an empty document
    kept = json.loads(a)
    assert kept["seeds"] == [cfg.seed + e for e in range(cfg.n_test_episodes)]
    assert len(kept["episodes"]) == cfg.n_test_episodes
    assert any(k.startswith("final/") for k in kept["summary"])
    assert any(k.startswith("baseline/") for k in kept["summary"])
    assert kept["target"]["name"] == "indian_pines"
    # and what was excluded really is only timing / machine information
    assert set(first) - set(kept) == set(VOLATILE) & set(first)


def test_comparable_ignores_only_volatile_fields():
    m = {"summary": {"final/plain": {"OA": {"mean": 50.0}}}, "timings": {"total_s": 1.0},
         "environment": {"load": 1}}
    n = {**m, "timings": {"total_s": 2.0}, "environment": {"load": 9}}
    assert comparable(m) == comparable(n)
    assert comparable(m) != comparable({**m, "summary": {"final/plain": {"OA": {"mean": 50.0000001}}}})
    assert _first_difference({"a": [1, 2.0]}, {"a": [1, 2.5]}) == "metrics.a[1]: 2.0 vs 2.5"
