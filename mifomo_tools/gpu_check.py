"""``make gpu-check`` / ``mifomo-lite bench --gpu``: the GPU promises of the kit, checked in one command.

On a CUDA machine it runs three steps, each in its own process with its own time limit (so the
whole check stays within ≈ 8 minutes on one modern GPU and a hung step costs only its own entry):

* ``throughput`` — the fp32 and mixed-precision GEMM peak of the GPU (a large square matmul) and
  one training step of the ``base`` model under the training precision the device gets
  (:mod:`mifomo_lite.precision`); the step's achieved FLOP/s as a fraction of the GEMM peak in the
  same format;
* ``paper`` — the ``paper`` preset for one target with 2 test episodes (needs the official
  HyperSIGMA base weights; without them the step is *skipped* and says where it looked);
* ``notebooks`` — every notebook under papermill with the ``colab`` profile, one process per
  notebook (a profile the runner rejects fails the step with the runner's message).

It writes one JSON (``gpu_check.json`` in ``runs/gpu-check/<stamp>/`` or ``--out DIR``) with the timings,
the peak GPU memory and pass/fail of each step and each notebook. On a machine without CUDA it
says so in one line and exits 0 without running anything — before importing torch when no NVIDIA
device node exists. ``--dry-run`` prints the plan and runs nothing, on any machine.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

SCHEMA = "mifomo_tools.gpu_check/1"
STEPS = ("throughput", "paper", "notebooks")
# seconds per step; 80 + 170 + 200 = 450 s of steps leaves room for start-up within 8 minutes
DEFAULT_TIMEOUTS = {"throughput": 80.0, "paper": 170.0, "notebooks": 200.0}
TOTAL_LIMIT_S = 480.0
DEFAULT_PROFILE = "colab"
DEFAULT_TARGET = "indian_pines"
OFFICIAL_GLOBS = {"spatial": "spat-vit-base*", "spectral": "spec-vit-base*"}
WEIGHT_SUFFIXES = (".pth", ".safetensors", ".pt")
ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ CUDA presence
def cuda_status(dev_dir: Path = Path("/dev")) -> Tuple[bool, str]:
    """``(available, why)``. Cheap checks first (``CUDA_VISIBLE_DEVICES`` hiding every device, no
    ``/dev/nvidia*`` node and no ``nvidia-smi``), so a CPU-only machine never imports torch."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False, f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU"
    has_node = any(p.name[len("nvidia"):].isdigit() for p in dev_dir.glob("nvidia*"))
    if not has_node and shutil.which("nvidia-smi") is None:
        return False, f"no NVIDIA device ({dev_dir}/nvidia* absent, no nvidia-smi)"
    import torch

    if not torch.cuda.is_available():
        return False, f"torch {torch.__version__} (CUDA build {torch.version.cuda}) sees no usable CUDA device"
    return True, torch.cuda.get_device_name(0)


# ------------------------------------------------------------------------------ arguments
def _timeout_pair(text: str) -> Tuple[str, float]:
    step, sep, value = text.partition("=")
    if not sep or step not in STEPS:
        raise argparse.ArgumentTypeError(f"expected STEP=SECONDS with STEP one of {', '.join(STEPS)}, got {text!r}")
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: {value!r} is not a number of seconds") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the time limit must be > 0 s")
    return step, seconds


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The GPU check's options (shared by ``python -m mifomo_tools.gpu_check`` and ``bench --gpu``)."""
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit without running anything")
    p.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS), metavar="STEP",
                   help=f"steps to run (default all: {' '.join(STEPS)})")
    p.add_argument("--profile", default=DEFAULT_PROFILE, help="notebook profile (default colab)")
    p.add_argument("--target", default=DEFAULT_TARGET, help="target scene of the paper step (default indian_pines)")
    p.add_argument("--episodes", type=int, default=2, help="test episodes of the paper step (default 2)")
    p.add_argument("--official-dir", type=Path, default=None, metavar="DIR",
                   help="folder searched for the official HyperSIGMA base weights "
                        "(default $MIFOMO_OFFICIAL_DIR, then the user cache's hypersigma/)")
    p.add_argument("--timeout", action="append", type=_timeout_pair, default=[], metavar="STEP=S",
                   help="time limit of one step in seconds (repeatable; defaults "
                        + ", ".join(f"{k}={v:.0f}" for k, v in DEFAULT_TIMEOUTS.items()) + ")")


def timeouts_of(args: argparse.Namespace) -> Dict[str, float]:
    t = dict(DEFAULT_TIMEOUTS)
    t.update(dict(args.timeout))
    return t


# ------------------------------------------------------------------------------ official weights
def official_search_dirs(official_dir: Optional[Path] = None) -> List[Path]:
    if official_dir is not None:
        return [Path(official_dir)]
    dirs = [Path(os.environ["MIFOMO_OFFICIAL_DIR"])] if os.environ.get("MIFOMO_OFFICIAL_DIR") else []
    cache = os.environ.get("MIFOMO_CACHE_DIR")
    base = Path(cache) if cache else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mifomo_lite"
    return dirs + [base / "hypersigma"]


def find_official_weights(dirs: Sequence[Path]) -> Dict[str, Optional[Path]]:
    """``{"spatial": path or None, "spectral": path or None}``: the first file named like the
    official base checkpoints (``spat-vit-base*``, ``spec-vit-base*``; .pth / .safetensors) in
    ``dirs`` (searched recursively: the Hugging Face cache nests its files)."""
    found: Dict[str, Optional[Path]] = {}
    for branch, pattern in OFFICIAL_GLOBS.items():
        hits = [p for d in dirs if Path(d).is_dir() for p in sorted(Path(d).rglob(pattern))
                if p.suffix in WEIGHT_SUFFIXES and p.is_file()]
        found[branch] = hits[0] if hits else None
    return found


# ------------------------------------------------------------------------------ the plan
def notebook_names(nb_dir: Optional[Path] = None) -> List[str]:
    nb_dir = Path(nb_dir) if nb_dir else ROOT / "notebooks"
    return sorted(p.stem for p in nb_dir.glob("[0-9][0-9]_*.py"))


def plan(args: argparse.Namespace) -> List[str]:
    """What the check would run, one line per step (``--dry-run`` prints it)."""
    t = timeouts_of(args)
    dirs = official_search_dirs(args.official_dir)
    w = find_official_weights(dirs)
    lines = []
    if "throughput" in args.steps:
        lines.append(f"throughput (≤ {t['throughput']:.0f} s): fp32 and mixed-precision GEMM peak, one base-model "
                     "training step under the device's training precision, achieved / peak")
    if "paper" in args.steps:
        weights = ("official weights " + ", ".join(str(p) for p in w.values()) if all(w.values())
                   else "skipped: official weights not found at " + ", ".join(str(d) for d in dirs))
        lines.append(f"paper (≤ {t['paper']:.0f} s): preset paper, target {args.target}, {args.episodes} episodes; "
                     f"{weights}")
    if "notebooks" in args.steps:
        names = notebook_names()
        lines.append(f"notebooks (≤ {t['notebooks']:.0f} s): profile {args.profile}, {len(names)} notebooks "
                     f"({', '.join(names)}), one papermill process each")
    return lines


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def default_out_dir() -> Path:
    """``runs/gpu-check/<UTC stamp>/`` (git-ignored): the JSON, the paper run, the executed notebooks."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return ROOT / "runs" / "gpu-check" / stamp


# ------------------------------------------------------------------------------ measuring
def _sync_of(device: Any) -> Optional[Callable[[], None]]:
    import torch

    dev = torch.device(device)
    return (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else None


def gemm_peak(n: int, dtype: Any, device: Any, repeat: int = 5, warmup: int = 2) -> Dict[str, Any]:
    """GFLOP/s of an ``n``×``n`` by ``n``×``n`` matmul in ``dtype`` on ``device`` (2·n³ FLOPs,
    median of ``repeat`` runs after ``warmup``): the reference a training step is measured against."""
    import torch

    from .bench import measure

    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    m = measure(lambda: torch.mm(a, b), warmup=warmup, repeat=repeat, sync=_sync_of(device))
    flops = 2.0 * n ** 3
    return {"n": n, "dtype": str(dtype).replace("torch.", ""), "median_s": m["median_s"],
            "gflops": flops / m["median_s"] / 1e9, "best_gflops": flops / m["min_s"] / 1e9, "repeat": m["n"]}


def train_step_throughput(size: str, batch: int, device: Any, precision: Any, repeat: int = 5,
                          warmup: int = 2) -> Dict[str, Any]:
    """One AdamW training step of model ``size`` on a random batch under ``precision``
    (autocast + GradScaler-or-nothing from :mod:`mifomo_lite.precision`): samples/s, FLOPs per
    sample (forward + backward, counted on the ``meta`` device) and achieved GFLOP/s."""
    import torch

    from mifomo_lite.models import count_flops, create_model
    from mifomo_lite.precision import autocast, grad_scaler, optimizer_step

    from .bench import measure

    dev = torch.device(device)
    torch.manual_seed(0)
    model = create_model(size, device=dev)
    flops = count_flops(create_model(size, device="meta"), backward=True)["total"]
    cfg = model.cfg
    x = torch.randn(batch, cfg.in_chans, cfg.patch_size, cfg.patch_size, device=dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scaler = grad_scaler(precision, dev.type)
    model.train()

    def step() -> None:
        with autocast(precision, dev.type):
            loss = model(x).float().pow(2).mean()
        optimizer_step(opt, loss, scaler)

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    m = measure(step, warmup=warmup, repeat=repeat, sync=_sync_of(dev))
    out = {"size": size, "batch": batch, "precision": precision.name, "grad_scaler": precision.use_grad_scaler,
           "median_s": m["median_s"], "samples_per_s": batch / m["median_s"], "flops_per_sample": flops,
           "gflops": flops * batch / m["median_s"] / 1e9, "repeat": m["n"]}
    out["peak_gpu_mib"] = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None
    return out


def throughput_ratio(achieved_gflops: float, peak_gflops: float) -> float:
    """Achieved / peak GFLOP/s (a fraction, 1.0 = the GEMM peak)."""
    from mifomo_lite.errors import ConfigError

    if not peak_gflops or peak_gflops <= 0 or peak_gflops != peak_gflops:
        raise ConfigError(f"the GEMM peak must be a positive number of GFLOP/s, got {peak_gflops!r}")
    return float(achieved_gflops) / float(peak_gflops)


def throughput_step(device: Any = "cuda", size: str = "base", batch: int = 64, gemm_n: int = 8192,
                    repeat: int = 5) -> Dict[str, Any]:
    """The ``throughput`` step: GEMM peaks (fp32 and the training format) and one training step."""
    import torch

    from mifomo_lite.precision import precision_for

    prec = precision_for(device)
    peaks = {"fp32": gemm_peak(gemm_n, torch.float32, device, repeat=repeat)}
    if prec.autocast_enabled:
        peaks[prec.name] = gemm_peak(gemm_n, prec.dtype, device, repeat=repeat)
    train = train_step_throughput(size, batch, device, prec, repeat=repeat)
    ref = peaks[prec.name]
    return {"precision": {"dtype": prec.name, "grad_scaler": prec.use_grad_scaler, "reason": prec.reason},
            "gemm_peak": peaks, "train_step": train,
            "ratio": throughput_ratio(train["gflops"], ref["gflops"]),
            "ratio_of": f"{prec.name} GEMM peak ({gemm_n}², same process)",
            "peak_gpu_mib": train["peak_gpu_mib"]}


def paper_step(target: str, episodes: int, spatial: Path, spectral: Path, out_dir: Path,
               device: str = "cuda") -> Dict[str, Any]:
    """The ``paper`` step: the paper preset on ``target`` for ``episodes`` test episodes."""
    import torch

    from mifomo_lite.train.presets import preset
    from mifomo_lite.train.runner import run_to_folder

    cfg = preset("paper", target=target, n_test_episodes=episodes, device=device, progress=False,
                 official_spatial=str(spatial), official_spectral=str(spectral))
    result, folder = run_to_folder(cfg, out_dir, log=lambda m: print(m, file=sys.stderr))
    summary = result.metrics.get("summary", {})
    oa = summary.get("final/propagated", {}).get("OA", {}).get("mean")
    peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    return {"run_dir": str(folder), "oa_propagated": oa, "peak_gpu_mib": peak,
            "train_s": result.metrics.get("timings", {}).get("total_s")}


# ------------------------------------------------------------------------------ running steps
class GpuMemoryPoller:
    """Peak device-wide GPU memory in use while a block runs, polled every ``interval`` seconds
    through ``query`` (default: ``nvidia-smi``; MiB or None) — for steps whose GPU work happens in
    other processes (notebook kernels), where ``torch.cuda.max_memory_allocated`` cannot see it."""

    def __init__(self, query: Optional[Callable[[], Optional[float]]] = None, interval: float = 0.5):
        self.query = query or _nvidia_smi_used_mib
        self.interval = interval
        self.samples: List[float] = []
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def _poll(self) -> None:
        while True:
            v = self.query()
            if v is not None:
                self.samples.append(float(v))
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> "GpuMemoryPoller":
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def peak_mib(self) -> Optional[float]:
        return max(self.samples) if self.samples else None


def _nvidia_smi_used_mib() -> Optional[float]:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
                             capture_output=True, text=True, timeout=5)
        return float(out.stdout.strip().splitlines()[0]) if out.returncode == 0 else None
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


def run_subprocess(cmd: List[str], timeout: float, cwd: Path = ROOT) -> Dict[str, Any]:
    """Run ``cmd`` in its own process group; stop the whole group after ``timeout`` seconds.
    Returns ``{"rc" (None on time-out), "wall_s", "stdout", "stderr"}``."""
    from .bench import _kill_group

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(cwd),
                            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"})
    try:
        out, err = proc.communicate(timeout=max(1.0, timeout))
        rc: Optional[int] = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:  # a grandchild in its own session (a Jupyter kernel) may still hold the pipes
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            out, err = "", "(output lost: a child process kept the pipes open after the time limit)"
        rc = None
    except BaseException:
        _kill_group(proc)
        raise
    return {"rc": rc, "wall_s": round(time.perf_counter() - t0, 2), "stdout": out or "", "stderr": err or ""}


def _tail(text: str, n: int = 3) -> str:
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])[-600:]


def run_worker_step(step: str, params: Dict[str, Any], timeout: float) -> Dict[str, Any]:
    """Run ``throughput`` or ``paper`` in a fresh process (``--worker``); the step entry."""
    with tempfile.TemporaryDirectory(prefix="mifomo-gpu-check-") as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "mifomo_tools.gpu_check", "--worker", step, "--result", str(result),
               "--params", json.dumps(params, default=str)]
        r = run_subprocess(cmd, timeout)
        entry: Dict[str, Any] = {"wall_s": r["wall_s"], "timeout_s": timeout}
        if r["rc"] is None:
            entry.update(status="failed", timed_out=True, message=f"stopped after the {timeout:.0f} s limit; "
                                                                  f"last output: {_tail(r['stderr'])}")
        elif r["rc"] != 0 or not result.exists():
            entry.update(status="failed", message=_tail(r["stderr"]) or f"exit status {r['rc']}")
        else:
            entry.update(status="passed", **json.loads(result.read_text()))
    return entry


def notebook_cmd(name: str, profile: str, out_dir: Path, cell_timeout: float) -> List[str]:
    """The ``mifomo-lite notebooks run`` call for one notebook (the runner validates the profile)."""
    return [sys.executable, "-m", "mifomo_lite.cli", "notebooks", "run", "--profile", profile,
            "--only", name.split("_", 1)[0], "--device", "cuda", "--out", str(out_dir),
            "--cell-timeout", str(max(1, int(cell_timeout)))]


def _notebook_entry(name: str, r: Dict[str, Any], out_dir: Path, limit: float) -> Dict[str, Any]:
    entry: Dict[str, Any] = {"name": name, "wall_s": r["wall_s"], "timeout_s": round(limit, 1)}
    if r["rc"] is None:
        return dict(entry, status="failed", timed_out=True, message=f"stopped after the {limit:.0f} s limit")
    try:
        summary = json.loads((out_dir / "summary.json").read_text())
        nb = next(n for n in summary["notebooks"] if n["name"] == name)
    except (OSError, ValueError, KeyError, StopIteration):
        return dict(entry, status="failed", message=_tail(r["stderr"]) or f"exit status {r['rc']}, no summary.json")
    ok = nb.get("status") == "passed"
    msg = "; ".join(nb.get("problems") or []) or nb.get("error") or ""
    return dict(entry, status="passed" if ok else "failed", message=msg or None, metrics=nb.get("metrics"))


def notebooks_step(profile: str, out_dir: Path, timeout: float, names: Optional[Sequence[str]] = None,
                   runner: Callable[[List[str], float], Dict[str, Any]] = run_subprocess,
                   memory: Optional[Callable[[], Optional[float]]] = None) -> Dict[str, Any]:
    """The ``notebooks`` step: each notebook in its own ``notebooks run`` process, sharing the
    step's ``timeout`` (each gets at most 3× its fair share of what is left). A profile or
    argument the runner rejects (exit status 2, no summary) fails the step with the runner's
    message and the remaining notebooks are reported as not run."""
    names = list(names) if names is not None else notebook_names()
    t0, results, rejected = time.perf_counter(), [], None
    with GpuMemoryPoller(memory) as poll:
        for i, name in enumerate(names):
            left = timeout - (time.perf_counter() - t0)
            if rejected or left < 5:
                results.append({"name": name, "status": "not run",
                                "message": rejected or "the step's time limit was reached"})
                continue
            limit = min(left, 3 * left / (len(names) - i))
            folder = Path(out_dir) / name
            r = runner(notebook_cmd(name, profile, folder, limit), limit)
            entry = _notebook_entry(name, r, folder, limit)
            if r["rc"] == 2 and not (folder / "summary.json").exists():
                rejected = f"the notebook runner rejected profile {profile!r}: {_tail(r['stderr'], 2)}"
                entry.update(status="failed", message=rejected)
            results.append(entry)
    n_ok = sum(e["status"] == "passed" for e in results)
    status = "passed" if names and n_ok == len(names) else "failed"
    return {"status": status, "profile": profile, "wall_s": round(time.perf_counter() - t0, 2),
            "timeout_s": timeout, "peak_gpu_mib": poll.peak_mib,
            "peak_gpu_kind": "device-wide memory.used (nvidia-smi, polled every 0.5 s)",
            "message": rejected or (f"{len(names) - n_ok} of {len(names)} notebooks did not pass" if n_ok < len(names)
                                    else None), "notebooks": results}


def paper_entry(args: argparse.Namespace, out_dir: Path, timeout: float) -> Dict[str, Any]:
    """The ``paper`` step, or ``skipped`` (saying where it looked) without the official weights."""
    dirs = official_search_dirs(args.official_dir)
    w = find_official_weights(dirs)
    if not all(w.values()):
        missing = [b for b, p in w.items() if p is None]
        return {"status": "skipped", "wall_s": 0.0, "peak_gpu_mib": None,
                "message": f"skipped: official weights not found at {', '.join(str(d) for d in dirs)} "
                           f"(no {' / '.join(OFFICIAL_GLOBS[b] for b in missing)} .pth/.safetensors; "
                           "get them with `mifomo-lite model download` or pass --official-dir)"}
    params = {"target": args.target, "episodes": args.episodes, "spatial": str(w["spatial"]),
              "spectral": str(w["spectral"]), "out_dir": str(Path(out_dir) / "paper")}
    return run_worker_step("paper", params, timeout)


def gpu_environment() -> Dict[str, Any]:
    import torch

    props = torch.cuda.get_device_properties(0)
    return {"torch": torch.__version__, "cuda": torch.version.cuda, "device": props.name,
            "capability": list(torch.cuda.get_device_capability(0)),
            "memory_total_mib": round(props.total_memory / 2**20), "python": sys.version.split()[0],
            "cpu_count": os.cpu_count()}


def write_json(path: Path, data: Dict[str, Any]) -> Path:
    """Write ``data`` atomically (a half-written file never replaces the target)."""
    from mifomo_lite.utils import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def summarize(steps: Dict[str, Dict[str, Any]], environment: Dict[str, Any], command: str,
              wall_s: float) -> Dict[str, Any]:
    """The JSON document: overall ``ok`` = every step passed or was skipped."""
    return {"schema": SCHEMA, "created": _now(), "command": command, "wall_s": round(wall_s, 2),
            "ok": all(s.get("status") in ("passed", "skipped") for s in steps.values()),
            "environment": environment, "steps": steps}


def run_check(args: argparse.Namespace, out_dir: Path, log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Run the selected steps on the GPU and write ``out_dir/gpu_check.json``."""
    t, t0 = timeouts_of(args), time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = gpu_environment()
    log(f"gpu-check on {env['device']} (capability {env['capability']}, torch {env['torch']})")
    steps: Dict[str, Dict[str, Any]] = {}
    for step in [s for s in STEPS if s in args.steps]:
        log(f"→ {step} (≤ {t[step]:.0f} s)")
        if step == "throughput":
            steps[step] = run_worker_step("throughput", {}, t[step])
        elif step == "paper":
            steps[step] = paper_entry(args, out_dir, t[step])
        else:
            steps[step] = notebooks_step(args.profile, out_dir / "notebooks", t[step])
        s = steps[step]
        log(f"  {s['status']} in {s.get('wall_s', 0):.0f} s" + (f": {s['message']}" if s.get("message") else ""))
    res = summarize(steps, env, "mifomo-lite bench --gpu --steps " + " ".join(args.steps),
                    time.perf_counter() - t0)
    write_json(out_dir / "gpu_check.json", res)
    log(f"{'ok' if res['ok'] else 'FAILED'}: {out_dir / 'gpu_check.json'} ({res['wall_s']:.0f} s)")
    return res


def check(args: argparse.Namespace, out_dir: Optional[Path] = None, log: Callable[[str], None] = print) -> int:
    """The command: the plan with ``--dry-run``; one line and 0 without CUDA; else run the steps."""
    if args.episodes < 1:
        from mifomo_lite.errors import ConfigError

        raise ConfigError(f"--episodes must be ≥ 1, got {args.episodes}")
    if args.dry_run:
        log(f"gpu-check plan (time limits total {sum(timeouts_of(args)[s] for s in args.steps):.0f} s):")
        for line in plan(args):
            log("  " + line)
        return 0
    ok, why = cuda_status()
    if not ok:
        log(f"gpu-check: no CUDA GPU here ({why}); nothing run.")
        return 0
    res = run_check(args, Path(out_dir) if out_dir else default_out_dir(), log)
    return 0 if res["ok"] else 1


# ------------------------------------------------------------------------------ entry points
def _worker(step: str, result: Path, params: Dict[str, Any]) -> int:
    out = throughput_step(**params) if step == "throughput" else paper_step(**params)
    result.write_text(json.dumps(out, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mifomo_tools.gpu_check",
                                description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="folder for gpu_check.json and the steps' outputs (default runs/gpu-check/<stamp>/)")
    p.add_argument("--worker", choices=("throughput", "paper"), help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--params", type=json.loads, default={}, help=argparse.SUPPRESS)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker:
        return _worker(args.worker, args.result, args.params)
    try:
        return check(args, args.out)
    except Exception as exc:  # a user-facing error: one line, like the mifomo-lite command
        from mifomo_lite.errors import MifomoError

        if not isinstance(exc, MifomoError):
            raise
        print(f"gpu-check: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover - command entry
    sys.exit(main())
