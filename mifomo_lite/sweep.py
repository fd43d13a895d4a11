"""Run independent tasks of a sweep (ablation rows, benchmark parts, notebooks) on an existing
engine: in this process (the default: serial and deterministic), in local processes (joblib), or
on a cluster (Ray or submitit, optional extras: ``pip install mifomo-lite[cluster]``).

Every executor returns the results in the order of the tasks, so whatever a sweep writes from them
— and the folder layout of its results — does not depend on where the tasks ran. A task must be a
picklable top-level function whose arguments are picklable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from .errors import ConfigError

EXECUTORS = ("local", "ray", "submitit")

__all__ = ["EXECUTORS", "run_tasks", "check_jobs"]


def check_jobs(jobs: int, executor: str = "local") -> None:
    """A clear error for a bad ``--jobs`` / ``--executor`` pair."""
    if executor not in EXECUTORS:
        raise ConfigError(f"executor={executor!r} is not valid; choose one of {', '.join(EXECUTORS)}")
    if int(jobs) < 1:
        raise ConfigError(f"jobs must be ≥ 1, got {jobs!r}")


def run_tasks(fn: Callable, tasks: Sequence[tuple], *, jobs: int = 1, executor: str = "local",
              log_dir: Optional[Path] = None) -> list[Any]:
    """``[fn(*args) for args in tasks]``, run by ``executor``: ``"local"`` with ``jobs`` processes
    (1 = in this process), ``"ray"`` on the Ray cluster ``ray.init()`` finds (at most ``jobs`` at a
    time), or ``"submitit"`` as a job array on the cluster submitit detects (``log_dir`` holds its
    job files; default ``./submitit``)."""
    check_jobs(jobs, executor)
    tasks = [tuple(t) for t in tasks]
    if executor == "ray":
        return _run_ray(fn, tasks, jobs)
    if executor == "submitit":
        return _run_submitit(fn, tasks, jobs, log_dir)
    if jobs == 1 or len(tasks) <= 1:
        return [fn(*t) for t in tasks]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=min(int(jobs), len(tasks)), backend="loky")(delayed(fn)(*t) for t in tasks)


def _optional(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"--executor {module} needs the optional package {module!r}: "
                          "pip install 'mifomo-lite[cluster]'") from exc


def _run_ray(fn: Callable, tasks: list, jobs: int) -> list:
    ray = _optional("ray")
    ray.init(ignore_reinit_error=True)
    remote = ray.remote(fn)
    pending, results = {}, [None] * len(tasks)
    for i, args in enumerate(tasks):
        if len(pending) >= jobs:      # at most ``jobs`` tasks in flight
            done, _ = ray.wait(list(pending))
            results[pending.pop(done[0])] = ray.get(done[0])
        pending[remote.remote(*args)] = i
    for ref, i in pending.items():
        results[i] = ray.get(ref)
    return results


def _run_submitit(fn: Callable, tasks: list, jobs: int, log_dir: Optional[Path]) -> list:
    submitit = _optional("submitit")
    executor = submitit.AutoExecutor(folder=str(log_dir or Path("submitit")))
    executor.update_parameters(slurm_array_parallelism=int(jobs))
    submitted = executor.map_array(fn, *zip(*tasks)) if tasks else []
    return [job.result() for job in submitted]
