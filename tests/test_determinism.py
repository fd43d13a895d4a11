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

import pytest

from metrics_compare import VOLATILE, _first_difference, comparable  # tests/ helper


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
