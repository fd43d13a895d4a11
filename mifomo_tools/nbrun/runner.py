"""papermill regression runs: execute notebooks, collect their metrics, compare with baselines.

Each notebook calls :func:`mifomo_lite.notebooks.record_metrics`; under this runner that writes
``<out>/<notebook>.metrics.json`` (the runner tells the kernel where through environment
variables). The metrics are compared with ``notebooks/baselines/<profile>.json``::

    {"profile": "smoke",
     "notebooks": {"00_data_tour": {"n_bands": 200,                          # exact
                                    "train_acc": {"value": 0.8, "abs": 0.1}, # |x - v| ≤ abs + rel·|v|
                                    "loss_drop": {"min": 0.0}}}}             # a range

A missing metric, a value outside its tolerance, or a notebook that raises fails the run; the
report lists each difference on its own line. ``summary.json`` in ``<out>`` keeps everything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional

from mifomo_lite.utils import atomic_path
from .structure import NotebookError, default_notebooks_dir, discover, read_py, select

# The kernel-side contract (profiles, environment variables) is defined next to record_metrics.
from mifomo_lite.notebooks import ENV_NAME, ENV_OUT, ENV_PROFILE, PROFILES  # noqa: E402

DEFAULT_ABS = 0.02
DEFAULT_REL = 0.10
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


@dataclass
class NotebookResult:
    name: str
    status: str                      # passed | failed (metrics) | error (raised) | reused
    wall_s: float
    metrics: Dict[str, Any] = field(default_factory=dict)
    problems: List[str] = field(default_factory=list)
    error: Optional[str] = None
    executed: Optional[str] = None
    reused: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "passed"


@dataclass
class RunSummary:
    profile: str
    device: str
    seed: int
    out: str
    baselines: Optional[str]
    notebooks: List[NotebookResult]
    total_wall_s: float
    environment: Dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.notebooks)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return d


# --- metric comparison -----------------------------------------------------------------------

def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return json.dumps(x) if not isinstance(x, str) else repr(x)


def compare_metric(key: str, got: Any, spec: Any) -> Optional[str]:
    """``None`` when ``got`` satisfies ``spec``; otherwise one readable line."""
    if not isinstance(spec, dict):
        spec = {"value": spec}
        if isinstance(spec["value"], float):
            spec.update(abs=DEFAULT_ABS, rel=DEFAULT_REL)
    if "value" in spec:
        want = spec["value"]
        if _is_number(want) and _is_number(got):
            if isinstance(got, float) and not math.isfinite(got):
                return f"{key}: {_fmt(got)} is not finite (baseline {_fmt(want)})"
            a, r = float(spec.get("abs", 0.0)), float(spec.get("rel", 0.0))
            tol = a + r * abs(float(want))
            diff = float(got) - float(want)
            if abs(diff) > tol + 1e-12:
                tol_s = f" ± {tol:.4g}" if tol else " (exact)"
                return (f"{key}: {_fmt(got)} vs baseline {_fmt(want)}{tol_s} — off by {diff:+.4g}")
        elif got != want:
            return f"{key}: {_fmt(got)} vs baseline {_fmt(want)} (must be equal)"
    lo, hi = spec.get("min"), spec.get("max")
    if lo is not None or hi is not None:
        if not _is_number(got):
            return f"{key}: {_fmt(got)} is not a number (baseline range {lo}..{hi})"
        if lo is not None and got < lo:
            return f"{key}: {_fmt(got)} is below the baseline minimum {_fmt(lo)}"
        if hi is not None and got > hi:
            return f"{key}: {_fmt(got)} is above the baseline maximum {_fmt(hi)}"
    return None


def compare_metrics(metrics: Dict[str, Any], baseline: Dict[str, Any]) -> List[str]:
    problems = []
    for key in sorted(baseline):
        if key not in metrics:
            problems.append(f"{key}: missing (the notebook no longer records it)")
            continue
        line = compare_metric(key, metrics[key], baseline[key])
        if line:
            problems.append(line)
    return problems


def baseline_entry(value: Any, old: Any = None) -> Any:
    """A baseline spec for ``value``, keeping the tolerances of ``old`` when there was one."""
    if isinstance(old, dict):
        new = dict(old)
        if "value" in new or not ({"min", "max"} & set(new)):
            new["value"] = round(value, 6) if isinstance(value, float) else value
        return new
    if isinstance(value, float):
        return {"value": round(value, 6), "abs": round(max(DEFAULT_ABS, DEFAULT_REL * abs(value)), 6)}
    return value


def load_baselines(path: Path) -> Optional[dict]:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise NotebookError(f"baselines file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("notebooks"), dict):
        raise NotebookError(f"baselines file {path} has no 'notebooks' mapping")
    return data


# --- execution ---------------------------------------------------------------------------------

def source_hash(py_path: Path) -> str:
    return hashlib.sha256(py_path.read_bytes()).hexdigest()


@contextlib.contextmanager
def _kernel_env(values: Dict[str, str]):
    """Environment the kernel inherits (the kernel is a child process of this one)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _read_metrics(path: Path) -> Dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}
    return data.get("metrics", data) if isinstance(data, dict) else {}


def _reusable(executed: Path, metrics_path: Path, key: dict) -> bool:
    if not executed.exists() or not metrics_path.exists():
        return False
    try:
        meta = json.loads(executed.read_text(encoding="utf-8"))["metadata"].get("mifomo_lite", {})
    except (OSError, ValueError, KeyError):
        return False
    return all(meta.get(k) == v for k, v in key.items()) and meta.get("status") == "ok"


def execute_one(py_path: Path, out: Path, *, profile: str, device: str = "auto", seed: int = 0,
                cell_timeout: Optional[int] = None, reuse: bool = False) -> NotebookResult:
    """Execute one notebook with papermill into ``out/<name>.ipynb``; read its metrics."""
    import nbformat

    name = py_path.stem
    out.mkdir(parents=True, exist_ok=True)
    executed = out / f"{name}.ipynb"
    metrics_path = out / f"{name}.metrics.json"
    key = {"source_sha256": source_hash(py_path), "profile": profile, "device": device, "seed": seed}
    if reuse and _reusable(executed, metrics_path, key):
        meta = json.loads(executed.read_text(encoding="utf-8"))["metadata"]["mifomo_lite"]
        return NotebookResult(name, "passed", float(meta.get("wall_s", 0.0)), _read_metrics(metrics_path),
                              executed=str(executed), reused=True)
    if metrics_path.exists():
        metrics_path.unlink()
    nb = read_py(py_path)
    env = {ENV_OUT: str(out.resolve()), ENV_NAME: name, ENV_PROFILE: profile,
           # figures must be captured as outputs even where MPLBACKEND=Agg (CI)
           "MPLBACKEND": INLINE_BACKEND, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    error = None
    t0 = time.perf_counter()
    try:
        import papermill as pm
        from papermill.exceptions import PapermillExecutionError

        with _kernel_env(env):
            pm.execute_notebook(
                nb, str(executed), parameters={"profile": profile, "device": device, "seed": seed},
                kernel_name="python3", cwd=str(py_path.parent), progress_bar=False, log_output=False,
                request_save_on_cell_execute=False, execution_timeout=cell_timeout,
            )
    except PapermillExecutionError as exc:
        last = (exc.evalue or "").strip().splitlines()
        error = f"cell {exc.exec_count}: {exc.ename}: {last[-1] if last else ''}"
    except Exception as exc:  # kernel died, timeout, bad notebook
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
    wall = time.perf_counter() - t0
    if executed.exists():
        done = nbformat.read(str(executed), as_version=4)
        done.metadata["mifomo_lite"] = dict(key, status="error" if error else "ok", wall_s=round(wall, 2))
        with atomic_path(executed) as tmp:
            nbformat.write(done, str(tmp))
    metrics = _read_metrics(metrics_path)
    status = "error" if error else "passed"
    return NotebookResult(name, status, wall, metrics, error=error, executed=str(executed))


def _execute_all(paths: List[Path], out: Path, jobs: int, log: Callable[[str], None], kwargs: dict):
    """Execute ``paths`` one after the other, or ``jobs`` at a time in local worker processes
    (joblib): each notebook has its own kernel and environment variables either way."""
    if int(jobs) < 1:
        raise NotebookError(f"jobs must be ≥ 1, got {jobs}")
    if int(jobs) == 1 or len(paths) < 2:
        for path in paths:
            log(f"→ {path.stem} ({kwargs['profile']}) ...")
            yield execute_one(path, out, **kwargs)
        return
    from joblib import Parallel, delayed

    log(f"→ {len(paths)} notebooks ({kwargs['profile']}), {jobs} at a time ...")
    yield from Parallel(n_jobs=int(jobs), backend="loky")(delayed(execute_one)(p, out, **kwargs) for p in paths)


def run_notebooks(profile: str, out: Path, *, only: Optional[Iterable[str]] = None,
                  nb_dir: Optional[Path] = None, device: str = "auto", seed: int = 0,
                  baselines: Optional[Path] = None, update_baselines: bool = False,
                  reuse: bool = False, cell_timeout: Optional[int] = None, jobs: int = 1,
                  log: Callable[[str], None] = print) -> RunSummary:
    """Run the selected notebooks in ``profile`` (``jobs`` at a time, in local processes);
    compare with baselines; write ``summary.json``."""
    from mifomo_lite.utils import environment_record

    if profile not in PROFILES:
        raise NotebookError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    nb_dir = Path(nb_dir) if nb_dir else default_notebooks_dir()
    paths = select(discover(nb_dir), only)
    if not paths:
        raise NotebookError(f"no notebooks found in {nb_dir}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    baselines = Path(baselines) if baselines else nb_dir / "baselines" / f"{profile}.json"
    base = load_baselines(baselines)
    if base is None:
        log(f"note: no baselines file {baselines}; metrics are recorded but not compared")
    results: List[NotebookResult] = []
    t_all = time.perf_counter()
    kwargs = dict(profile=profile, device=device, seed=seed, cell_timeout=cell_timeout, reuse=reuse)
    for path, res in zip(paths, _execute_all(paths, out, jobs, log, kwargs)):
        if res.error:
            res.problems.append(f"execution failed at {res.error} (see {res.executed})")
        elif base is not None and not update_baselines:
            expected = base["notebooks"].get(res.name)
            if expected is None:
                res.problems.append(f"no baseline for {res.name} in {baselines} "
                                    f"(add one with --update-baselines)")
            else:
                res.problems.extend(compare_metrics(res.metrics, expected))
            if res.problems:
                res.status = "failed"
        results.append(res)
        log(_line(res))
        for p in res.problems:
            log(f"      {p}")
    summary = RunSummary(profile, device, seed, str(out), str(baselines) if base is not None else None,
                         results, time.perf_counter() - t_all, environment_record())
    if update_baselines:
        write_baselines(baselines, profile, results, base)
        log(f"baselines updated: {baselines}")
    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
    n_ok = sum(r.ok for r in results)
    log(f"{n_ok}/{len(results)} notebooks passed in {summary.total_wall_s:.1f} s "
        f"(profile {profile}); summary: {out / 'summary.json'}")
    return summary


def _line(res: NotebookResult) -> str:
    mark = "✓" if res.ok else "✗"
    extra = " (reused)" if res.reused else ""
    n = len(res.metrics)
    what = f"{n} metrics" if res.ok else (res.status if res.status != "failed" else
                                           f"{len(res.problems)} difference(s) from the baseline")
    return f"  {mark} {res.name:<28} {res.wall_s:7.1f} s  {what}{extra}"


def write_baselines(path: Path, profile: str, results: List[NotebookResult], old: Optional[dict]) -> None:
    data = old or {"profile": profile, "notebooks": {}}
    data.setdefault("notebooks", {})
    for res in results:
        if res.error:
            continue
        prev = data["notebooks"].get(res.name, {})
        data["notebooks"][res.name] = {k: baseline_entry(v, prev.get(k)) for k, v in sorted(res.metrics.items())}
    data["notebooks"] = dict(sorted(data["notebooks"].items()))
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.chmod(0o644)  # a committed file: not the 0600 of a temporary one
