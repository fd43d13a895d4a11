"""``mifomo-lite bench``: run every benchmark in ``benchmarks/`` and write one trustworthy report.

The contract a benchmark module ``benchmarks/bench_<name>.py`` follows::

    def run(quick: bool) -> list[dict]:
        return [{"name": "whole-scene map, Indian Pines", "value": 4.2, "unit": "s",
                 "how": "median of 5 runs after 1 warm-up, batch 512, 2 threads",
                 "goal": "≤ 10 s (issue 5)", "met": True},
                ...]

Each *figure* is a dict with

* ``name`` (text), ``value`` (a number, or ``None`` when it could not be measured — then say why in
  ``note``), ``unit`` (``s``, ``ms``, ``MiB``, ``%``, ``×``, ``GFLOP/s``, ...), ``how`` (the method:
  what was timed, how many repetitions, which statistic);
* optionally ``goal`` (text, naming the issue it comes from), ``met`` (bool), ``ratio_of`` (the
  reference a ratio is taken against, e.g. ``"fp32 GEMM peak measured in the same run"``), ``note``
  and ``details`` (any JSON: IQR, samples, per-class tables).

Timings are the **median of several runs after a warm-up**, never a single run — use
:func:`measure`. Benchmarks that only have a ``main(argv)`` (the owner's command line) are adapted
here (:data:`ADAPTERS`) until they grow a ``run``.

:func:`run_benchmarks` runs each module in its own subprocess (so peak-memory figures do not leak
from one benchmark into the next, and a crash or a time-out costs one entry, not the report),
then writes ``results.json`` (machine, versions, thread counts, git revision, load average, every
figure), ``RESULTS.md`` (the same as a Markdown table) and ``timings.png`` into a fresh
``runs/bench/<stamp>/`` folder. It never writes a tracked file: the committed record
(``benchmarks/results.json``, ``benchmarks/RESULTS.md`` and the README table between
``<!-- bench:begin -->`` and ``<!-- bench:end -->``) is updated from a finished full run by
:mod:`mifomo_tools.bench_record` (``mifomo-lite bench --record``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib.util
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from mifomo_lite.errors import ConfigError, DataFileNotFound

__all__ = ["SCHEMA", "FIGURE_KEYS", "measure", "peak_rss_mib", "rss_mib", "machine_info",
           "discover", "check_figures", "run_one", "run_benchmarks", "render_markdown",
           "write_results", "repo_root", "benchmarks_dir", "runs_dir", "new_run_dir", "QUICK_BUDGET_S"]

SCHEMA = "mifomo_lite.bench/1"
FIGURE_KEYS = ("name", "value", "unit", "how", "goal", "met", "ratio_of", "note", "details")
REQUIRED_KEYS = ("name", "value", "unit", "how")
QUICK_BUDGET_S = 285.0      # `bench --quick` must finish in ≤ 5 min on 2 cores (issue 7)
FULL_BUDGET_S = 4 * 3600.0
RESULTS_JSON = "results.json"
RESULTS_MD = "RESULTS.md"
TIMINGS_PNG = "timings.png"


# ------------------------------------------------------------------------------ measuring
def measure(fn: Callable[[], Any], *, warmup: int = 1, repeat: int = 5,
            sync: Optional[Callable[[], Any]] = None) -> Dict[str, Any]:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeat`` timed ones (``repeat ≥ 3``).

    Returns ``{"median_s", "q1_s", "q3_s", "min_s", "max_s", "n", "warmup", "samples_s"}``.
    ``sync`` (e.g. ``torch.cuda.synchronize``) is called before each clock read so that
    asynchronous GPU work is counted."""
    if repeat < 3:
        raise ConfigError(f"repeat must be ≥ 3 (a median of several runs, never one), got {repeat}")
    for _ in range(max(0, int(warmup))):
        fn()
        if sync is not None:
            sync()
    samples = []
    for _ in range(int(repeat)):
        if sync is not None:
            sync()
        t0 = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        samples.append(time.perf_counter() - t0)
    q = statistics.quantiles(samples, n=4) if len(samples) >= 2 else [samples[0]] * 3
    return {"median_s": statistics.median(samples), "q1_s": q[0], "q3_s": q[2],
            "min_s": min(samples), "max_s": max(samples), "n": len(samples),
            "warmup": int(warmup), "samples_s": [round(s, 6) for s in samples]}


def how_timed(m: Dict[str, Any], what: str = "") -> str:
    """A one-line description of a :func:`measure` result for a figure's ``how``."""
    head = f"{what}: " if what else ""
    return (f"{head}median of {m['n']} runs after {m['warmup']} warm-up "
            f"(IQR {m['q1_s']:.3g}–{m['q3_s']:.3g} s)")


def peak_rss_mib() -> float:
    """Peak resident set size of *this* process so far (``getrusage``), MiB."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 2**20 if sys.platform == "darwin" else r / 1024.0


def rss_mib() -> float:
    """Current resident set size (Linux ``/proc/self/statm``), MiB; NaN elsewhere."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return float("nan")


# ------------------------------------------------------------------------------ environment
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def benchmarks_dir() -> Path:
    return repo_root() / "benchmarks"


def _cpu_model() -> Optional[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _mem_total_mib() -> Optional[float]:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return None


def _git(*args: str) -> Optional[str]:
    try:
        out = subprocess.run(["git", *args], cwd=repo_root(), capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def machine_info() -> Dict[str, Any]:
    """Machine, versions, thread counts and git state to store next to every figure."""
    import numpy as np
    import torch

    from mifomo_lite.utils import environment_record

    env = environment_record()
    blas = []
    try:
        from threadpoolctl import threadpool_info

        blas = [{k: d.get(k) for k in ("internal_api", "num_threads", "version", "user_api")}
                for d in threadpool_info()]
    except Exception:  # pragma: no cover - optional
        pass
    status = _git("status", "--porcelain", "--untracked-files=no")
    env.update({
        "cpu_model": _cpu_model(),
        "affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "mem_total_mib": _mem_total_mib(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch_mkldnn": bool(torch.backends.mkldnn.is_available()),
        "numpy_version": np.__version__,
        "thread_env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                      "OPENBLAS_NUM_THREADS") if os.environ.get(k)},
        "blas_threadpools": blas,
        "git_dirty": None if status is None else bool(status),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    })
    return env


# ------------------------------------------------------------------------------ discovery
def discover(bench_dir: Optional[Path] = None, only: Optional[Sequence[str]] = None) -> List[Path]:
    """``bench_*.py`` files in ``bench_dir`` (sorted); ``only`` filters by name (``peft`` or
    ``bench_peft``). An ``only`` name that matches nothing is an error listing what exists."""
    bench_dir = Path(bench_dir) if bench_dir else benchmarks_dir()
    if not bench_dir.is_dir():
        raise DataFileNotFound(f"benchmark folder not found: {bench_dir} (benchmarks live in the git "
                               "checkout, not in the installed package)")
    found = sorted(bench_dir.glob("bench_*.py"))
    if not only:
        return found
    names = {p.stem: p for p in found}
    out = []
    for n in only:
        key = n if n.startswith("bench_") else f"bench_{n}"
        key = key[:-3] if key.endswith(".py") else key
        if key not in names:
            raise ConfigError(f"no benchmark named {n!r} in {bench_dir}; available: "
                              f"{', '.join(s[len('bench_'):] for s in names) or '(none)'}")
        out.append(names[key])
    return out


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(f"_mifomo_bench_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = mod          # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(spec.name, None)
        raise
    return mod


def check_figures(figures: Any, where: str = "benchmark") -> List[Dict[str, Any]]:
    """Validate a benchmark's figures against the contract; return them as plain dicts."""
    if not isinstance(figures, (list, tuple)):
        raise ConfigError(f"{where}: run(quick) must return a list of figure dicts, got {type(figures).__name__}")
    out = []
    for i, f in enumerate(figures):
        if not isinstance(f, dict):
            raise ConfigError(f"{where}: figure {i} is a {type(f).__name__}, not a dict")
        missing = [k for k in REQUIRED_KEYS if k not in f]
        if missing:
            raise ConfigError(f"{where}: figure {i} ({f.get('name', '?')!r}) lacks {missing}")
        extra = sorted(set(f) - set(FIGURE_KEYS))
        if extra:
            raise ConfigError(f"{where}: figure {f['name']!r} has unknown keys {extra}; allowed: {FIGURE_KEYS}")
        v = f["value"]
        if v is not None and not isinstance(v, (int, float)):
            raise ConfigError(f"{where}: figure {f['name']!r} has a non-numeric value {v!r}")
        if isinstance(v, float) and not math.isfinite(v):
            f = {**f, "value": None, "note": (f.get("note") or "") + f" (measured {v})"}
        if f.get("met") is not None and not isinstance(f["met"], bool):
            raise ConfigError(f"{where}: figure {f['name']!r}: met must be true/false/None")
        out.append(json.loads(json.dumps(f, default=_json_default)))
    return out


def _json_default(o: Any):
    if hasattr(o, "item") and getattr(o, "ndim", 1) == 0:
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)


# ------------------------------------------------------------------------------ adapters
def _figure(name, value, unit, how, **kw) -> Dict[str, Any]:
    f = {"name": name, "value": value, "unit": unit, "how": how}
    f.update({k: v for k, v in kw.items() if v is not None})
    return f


def _call_main(mod, argv: List[str]) -> None:
    """Call a benchmark's ``main(argv)`` with its stdout sent to stderr (our stdout stays clean)."""
    with contextlib.redirect_stdout(sys.stderr):
        rc = mod.main(argv)
    if rc not in (None, 0):
        raise RuntimeError(f"{mod.__name__}.main returned {rc}")


def adapt_bench_models(mod, quick: bool) -> List[Dict[str, Any]]:
    """Run ``benchmarks/bench_models.py``'s ``main`` (issue 3) and turn its JSON into figures:
    throughput and achieved GFLOP/s per (size, mode), the fp32 GEMM peak measured in the same run,
    the training step as a fraction of that peak (goal ≥ 50 % for the small model), peak RSS."""
    with tempfile.TemporaryDirectory(prefix="mifomo-bench-") as tmp:
        out = Path(tmp) / "bench_models.json"
        argv = ["--sizes", "small", "--modes", "forward", "train", "--batch", "small=32",
                "--repeats", "3", "--warmup", "1", "--gemm-n", "1024"] if quick else []
        _call_main(mod, argv + ["--out", str(out)])
        res = json.loads(out.read_text())
    figs: List[Dict[str, Any]] = []
    gemm = {g["threads"]: g for g in res.get("gemm", [])}
    for g in res.get("gemm", []):
        figs.append(_figure(f"fp32 GEMM peak ({g['n']}², {g['threads']} threads)", round(g["gflops"], 1), "GFLOP/s",
                            f"torch.mm of two {g['n']}×{g['n']} fp32 matrices, 2·n³ FLOPs, median wall time "
                            f"(best {g.get('best_gflops', float('nan')):.1f} GFLOP/s)"))
    for r in res.get("runs", []):
        tag = f"{r['size']} {r['mode']}, batch {r['batch']}, {r['threads']} threads"
        g = gemm.get(r["threads"], {})
        how = (f"median of {len(r.get('times_s', [])) or '?'} runs after warm-up; "
               f"{r['flops_per_sample'] / 1e6:.0f} MFLOP/sample (FlopCounterMode)")
        figs.append(_figure(f"model throughput, {tag}", round(r["samples_per_s"], 1), "samples/s", how,
                            details={"median_s": r["median_s"], "times_s": r.get("times_s"),
                                     "gflops": r["gflops"]}))
        frac = 100 * r["fraction_of_gemm_peak"]
        goal = met = None
        if r["size"] == "small" and r["mode"] == "train":
            goal, met = "≥ 50 % of the fp32 GEMM peak (issue 3)", bool(frac >= 50.0)
        figs.append(_figure(f"achieved / GEMM peak, {tag}", round(frac, 1), "%",
                            f"{r['gflops']:.1f} GFLOP/s achieved / {g.get('gflops', float('nan')):.1f} GFLOP/s peak",
                            goal=goal, met=met, ratio_of="fp32 GEMM peak measured in the same run"))
        figs.append(_figure(f"model peak memory, {tag}", round(r["peak_mem_mib"], 1), "MiB",
                            r.get("peak_mem_kind", "peak RSS"),
                            details={"over_model_mib": r.get("peak_mem_over_model_mib")}))
    return figs


def adapt_generic_main(mod, quick: bool) -> List[Dict[str, Any]]:
    """Fallback for a benchmark with only ``main(argv)``: run it with ``--out FILE`` and keep its
    JSON; figures are taken from a top-level ``figures`` list when it has one."""
    with tempfile.TemporaryDirectory(prefix="mifomo-bench-") as tmp:
        out = Path(tmp) / "out.json"
        argv = ["--out", str(out)]
        src = Path(mod.__file__).read_text(errors="replace")
        if quick and "--quick" in src:
            argv.append("--quick")
        t0 = time.perf_counter()
        _call_main(mod, argv)
        wall = time.perf_counter() - t0
        res = json.loads(out.read_text()) if out.exists() else {}
    if isinstance(res, dict) and isinstance(res.get("figures"), list):
        return res["figures"]
    return [_figure(f"{Path(mod.__file__).stem}: raw output (no figures extracted)", round(wall, 1), "s",
                    "wall time of one main() call; the module has no run(quick) yet", details=res)]


# bench module stem → adapter used when the module has no ``run(quick)``
ADAPTERS: Dict[str, Callable] = {"bench_models": adapt_bench_models}


def collect(path: Path, quick: bool) -> List[Dict[str, Any]]:
    """Import ``path`` and return its validated figures (runs in the worker process)."""
    mod = load_module(path)
    if hasattr(mod, "run"):
        with contextlib.redirect_stdout(sys.stderr):
            figs = mod.run(quick=quick)
    elif path.stem in ADAPTERS:
        figs = ADAPTERS[path.stem](mod, quick)
    elif hasattr(mod, "main"):
        figs = adapt_generic_main(mod, quick)
    else:
        raise ConfigError(f"{path.name} has neither run(quick) nor main(argv)")
    return check_figures(figs, path.name)


# ------------------------------------------------------------------------------ running
def run_one(path: Path, quick: bool, timeout: float, log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Run one benchmark in a subprocess; return its report entry (status ok | error | timeout)."""
    entry: Dict[str, Any] = {"name": path.stem[len("bench_"):], "file": str(path.relative_to(repo_root()))
                             if path.is_relative_to(repo_root()) else str(path),
                             "started": _now(), "figures": [],
                             "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    with tempfile.TemporaryDirectory(prefix="mifomo-bench-") as tmp:
        result = Path(tmp) / "figures.json"
        cmd = [sys.executable, "-m", "mifomo_tools.bench", "--worker", str(path), "--result", str(result)]
        if quick:
            cmd.append("--quick")
        t0 = time.perf_counter()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        # own session: on a time-out the benchmark's own worker processes are stopped with it
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=str(repo_root()), start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"})
        try:
            _, err = proc.communicate(timeout=max(1.0, timeout))
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            _, err = proc.communicate()
            rc = None
        except BaseException:  # Ctrl-C: do not leave the benchmark running in the background
            _kill_group(proc)
            raise
        entry["wall_s"] = round(time.perf_counter() - t0, 2)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        # CPU seconds of the benchmark's process tree: on a shared machine wall time overstates
        # the cost, CPU time does not (≈ wall × cores used on an idle machine)
        entry["cpu_s"] = round((ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime), 2)
        if rc is None:
            tail = _last_lines(err, 2)
            entry.update(status="timeout", error=f"stopped after {timeout:.0f} s (budget; raise it with "
                                                 f"--budget){'; last output: ' + tail if tail else ''}")
        elif rc != 0 or not result.exists():
            entry.update(status="error", error=_last_lines(err))
        else:
            entry.update(status="ok", figures=json.loads(result.read_text()))
    if entry["status"] != "ok":
        log(f"  ✗ {entry['name']}: {entry['status']}: {entry.get('error', '')[-300:]}")
    else:
        log(f"  ✓ {entry['name']}: {len(entry['figures'])} figures in {entry['wall_s']:.1f} s "
            f"({entry['cpu_s']:.0f} CPU-s)")
    return entry


def _kill_group(proc: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        proc.kill()


def _last_lines(text: str, n: int = 15) -> str:
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return "\n".join(lines[-n:])


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def runs_dir() -> Path:
    """Where ``bench`` writes by default: ``runs/bench/`` of the checkout (git-ignored)."""
    return repo_root() / "runs" / "bench"


def new_run_dir(parent: Optional[Path] = None) -> Path:
    """A fresh ``runs/bench/<UTC stamp>/`` folder (``-2``, ``-3`` … when the stamp is taken)."""
    parent = Path(parent) if parent else runs_dir()
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    for k in range(1, 1000):
        d = parent / (stamp if k == 1 else f"{stamp}-{k}")
        try:
            d.mkdir(parents=True, exist_ok=False)
            return d
        except FileExistsError:
            continue
    raise ConfigError(f"could not create a fresh run folder under {parent}")


def _run_entries(paths: List[Path], quick: bool, budget: float, jobs: int,
                 log: Callable[[str], None]) -> List[Dict[str, Any]]:
    """Run each benchmark in its own subprocess: one after the other (``jobs`` = 1), or ``jobs`` at
    a time (joblib threads, each driving one local worker process; concurrent benchmarks share the
    CPU, so their timings are not comparable with a serial run's)."""
    t_start = time.perf_counter()
    if jobs <= 1:
        entries = []
        for i, path in enumerate(paths):
            left = budget - (time.perf_counter() - t_start)
            # share what is left fairly between the benchmarks still to run
            share = left / (len(paths) - i) if quick else left
            log(f"→ {path.stem} (≤ {share:.0f} s)")
            entries.append(run_one(path, quick, share, log))
        return entries
    from joblib import Parallel, delayed

    rounds = math.ceil(len(paths) / jobs)
    share = budget / rounds if quick else budget
    log(f"→ {len(paths)} benchmarks, {jobs} at a time (≤ {share:.0f} s each)")
    return list(Parallel(n_jobs=jobs, backend="threading")(
        delayed(run_one)(path, quick, share, log) for path in paths))


def run_benchmarks(quick: bool = False, out_dir: Optional[Path] = None, only: Optional[Sequence[str]] = None,
                   bench_dir: Optional[Path] = None, budget_s: Optional[float] = None, jobs: int = 1,
                   log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Run the benchmarks (all, or ``only``) and write ``results.json``, ``RESULTS.md`` and
    ``timings.png`` into ``out_dir`` (default: a fresh ``runs/bench/<stamp>/``).

    Nothing tracked by git is written: the committed record (``benchmarks/results.json``, the
    README table) changes only through :func:`mifomo_tools.bench_record.record`."""
    if int(jobs) < 1:
        raise ConfigError(f"--jobs must be ≥ 1, got {jobs}")
    paths = discover(bench_dir, only)
    out_dir = Path(out_dir) if out_dir else new_run_dir()
    budget = budget_s if budget_s is not None else (QUICK_BUDGET_S if quick else FULL_BUDGET_S)
    t_start = time.perf_counter()
    env = machine_info()
    log(f"mifomo-lite bench{' --quick' if quick else ''}: {len(paths)} benchmark(s), budget {budget:.0f} s; "
        f"{env.get('cpu_model')}, {env.get('cpu_count')} cores, torch {env['torch']} "
        f"({env['torch_threads']} threads), load {env.get('load_average')}")
    entries = _run_entries(paths, quick, budget, int(jobs), log)
    results = {
        "schema": SCHEMA,
        "created": _now(),
        "quick": bool(quick),
        "command": "mifomo-lite bench" + (" --quick" if quick else "")
                   + (" --only " + " ".join(only) if only else "") + (f" --jobs {jobs}" if jobs > 1 else ""),
        "jobs": int(jobs),
        "wall_s": round(time.perf_counter() - t_start, 2),
        "cpu_s": round(sum(e.get("cpu_s", 0.0) for e in entries), 2),
        "budget_s": budget,
        "environment": env,
        "load_average_after": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "benchmarks": sorted(entries, key=lambda e: e["name"]),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_results(results, out_dir)
    plot_timings(results, out_dir / TIMINGS_PNG)
    log(f"wrote {out_dir / RESULTS_JSON}, {out_dir / RESULTS_MD} and {out_dir / TIMINGS_PNG} "
        f"({results['wall_s']:.0f} s)")
    return results


def plot_timings(results: Dict[str, Any], path: Path) -> Optional[Path]:
    """A bar chart of wall and CPU seconds per benchmark (best effort: None without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return None
    from mifomo_lite.utils import atomic_path

    entries = results.get("benchmarks", [])
    names = [e["name"] for e in entries]
    xs = range(len(names))
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(names) + 2), 3.2))
    ax.bar([x - 0.2 for x in xs], [e.get("wall_s", 0.0) for e in entries], 0.4, label="wall s")
    ax.bar([x + 0.2 for x in xs], [e.get("cpu_s", 0.0) for e in entries], 0.4, label="CPU s")
    ax.set_xticks(list(xs), names)
    ax.set_ylabel("seconds")
    ax.set_title(results.get("command", "mifomo-lite bench"), fontsize=9)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return path


def _read_json(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


README_BEGIN = "<!-- bench:begin -->"
README_END = "<!-- bench:end -->"


def write_results(results: Dict[str, Any], out_dir: Path, readme: Optional[Path] = None) -> None:
    """Write ``results.json`` and ``RESULTS.md``; when ``readme`` holds the markers
    ``<!-- bench:begin -->`` … ``<!-- bench:end -->``, replace what is between them with the table
    (so the README shows the latest figures without copy-and-paste)."""
    from mifomo_lite.utils import atomic_path

    out_dir = Path(out_dir)
    md = render_markdown(results)
    with atomic_path(out_dir / RESULTS_JSON) as tmp:
        tmp.write_text(json.dumps(results, indent=2, default=_json_default, ensure_ascii=False) + "\n")
    with atomic_path(out_dir / RESULTS_MD) as tmp:
        tmp.write_text(md)
    if readme is not None:
        update_readme(Path(readme), md)


def update_readme(readme: Path, md: str) -> bool:
    """Replace the block between the bench markers of ``readme``; False when there are none."""
    from mifomo_lite.utils import atomic_path

    try:
        text = readme.read_text(encoding="utf-8")
    except OSError:
        return False
    i, j = text.find(README_BEGIN), text.find(README_END)
    if i < 0 or j < i:
        return False
    new = text[: i + len(README_BEGIN)] + "\n" + md.strip() + "\n" + text[j:]
    if new != text:
        with atomic_path(readme) as tmp:
            tmp.write_text(new, encoding="utf-8")
    return True


# ------------------------------------------------------------------------------ Markdown
def _fmt_value(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def _cell(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def render_markdown(results: Dict[str, Any]) -> str:
    """``RESULTS.md``: a header (machine, versions, git, load) and one table of every figure."""
    env = results.get("environment", {})
    git = (env.get("git_revision") or "unknown")[:10] + (" (uncommitted changes)" if env.get("git_dirty") else "")
    lines = [
        "<!-- generated by `mifomo-lite bench`; do not edit by hand -->",
        "## Benchmark results",
        "",
        f"`{results.get('command', 'mifomo-lite bench')}` on {results.get('created', '?')} — "
        f"{env.get('cpu_model') or env.get('machine')}, {env.get('affinity_cores') or env.get('cpu_count')} cores, "
        f"Python {env.get('python')}, torch {env.get('torch')} ({env.get('torch_threads')} intra-op threads), "
        f"numpy {env.get('numpy')}, git {git}. Load average before {_fmt_load(env.get('load_average'))}, "
        f"after {_fmt_load(results.get('load_average_after'))} (other processes on the machine slow CPU timings). "
        f"Total {results.get('wall_s', 0):.0f} s wall, {results.get('cpu_s', 0):.0f} CPU-s.",
    ]
    merged = results.get("merged_from")
    if merged and merged.get("kept"):
        lines.append(f"Entries kept from the earlier run of {merged.get('created')}: {', '.join(merged['kept'])}.")
    lines.append("Per benchmark: " + "; ".join(
        f"{e['name']} {e.get('wall_s', 0):.0f} s wall / {e.get('cpu_s', 0):.0f} CPU-s at load "
        f"{_fmt_load((e.get('load_average') or [None])[:1] if e.get('load_average') else None)}"
        for e in results.get("benchmarks", [])) + ".")
    lines += [
        "",
        "| benchmark | figure | value | unit | goal | met | how measured |",
        "|---|---|---:|---|---|:-:|---|",
    ]
    for e in results.get("benchmarks", []):
        if e.get("status") != "ok":
            lines.append(f"| {e['name']} | *{e.get('status')}* after {e.get('wall_s', 0):.0f} s | — | | | | "
                         f"{_cell(str(e.get('error', ''))[-200:])} |")
            continue
        for f in e.get("figures", []):
            met = {True: "✅", False: "❌"}.get(f.get("met"), "")
            how = f["how"] + (f" — ratio of {f['ratio_of']}" if f.get("ratio_of") else "") \
                + (f" — note: {f['note']}" if f.get("note") else "")
            lines.append(f"| {e['name']} | {_cell(f['name'])} | {_fmt_value(f['value'])} | {_cell(f['unit'])} | "
                         f"{_cell(f.get('goal', ''))} | {met} | {_cell(how)} |")
    lines.append("")
    return "\n".join(lines)


def _fmt_load(load: Any) -> str:
    return "/".join(f"{x:.1f}" for x in load) if load else "?"


# ------------------------------------------------------------------------------ worker entry
def _worker_main(argv: Optional[Sequence[str]] = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m mifomo_tools.bench")
    ap.add_argument("--worker", type=Path, required=True)
    ap.add_argument("--result", type=Path, required=True)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    figs = collect(a.worker, a.quick)
    a.result.write_text(json.dumps(figs, default=_json_default))
    return 0


if __name__ == "__main__":  # pragma: no cover - subprocess entry
    sys.exit(_worker_main())
