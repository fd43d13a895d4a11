"""No-behaviour-change guard: a seeded smoke run must reproduce a stored ``metrics.json``.

The ``smoke`` preset on the embedded default scenario (Indian Pines target, synthetic source,
every phase) runs on the CPU and every field of its metrics — per-episode OA/AA/κ, per-class
accuracies, confusion matrices, pseudo-label counts, baselines, the configuration — is compared
with ``tests/reference/smoke_metrics.json``, bit for bit (as canonical JSON text), except what is
meant to vary between machines and runs: ``timings`` and ``environment``.

The smoke preset already sets ``inference_precision="float32"`` (bf16 autocast on a CPU with native
bf16 would make the numbers machine-dependent); the test forces it again so the guard holds even if
the preset changes.

A refactor must leave the reference untouched. Only a deliberate behaviour change regenerates it,
in the same commit, with::

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MIFOMO_OFFLINE=1 \
        python tests/test_reference_metrics.py --regenerate
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from metrics_compare import _first_difference, comparable  # tests/ helper

REFERENCE = Path(__file__).parent / "reference" / "smoke_metrics.json"


def smoke_metrics() -> dict:
    """The comparable part of a seeded CPU smoke run's metrics, as plain JSON values."""
    from mifomo_lite.train.presets import preset
    from mifomo_lite.train.pipeline import run_pipeline

    cfg = preset("smoke", progress=False, device="cpu", inference_precision="float32")
    metrics = run_pipeline(cfg, log=lambda *a, **k: None, keep_model=False).metrics
    return json.loads(comparable(metrics))


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.usefixtures("one_torch_thread")
def test_smoke_metrics_match_the_stored_reference():
    now = smoke_metrics()
    ref = json.loads(REFERENCE.read_text())
    text_now = json.dumps(now, sort_keys=True)
    if text_now != json.dumps(ref, sort_keys=True):
        pytest.fail("smoke metrics differ from tests/reference/smoke_metrics.json — first difference: "
                    + str(_first_difference(now, ref)))
    # the comparison covered real results
    assert len(ref["episodes"]) == ref["config"]["n_test_episodes"] >= 1
    assert "final/propagated" in ref["summary"] and ref["episodes"][0]["baselines"]


if __name__ == "__main__":
    if sys.argv[1:] != ["--regenerate"]:
        sys.exit("usage: python tests/test_reference_metrics.py --regenerate")
    import torch

    torch.set_num_threads(1)
    REFERENCE.parent.mkdir(exist_ok=True)
    REFERENCE.write_text(json.dumps(smoke_metrics(), sort_keys=True, indent=1) + "\n")
    print(f"wrote {REFERENCE}")
