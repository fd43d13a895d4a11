"""``mifomo-lite bench``: run the benchmarks into a run folder, record a full run, compare two runs,
check a GPU.

    mifomo-lite bench --quick                 # ≤ 5 min on 2 cores → runs/bench/<stamp>/
    mifomo-lite bench --only pipeline         # one benchmark
    mifomo-lite bench --jobs 2                # two benchmarks at a time (timings then share the CPU)
    mifomo-lite bench --record [DIR]          # a full run (default: the newest) → benchmarks/ + README
    mifomo-lite bench --compare A B           # ratio B / A per figure (files or run folders)
    mifomo-lite bench --gpu [--dry-run]       # the GPU check (`make gpu-check`)
    mifomo-lite bench --list                  # what would run
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="run the benchmarks into runs/bench/<stamp>/ (record, compare, GPU check)",
        description="Run every benchmarks/bench_*.py (each in its own process) and write one JSON "
                    "(machine, versions, thread counts, git revision, every figure with its unit and "
                    "method), a Markdown table and a timing plot into runs/bench/<stamp>/. No tracked "
                    "file changes unless you ask with --record.")
    p.add_argument("--quick", action="store_true",
                   help="small sizes and few repetitions (≤ 5 minutes on 2 cores); demo, accuracy and "
                        "notebook figures are read from existing run folders instead of re-running")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="folder for the results (default: a fresh runs/bench/<stamp>/; "
                        "with --gpu: runs/gpu-check/<stamp>/)")
    p.add_argument("--only", nargs="+", default=None, metavar="NAME",
                   help="run only these benchmarks (e.g. pipeline peft)")
    p.add_argument("--budget", type=float, default=None, metavar="S",
                   help="overall time budget in seconds (default 285 with --quick)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="run N benchmarks at a time, each in its own process (default 1: one after the "
                        "other; concurrent benchmarks share the CPU, so their timings are not comparable)")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument("--record", nargs="?", const="latest", default=None, metavar="DIR",
                   help="copy a finished full run (default: the newest under runs/bench/) into "
                        "benchmarks/results.json + RESULTS.md and refresh the README table; "
                        "quick runs are refused")
    p.add_argument("--compare", nargs=2, type=Path, default=None, metavar=("A", "B"),
                   help="print the ratio B / A of every figure found in both result files (or run folders)")
    p.add_argument("--gpu", action="store_true",
                   help="the GPU check (notebooks under papermill with the colab profile, the paper "
                        "preset for 2 episodes, train-step throughput / GEMM peak); on a machine "
                        "without CUDA it says so and exits 0")
    from .gpu_check import add_arguments

    add_arguments(p.add_argument_group("GPU check (with --gpu)"))
    p.set_defaults(handler=_bench)


def _check_combination(args: argparse.Namespace) -> None:
    from mifomo_lite.errors import ConfigError

    modes = [m for m, on in (("--record", args.record is not None), ("--compare", args.compare is not None),
                             ("--gpu", args.gpu), ("--list", args.list)) if on]
    if len(modes) > 1:
        raise ConfigError(f"{' and '.join(modes)} cannot be combined; give one of them")
    if args.record is not None and args.quick:
        raise ConfigError("--record never records a quick run: run `mifomo-lite bench` (without --quick), "
                          "then `mifomo-lite bench --record`")
    if args.jobs < 1:
        raise ConfigError(f"--jobs must be ≥ 1, got {args.jobs}")


def _bench(args: argparse.Namespace) -> int:
    _check_combination(args)
    if args.gpu:
        from .gpu_check import check

        return check(args, args.out)
    if args.compare is not None:
        from .bench_record import compare, format_compare, load_results

        a, b = args.compare
        print(format_compare(compare(load_results(a), load_results(b)), str(a), str(b)))
        return 0
    if args.record is not None:
        from .bench_record import record

        record(None if args.record == "latest" else Path(args.record))
        return 0
    from . import bench

    if args.list:
        for path in bench.discover(None, args.only):
            mod_doc = (path.read_text(errors="replace").split('"""')[1:2] or [""])[0].strip().splitlines()
            print(f"{path.stem[len('bench_'):]:<12} {mod_doc[0] if mod_doc else ''}")
        return 0
    results = bench.run_benchmarks(quick=args.quick, out_dir=args.out, only=args.only, budget_s=args.budget,
                                   jobs=args.jobs)
    bad = [e["name"] for e in results["benchmarks"] if e.get("status") != "ok"]
    return 1 if bad else 0
