"""``mifomo-lite demo``, ``mifomo-lite run`` and ``mifomo-lite ablate``."""

from __future__ import annotations

import argparse
from pathlib import Path

from .config import ABLATIONS, parse_assignments, preset


def _common(p: argparse.ArgumentParser, default_preset: str) -> None:
    p.add_argument("--preset", default=default_preset, choices=("smoke", "lite", "paper"),
                   help=f"budget preset (default {default_preset})")
    p.add_argument("--target", default=None, help="target scene (default indian_pines)")
    p.add_argument("--source", action="append", default=None,
                   help="source scene(s): synthetic (default), a scene name, or auto; repeatable")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:1 ...")
    p.add_argument("--episodes", type=int, default=None, help="number of seeded test episodes")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key (repeatable); unknown keys are listed")
    p.add_argument("--out", type=Path, default=None, help="run folder (default runs/<stamp>-...)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing non-empty --out folder (its old files are removed)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _config(args, **extra):
    overrides = dict(extra)
    if args.target:
        overrides["target"] = args.target
    if args.source:
        overrides["sources"] = tuple(args.source)
    if args.device:
        overrides["device"] = args.device
    if args.episodes is not None:
        overrides["n_test_episodes"] = args.episodes
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.no_progress:
        overrides["progress"] = False
    cfg = preset(args.preset, **overrides)
    return cfg.replace(**parse_assignments(args.assignments, cfg)) if args.assignments else cfg


def _print_result(result, out) -> None:
    from . import report as R
    from .runner import results_rows, verdict

    s = result.metrics["summary"]
    print()
    print(R.results_table(results_rows(s)))
    print()
    print(verdict(s, result.metrics.get("paired")))
    print(f"\nrun folder: {out}  (metrics.json, report.md, figures)")
    print(f"wall time: {result.metrics['timings']['total_s']:.1f} s")


def cmd_run(args) -> int:
    from .runner import run_to_folder

    extra = dict(ABLATIONS[args.ablation]) if args.ablation else {}
    cfg = _config(args, **extra)
    result, out = run_to_folder(cfg, args.out, overwrite=args.overwrite)
    _print_result(result, out)
    return 0


def cmd_demo(args) -> int:
    from .runner import run_to_folder

    cfg = _config(args)
    print(f"mifomo-lite demo: {cfg.preset} preset, target {cfg.target}, sources {', '.join(cfg.sources)}, "
          f"{cfg.n_test_episodes} test episodes (offline)")
    result, out = run_to_folder(cfg, args.out, overwrite=args.overwrite)
    _print_result(result, out)
    return 0


def cmd_ablate(args) -> int:
    from . import report as R
    from .runner import ablate

    cfg = _config(args)
    payload, out = ablate(cfg, args.only, args.out, overwrite=args.overwrite)
    print((out / "ablation.md").read_text())
    print(f"written to {out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("demo", help="the main job: the lite preset on the embedded default (offline)")
    _common(p, "lite")
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser("run", help="run MIFOMO with a preset, scenes and overrides")
    _common(p, "lite")
    p.add_argument("--ablation", choices=sorted(ABLATIONS), default=None,
                   help="apply one Table X ablation")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("ablate", help="run the Table X ablation grid and write the table")
    _common(p, "lite")
    p.add_argument("--only", nargs="+", choices=sorted(ABLATIONS), default=None)
    p.set_defaults(handler=cmd_ablate)
