"""``mifomo-lite bench``: run the benchmarks in ``benchmarks/`` and write one JSON + one Markdown table.

    mifomo-lite bench --quick                 # ≤ 5 min on 2 cores; reads the demo / notebook runs
    mifomo-lite bench --only pipeline         # one benchmark; the others' entries are kept
    mifomo-lite bench --list                  # what would run
    mifomo-lite bench --bad-inputs-doc        # regenerate docs/bad_inputs.md from the tested cases
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="run the benchmarks and write benchmarks/results.json + RESULTS.md",
        description="Run every benchmarks/bench_*.py (each in its own process) and write one JSON "
                    "(machine, versions, thread counts, git revision, every figure with its unit and "
                    "method) plus a Markdown table for the README.")
    p.add_argument("--quick", action="store_true",
                   help="small sizes and few repetitions (≤ 5 minutes on 2 cores); demo, accuracy and "
                        "notebook figures are read from existing run folders instead of re-running")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="folder for results.json and RESULTS.md (default: benchmarks/)")
    p.add_argument("--only", nargs="+", default=None, metavar="NAME",
                   help="run only these benchmarks (e.g. pipeline peft); keeps the others' entries")
    p.add_argument("--budget", type=float, default=None, metavar="S",
                   help="overall time budget in seconds (default 285 with --quick)")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument("--bad-inputs-doc", action="store_true",
                   help="regenerate docs/bad_inputs.md from the cases in tests/test_bad_inputs.py and exit")
    p.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    from . import bench

    if args.bad_inputs_doc:
        bench.bad_inputs_doc()
        return 0
    if args.list:
        for path in bench.discover(None, args.only):
            mod_doc = (path.read_text(errors="replace").split('"""')[1:2] or [""])[0].strip().splitlines()
            print(f"{path.stem[len('bench_'):]:<12} {mod_doc[0] if mod_doc else ''}")
        return 0
    results = bench.run_benchmarks(quick=args.quick, out_dir=args.out, only=args.only, budget_s=args.budget)
    bad = [e["name"] for e in results["benchmarks"] if e.get("status") != "ok"]
    return 1 if bad else 0
