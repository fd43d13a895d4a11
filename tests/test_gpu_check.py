"""The GPU check without a GPU: the no-CUDA path, its arguments, the plan, the measuring arithmetic
on CPU tensors, the step bookkeeping (time limits, rejected profile, missing weights) and the JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mifomo_lite.errors import ConfigError
from mifomo_lite.precision import choose_precision
from mifomo_tools import gpu_check as gc

REPO = Path(__file__).resolve().parents[1]


def _args(*argv):
    return gc.build_parser().parse_args(list(argv))


# ------------------------------------------------------------------------------ no CUDA
def test_no_cuda_is_one_line_exit_0_fast_and_torch_free():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(REPO)}
    code = ("import sys; from mifomo_tools import gpu_check; rc = gpu_check.main([]); "
            "print('HEAVY' if 'torch' in sys.modules else 'LIGHT', file=sys.stderr); sys.exit(rc)")
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, cwd=REPO)
    wall = time.perf_counter() - t0
    assert r.returncode == 0 and wall < 10
    assert r.stdout.splitlines() == ["gpu-check: no CUDA GPU here (CUDA_VISIBLE_DEVICES='' hides every GPU); "
                                     "nothing run."]
    assert r.stderr.strip() == "LIGHT"


def test_cuda_status_without_device_nodes_never_imports_torch(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(gc.shutil, "which", lambda name: None)
    (tmp_path / "nvidiactl").touch()                     # a control node is not a GPU
    ok, why = gc.cuda_status(tmp_path)
    assert not ok and f"{tmp_path}/nvidia* absent" in why
    (tmp_path / "nvidia0").touch()                       # a GPU node: now torch decides
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    ok, why = gc.cuda_status(tmp_path)
    assert not ok and "sees no usable CUDA device" in why
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Fake H100")
    assert gc.cuda_status(tmp_path) == (True, "Fake H100")


def test_check_without_cuda_runs_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(gc, "cuda_status", lambda: (False, "no GPU in this test"))
    monkeypatch.setattr(gc, "run_check", lambda *a, **k: pytest.fail("nothing may run without CUDA"))
    lines = []
    assert gc.check(_args(), tmp_path, lines.append) == 0
    assert lines == ["gpu-check: no CUDA GPU here (no GPU in this test); nothing run."]
    assert list(tmp_path.iterdir()) == []


def test_make_target_and_cli_entry(capsys, monkeypatch):
    make = (REPO / "Makefile").read_text()
    assert "\ngpu-check:" in make and "mifomo_tools.gpu_check" in make
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    from mifomo_lite.cli import main

    assert main(["bench", "--gpu"]) == 0
    assert capsys.readouterr().out.count("\n") == 1


# ------------------------------------------------------------------------------ arguments + plan
def test_arguments_and_defaults():
    a = _args()
    assert a.steps == list(gc.STEPS) and a.profile == "colab" and a.episodes == 2 and not a.dry_run
    assert sum(gc.timeouts_of(a).values()) <= gc.TOTAL_LIMIT_S - 20      # room for start-up in 8 minutes
    a = _args("--timeout", "paper=30", "--timeout", "notebooks=12.5", "--steps", "paper", "--profile", "lite")
    assert gc.timeouts_of(a) == {"throughput": 80.0, "paper": 30.0, "notebooks": 12.5}
    assert a.steps == ["paper"] and a.profile == "lite"


@pytest.mark.parametrize("argv, message", [
    (["--timeout", "paper"], "expected STEP=SECONDS"),
    (["--timeout", "train=5"], "expected STEP=SECONDS with STEP one of throughput, paper, notebooks"),
    (["--timeout", "paper=soon"], "'soon' is not a number of seconds"),
    (["--timeout", "paper=0"], "must be > 0 s"),
    (["--steps", "speed"], "invalid choice: 'speed'"),
    (["--episodes", "two"], "invalid int value"),
])
def test_bad_arguments_are_rejected(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        _args(*argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_zero_episodes_is_a_clear_error(capsys):
    assert gc.main(["--episodes", "0", "--dry-run"]) == 2
    assert "gpu-check: error: --episodes must be ≥ 1, got 0" in capsys.readouterr().err


def _weights(root: Path):
    nested = root / "models--WHU-Sigma--HyperSIGMA" / "snapshots" / "abc"
    nested.mkdir(parents=True)
    for name in ("spat-vit-base-ultra-checkpoint-1599.pth", "spec-vit-base-ultra-checkpoint-1599.pth"):
        (nested / name).write_bytes(b"x")
    return nested


def test_official_weights_are_found_in_nested_caches(tmp_path, monkeypatch):
    assert gc.find_official_weights([tmp_path]) == {"spatial": None, "spectral": None}
    nested = _weights(tmp_path)
    (tmp_path / "spat-vit-base-notes.txt").write_text("not weights")
    w = gc.find_official_weights([tmp_path / "absent", tmp_path])
    assert w == {"spatial": nested / "spat-vit-base-ultra-checkpoint-1599.pth",
                 "spectral": nested / "spec-vit-base-ultra-checkpoint-1599.pth"}
    monkeypatch.setenv("MIFOMO_OFFICIAL_DIR", str(tmp_path / "o"))
    monkeypatch.setenv("MIFOMO_CACHE_DIR", str(tmp_path / "c"))
    assert gc.official_search_dirs() == [tmp_path / "o", tmp_path / "c" / "hypersigma"]
    assert gc.official_search_dirs(tmp_path) == [tmp_path]


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(gc, "cuda_status", lambda: pytest.fail("--dry-run must not look for CUDA"))
    lines = []
    assert gc.check(_args("--dry-run", "--official-dir", str(tmp_path)), tmp_path / "out", lines.append) == 0
    text = "\n".join(lines)
    assert text.startswith("gpu-check plan (time limits total 450 s):")
    assert f"skipped: official weights not found at {tmp_path}" in text
    assert "profile colab, 9 notebooks (00_data_tour" in text and "target indian_pines, 2 episodes" in text
    _weights(tmp_path)
    lines.clear()
    gc.check(_args("--dry-run", "--official-dir", str(tmp_path), "--steps", "paper"), None, lines.append)
    assert len(lines) == 2 and "official weights " in lines[1] and "spat-vit-base-ultra" in lines[1]
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------ measuring on CPU
def test_gemm_peak_and_ratio_arithmetic_on_cpu(one_torch_thread):
    g = gc.gemm_peak(32, torch.float32, "cpu", repeat=3, warmup=1)
    assert g["n"] == 32 and g["dtype"] == "float32" and g["repeat"] == 3
    assert g["gflops"] == pytest.approx(2 * 32 ** 3 / g["median_s"] / 1e9)
    assert g["best_gflops"] >= g["gflops"] > 0
    assert gc.throughput_ratio(25.0, 100.0) == 0.25
    for bad in (0.0, -1.0, float("nan"), None):
        with pytest.raises(ConfigError, match="GEMM peak must be a positive number"):
            gc.throughput_ratio(1.0, bad)


def test_train_step_throughput_on_cpu(one_torch_thread):
    t = gc.train_step_throughput("micro", 2, "cpu", choose_precision("cpu"), repeat=3, warmup=1)
    assert t["precision"] == "fp32" and t["grad_scaler"] is False and t["peak_gpu_mib"] is None
    assert t["samples_per_s"] == pytest.approx(2 / t["median_s"])
    assert t["gflops"] == pytest.approx(t["flops_per_sample"] * 2 / t["median_s"] / 1e9)
    assert t["flops_per_sample"] > 1e6


@pytest.mark.slow
def test_throughput_step_runs_in_a_worker_process_on_cpu():
    params = {"device": "cpu", "size": "micro", "batch": 2, "gemm_n": 64, "repeat": 3}
    e = gc.run_worker_step("throughput", params, timeout=120)
    assert e["status"] == "passed", e.get("message")
    assert e["precision"]["dtype"] == "fp32" and set(e["gemm_peak"]) == {"fp32"}
    assert e["ratio"] == pytest.approx(e["train_step"]["gflops"] / e["gemm_peak"]["fp32"]["gflops"])
    bad = gc.run_worker_step("throughput", {"device": "cpu", "size": "nope", "gemm_n": 64, "repeat": 3}, timeout=120)
    assert bad["status"] == "failed" and "nope" in bad["message"]


def test_subprocess_time_limit_stops_the_process():
    t0 = time.perf_counter()
    r = gc.run_subprocess([sys.executable, "-c", "import time; time.sleep(60)"], timeout=1)
    assert r["rc"] is None and time.perf_counter() - t0 < 15


# ------------------------------------------------------------------------------ steps
def _fake_runner(behaviour):
    """A stand-in for ``run_subprocess`` that writes what the notebook runner would."""
    calls = []

    def run(cmd, limit):
        calls.append((cmd, limit))
        name_no = cmd[cmd.index("--only") + 1]
        out = Path(cmd[cmd.index("--out") + 1])
        kind = behaviour(name_no)
        if kind == "reject":
            return {"rc": 2, "wall_s": 0.5, "stdout": "", "stderr": "usage: ...\nmifomo-lite notebooks run: error: "
                                                                     "argument --profile: invalid choice: 'colab'"}
        if kind == "timeout":
            return {"rc": None, "wall_s": limit, "stdout": "", "stderr": ""}
        out.mkdir(parents=True)
        name = out.name
        nb = {"name": name, "status": "passed" if kind == "pass" else "failed", "wall_s": 1.0,
              "metrics": {"acc": 0.5}, "problems": [] if kind == "pass" else ["acc: 0.1 vs baseline 0.5"]}
        (out / "summary.json").write_text(json.dumps({"profile": "colab", "notebooks": [nb]}))
        return {"rc": 0 if kind == "pass" else 1, "wall_s": 1.0, "stdout": "", "stderr": ""}

    return run, calls


def test_rejected_profile_fails_the_step_with_the_runners_message(tmp_path):
    run, calls = _fake_runner(lambda n: "reject")
    s = gc.notebooks_step("colab", tmp_path, 100, names=["00_a", "01_b", "02_c"], runner=run, memory=lambda: None)
    assert s["status"] == "failed" and len(calls) == 1
    assert "rejected profile 'colab'" in s["message"] and "invalid choice: 'colab'" in s["message"]
    assert [n["status"] for n in s["notebooks"]] == ["failed", "not run", "not run"]
    assert all("invalid choice: 'colab'" in n["message"] for n in s["notebooks"])


def test_notebook_pass_fail_and_time_limits(tmp_path):
    run, calls = _fake_runner({"00": "pass", "01": "fail", "02": "timeout"}.get)
    polled = iter([500.0, 1500.0, 900.0] + [None] * 1000)
    s = gc.notebooks_step("colab", tmp_path, 90, names=["00_a", "01_b", "02_c"], runner=run,
                          memory=lambda: next(polled))
    by = {n["name"]: n for n in s["notebooks"]}
    assert by["00_a"]["status"] == "passed" and by["00_a"]["metrics"] == {"acc": 0.5}
    assert by["01_b"]["status"] == "failed" and "vs baseline" in by["01_b"]["message"]
    assert by["02_c"]["status"] == "failed" and by["02_c"]["timed_out"] is True
    assert s["status"] == "failed" and s["message"] == "2 of 3 notebooks did not pass"
    assert all(limit <= 90 for _, limit in calls) and calls[0][1] == pytest.approx(90, abs=1)
    cmd = calls[0][0]
    assert cmd[cmd.index("--profile") + 1] == "colab" and cmd[cmd.index("--device") + 1] == "cuda"
    assert s["peak_gpu_mib"] in (500.0, 1500.0)     # the max of what was polled


def test_notebook_step_stops_starting_notebooks_when_its_time_is_up(tmp_path):
    run, calls = _fake_runner(lambda n: "pass")
    s = gc.notebooks_step("colab", tmp_path, 4, names=["00_a", "01_b"], runner=run, memory=lambda: None)
    assert calls == [] and [n["status"] for n in s["notebooks"]] == ["not run", "not run"]
    assert s["status"] == "failed"


def test_memory_poller_keeps_the_peak():
    values = iter([100.0, None, 300.0, 200.0])
    with gc.GpuMemoryPoller(lambda: next(values, None), interval=0.01) as p:
        time.sleep(0.3)
    assert p.peak_mib == 300.0
    with gc.GpuMemoryPoller(lambda: None, interval=0.01) as p:
        pass
    assert p.peak_mib is None


def test_paper_step_is_skipped_without_official_weights(tmp_path, monkeypatch):
    e = gc.paper_entry(_args("--official-dir", str(tmp_path)), tmp_path / "out", 100)
    assert e["status"] == "skipped"
    assert e["message"].startswith(f"skipped: official weights not found at {tmp_path}")
    _weights(tmp_path)
    seen = {}
    monkeypatch.setattr(gc, "run_worker_step", lambda step, params, timeout: seen.update(
        step=step, params=params, timeout=timeout) or {"status": "passed"})
    assert gc.paper_entry(_args("--official-dir", str(tmp_path), "--target", "salinas"), tmp_path / "out", 77) \
        == {"status": "passed"}
    assert seen["step"] == "paper" and seen["timeout"] == 77
    assert seen["params"]["target"] == "salinas" and seen["params"]["episodes"] == 2
    assert seen["params"]["spatial"].endswith("spat-vit-base-ultra-checkpoint-1599.pth")


def test_paper_step_builds_the_paper_preset_for_the_device(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import mifomo_lite.train.runner as runner

    seen = {}

    def fake_run(cfg, out_dir, log=print):
        seen.update(cfg=cfg, out=out_dir)
        metrics = {"summary": {"final/propagated": {"OA": {"mean": 91.5}}}, "timings": {"total_s": 12.0}}
        return SimpleNamespace(metrics=metrics), Path(out_dir)

    monkeypatch.setattr(runner, "run_to_folder", fake_run)
    out = gc.paper_step("salinas", 2, tmp_path / "spat.pth", tmp_path / "spec.pth", tmp_path / "paper", device="cpu")
    cfg = seen["cfg"]
    assert (cfg.preset, cfg.model, cfg.weights, cfg.target, cfg.n_test_episodes, cfg.device) == \
        ("paper", "base", "official", "salinas", 2, "cpu")
    assert cfg.official_spatial == str(tmp_path / "spat.pth") and cfg.progress is False
    assert out == {"run_dir": str(tmp_path / "paper"), "oa_propagated": 91.5, "train_s": 12.0,
                   "peak_gpu_mib": None}


def test_run_check_writes_one_json_with_every_step(tmp_path, monkeypatch):
    monkeypatch.setattr(gc, "cuda_status", lambda: (True, "Fake GPU"))
    monkeypatch.setattr(gc, "gpu_environment", lambda: {"device": "Fake GPU", "capability": [9, 0], "torch": "x"})
    monkeypatch.setattr(gc, "run_worker_step", lambda step, params, timeout: {
        "status": "passed", "wall_s": 3.0, "peak_gpu_mib": 1234.0, "ratio": 0.42})
    monkeypatch.setattr(gc, "notebooks_step", lambda profile, out, timeout: {
        "status": "failed", "wall_s": 9.0, "peak_gpu_mib": 2000.0, "message": "1 of 9 notebooks did not pass",
        "notebooks": [{"name": "00_a", "status": "failed", "message": "boom"}]})
    rc = gc.check(_args("--official-dir", str(tmp_path)), tmp_path / "out", lambda m: None)
    assert rc == 1
    res = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert res["schema"] == gc.SCHEMA and res["ok"] is False and res["environment"]["device"] == "Fake GPU"
    assert list(res["steps"]) == ["throughput", "paper", "notebooks"]
    assert res["steps"]["throughput"]["peak_gpu_mib"] == 1234.0 and res["steps"]["paper"]["status"] == "skipped"
    assert res["steps"]["notebooks"]["notebooks"][0] == {"name": "00_a", "status": "failed", "message": "boom"}
    assert all("wall_s" in s for s in res["steps"].values()) and not list((tmp_path / "out").glob("*.part"))
    ok = gc.summarize({"a": {"status": "passed"}, "b": {"status": "skipped"}}, {}, "cmd", 1.0)
    assert ok["ok"] is True


def test_json_writer_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "gpu_check.json"
    gc.write_json(target, {"a": 1})
    monkeypatch.setattr(gc.json, "dumps", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("disk full")))
    with pytest.raises(RuntimeError, match="disk full"):
        gc.write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 1} and [p.name for p in tmp_path.iterdir()] == ["gpu_check.json"]
