"""``mifomo-lite model …`` sub-commands.

* ``model info [--size S]`` — parameters per part and forward FLOPs per sample (built on the
  ``meta`` device: instant, even for huge).
* ``model load-official --spatial P --spectral P [--json]`` — load official HyperSIGMA MAE files
  safely and print what loaded, what was skipped and what stays fresh.
* ``model download`` / ``model convert`` — fetch an official file from Hugging Face; keep only its
  encoder weights as safetensors.
* ``model evaluate`` — frozen-embedding few-shot prototype accuracy (OA/AA/κ over seeds).

``mifomo-lite pretrain`` is :mod:`.pretrain_cli`.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import ConfigError

SIZES = ("micro", "tiny", "small", "base", "large", "huge")


def register(subparsers) -> None:
    """``mifomo-lite model ...`` (info, load-official, download, convert, evaluate)."""
    _register_model(subparsers)


def _register_model(subparsers) -> None:
    model = subparsers.add_parser("model", help="HyperSIGMA models: sizes, official checkpoints, evaluation",
                                  description="HyperSIGMA models: sizes, official checkpoints, evaluation.")
    msub = model.add_subparsers(dest="model_command", metavar="ACTION")
    model.set_defaults(handler=lambda a: (model.print_help(), 2)[1])

    info = msub.add_parser("info", help="parameters per part and FLOPs per sample")
    info.add_argument("--size", default="base", choices=SIZES)
    info.add_argument("--kind", default="mifomo", choices=("mifomo", "hypersigma"),
                      help="mifomo: MIFOMO's embedding model (9×9×50); hypersigma: HyperSIGMA's classifier (33×33×30)")
    info.add_argument("--attention", choices=("mhsa", "ssa"), default=None)
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=_info)

    lo = msub.add_parser("load-official", help="load official HyperSIGMA MAE checkpoints and report")
    lo.add_argument("--spatial", help="spat-vit-*-ultra-checkpoint-1599.pth (or converted .safetensors)")
    lo.add_argument("--spectral", help="spec-vit-*-ultra-checkpoint-1599.pth (or converted .safetensors)")
    lo.add_argument("--size", choices=SIZES, default=None,
                    help="model size (default: read from the checkpoint)")
    lo.add_argument("--kind", default="mifomo", choices=("mifomo", "hypersigma"))
    lo.add_argument("--attention", choices=("mhsa", "ssa"), default=None)
    lo.add_argument("--keep-input-layers", action="store_true",
                    help="also load patch_embed/pos_embed/spat_map when their shapes fit")
    lo.add_argument("--dry-run", action="store_true", help="check names and shapes on a meta model (no RAM for it)")
    lo.add_argument("--save", help="write the loaded model's weights to this .safetensors file")
    lo.add_argument("--json", action="store_true", help="print the report as JSON")
    lo.set_defaults(handler=_load_official)

    dl = msub.add_parser("download", help="download official MAE checkpoints from Hugging Face (large!)")
    dl.add_argument("--branch", choices=("spatial", "spectral", "both"), default="both")
    dl.add_argument("--size", choices=("base", "large", "huge"), default="base")
    dl.set_defaults(handler=_download)

    cv = msub.add_parser("convert", help="keep only the encoder weights of an official file, as safetensors")
    cv.add_argument("src")
    cv.add_argument("dst")
    cv.set_defaults(handler=_convert)

    ev = msub.add_parser("evaluate", help="frozen-embedding few-shot prototype accuracy")
    ev.add_argument("--features", default="tiny",
                    help="'tiny' (shipped model), a .safetensors path, 'random:SIZE' (random init) or 'pca'")
    ev.add_argument("--readout", choices=("embedding", "taps"), default="embedding",
                    help="embedding: the model's output; taps: centre pixel of the 4 spatial taps (skips the fusion)")
    ev.add_argument("--scene", default="indian_pines")
    ev.add_argument("--shots", type=int, default=5)
    ev.add_argument("--seeds", type=int, default=10)
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(handler=_evaluate)


# --------------------------------------------------------------------------- model info
def _fmt(n: float) -> str:
    return f"{n / 1e9:.2f} G" if n >= 1e9 else f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k"


def model_info(size: str = "base", kind: str = "mifomo", attention=None) -> dict:
    from .factory import count_flops, count_parameters, create_model

    overrides = {"attention": attention} if attention else {}
    m = create_model(size, kind=kind, device="meta", **overrides)
    return {"size": size, "kind": kind, "config": m.cfg.to_dict(), "parameters": count_parameters(m),
            "flops_per_sample": count_flops(m)}


def _info(args) -> int:
    info = model_info(args.size, args.kind, args.attention)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    cfg, p, f = info["config"], info["parameters"], info["flops_per_sample"]
    print(f"{args.kind} model, size {args.size}: D={cfg['embed_dim']}, {cfg['depth']} blocks, {cfg['num_heads']} heads, "
          f"attention={cfg['attention']}, input {cfg['in_chans']}×{cfg['patch_size']}×{cfg['patch_size']}, "
          f"spatial taps {cfg['out_indices']}, spectral tap {cfg['spectral_tap']} (T={cfg['spectral_tokens']})")
    print("parameters per part:")
    for k, v in p.items():
        if "." in k and v:
            print(f"  {k:<28} {v:>14,}")
    for k in ("spatial", "spectral", "fusion", "other", "total", "used_in_forward"):
        if p.get(k):
            print(f"  {k:<28} {p[k]:>14,}")
    print("forward FLOPs per sample (2 per multiply-add):")
    for k in ("spatial", "spectral", "fusion", "total"):
        print(f"  {k:<28} {_fmt(f[k]):>14}FLOPs")
    return 0


# --------------------------------------------------------------------------- official
def _load_official(args) -> int:
    from .factory import create_model
    from .official import inspect_state_dict, read_checkpoint
    from .official_load import plan_official_load

    if not args.spatial and not args.spectral:
        raise ConfigError("give --spatial PATH and/or --spectral PATH")
    sds, paths = {}, {}
    for branch in ("spatial", "spectral"):
        p = getattr(args, branch)
        if p:
            sds[branch], _ = read_checkpoint(p)
            paths[branch] = p
    size = args.size
    if size is None:
        first = next(iter(sds.values()))
        size = inspect_state_dict(first).size
        if size is None:
            raise ConfigError("cannot tell the model size from the checkpoint; pass --size")
    overrides = {"attention": args.attention} if args.attention else {}
    model = create_model(size, kind=args.kind, device="meta" if args.dry_run else None, init=not args.dry_run,
                         **overrides)
    to_load, report = plan_official_load(model, sds.get("spatial"), sds.get("spectral"), args.keep_input_layers, paths)
    if not args.dry_run:
        model.load_state_dict(to_load, strict=False)
        if args.save:
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, args.save,
                      metadata={"config": json.dumps(model.cfg.to_dict()), "kind": args.kind})
    print(report.to_json() if args.json else report)
    return 0


def _download(args) -> int:
    from .official import download_official_checkpoint

    branches = ("spatial", "spectral") if args.branch == "both" else (args.branch,)
    for b in branches:
        print(download_official_checkpoint(b, args.size))
    return 0


def _convert(args) -> int:
    from .official import convert_official_checkpoint

    print(convert_official_checkpoint(args.src, args.dst))
    return 0


# --------------------------------------------------------------------------- evaluate
def _features_from_spec(spec: str):
    from .factory import create_model
    from .foundation import load_foundation_model

    if spec == "pca":
        return "pca", "raw PCA (centre pixel)"
    if spec.startswith("random"):
        size = spec.split(":", 1)[1] if ":" in spec else "tiny"
        import torch

        torch.manual_seed(0)
        return create_model(size).eval(), f"{size}, random init (seed 0)"
    if spec.endswith(".safetensors"):
        return load_foundation_model(path=spec), f"weights {spec}"
    return load_foundation_model(spec), f"foundation model {spec!r} (pretrained)"


def _evaluate(args) -> int:
    from .foundation import evaluate_frozen_prototypes

    feats, label = _features_from_spec(args.features)
    if args.readout == "taps" and not isinstance(feats, str):
        from .foundation import spatial_tap_features

        feats, label = spatial_tap_features(feats.eval()), label + ", spatial taps (no fusion)"
    res = evaluate_frozen_prototypes(feats, args.scene, n_shot=args.shots, seeds=range(args.seeds))
    res["features"] = label
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"{label} on {res['scene']}, {args.shots}-shot, {args.seeds} seeds, {res['n_query']} queries: "
              f"OA {100 * res['oa']['mean']:.2f} ± {100 * res['oa']['std']:.2f}  "
              f"AA {100 * res['aa']['mean']:.2f} ± {100 * res['aa']['std']:.2f}  "
              f"κ {100 * res['kappa']['mean']:.2f} ± {100 * res['kappa']['std']:.2f}")
    return 0


def main(argv=None) -> int:  # pragma: no cover - convenience
    parser = argparse.ArgumentParser(prog="mifomo-lite")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["register", "model_info"]
