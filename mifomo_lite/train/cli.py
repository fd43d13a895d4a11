"""``mifomo-lite demo``, ``mifomo-lite run`` and ``mifomo-lite ablate``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..data.cli import byo_flags
from ..sweep import EXECUTORS
from .config import ABLATIONS, ablation_overrides, parse_assignments
from .presets import PRESETS, preset


def _common(p: argparse.ArgumentParser, default_preset: str) -> None:
    p.add_argument("--preset", default=default_preset, choices=PRESETS,
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
    byo_flags(p)
    p.add_argument("--support", type=Path, default=None, metavar="POINTS.csv",
                   help="sparse-label mode: a CSV of row,col,class points and no ground truth; predicts and "
                        "writes the whole class map (npy, tif, png), scores nothing")
    p.add_argument("--drop-small-classes", action="store_true",
                   help="leave out target classes with fewer than n_shot + 1 labelled pixels (named in the log)")


def byo_scene(args, target: str):
    """Load ``target`` with the bring-your-own flags, or ``None`` when none was given (then the
    runner loads ``target`` by name or path itself)."""
    from ..data import load_scene
    from ..data.validate import parse_class_names

    own = dict(cube_key=args.cube_key, labels=args.labels, labels_key=args.labels_key,
               class_names=parse_class_names(args.class_names), labels_downsample=args.labels_downsample)
    if all(v is None for v in own.values()):
        return None
    return load_scene(target, progress=not getattr(args, "no_progress", False), **own)


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


def _run(args, cfg) -> int:
    from ..api import print_result
    from .outdir import check_out_dir
    from .runner import run_to_folder

    resume = getattr(args, "resume", False)
    if resume and args.out is None:
        from ..errors import ConfigError

        raise ConfigError("--resume needs --out: the folder of the run to continue")
    if args.out is not None:
        check_out_dir(args.out, args.overwrite, resume)      # before loading anything
    if getattr(args, "support", None) is not None:
        return _run_sparse(args, cfg)
    scene = byo_scene(args, cfg.target)
    result, out = run_to_folder(cfg, args.out, overwrite=args.overwrite, target_scene=scene,
                                drop_small_classes=args.drop_small_classes, resume=resume)
    print_result(result, out)
    return 0


def _run_sparse(args, cfg) -> int:
    from ..data.validate import parse_class_names
    from .predict_map import run_sparse

    if args.labels is not None:
        from ..errors import ConfigError

        raise ConfigError("--support and --labels exclude each other: --support is for scenes without a "
                          "ground-truth map")
    pred, out = run_sparse(cfg, cfg.target, args.support, args.out, overwrite=args.overwrite,
                           cube_key=args.cube_key, class_names=parse_class_names(args.class_names))
    print((out / "report.md").read_text())
    print(f"class map: {out / 'classification_map.tif'} (also .npy, .png); classes.json names the ids")
    return 0


def cmd_run(args) -> int:
    if not args.ablation:
        return _run(args, _config(args))
    semantics = _config(args).ablation_semantics  # the preset's (or --set) meaning of the ablation
    return _run(args, _config(args, **ablation_overrides(args.ablation, semantics)))


def cmd_demo(args) -> int:
    cfg = _config(args)
    print(f"mifomo-lite demo: {cfg.preset} preset, target {cfg.target}, sources {', '.join(cfg.sources)}, "
          f"{cfg.n_test_episodes} test episodes (offline)")
    return _run(args, cfg)


def cmd_ablate(args) -> int:
    from .runner import ablate

    from .runner import target_scene_for

    if args.rebuild_from is not None:
        from .ablation_table import rebuild_ablation

        rebuild_ablation(args.rebuild_from)
        print((Path(args.rebuild_from) / "ablation.md").read_text())
        return 0
    if args.support is not None:
        from ..errors import ConfigError

        raise ConfigError("ablate needs a ground-truth map to score each ablation; --support (points only) "
                          "works with `run` and `demo`")
    cfg = _config(args)
    scene = byo_scene(args, cfg.target)
    if scene is not None or args.drop_small_classes:
        scene = target_scene_for(cfg, scene, args.drop_small_classes)
    payload, out = ablate(cfg, args.only, args.out, jobs=args.jobs, executor=args.executor,
                          overwrite=args.overwrite, target_scene=scene)
    print((out / "ablation.md").read_text())
    print(f"written to {out}")
    return 0


def _resume_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resume", action="store_true",
                   help="record each finished test episode (and the model after phase 1) in --out, and continue "
                        "an interrupted run there with the same config; the metrics equal an uninterrupted run's")


def register(sub) -> None:
    p = sub.add_parser("demo", help="the main job: the lite preset on the embedded default (offline)")
    _common(p, "lite")
    _resume_flag(p)
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser("run", help="run MIFOMO with a preset, scenes and overrides")
    _common(p, "lite")
    _resume_flag(p)
    p.add_argument("--ablation", choices=sorted(ABLATIONS), default=None,
                   help="apply one Table X ablation")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("ablate", help="run the Table X ablation grid and write the table")
    _common(p, "lite")
    p.add_argument("--only", nargs="+", choices=sorted(ABLATIONS), default=None)
    p.add_argument("--jobs", type=int, default=1,
                   help="rows run at once (default 1: serial, in this process; results are the same)")
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local processes (joblib, default), or a cluster via ray or submitit (optional extras)")
    p.add_argument("--from", dest="rebuild_from", type=Path, default=None, metavar="DIR",
                   help="run nothing: rewrite DIR/ablation.md and .json (with the paired table) from the "
                        "row folders of an existing ablation folder")
    p.set_defaults(handler=cmd_ablate)
