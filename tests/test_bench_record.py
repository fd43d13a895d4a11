"""The committed benchmark record: ``bench`` leaves tracked files alone, ``bench --record`` takes
only full runs, ``bench --compare`` gives ratios between two result files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mifomo_lite.errors import ConfigError, DataFileNotFound
from mifomo_tools import bench, bench_record

REPO = Path(__file__).resolve().parents[1]


def _results(quick, entries, created="2026-01-01T00:00:00+00:00", cpu="CPU A", command=None):
    return {"schema": bench.SCHEMA, "created": created, "quick": quick,
            "command": command or "mifomo-lite bench" + (" --quick" if quick else ""),
            "wall_s": 1.0, "cpu_s": 1.0, "environment": {"cpu_model": cpu, "torch": "2.x", "torch_threads": 2},
            "benchmarks": entries}


def _entry(name, figures, status="ok", started="2026-01-01T00:00:00+00:00"):
    return {"name": name, "status": status, "started": started, "wall_s": 1.0, "cpu_s": 1.0,
            "figures": [{"name": n, "value": v, "unit": u, "how": "median of 3"} for n, v, u in figures]}


def _write_run(folder: Path, res) -> Path:
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(res))
    return folder


# ------------------------------------------------------------------------------ record
def test_record_copies_a_full_run_and_refreshes_the_readme(tmp_path):
    run = _write_run(tmp_path / "runs" / "20260101-000000",
                     _results(False, [_entry("models", [("GEMM peak", 80.0, "GFLOP/s")])]))
    dest = tmp_path / "benchmarks"
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- bench:begin -->\nold\n<!-- bench:end -->\nend\n")
    out = bench_record.record(run, dest=dest, readme=readme, log=lambda m: None)
    saved = json.loads(out.read_text())
    assert saved["quick"] is False and saved["recorded_from"] == str(run / "results.json")
    assert saved["benchmarks"][0]["figures"][0]["value"] == 80.0
    md = (dest / "RESULTS.md").read_text()
    assert "| models | GEMM peak | 80.00 | GFLOP/s |" in md
    text = readme.read_text()
    assert "old" not in text and "| models | GEMM peak | 80.00 |" in text and text.endswith("<!-- bench:end -->\nend\n")


def test_record_refuses_a_quick_run_and_writes_nothing(tmp_path):
    run = _write_run(tmp_path / "run", _results(True, [_entry("models", [("x", 1.0, "s")])]))
    dest = tmp_path / "benchmarks"
    dest.mkdir()
    (dest / "results.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"run[/\\]results.json is a quick run .*never recorded"):
        bench_record.record(run, dest=dest, readme=tmp_path / "README.md", log=lambda m: None)
    assert (dest / "results.json").read_text() == "{}" and not (dest / "RESULTS.md").exists()
    concurrent = _write_run(tmp_path / "jobs", dict(_results(False, []), jobs=2))
    with pytest.raises(ConfigError, match=r"ran 2 benchmarks at a time \(--jobs 2\)"):
        bench_record.record(concurrent, dest=dest, readme=tmp_path / "README.md", log=lambda m: None)
    assert (dest / "results.json").read_text() == "{}"


def test_record_merges_partial_and_failed_runs_into_the_record():
    old = _results(False, [_entry("models", [("a", 1.0, "s")], started="old"),
                           _entry("peft", [("b", 2.0, "s")], started="old")], created="then")
    new = _results(False, [_entry("models", [], status="timeout", started="new"),
                           _entry("pipeline", [("c", 3.0, "s")], started="new")])
    logs = []
    merged = bench_record.merge_into_record(new, old, logs.append)
    by = {e["name"]: e for e in merged["benchmarks"]}
    assert sorted(by) == ["models", "peft", "pipeline"]
    assert by["models"]["started"] == "old" and by["models"]["status"] == "ok"   # a failed re-run keeps the figures
    assert by["pipeline"]["started"] == "new"
    assert merged["merged_from"] == {"created": "then", "kept": ["models", "peft"]}
    assert any("models: timeout in this run" in m for m in logs)
    # a quick record is replaced, never merged into a full one
    quick_old = dict(old, quick=True)
    replaced = bench_record.merge_into_record(new, quick_old, logs.append)
    assert [e["name"] for e in replaced["benchmarks"]] == ["models", "pipeline"] and "merged_from" not in replaced


def test_latest_run_and_bad_files(tmp_path):
    with pytest.raises(DataFileNotFound, match="no finished benchmark run under"):
        bench_record.latest_run(tmp_path)
    for stamp in ("20260101-000000", "20260102-000000"):
        _write_run(tmp_path / stamp, _results(False, []))
    (tmp_path / "20260103-000000").mkdir()                      # an unfinished run: no results.json
    assert bench_record.latest_run(tmp_path).name == "20260102-000000"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": "other/1", "benchmarks": []}))
    with pytest.raises(ConfigError, match=r"bad.json is not a benchmark result file \(schema 'other/1'"):
        bench_record.load_results(bad)
    with pytest.raises(DataFileNotFound, match="no benchmark results at"):
        bench_record.load_results(tmp_path / "missing")


def test_cli_refuses_quick_record_and_mixed_modes(capsys):
    from mifomo_lite.cli import main

    assert main(["bench", "--quick", "--record"]) == 2
    assert "--record never records a quick run" in capsys.readouterr().err
    assert main(["bench", "--record", "--gpu"]) == 2
    assert "--record and --gpu cannot be combined" in capsys.readouterr().err
    assert main(["bench", "--jobs", "0", "--list"]) == 2
    assert "--jobs must be ≥ 1" in capsys.readouterr().err


# ------------------------------------------------------------------------------ compare
def test_compare_gives_ratios_per_figure(tmp_path, capsys):
    a = _results(False, [_entry("models", [("throughput", 100.0, "samples/s"), ("time", 2.0, "s"),
                                           ("gone", 1.0, "s"), ("zero", 0.0, "s"), ("unit", 1.0, "s")])])
    b = _results(True, [_entry("models", [("throughput", 150.0, "samples/s"), ("time", 1.0, "s"),
                                          ("new", 1.0, "s"), ("zero", 3.0, "s"), ("unit", 1.0, "ms")])],
                 cpu="CPU B")
    cmp = bench_record.compare(a, b)
    rows = {r["figure"]: r for r in cmp["rows"]}
    assert rows["throughput"]["ratio"] == pytest.approx(1.5) and rows["time"]["ratio"] == pytest.approx(0.5)
    assert rows["zero"]["ratio"] is None and rows["unit"]["ratio"] is None
    assert cmp["only_a"] == [("models", "gone")] and cmp["only_b"] == [("models", "new")]
    assert any("cpu_model differs" in w for w in cmp["warnings"])
    assert any("quick run" in w for w in cmp["warnings"])
    assert any("unit 's' in A, 'ms' in B" in w for w in cmp["warnings"])
    pa, pb = _write_run(tmp_path / "a", a), tmp_path / "b.json"
    pb.write_text(json.dumps(b))
    from mifomo_lite.cli import main

    assert main(["bench", "--compare", str(pa), str(pb)]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("models / throughput"))
    assert line.split()[-2:] == ["1.500", "samples/s"] and "only in A (1): models / gone" in out


def test_importing_the_kit_does_not_import_the_bench_tooling():
    code = ("import sys, mifomo_lite, mifomo_lite.cli; "
            "print(sorted(m for m in sys.modules if m.startswith('mifomo_tools')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr
    from mifomo_lite import cli

    assert "mifomo_tools.bench_cli" in cli.COMMAND_MODULES and "mifomo_lite.bench_cli" not in cli.COMMAND_MODULES


# ------------------------------------------------------------------------------ git stays clean
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_quick_bench_in_a_clone_leaves_git_status_clean(tmp_path):
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True).returncode != 0:
        pytest.skip(f"{REPO} is not a git checkout")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)], check=True, timeout=120)
    env = {**os.environ, "PYTHONPATH": str(clone), "MIFOMO_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
           "MPLBACKEND": "Agg"}
    r = subprocess.run([sys.executable, "-m", "mifomo_lite.cli", "bench", "--quick", "--only", "notebooks"],
                       cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    (run,) = (clone / "runs" / "bench").iterdir()
    assert json.loads((run / "results.json").read_text())["quick"] is True
    assert {"results.json", "RESULTS.md", "timings.png"} <= {p.name for p in run.iterdir()}
    # the other read-only modes, in one process: list, compare, the GPU check (no GPU here) and its plan
    modes = [["bench", "--list"], ["bench", "--compare", str(run), str(run)], ["bench", "--gpu"],
             ["bench", "--gpu", "--dry-run"]]
    code = f"import sys; from mifomo_lite.cli import main; sys.exit(max(main(a) for a in {modes!r}))"
    r = subprocess.run([sys.executable, "-c", code], cwd=clone, env={**env, "CUDA_VISIBLE_DEVICES": ""},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "gpu-check: no CUDA GPU here" in r.stdout and "gpu-check plan" in r.stdout
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True)
    assert status.stdout == ""
