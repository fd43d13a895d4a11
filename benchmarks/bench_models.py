"""Benchmark the HyperSIGMA models of :mod:`mifomo_lite.models` on the CPU (or a GPU if asked).

Per model size (default ``tiny``, ``small``, ``base``; MIFOMO's 9×9×50 input) it measures:

* **forward** throughput (samples/s; eval mode, no gradients) and **forward+backward** throughput
  (train mode; loss = mean squared embedding, backward through every executed block);
* **achieved GFLOP/s** — FLOPs per sample counted with
  :class:`torch.utils.flop_counter.FlopCounterMode` (matmuls, convolutions, attention; 2 per
  multiply-add) times samples/s — next to the **fp32 GEMM peak** measured in the same run (a large
  square ``torch.mm``), and the ratio of the two. The GEMM is timed *interleaved* with the model
  steps in the same worker (one GEMM after every step), so both see the same machine load; a
  stand-alone GEMM figure per thread count is recorded too;
* **peak memory** — the peak resident set size (``ru_maxrss``) of a fresh worker process per
  (size, mode), and its increase over the RSS right after the model was built.

Every timing is the median of ``--repeats`` runs after ``--warmup`` warm-up runs. The machine's
load average is recorded before and after: on a shared machine numbers fluctuate. Output: one JSON
document (``--out``, default ``benchmarks/results/bench_models.json``) with
:func:`mifomo_lite.utils.environment_record`, and a Markdown table on stderr.

    python benchmarks/bench_models.py                          # tiny/small/base, 1 thread and the default
    python benchmarks/bench_models.py --sizes tiny --threads 2 --repeats 7
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_BATCH = {"tiny": 256, "small": 128, "base": 16, "large": 4, "huge": 2}
ROOT = Path(__file__).resolve().parents[1]


def _median_time(fn, repeats: int, warmup: int, sync=lambda: None) -> tuple[float, list]:
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def gemm_peak(n: int, repeats: int, warmup: int, device: str) -> dict:
    """fp32 GFLOP/s of an n×n by n×n matmul (2·n³ FLOPs), median over repeats."""
    import torch

    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    med, times = _median_time(lambda: torch.mm(a, b), repeats, warmup, sync)
    return {"n": n, "median_s": med, "gflops": 2 * n**3 / med / 1e9, "best_gflops": 2 * n**3 / min(times) / 1e9}


def worker(cfg: dict) -> dict:
    """One (size, mode) measurement in this (fresh) process."""
    import torch

    if cfg.get("threads"):
        torch.set_num_threads(int(cfg["threads"]))
    from mifomo_tools.bench import peak_rss_mib, rss_mib
    from mifomo_lite.models import count_flops, create_model

    device = cfg["device"]
    torch.manual_seed(0)
    model = create_model(cfg["size"]).to(device)
    flops_model = create_model(cfg["size"], device="meta")
    fwd_flops = count_flops(flops_model)["total"]
    train_flops = count_flops(flops_model, backward=True)["total"]
    rss0 = rss_mib()
    B = cfg["batch"]
    x = torch.randn(B, 50, 9, 9, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    if cfg["mode"] == "forward":
        model.eval()

        def step():
            with torch.no_grad():
                model(x)
        per_sample = fwd_flops
    else:
        model.train()

        def step():
            model.zero_grad(set_to_none=True)
            model(x).pow(2).mean().backward()
        per_sample = train_flops
    # Interleave the model step with the reference GEMM so that both see the same machine load.
    n = cfg["gemm_n"]
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(cfg["warmup"]):
        step()
        torch.mm(a, b)
    sync()
    times, gemm_times = [], []
    for _ in range(cfg["repeats"]):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        torch.mm(a, b)
        sync()
        gemm_times.append(time.perf_counter() - t0)
    med, gmed = statistics.median(times), statistics.median(gemm_times)
    gemm = 2 * n**3 / gmed / 1e9
    out = {"size": cfg["size"], "mode": cfg["mode"], "batch": B, "threads": torch.get_num_threads(),
           "median_s": med, "times_s": times, "samples_per_s": B / med, "flops_per_sample": per_sample,
           "gflops": per_sample * B / med / 1e9, "gemm_gflops_interleaved": gemm,
           "fraction_of_gemm_peak": per_sample * B / med / 1e9 / gemm}
    if device.startswith("cuda"):
        out["peak_mem_mib"] = torch.cuda.max_memory_allocated() / 2**20
        out["peak_mem_kind"] = "cuda max_memory_allocated"
    else:
        out["peak_mem_mib"] = peak_rss_mib()
        out["peak_mem_over_model_mib"] = peak_rss_mib() - rss0
        out["peak_mem_kind"] = "process peak RSS (ru_maxrss); *_over_model = peak minus RSS after building the model"
    return out


def _run_worker(cfg: dict) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(cfg)], capture_output=True, text=True,
                          env=env)
    if proc.returncode:
        raise RuntimeError(f"worker {cfg} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["tiny", "small", "base"])
    ap.add_argument("--batch", nargs="*", default=[], metavar="SIZE=B", help="batch per size, e.g. base=8")
    ap.add_argument("--modes", nargs="+", default=["forward", "train"], choices=["forward", "train"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 0],
                    help="torch threads to try (0 = torch default); on a busy shared CPU one thread is often "
                         "fastest (no OpenMP spin-waiting), so both are measured by default")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--gemm-n", type=int, default=2048)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_models.json")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0

    import torch

    from mifomo_lite.utils import environment_record

    batch = dict(DEFAULT_BATCH)
    for item in args.batch:
        k, v = item.split("=")
        batch[k] = int(v)
    load_before = os.getloadavg()
    result = {"benchmark": "mifomo_lite.models", "device": args.device, "input": "(B, 50, 9, 9) float32",
              "environment": environment_record(), "load_average_before": load_before, "runs": [], "gemm": []}
    default_threads = torch.get_num_threads()
    for t in dict.fromkeys(t or default_threads for t in args.threads):  # de-duplicated, in order
        torch.set_num_threads(t)
        g = gemm_peak(args.gemm_n, args.repeats, args.warmup, args.device)
        g["threads"] = t
        result["gemm"].append(g)
        for size in args.sizes:
            for mode in args.modes:
                cfg = {"size": size, "mode": mode, "batch": batch[size], "threads": t, "device": args.device,
                       "repeats": args.repeats, "warmup": args.warmup, "gemm_n": args.gemm_n}
                r = _run_worker(cfg)
                result["runs"].append(r)
                print(f"  {size:<6} {mode:<8} threads={t} batch={r['batch']:<4} {r['samples_per_s']:9.1f} samples/s "
                      f"{r['gflops']:7.1f} GFLOP/s ({100 * r['fraction_of_gemm_peak']:.0f}% of GEMM "
                      f"{r['gemm_gflops_interleaved']:.1f}) peak RSS {r['peak_mem_mib']:.0f} MiB", file=sys.stderr)
    result["load_average_after"] = os.getloadavg()
    small_train = [r for r in result["runs"] if r["size"] == "small" and r["mode"] == "train"]
    if small_train:
        best = max(small_train, key=lambda r: r["fraction_of_gemm_peak"])
        result["goal"] = {"what": "small model training step ≥ 50% of the fp32 GEMM peak",
                          "reached_fraction": best["fraction_of_gemm_peak"], "threads": best["threads"],
                          "met": best["fraction_of_gemm_peak"] >= 0.5}
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(_markdown(result), file=sys.stderr)
    return 0


def run(quick: bool = False) -> list:
    """Figures for ``mifomo-lite bench`` (the :mod:`mifomo_tools.bench` contract): throughput,
    achieved GFLOP/s, fraction of the interleaved fp32 GEMM peak (goal ≥ 50 % for the small model's
    training step) and peak memory per (size, mode). ``quick``: small model only, short runs."""
    import tempfile

    argv = (["--sizes", "small", "--batch", "small=64", "--repeats", "3", "--warmup", "1", "--gemm-n", "1024"]
            if quick else [])
    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        out = Path(tmp) / "bench_models.json"
        main(argv + ["--out", str(out)])
        res = json.loads(out.read_text())
    figs = []
    for g in res["gemm"]:
        figs.append({"name": f"fp32 GEMM peak ({g['n']}², {g['threads']} threads, stand-alone)",
                     "value": round(g["gflops"], 1), "unit": "GFLOP/s",
                     "how": f"torch.mm of two {g['n']}×{g['n']} fp32 matrices, 2·n³ FLOPs, median wall time"})
    for r in res["runs"]:
        tag = f"{r['size']} {r['mode']}, batch {r['batch']}, {r['threads']} threads"
        how = (f"median of {len(r['times_s'])} runs after warm-up; {r['flops_per_sample'] / 1e6:.0f} MFLOP/sample "
               "(FlopCounterMode)")
        figs.append({"name": f"model throughput, {tag}", "value": round(r["samples_per_s"], 2), "unit": "samples/s",
                     "how": how, "details": {"median_s": r["median_s"], "times_s": r["times_s"], "gflops": r["gflops"]}})
        fig = {"name": f"achieved / GEMM peak, {tag}", "value": round(100 * r["fraction_of_gemm_peak"], 1),
               "unit": "%", "how": (f"{r['gflops']:.1f} GFLOP/s achieved / {r['gemm_gflops_interleaved']:.1f} GFLOP/s "
                                    "fp32 GEMM timed interleaved with the model steps (median)"),
               "ratio_of": "fp32 GEMM peak measured in the same run (interleaved)"}
        if r["size"] == "small" and r["mode"] == "train":
            fig.update(goal="≥ 50 % of the fp32 GEMM peak (issue 3)", met=bool(r["fraction_of_gemm_peak"] >= 0.5))
        figs.append(fig)
        figs.append({"name": f"model peak memory, {tag}", "value": round(r["peak_mem_mib"], 1), "unit": "MiB",
                     "how": r["peak_mem_kind"], "details": {"over_model_mib": r.get("peak_mem_over_model_mib")}})
    return figs


def _markdown(res: dict) -> str:
    lines = ["", "| size | mode | threads | batch | samples/s | GFLOP/s | GEMM GFLOP/s | % of GEMM | peak RSS MiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in res["runs"]:
        lines.append(f"| {r['size']} | {r['mode']} | {r['threads']} | {r['batch']} | {r['samples_per_s']:.1f} | "
                     f"{r['gflops']:.1f} | {r['gemm_gflops_interleaved']:.1f} | {100 * r['fraction_of_gemm_peak']:.0f} | "
                     f"{r['peak_mem_mib']:.0f} |")
    for g in res["gemm"]:
        lines.append(f"\nstand-alone fp32 GEMM {g['n']}², {g['threads']} thread(s): {g['gflops']:.1f} GFLOP/s (median)")
    lines.append(f"load average before/after: {res['load_average_before']} / {res['load_average_after']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
