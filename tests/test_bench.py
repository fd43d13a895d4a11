"""``mifomo-lite bench``: the figure contract, timing statistics, discovery, the report files, and
the readers of run folders / notebook summaries — all on small fakes (no real benchmark runs)."""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

import pytest

from mifomo_tools import bench
from mifomo_lite.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def _fig(**kw):
    f = {"name": "x", "value": 1.0, "unit": "s", "how": "median of 3"}
    f.update(kw)
    return f


# ------------------------------------------------------------------------------ contract
def test_check_figures_accepts_the_contract():
    figs = bench.check_figures([_fig(goal="≤ 2 s", met=True, ratio_of="peak", details={"a": [1, 2]}),
                                _fig(value=None, note="not measured")])
    assert figs[0]["met"] is True and figs[1]["value"] is None


@pytest.mark.parametrize("bad, match", [
    ({"name": "x", "value": 1, "unit": "s"}, r"lacks \['how'\]"),
    (_fig(value="fast"), "non-numeric value"),
    (_fig(colour="red"), r"unknown keys \['colour'\]"),
    (_fig(met="yes"), "met must be"),
])
def test_check_figures_rejects_bad_figures(bad, match):
    with pytest.raises(ConfigError, match=match):
        bench.check_figures([bad], "bench_fake.py")


def test_non_finite_value_becomes_none_with_a_note():
    (f,) = bench.check_figures([_fig(value=float("nan"))])
    assert f["value"] is None and "nan" in f["note"]


def test_measure_is_a_median_after_warmup():
    calls = []

    def fn():
        calls.append(1)
        time.sleep(0.001)

    m = bench.measure(fn, warmup=2, repeat=5)
    assert len(calls) == 7 and m["n"] == 5 and m["warmup"] == 2
    assert m["min_s"] <= m["q1_s"] <= m["median_s"] <= m["q3_s"] <= m["max_s"]
    assert "median of 5 runs after 2 warm-up" in bench.how_timed(m)
    with pytest.raises(ConfigError, match="never one"):
        bench.measure(fn, repeat=1)


def test_peak_rss_is_at_least_current_rss():
    assert bench.peak_rss_mib() >= bench.rss_mib() * 0.99 > 0


# ------------------------------------------------------------------------------ discovery + run
def test_repository_benchmarks_are_discovered():
    names = [p.stem for p in bench.discover()]
    assert {"bench_pipeline", "bench_notebooks", "bench_peft"} <= set(names)
    with pytest.raises(ConfigError, match="no benchmark named 'nope'.*available: "):
        bench.discover(None, ["nope"])


def test_every_repository_benchmark_has_run_or_an_adapter():
    for path in bench.discover():
        src = path.read_text()
        assert "def run(" in src or path.stem in bench.ADAPTERS or "def main(" in src, path


def test_run_benchmarks_writes_json_and_markdown(tmp_path):
    d = tmp_path / "benchmarks"
    d.mkdir()
    (d / "bench_fake.py").write_text(textwrap.dedent('''
        def run(quick):
            return [{"name": "answer", "value": 42, "unit": "count", "how": "constant" + (" (quick)" if quick else ""),
                     "goal": "= 42", "met": True}]
    '''))
    (d / "bench_broken.py").write_text("def run(quick):\n    raise RuntimeError('boom')\n")
    res = bench.run_benchmarks(quick=True, bench_dir=d, out_dir=d, budget_s=120, log=lambda m: None)
    by = {e["name"]: e for e in res["benchmarks"]}
    assert by["fake"]["status"] == "ok" and by["fake"]["figures"][0]["how"] == "constant (quick)"
    assert by["broken"]["status"] == "error" and "boom" in by["broken"]["error"]
    saved = json.loads((d / "results.json").read_text())
    assert saved["schema"] == bench.SCHEMA and saved["quick"] is True
    env = saved["environment"]
    for key in ("torch", "numpy", "torch_threads", "cpu_count", "git_revision", "load_average", "python"):
        assert key in env
    md = (d / "RESULTS.md").read_text()
    assert "| fake | answer | 42 | count | = 42 | ✅ | constant (quick) |" in md
    assert "| broken | *error* after " in md
    assert not list(d.glob("*.part"))
    assert (d / "timings.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_default_output_is_a_fresh_run_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "runs_dir", lambda: tmp_path / "runs" / "bench")
    a, b = bench.new_run_dir(), bench.new_run_dir()
    assert a != b and a.parent == b.parent == tmp_path / "runs" / "bench" and a.is_dir() and b.is_dir()
    d = tmp_path / "benchmarks"
    d.mkdir()
    (d / "bench_fake.py").write_text("def run(quick):\n    return [{'name': 'n', 'value': 1, 'unit': 's', 'how': 'h'}]\n")
    res = bench.run_benchmarks(quick=True, bench_dir=d, budget_s=60, log=lambda m: None)
    (run,) = [p for p in (tmp_path / "runs" / "bench").iterdir() if (p / "results.json").exists()]
    assert json.loads((run / "results.json").read_text())["created"] == res["created"]
    assert sorted(p.name for p in d.iterdir()) == ["bench_fake.py"]      # nothing written beside the benchmarks


def test_jobs_runs_benchmarks_concurrently(tmp_path):
    d = tmp_path / "benchmarks"
    d.mkdir()
    for name in ("a", "b"):
        (d / f"bench_{name}.py").write_text(
            "import time\ndef run(quick):\n    t0 = time.time()\n    time.sleep(2)\n"
            f"    return [{{'name': '{name}', 'value': 1, 'unit': 's', 'how': 'h', "
            "'details': {'t0': t0, 't1': time.time()}}]\n")
    res = bench.run_benchmarks(quick=True, bench_dir=d, out_dir=tmp_path / "out", budget_s=120, jobs=2,
                               log=lambda m: None)
    assert [e["name"] for e in res["benchmarks"]] == ["a", "b"] and res["jobs"] == 2
    assert res["command"].endswith("--jobs 2")
    spans = [e["figures"][0]["details"] for e in res["benchmarks"]]
    assert max(s["t0"] for s in spans) < min(s["t1"] for s in spans)     # the two sleeps overlapped
    with pytest.raises(ConfigError, match="--jobs must be ≥ 1"):
        bench.run_benchmarks(quick=True, bench_dir=d, out_dir=tmp_path / "out", jobs=0, log=lambda m: None)


def test_timeout_stops_the_benchmark_and_its_workers(tmp_path):
    d = tmp_path / "benchmarks"
    d.mkdir()
    pid_file = tmp_path / "worker.pid"
    (d / "bench_sleepy.py").write_text(textwrap.dedent(f'''
        import subprocess, sys, time
        def run(quick):
            p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
            open({str(pid_file)!r}, "w").write(str(p.pid))
            time.sleep(120)
    '''))
    res = bench.run_benchmarks(quick=True, bench_dir=d, out_dir=tmp_path / "out", budget_s=4, log=lambda m: None)
    (entry,) = res["benchmarks"]
    assert entry["status"] == "timeout" and entry["wall_s"] < 30
    pid = int(pid_file.read_text())
    for _ in range(50):                      # the orphaned worker must be gone too
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, 9)
        pytest.fail("the benchmark's worker process survived the time-out")


def test_markdown_escapes_pipes_and_formats_values():
    res = {"command": "mifomo-lite bench", "environment": {}, "benchmarks": [
        {"name": "b", "status": "ok", "figures": [_fig(name="a|b", value=1234.5, goal="x", met=False),
                                                   _fig(value=None, note="n/a")]}]}
    md = bench.render_markdown(res)
    assert "| b | a\\|b | 1,234 | s | x | ❌ |" in md
    assert "| b | x | — | s |" in md and "note: n/a" in md


def test_readme_block_between_markers_is_replaced(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- bench:begin -->\nold table\n<!-- bench:end -->\noutro\n")
    assert bench.update_readme(readme, "| new | table |\n")
    assert readme.read_text() == "intro\n<!-- bench:begin -->\n| new | table |\n<!-- bench:end -->\noutro\n"
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers\n")
    assert not bench.update_readme(plain, "x") and plain.read_text() == "no markers\n"


def test_cli_lists_benchmarks(capsys):
    from mifomo_lite.cli import main

    assert main(["bench", "--list"]) == 0
    out = capsys.readouterr().out
    assert "pipeline" in out and "notebooks" in out


# ------------------------------------------------------------------------------ readers
def _metrics(ablation_overrides, oa, baselines, seeds=10, **cfg):
    from mifomo_lite.train.presets import preset

    config = preset("lite", progress=False).replace(**ablation_overrides, **cfg).to_dict()
    summary = {"final/propagated": {"OA": {"mean": oa, "std": 1.0}, "AA": {"mean": oa, "std": 1.0},
                                    "kappa": {"mean": oa, "std": 1.0}}}
    for name, v in baselines.items():
        summary[f"baseline/{name}"] = {"OA": {"mean": v, "std": 2.0}}
    return {"config": config, "summary": summary, "seeds": list(range(seeds)),
            "timings": {"total_s": 321.0}, "environment": {"cpu_count": 2, "torch_threads": 2}}


@pytest.fixture(scope="module")
def bench_pipeline():
    return bench.load_module(REPO / "benchmarks" / "bench_pipeline.py")


def test_ablation_of_recognises_table_x(bench_pipeline):
    from mifomo_lite.train.config import ABLATIONS
    from mifomo_lite.train.presets import preset

    for name, over in ABLATIONS.items():
        assert bench_pipeline.ablation_of(preset("lite", progress=False).replace(**over).to_dict()) == name
    assert bench_pipeline.ablation_of(preset("lite", progress=False).replace(adaptation="lora").to_dict()) is None
    # a folder written before target_ssl_steps existed ran without phase 0
    old = preset("lite", progress=False).to_dict()
    del old["target_ssl_steps"]
    assert bench_pipeline.ablation_of(old) == "no_target_ssl"


def test_accuracy_and_demo_figures_from_run_folders(bench_pipeline, tmp_path):
    runs = tmp_path / "runs"
    for i, (name, over, oa) in enumerate([("demo", {}, 90.0), ("nocp", {"adaptation": "head"}, 80.0)]):
        (runs / name).mkdir(parents=True)
        (runs / name / "metrics.json").write_text(json.dumps(
            _metrics(over, oa, {"SVM (PCA)": 38.0, "PCA 9×9 mean + propagation": 81.0})))
    found = bench_pipeline.find_runs([runs])
    acc = {f["name"]: f for f in bench.check_figures(bench_pipeline.accuracy_figures(found))}
    full = acc["OA, kit, ablation full (lite, Indian Pines, 5-shot)"]
    assert full["value"] == 90.0 and full["met"] is True and "margin +9.00" in full["note"]
    assert acc["OA, kit, ablation no_cp (lite, Indian Pines, 5-shot)"]["value"] == 80.0
    assert acc["OA, baseline SVM (PCA) (same splits as the full run)"]["value"] == 38.0
    (demo,) = bench.check_figures(bench_pipeline.demo_figures(found))
    assert demo["value"] == 321.0 and demo["met"] is True and "median of 1 demo run" in demo["how"]


def test_missing_runs_give_an_explained_empty_figure(bench_pipeline, tmp_path):
    (demo,) = bench.check_figures(bench_pipeline.demo_figures([]))
    assert demo["value"] is None and "mifomo-lite demo" in demo["note"]


def test_notebook_figures_from_a_summary(tmp_path, monkeypatch):
    mod = bench.load_module(REPO / "benchmarks" / "bench_notebooks.py")
    summ = {"profile": "smoke", "total_wall_s": 100.0, "environment": {"cpu_count": 2},
            "notebooks": [{"name": "00_data_tour", "status": "passed", "wall_s": 40.0, "reused": False},
                          {"name": "01_hypersigma", "status": "passed", "wall_s": 60.0, "reused": True}]}
    p = tmp_path / "summary.json"
    p.write_text(json.dumps(summ))
    monkeypatch.setenv("MIFOMO_NB_SUMMARY", str(p))
    monkeypatch.setattr(mod, "ROOT", tmp_path)          # ignore the checkout's own runs/
    figs = {f["name"]: f for f in bench.check_figures(mod.figures(mod.find_summaries()))}
    suite = figs["notebook smoke suite wall time (2 notebooks)"]
    assert suite["value"] == 100.0 and suite["met"] is True and "one suite run" in suite["how"]
    assert figs["smoke notebook 01_hypersigma"]["value"] == 60.0
