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

REFERENCE = Path(__file__).parent / "reference" / "smoke_metrics.json"
VOLATILE = ("timings", "environment")


def _jsonable(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    return str(o)


def smoke_metrics() -> dict:
    """The comparable part of a seeded CPU smoke run's metrics, as plain JSON values."""
    from mifomo_lite.train.presets import preset
    from mifomo_lite.train.pipeline import run_pipeline

    cfg = preset("smoke", progress=False, device="cpu", inference_precision="float32")
    metrics = run_pipeline(cfg, log=lambda *a, **k: None, keep_model=False).metrics
    kept = {k: v for k, v in metrics.items() if k not in VOLATILE}
    return json.loads(json.dumps(kept, sort_keys=True, default=_jsonable))


def _first_difference(a, b, path="metrics"):
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}.{k}: present on one side only"
            d = _first_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} vs {len(b)} items"
        return next((d for i, (x, y) in enumerate(zip(a, b))
                     if (d := _first_difference(x, y, f"{path}[{i}]"))), None)
    return None if a == b or (a != a and b != b) else f"{path}: {a!r} (now) vs {b!r} (reference)"


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
