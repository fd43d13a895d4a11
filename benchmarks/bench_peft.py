"""Benchmark the adaptation methods of :mod:`mifomo_lite.peft` on the MIFOMO model.

Measures, per model size and method:

* **training-step time** — one episodic step as MIFOMO takes it (embed a batch of 9×9×50 patches,
  prototypical cross-entropy, backward, AdamW step with :func:`mifomo_lite.peft.param_groups`):
  median (and IQR) over ``--steps`` steps after ``--warmup`` warm-up steps;
* **peak memory** — on CUDA ``torch.cuda.max_memory_allocated``; on CPU the peak resident set
  size of a fresh worker process (``ru_maxrss``), reported in total and as the increase over the
  process's RSS after the model was built and adapted (the training-state cost of the method).
  Every (size, method) runs in its own subprocess so that peaks do not leak between methods;
* **merged-CP inference overhead** — forward time of the plain model, of the CP model unmerged and
  of the CP model after :func:`~mifomo_lite.peft.merge_adapters`, interleaved over
  ``--inference-reps``; overhead = t / t_plain − 1 on the fastest run (process CPU time on CPU,
  which other processes on a shared machine disturb least; medians are reported too), plus the
  exact FLOP overhead from ``torch.utils.flop_counter`` (goal: 0 % after merge);
* the **parameter table** (adapter, closed form, trainable, backbone) for ``--table-sizes``.

Output: one JSON document (``--out`` file and/or stdout) with
:func:`mifomo_lite.utils.environment_record` and the load average, and a Markdown summary on
stderr. ``run(quick)`` returns the same numbers as figures for ``mifomo-lite bench``.

    python benchmarks/bench_peft.py                       # small (batch 32) + base (batch 4), CPU
    python benchmarks/bench_peft.py --sizes small --steps 5 --out runs/bench_peft.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

METHODS = {
    "cp": ("cp", {}),
    "cp_shared": ("cp", {"shared_across_heads": True}),
    "lora_r16": ("lora", {"rank": 16}),
    "lora_mifomo_r3": ("lora", {"rank": 3, "variant": "output"}),
    "prompt": ("prompt", {"n_prompts": 8}),
    "head": ("head", {}),
    "full": ("full", {}),
}




def _quartiles(xs):
    xs = sorted(xs)
    if len(xs) < 4:
        return xs[0], xs[-1]
    q = statistics.quantiles(xs, n=4)
    return q[0], q[2]


def _loss(emb, n_way):
    """Prototypical cross-entropy: first half of each class = support, rest = query."""
    import torch
    import torch.nn.functional as F

    B = emb.shape[0]
    labels = torch.arange(B, device=emb.device) % n_way
    half = B // 2
    sup, q = emb[:half], emb[half:]
    protos = torch.stack([sup[labels[:half] == c].mean(0) for c in range(n_way)])
    logits = 20.0 * F.normalize(q, dim=-1) @ F.normalize(protos, dim=-1).T
    return F.cross_entropy(logits, labels[half:])


def train_worker(cfg: dict) -> dict:
    """One (size, method): time training steps in this process and report memory."""
    import torch

    from mifomo_tools.bench import peak_rss_mib, rss_mib
    from mifomo_lite.models.factory import create_model
    from mifomo_lite.peft import apply_adaptation, param_groups

    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(0)
    dev = torch.device(cfg["device"])
    method, opts = METHODS[cfg["method"]]
    model = create_model(cfg["size"], device=dev)
    summ = apply_adaptation(model, method, phase="target", **opts)
    model.train()
    opt = torch.optim.AdamW(param_groups(model, lr_model=1e-4, lr_peft=1e-3), eps=1e-4, weight_decay=1e-5)
    B, n_way = cfg["batch"], min(cfg["batch"] // 2, 8)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(B, 50, 9, 9, generator=g).to(dev)
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss0 = rss_mib()
    times, cpu = [], []
    for i in range(cfg["warmup"] + cfg["steps"]):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = _loss(model(x), n_way)
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i >= cfg["warmup"]:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    q1, q3 = _quartiles(times)
    out = {
        "size": cfg["size"], "method": cfg["method"], "adapter_method": method, "options": opts,
        "batch": B, "device": str(dev), "steps": cfg["steps"], "warmup": cfg["warmup"],
        "step_s_median": statistics.median(times), "step_s_q1": q1, "step_s_q3": q3,
        "step_cpu_s_median": statistics.median(cpu),
        "trainable": summ.trainable, "adapter": summ.adapter, "backbone": summ.backbone,
        "loss_finite": bool(torch.isfinite(loss).item()),
    }
    if dev.type == "cuda":
        out["peak_mem_mib"] = torch.cuda.max_memory_allocated() / 2**20
        out["peak_mem_kind"] = "cuda max_memory_allocated"
    else:
        out["peak_mem_mib"] = peak_rss_mib()
        out["peak_mem_over_model_mib"] = peak_rss_mib() - rss0
        out["peak_mem_kind"] = "process peak RSS (ru_maxrss); *_over_model = peak minus RSS after build+adapt"
    return out


def inference_overhead(size: str, batch: int, reps: int, device: str, threads: int) -> dict:
    """Plain vs CP-unmerged vs CP-merged forward (eval, no grad), interleaved: wall and process
    CPU time (robust to other processes when single-threaded), min and median, and FLOPs counted
    by ``torch.utils.flop_counter`` (exact, noise-free: the merged model must equal the plain one).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from mifomo_lite.models.factory import create_model
    from mifomo_lite.peft import adapter_parameters, apply_adaptation, merge_adapters

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dev = torch.device(device)
    plain = create_model(size, device=dev).eval()
    cp_model = copy.deepcopy(plain)
    apply_adaptation(cp_model, "cp")
    with torch.no_grad():  # a "trained" CP, not the near-identity init
        for _, p in adapter_parameters(cp_model).values():
            p.add_(0.05 * torch.randn_like(p))
    merged = copy.deepcopy(cp_model)
    merge_adapters(merged, safe=True)
    x = torch.randn(batch, 50, 9, 9, generator=torch.Generator().manual_seed(1)).to(dev)
    models = {"plain": plain, "cp_unmerged": cp_model, "cp_merged": merged}
    times = {k: [] for k in models}
    cpu = {k: [] for k in models}

    def run(k):
        t0, c0 = time.perf_counter(), time.process_time()
        models[k](x)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times[k].append(time.perf_counter() - t0)
        cpu[k].append(time.process_time() - c0)

    flops = {}
    with torch.no_grad():
        for k, m in models.items():
            counter = FlopCounterMode(display=False)
            with counter:
                m(x)
            flops[k] = counter.get_total_flops() / batch
        max_err = (merged(x) - cp_model(x)).abs().max().item()
        for r in range(reps):
            order = list(models) if r % 2 == 0 else list(reversed(models))
            for k in order:
                run(k)
    # the timing source that is robust to other processes: CPU time on CPU, wall time on CUDA
    basis = cpu if dev.type == "cpu" else times
    best = {k: min(v) for k, v in basis.items()}
    med = {k: statistics.median(v) for k, v in basis.items()}
    return {
        "size": size, "batch": batch, "device": str(dev), "reps": reps,
        "timing_basis": "process CPU time" if dev.type == "cpu" else "wall time",
        "forward_s_min": best,
        "forward_s_median": med,
        "forward_wall_s_median": {k: statistics.median(v) for k, v in times.items()},
        "flops_per_sample": flops,
        "overhead_pct_unmerged": 100 * (best["cp_unmerged"] / best["plain"] - 1),
        "overhead_pct_merged": 100 * (best["cp_merged"] / best["plain"] - 1),
        "overhead_pct_unmerged_median": 100 * (med["cp_unmerged"] / med["plain"] - 1),
        "overhead_pct_merged_median": 100 * (med["cp_merged"] / med["plain"] - 1),
        "flops_overhead_pct_unmerged": 100 * (flops["cp_unmerged"] / flops["plain"] - 1),
        "flops_overhead_pct_merged": 100 * (flops["cp_merged"] / flops["plain"] - 1),
        "merged_vs_unmerged_max_abs_diff": max_err,
    }


def _run_worker(cfg: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(cfg)], capture_output=True,
                          text=True, env={**os.environ, "OMP_NUM_THREADS": str(cfg["threads"])})
    if proc.returncode:
        return {"size": cfg["size"], "method": cfg["method"], "error": proc.stderr.strip()[-2000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _markdown(result: dict) -> str:
    lines = ["| size | method | batch | step wall (median s) | IQR | step CPU (median s) | peak mem (MiB) | "
             "over model (MiB) | trainable |", "|---|---|---:|---:|---|---:|---:|---:|---:|"]
    for r in result["training"]:
        if "error" in r:
            lines.append(f"| {r['size']} | {r['method']} | error: {r['error'][-80:]} |")
            continue
        lines.append(f"| {r['size']} | {r['method']} | {r['batch']} | {r['step_s_median']:.3f} | "
                     f"{r['step_s_q1']:.3f}–{r['step_s_q3']:.3f} | {r['step_cpu_s_median']:.3f} | "
                     f"{r['peak_mem_mib']:.0f} | "
                     f"{r.get('peak_mem_over_model_mib', float('nan')):.0f} | {r['trainable']:,} |")
    lines += ["", "| size | batch | plain (s) | CP unmerged (s) | CP merged (s) | overhead unmerged | "
              "overhead merged | FLOPs overhead unmerged / merged |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in result["inference"]:
        m = r["forward_s_min"]
        lines.append(f"| {r['size']} | {r['batch']} | {m['plain']:.4f} | {m['cp_unmerged']:.4f} | "
                     f"{m['cp_merged']:.4f} | {r['overhead_pct_unmerged']:+.1f} % | "
                     f"{r['overhead_pct_merged']:+.1f} % | {r['flops_overhead_pct_unmerged']:+.2f} % / "
                     f"{r['flops_overhead_pct_merged']:+.2f} % |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["small", "base"])
    ap.add_argument("--batch", type=int, nargs="+", default=None,
                    help="training batch per size (default: 32 for tiny/small, 4 for base)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--inference-batch", type=int, nargs="+", default=None,
                    help="inference batch per size (default: 128 for tiny/small, 16 for base)")
    ap.add_argument("--inference-reps", type=int, default=15)
    ap.add_argument("--table-sizes", nargs="+", default=["tiny", "small", "base"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    ap.add_argument("--parts", nargs="+", default=["training", "inference", "table"],
                    choices=["training", "inference", "table"])
    ap.add_argument("--out", type=Path, default=None, help="write the JSON here (also printed)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return ap


def collect_results(args: argparse.Namespace, log=None) -> dict:
    """Run the parts of the benchmark that ``args`` asks for; return the JSON-ready result."""
    from mifomo_lite.peft import parameter_table
    from mifomo_lite.utils import environment_record

    log = log or (lambda m: print(m, file=sys.stderr))
    small = ("tiny", "small")
    batches = args.batch or [32 if s in small else 4 for s in args.sizes]
    ibatches = args.inference_batch or [128 if s in small else 16 for s in args.sizes]
    if len(batches) == 1 and len(args.sizes) > 1:
        batches = batches * len(args.sizes)
    if len(ibatches) == 1 and len(args.sizes) > 1:
        ibatches = ibatches * len(args.sizes)
    if len(batches) != len(args.sizes) or len(ibatches) != len(args.sizes):
        raise SystemExit("--batch / --inference-batch need one value, or one per size")
    t_start = time.time()
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    training = []
    for size, b in zip(args.sizes, batches) if "training" in args.parts else ():
        for method in args.methods:
            cfg = {"size": size, "method": method, "batch": b, "steps": args.steps, "warmup": args.warmup,
                   "device": args.device, "threads": args.threads}
            r = _run_worker(cfg)
            training.append(r)
            log(f"[bench_peft] {size:>5} {method:<15} "
                + (f"{r['step_s_median']:.3f} s/step" if "error" not in r else "ERROR"))
    inference = [inference_overhead(s, b, args.inference_reps, args.device, args.threads)
                 for s, b in zip(args.sizes, ibatches)] if "inference" in args.parts else []
    table = parameter_table(tuple(args.table_sizes)) if "table" in args.parts else []
    return {
        "benchmark": "bench_peft",
        "environment": environment_record(),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "worker"},
        "training": training,
        "inference": inference,
        "parameter_table": table,
        "wall_s": time.time() - t_start,
        # other processes on the machine distort CPU timings: keep the load next to the numbers
        "load_average_before": load_before,
        "load_average_after": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def figures(res: dict) -> list[dict]:
    """The result as figures of the ``mifomo-lite bench`` contract (:mod:`mifomo_tools.bench`)."""
    figs = []
    threads = res["config"].get("threads")
    for r in res.get("training", []):
        tag = f"{r['size']}/{r['method']}"
        if "error" in r:
            figs.append({"name": f"PEFT training step, {tag}", "value": None, "unit": "ms", "how": "failed",
                         "note": r["error"][-300:]})
            continue
        how = (f"one episodic step (forward, prototypical loss, backward, AdamW with peft.param_groups) on a "
               f"batch of {r['batch']} 9×9×50 patches; median wall time of {r['steps']} steps after "
               f"{r['warmup']} warm-up, fresh process per method, {threads} thread(s)")
        figs.append({"name": f"PEFT training step, {tag}", "value": round(1000 * r["step_s_median"], 2),
                     "unit": "ms", "how": how,
                     "details": {"iqr_ms": [round(1000 * r["step_s_q1"], 2), round(1000 * r["step_s_q3"], 2)],
                                 "cpu_ms_median": round(1000 * r.get("step_cpu_s_median", float("nan")), 2),
                                 "trainable": r["trainable"], "adapter": r["adapter"], "backbone": r["backbone"]}})
        figs.append({"name": f"PEFT training peak memory, {tag}", "value": round(r["peak_mem_mib"], 1),
                     "unit": "MiB", "how": r["peak_mem_kind"],
                     "details": {"over_model_mib": r.get("peak_mem_over_model_mib")}})
    for r in res.get("inference", []):
        how = (f"eval forward, batch {r['batch']}: plain, CP unmerged and CP merged interleaved, {r['reps']} reps "
               f"each; overhead = t / t_plain − 1 on the fastest rep ({r['timing_basis']}); FLOPs by "
               "torch.utils.flop_counter")
        flops_zero = abs(r["flops_overhead_pct_merged"]) < 1e-9
        figs.append({"name": f"merged-CP inference overhead, {r['size']}",
                     "value": round(r["overhead_pct_merged"], 2), "unit": "%", "how": how,
                     "goal": "0 % after merge (issue 4): FLOPs identical, time within ±5 % noise",
                     "met": bool(flops_zero and abs(r["overhead_pct_merged"]) <= 5.0),
                     "ratio_of": "plain model forward, same run",
                     "details": {"forward_s_min": r["forward_s_min"], "forward_s_median": r["forward_s_median"],
                                 "median_based_pct": round(r["overhead_pct_merged_median"], 2),
                                 "flops_per_sample": r["flops_per_sample"],
                                 "max_abs_diff_merged_vs_unmerged": r["merged_vs_unmerged_max_abs_diff"]}})
        figs.append({"name": f"merged-CP FLOP overhead, {r['size']}",
                     "value": round(r["flops_overhead_pct_merged"], 4), "unit": "%",
                     "how": "FLOPs per sample of the merged vs the plain model (FlopCounterMode, exact)",
                     "goal": "0 % (issue 4)", "met": bool(flops_zero), "ratio_of": "plain model FLOPs"})
        figs.append({"name": f"unmerged-CP inference overhead, {r['size']}",
                     "value": round(r["overhead_pct_unmerged"], 2), "unit": "%", "how": how,
                     "ratio_of": "plain model forward, same run",
                     "details": {"flops_overhead_pct": round(r["flops_overhead_pct_unmerged"], 3)}})
    for row in res.get("parameter_table", []):
        figs.append({"name": f"trainable parameters, {row['size']} / {row['label']}", "value": row["trainable"],
                     "unit": "params",
                     "how": "requires_grad parameters after apply_adaptation(phase='target') on the meta-device "
                            "model (protocol layers included; the prototypical scale is outside the model)",
                     "goal": "adapter part = closed form (issue 4)",
                     "met": bool(row["adapter"] == row["adapter_closed_form"]),
                     "details": row})
    return figs


def run(quick: bool = False) -> list[dict]:
    """Entry point of ``mifomo-lite bench``: the figures of a full run (small batch 32 and base
    batch 4, all methods) or of a quick one (small model, four methods, batch 8, one thread —
    about half a minute on an idle 2-core machine)."""
    argv = []
    if quick:
        argv = ["--sizes", "small", "--methods", "cp", "lora_r16", "head", "full", "--batch", "8",
                "--steps", "3", "--warmup", "1", "--inference-batch", "32", "--inference-reps", "5",
                "--table-sizes", "tiny", "small", "--threads", "1"]
    args = build_parser().parse_args(argv)
    return figures(collect_results(args))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker:
        print(json.dumps(train_worker(json.loads(args.worker))))
        return 0
    from mifomo_lite.peft import format_parameter_table

    result = collect_results(args)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)
    print("\n" + _markdown(result) + "\n\n" + format_parameter_table(result["parameter_table"]), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
