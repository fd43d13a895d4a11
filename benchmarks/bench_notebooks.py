"""Notebook benchmarks (issue 6): wall time of the papermill smoke suite and of each lite notebook.

Figures are read from the ``summary.json`` that ``mifomo-lite notebooks run --out DIR`` writes
(found under ``runs/`` and ``book/_executed/``, or given with ``$MIFOMO_NB_SUMMARY``). Without
``--quick`` and with no smoke summary on disk, the smoke suite is run once into
``runs/bench-notebooks-smoke/`` (a whole suite takes minutes, so it is one run, and says so).

Notebooks that a summary marks as ``reused`` (skipped because an identical earlier execution
existed) count with the wall time of that earlier execution.

    python benchmarks/bench_notebooks.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[1]
SMOKE_GOAL_S = 300.0     # all notebooks, smoke profile, 2 cores (issue 6)
LITE_GOAL_S = 300.0      # each notebook, lite profile, CPU (issue 6)


def find_summaries() -> List[Dict[str, Any]]:
    """nbrun ``summary.json`` files, newest first."""
    cands: List[Path] = []
    if os.environ.get("MIFOMO_NB_SUMMARY"):
        cands.append(Path(os.environ["MIFOMO_NB_SUMMARY"]))
    for root in (ROOT / "runs", ROOT / "book" / "_executed"):
        if root.is_dir():
            cands += [p for p in root.rglob("summary.json") if len(p.relative_to(root).parts) <= 3]
    out = []
    for p in dict.fromkeys(cands):
        try:
            data = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("profile") and isinstance(data.get("notebooks"), list):
            out.append({"path": p, "mtime": p.stat().st_mtime, "summary": data})
    return sorted(out, key=lambda s: -s["mtime"])


def _rel(p: Path) -> str:
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


def _suite_time(summary: Dict[str, Any]) -> float:
    nbs = summary["notebooks"]
    if any(nb.get("reused") for nb in nbs):
        return float(sum(nb.get("wall_s", 0.0) for nb in nbs))
    return float(summary.get("total_wall_s") or sum(nb.get("wall_s", 0.0) for nb in nbs))


def figures(summaries: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    figs: List[Dict[str, Any]] = []
    smoke = [s for s in summaries if s["summary"]["profile"] == "smoke"]
    if smoke:
        latest = smoke[0]
        names = sorted(nb["name"] for nb in latest["summary"]["notebooks"])
        same_set = [s for s in smoke if sorted(nb["name"] for nb in s["summary"]["notebooks"]) == names]
        times = [_suite_time(s["summary"]) for s in same_set]
        env = latest["summary"].get("environment", {})
        n_ok = sum(1 for nb in latest["summary"]["notebooks"] if nb.get("status") == "passed")
        how = (f"{'median of ' + str(len(times)) + ' suite runs' if len(times) > 1 else 'one suite run'} "
               f"of the same {len(names)} notebooks read from nbrun summaries (latest {_rel(latest['path'])}, "
               f"{n_ok}/{len(names)} passed); papermill, one kernel per notebook; "
               f"machine: {env.get('cpu_count')} cores, {env.get('torch_threads')} torch threads")
        value = statistics.median(times)
        figs.append({"name": f"notebook smoke suite wall time ({len(names)} notebooks)", "value": round(value, 1),
                     "unit": "s", "how": how, "goal": "≤ 5 min on 2 cores (issue 6)",
                     "met": bool(value <= SMOKE_GOAL_S and n_ok == len(names)),
                     "note": None if n_ok == len(names) else f"{len(names) - n_ok} notebook(s) did not pass",
                     "details": {"runs": [{"path": _rel(s["path"]), "wall_s": round(t, 1)}
                                          for s, t in zip(same_set, times)]}})
        for nb in sorted(latest["summary"]["notebooks"], key=lambda n: n["name"]):
            figs.append({"name": f"smoke notebook {nb['name']}", "value": round(float(nb.get("wall_s", 0.0)), 1),
                         "unit": "s", "how": f"papermill execution, status {nb.get('status')}"
                                             f"{' (reused earlier execution)' if nb.get('reused') else ''}; "
                                             f"from {_rel(latest['path'])}"})
    else:
        figs.append({"name": "notebook smoke suite wall time", "value": None, "unit": "s",
                     "how": "read from nbrun summary.json", "goal": "≤ 5 min on 2 cores (issue 6)",
                     "note": "no smoke summary found; run `mifomo-lite notebooks run --profile smoke --out "
                             "runs/notebooks-smoke` (or `mifomo-lite bench` without --quick)"})
    lite = [s for s in summaries if s["summary"]["profile"] == "lite"]
    seen = set()
    for s in lite:
        for nb in sorted(s["summary"]["notebooks"], key=lambda n: n["name"]):
            if nb["name"] in seen:
                continue
            seen.add(nb["name"])
            w = float(nb.get("wall_s", 0.0))
            figs.append({"name": f"lite notebook {nb['name']}", "value": round(w, 1), "unit": "s",
                         "how": f"papermill execution (one run), status {nb.get('status')}; from {_rel(s['path'])}",
                         "goal": "≤ 5 min on CPU (issue 6)",
                         "met": bool(w <= LITE_GOAL_S and nb.get("status") == "passed")})
    return figs


def run(quick: bool) -> List[Dict[str, Any]]:
    summaries = find_summaries()
    if not quick and not any(s["summary"]["profile"] == "smoke" for s in summaries):
        from mifomo_tools.nbrun.runner import run_notebooks

        run_notebooks("smoke", ROOT / "runs" / "bench-notebooks-smoke", device="cpu",
                      log=lambda m: print(m, file=sys.stderr))
        summaries = find_summaries()
    return figures(summaries)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    print(json.dumps(run(args.quick), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
