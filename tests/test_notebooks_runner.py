"""The notebook tooling on small notebooks made here: metric comparison, the papermill runner
(parameters injected, metrics collected, readable diffs, errors reported, baselines updated,
reuse), record_metrics, the student edition and the structure checks."""

import json

import pytest

from mifomo_lite.cli import main
from mifomo_tools.nbrun import structure_problems, twin_problems
from mifomo_tools.nbrun.runner import (ENV_NAME, ENV_OUT, baseline_entry, compare_metric,
                                      compare_metrics, run_notebooks)
from mifomo_tools.nbrun.student import stale_problems, stub_code, student_notebook
from mifomo_tools.nbrun.structure import read_py
from mifomo_lite.notebooks import record_metrics

HEADER = """# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---
"""

TINY = HEADER + '''
# %% tags=["parameters"]
profile = "lite"
device = "auto"
seed = 0

# %%
from mifomo_lite.notebooks import record_metrics
record_metrics(smoke=(profile == "smoke"), seed=seed, value=0.5 + seed / 10, n=3)

# %%
if seed == 13:
    raise ValueError("unlucky seed")

# %% tags=["solution"]
def f(x):
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION
'''


@pytest.fixture()
def nb_dir(tmp_path):
    d = tmp_path / "nbs"
    d.mkdir()
    (d / "00_tiny.py").write_text(TINY)
    (d / "baselines").mkdir()
    return d


def write_baseline(nb_dir, metrics, profile="smoke"):
    path = nb_dir / "baselines" / f"{profile}.json"
    path.write_text(json.dumps({"profile": profile, "notebooks": {"00_tiny": metrics}}))
    return path


# ---------------------------------------------------------------------------- comparisons
def test_compare_metric_rules():
    assert compare_metric("n", 3, 3) is None
    assert "must be equal" in compare_metric("name", "a", "b")
    assert "off by +1" in compare_metric("n", 4, 3)
    assert compare_metric("acc", 0.52, {"value": 0.5, "abs": 0.05}) is None
    line = compare_metric("acc", 0.6, {"value": 0.5, "abs": 0.05})
    assert line.startswith("acc: 0.6 vs baseline 0.5 ± 0.05") and "off by +0.1" in line
    assert compare_metric("acc", 0.55, {"value": 0.5, "rel": 0.2}) is None
    assert "below the baseline minimum" in compare_metric("acc", 0.1, {"min": 0.3})
    assert "above the baseline maximum" in compare_metric("loss", 9.0, {"max": 2.0})
    assert "not finite" in compare_metric("loss", float("nan"), {"value": 1.0, "abs": 1.0})
    assert compare_metric("x", 0.51, 0.5) is None  # plain float: default tolerance
    assert compare_metrics({"a": 1}, {"a": 1, "b": 2}) == ["b: missing (the notebook no longer records it)"]


def test_baseline_entry_keeps_tolerances():
    assert baseline_entry(3) == 3
    assert baseline_entry(0.5) == {"value": 0.5, "abs": 0.05}
    assert baseline_entry(0.7, {"value": 0.5, "abs": 0.3}) == {"value": 0.7, "abs": 0.3}
    assert baseline_entry(0.7, {"min": 0.2}) == {"min": 0.2}


def test_record_metrics_writes_only_under_the_runner(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(ENV_OUT, raising=False)
    assert record_metrics(a=1) is None
    assert not list(tmp_path.iterdir())
    monkeypatch.setenv(ENV_OUT, str(tmp_path))
    monkeypatch.setenv(ENV_NAME, "07_x")
    import numpy as np
    import torch

    record_metrics({"a": np.int64(2), "b": torch.tensor(0.5)})
    record_metrics(c=[1, 2])
    data = json.loads((tmp_path / "07_x.metrics.json").read_text())
    assert data == {"notebook": "07_x", "metrics": {"a": 2, "b": 0.5, "c": [1, 2]}}
    assert "a  2" in capsys.readouterr().out
    with pytest.raises(Exception, match="metric 'd'"):
        record_metrics(d=object())


# ---------------------------------------------------------------------------- the runner
@pytest.mark.slow
def test_runner_end_to_end(nb_dir, tmp_path, capsys):
    out = tmp_path / "out"
    write_baseline(nb_dir, {"smoke": True, "seed": 0, "value": {"value": 0.5, "abs": 0.01}, "n": 3})
    s = run_notebooks("smoke", out, nb_dir=nb_dir, device="cpu")
    assert s.ok, s.notebooks[0].problems
    res = s.notebooks[0]
    assert res.metrics == {"smoke": True, "seed": 0, "value": 0.5, "n": 3}  # parameters were injected
    assert (out / "00_tiny.ipynb").exists() and (out / "00_tiny.metrics.json").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] and summary["notebooks"][0]["wall_s"] > 0 and summary["profile"] == "smoke"
    printed = capsys.readouterr().out
    assert "✓ 00_tiny" in printed and " s " in printed

    # a drifted baseline fails with one readable line per difference (reusing the executed copy)
    write_baseline(nb_dir, {"smoke": False, "value": {"value": 0.9, "abs": 0.05}, "gone": 1, "n": 3})
    s = run_notebooks("smoke", out, nb_dir=nb_dir, device="cpu", reuse=True)
    assert not s.ok and s.notebooks[0].reused and s.notebooks[0].status == "failed"
    probs = "\n".join(s.notebooks[0].problems)
    assert "gone: missing" in probs
    assert "smoke: true vs baseline false (must be equal)" in probs
    assert "value: 0.5 vs baseline 0.9 ± 0.05 — off by -0.4" in probs
    assert "✗ 00_tiny" in capsys.readouterr().out

    # the CLI exits 1 on the same drift, and --update-baselines rewrites the file
    rc = main(["notebooks", "run", "--profile", "smoke", "--out", str(out), "--notebooks", str(nb_dir),
               "--device", "cpu", "--reuse"])
    assert rc == 1
    rc = main(["notebooks", "run", "--profile", "smoke", "--out", str(out), "--notebooks", str(nb_dir),
               "--device", "cpu", "--reuse", "--update-baselines"])
    assert rc == 0
    base = json.loads((nb_dir / "baselines" / "smoke.json").read_text())["notebooks"]["00_tiny"]
    assert base["smoke"] is True and base["value"] == {"value": 0.5, "abs": 0.05}
    assert "gone" not in base
    assert main(["notebooks", "run", "--profile", "smoke", "--out", str(out), "--notebooks",
                 str(nb_dir), "--device", "cpu", "--reuse"]) == 0


@pytest.mark.slow
def test_runner_reports_the_failing_cell(nb_dir, tmp_path):
    s = run_notebooks("smoke", tmp_path / "out", nb_dir=nb_dir, device="cpu", seed=13)
    res = s.notebooks[0]
    assert not s.ok and res.status == "error"
    assert "ValueError: unlucky seed" in res.error and res.error.startswith("cell ")
    assert "execution failed" in res.problems[0]
    assert res.metrics["seed"] == 13  # metrics recorded before the failure are kept


def test_runner_rejects_bad_requests(nb_dir, tmp_path):
    from mifomo_lite.errors import MifomoError

    with pytest.raises(MifomoError, match="unknown profile"):
        run_notebooks("huge", tmp_path, nb_dir=nb_dir)
    with pytest.raises(MifomoError, match="no notebook matches '07'"):
        run_notebooks("smoke", tmp_path, nb_dir=nb_dir, only=["07"])
    assert main(["notebooks", "run", "--out", str(tmp_path), "--notebooks", str(tmp_path / "none")]) == 2


# ---------------------------------------------------------------------------- student edition
def test_stub_code_keeps_signature_and_removes_solution():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\nprint(1)"
    assert stub_code(src) == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError\n\nprint(1)"
    assert stub_code("answer = 42") == "# YOUR CODE HERE\nraise NotImplementedError"


def test_student_edition_roundtrip(nb_dir, tmp_path, capsys):
    nb = student_notebook(read_py(nb_dir / "00_tiny.py"), "00_tiny")
    sol = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    assert len(sol) == 1 and "return 2 * x" not in sol[0].source and "def f(x):" in sol[0].source
    out = tmp_path / "student"
    assert stale_problems(out, nb_dir)[0].endswith("is missing")
    assert main(["notebooks", "student", "--out", str(out), "--notebooks", str(nb_dir)]) == 0
    assert main(["notebooks", "student", "--check", str(out), "--notebooks", str(nb_dir)]) == 0
    (nb_dir / "00_tiny.py").write_text(TINY.replace("2 * x", "3 * x"))  # solutions do not matter
    assert main(["notebooks", "student", "--check", str(out), "--notebooks", str(nb_dir)]) == 0
    (nb_dir / "00_tiny.py").write_text(TINY.replace("unlucky seed", "bad seed"))
    assert main(["notebooks", "student", "--check", str(out), "--notebooks", str(nb_dir)]) == 1
    assert "stale" in capsys.readouterr().out


# ---------------------------------------------------------------------------- structure checks
def test_structure_problems_name_what_is_missing(nb_dir):
    problems = "\n".join(structure_problems(nb_dir / "00_tiny.py"))
    for what in ("Colab badge", "install cell", "Learning objectives", "Summary", "checked exercises"):
        assert what in problems
    assert "parameters cell" not in problems  # that one is there
    assert "missing" in twin_problems(nb_dir / "00_tiny.py")[0]


@pytest.mark.slow
def test_runner_runs_notebooks_in_parallel_processes(nb_dir, tmp_path, capsys):
    (nb_dir / "01_tiny.py").write_text(TINY.replace("00_tiny", "01_tiny"))
    s = run_notebooks("smoke", tmp_path / "out", nb_dir=nb_dir, device="cpu", seed=5, jobs=2)
    assert [r.name for r in s.notebooks] == ["00_tiny", "01_tiny"]
    assert all(r.error is None and r.metrics["seed"] == 5 for r in s.notebooks)
    assert "2 at a time" in capsys.readouterr().out
    with pytest.raises(Exception, match="jobs must be"):
        run_notebooks("smoke", tmp_path / "out2", nb_dir=nb_dir, device="cpu", jobs=0)
