"""The committed benchmark record, and comparisons between two result files.

``mifomo-lite bench`` writes into ``runs/bench/<stamp>/`` only. This module is the one explicit
step that changes tracked files (:func:`record`): it copies a finished **full** run into
``benchmarks/results.json`` + ``benchmarks/RESULTS.md`` and refreshes the README table. Quick
runs (few repetitions, small sizes) and concurrent runs (``--jobs`` > 1, timings sharing the CPU)
are refused, so the record only ever holds full, serial figures.

:func:`compare` lines up the figures of two result files (same benchmark, same figure name) and
gives the ratio ``B / A`` of each, so a change can be judged on the same machine.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

from mifomo_lite.errors import ConfigError, DataFileNotFound

from .bench import RESULTS_JSON, SCHEMA, benchmarks_dir, repo_root, runs_dir, write_results

__all__ = ["load_results", "latest_run", "merge_into_record", "record", "compare", "format_compare"]


def load_results(path: Path) -> Dict[str, Any]:
    """Read a ``results.json`` (or the run folder holding one) and check its schema."""
    path = Path(path)
    file = path / RESULTS_JSON if path.is_dir() else path
    if not file.is_file():
        raise DataFileNotFound(f"no benchmark results at {file} (a run folder of `mifomo-lite bench` "
                               f"holds {RESULTS_JSON})")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{file} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        got = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ConfigError(f"{file} is not a benchmark result file (schema {got!r}, expected {SCHEMA!r})")
    if not isinstance(data.get("benchmarks"), list):
        raise ConfigError(f"{file}: key 'benchmarks' must be a list")
    return data


def latest_run(parent: Optional[Path] = None) -> Path:
    """The newest folder under ``runs/bench/`` that holds a ``results.json``."""
    parent = Path(parent) if parent else runs_dir()
    found = sorted((p.parent for p in parent.glob(f"*/{RESULTS_JSON}")), key=lambda d: d.name)
    if not found:
        raise DataFileNotFound(f"no finished benchmark run under {parent}; run `mifomo-lite bench` "
                               "(without --quick) first, or name the run folder: --record DIR")
    return found[-1]


def merge_into_record(new: Dict[str, Any], old: Optional[Dict[str, Any]],
                      log: Callable[[str], None] = print) -> Dict[str, Any]:
    """The record after ``new``: its entries replace the old ones of the same benchmark; old
    entries of benchmarks that ``new`` did not run (``--only``) are kept and listed in
    ``merged_from``; a benchmark that failed in ``new`` keeps its old, measured entry. An old
    record that was itself a quick run is replaced, never merged."""
    if not old or old.get("quick") or old.get("schema") != SCHEMA:
        if old and old.get("quick"):
            log("the committed record was a quick run: replaced entirely, nothing kept from it")
        return dict(new)
    by_old = {e["name"]: e for e in old.get("benchmarks", [])}
    entries, kept = [], []
    for e in new["benchmarks"]:
        if e.get("status") != "ok" and by_old.get(e["name"], {}).get("status") == "ok":
            log(f"{e['name']}: {e.get('status')} in this run; the recorded entry of "
                f"{by_old[e['name']].get('started', '?')} is kept")
            entries.append(by_old[e["name"]])
            kept.append(e["name"])
        else:
            entries.append(e)
    ran = {e["name"] for e in new["benchmarks"]}
    for name, e in by_old.items():
        if name not in ran:
            entries.append(e)
            kept.append(name)
    merged = dict(new, benchmarks=sorted(entries, key=lambda e: e["name"]))
    if kept:
        merged["merged_from"] = {"created": old.get("created"), "kept": sorted(kept)}
    return merged


def record(run: Optional[Path] = None, dest: Optional[Path] = None, readme: Optional[Path] = None,
           log: Callable[[str], None] = print) -> Path:
    """Copy a finished full run (default: the newest under ``runs/bench/``) into the committed
    record ``dest`` (default ``benchmarks/``) and refresh the README table; refuse quick runs."""
    run = Path(run) if run else latest_run()
    new = load_results(run)
    where = run / RESULTS_JSON if run.is_dir() else run
    if new.get("quick"):
        raise ConfigError(f"{where} is a quick run (`{new.get('command', 'mifomo-lite bench --quick')}`): "
                          "quick figures are never recorded; run `mifomo-lite bench` without --quick, "
                          "then `mifomo-lite bench --record`")
    if int(new.get("jobs", 1)) > 1:
        raise ConfigError(f"{where} ran {new['jobs']} benchmarks at a time (--jobs {new['jobs']}): their timings "
                          "shared the CPU; record a serial run (the default --jobs 1)")
    dest = Path(dest) if dest else benchmarks_dir()
    old_file = dest / RESULTS_JSON
    old = json.loads(old_file.read_text(encoding="utf-8")) if old_file.is_file() else None
    merged = merge_into_record(new, old, log)
    merged["recorded_from"] = str(where)
    if readme is None and dest.resolve() == benchmarks_dir().resolve():
        readme = repo_root() / "README.md"
    write_results(merged, dest, readme)
    log(f"recorded {where} into {dest / RESULTS_JSON} and {dest / 'RESULTS.md'}"
        + (f"; README table refreshed ({readme})" if readme else ""))
    return dest / RESULTS_JSON


# ------------------------------------------------------------------------------ comparing
def _figures(res: Dict[str, Any]) -> Dict[Tuple[str, str], Dict[str, Any]]:
    out = {}
    for e in res.get("benchmarks", []):
        for f in e.get("figures", []) if e.get("status") == "ok" else []:
            out[(e["name"], f["name"])] = f
    return out


def compare(a: Dict[str, Any], b: Dict[str, Any]) -> Dict[str, Any]:
    """Figures of ``a`` and ``b`` side by side: ``rows`` (benchmark, figure, unit, a, b, ratio
    ``b / a`` or None), ``only_a`` / ``only_b`` (keys found in one file only) and ``warnings``
    (different machines, quick against full, a unit that changed)."""
    fa, fb = _figures(a), _figures(b)
    rows, warnings = [], []
    for key in sorted(set(fa) & set(fb)):
        va, vb = fa[key]["value"], fb[key]["value"]
        ratio = None
        if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and va != 0:
            ratio = vb / va if math.isfinite(vb / va) else None
        if fa[key]["unit"] != fb[key]["unit"]:
            warnings.append(f"{key[0]} / {key[1]}: unit {fa[key]['unit']!r} in A, {fb[key]['unit']!r} in B")
            ratio = None
        rows.append({"benchmark": key[0], "figure": key[1], "unit": fb[key]["unit"], "a": va, "b": vb,
                     "ratio": ratio})
    ea, eb = a.get("environment", {}), b.get("environment", {})
    for k in ("cpu_model", "affinity_cores", "torch", "torch_threads"):
        if ea.get(k) != eb.get(k):
            warnings.append(f"{k} differs: {ea.get(k)!r} (A) vs {eb.get(k)!r} (B) — ratios mix machines")
    if bool(a.get("quick")) != bool(b.get("quick")):
        warnings.append("one file is a quick run and the other a full one — sizes and repetitions differ")
    return {"rows": rows, "only_a": sorted(set(fa) - set(fb)), "only_b": sorted(set(fb) - set(fa)),
            "warnings": warnings}


def _num(v: Any) -> str:
    if v is None:
        return "—"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def format_compare(cmp: Dict[str, Any], name_a: str = "A", name_b: str = "B") -> str:
    """The comparison as plain text, one figure per line."""
    lines = [f"A = {name_a}", f"B = {name_b}", ""]
    w = max([len(f"{r['benchmark']} / {r['figure']}") for r in cmp["rows"]] + [6])
    lines.append(f"{'figure':<{w}}  {'A':>10}  {'B':>10}  {'B/A':>7}  unit")
    for r in cmp["rows"]:
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.3f}"
        lines.append(f"{r['benchmark'] + ' / ' + r['figure']:<{w}}  {_num(r['a']):>10}  {_num(r['b']):>10}  "
                     f"{ratio:>7}  {r['unit']}")
    for side, key in (("A", "only_a"), ("B", "only_b")):
        if cmp[key]:
            names = [f"{b} / {f}" for b, f in cmp[key]]
            more = f"; … and {len(names) - 8} more" if len(names) > 8 else ""
            lines.append(f"only in {side} ({len(names)}): " + "; ".join(names[:8]) + more)
    lines += [f"warning: {w_}" for w_ in cmp["warnings"]]
    return "\n".join(lines)
