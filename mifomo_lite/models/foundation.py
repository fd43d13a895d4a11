"""The kit's own small foundation model: loading, saving, model cards, frozen-feature evaluation.

The official HyperSIGMA weights are 1.4–8 GB per branch and need a GPU to be practical. So the kit
pretrains and ships a **tiny** HyperSIGMA-style model (:mod:`mifomo_lite.models.pretrain`) that
lives inside the package (``mifomo_lite/assets/foundation-tiny.safetensors`` with its model card
``foundation-tiny.json`` / ``.md``), loads offline in a fraction of a second and runs on a CPU::

    from mifomo_lite.models import load_foundation_model
    model = load_foundation_model("tiny")            # MifomoHyperSIGMA, eval mode
    emb = model(patches)                              # (B, 50, 9, 9) → (B, 128)

:func:`evaluate_frozen_prototypes` measures how useful frozen embeddings are: 5-shot prototype
classification of a scene (cosine similarity to class means), repeated over seeded splits.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from ..errors import ChecksumError, CheckpointError, DataFileNotFound
from ..utils import atomic_path, sha256_file
from .config import HyperSIGMAConfig
from .fusion import MifomoHyperSIGMA

__all__ = ["FOUNDATION_MODELS", "foundation_dir", "foundation_paths", "load_foundation_model",
           "load_foundation_partial", "read_foundation_weights", "check_weight_tensors",
           "save_foundation_model", "write_model_card", "evaluate_frozen_prototypes", "prototype_metrics",
           "spatial_tap_features", "render_model_card"]

FOUNDATION_MODELS = ("micro", "tiny")
PathLike = Union[str, "os.PathLike[str]"]


def foundation_dir() -> Path:
    """Where shipped weights live: ``$MIFOMO_FOUNDATION_DIR`` if set, else the package's ``assets``."""
    env = os.environ.get("MIFOMO_FOUNDATION_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "assets"


def foundation_paths(name: str = "tiny", directory: Optional[PathLike] = None) -> dict:
    d = Path(directory) if directory is not None else foundation_dir()
    stem = f"foundation-{name}"
    return {"weights": d / f"{stem}.safetensors", "card_json": d / f"{stem}.json", "card_md": d / f"{stem}.md"}


# --------------------------------------------------------------------------- save / load
def save_foundation_model(model: MifomoHyperSIGMA, directory: PathLike, name: str = "tiny",
                          card: Optional[dict] = None, config_overrides: Optional[dict] = None) -> dict:
    """Write ``foundation-{name}.safetensors`` (weights + config in the metadata) and, when ``card``
    is given, the model card (JSON and Markdown, with the weights' sha256). Returns the paths."""
    from safetensors.torch import save_file

    paths = foundation_paths(name, directory)
    cfg = model.cfg.replace(**(config_overrides or {}))
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    with atomic_path(paths["weights"]) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "mifomo_lite.foundation/1", "name": name,
                                              "config": json.dumps(cfg.to_dict())})
    if card is not None:
        card = dict(card)
        card.update(name=name, config=cfg.to_dict(), file=paths["weights"].name,
                    sha256=sha256_file(paths["weights"]), bytes=paths["weights"].stat().st_size,
                    parameters=int(sum(t.numel() for t in tensors.values())))
        write_model_card(card, paths["card_json"], paths["card_md"])
    for p in paths.values():
        if p.exists():
            os.chmod(p, 0o644)  # atomic writes start from a private (0600) temporary file
    return paths


def load_foundation_model(name: str = "tiny", device: Optional[Union[str, torch.device]] = None,
                          path: Optional[PathLike] = None, verify: bool = True, **config_overrides: Any
                          ) -> MifomoHyperSIGMA:
    """The shipped pretrained model, ready to use (eval mode, on ``device``, default CPU).

    ``path`` loads another ``.safetensors`` written by :func:`save_foundation_model`. ``verify``
    checks the sha256 against the model card (required for a model loaded by name). ``config_overrides``
    change fields that do not alter the weights' shapes (e.g. ``drop_path_rate``, ``use_checkpoint``,
    ``attention="ssa"`` — then the SSA offsets start fresh).
    """
    weights, tensors, cfg, card = read_foundation_weights(name, path, verify)
    if config_overrides:
        cfg = cfg.replace(**config_overrides)
    model = MifomoHyperSIGMA(cfg, init=True)
    own = model.state_dict()
    wrong = [k for k, v in tensors.items() if k in own and own[k].shape != v.shape]
    if wrong:
        raise CheckpointError(f"{weights}: {len(wrong)} tensor(s) do not fit the model built with "
                              f"{config_overrides} (e.g. {wrong[0]}: {tuple(tensors[wrong[0]].shape)} vs "
                              f"{tuple(own[wrong[0]].shape)}); use load_foundation_partial")
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    bad_missing = [k for k in missing if "sampling_offsets" not in k]
    if bad_missing or unexpected:
        raise CheckpointError(f"{weights}: weights do not match the model (missing {bad_missing[:4]}, "
                              f"unexpected {unexpected[:4]})")
    model.foundation_card = card
    return model.to(device or "cpu").eval()


def load_foundation_partial(name: str = "tiny", verify: bool = True, **config_overrides: Any) -> MifomoHyperSIGMA:
    """The shipped model built with ``config_overrides`` that change shapes (``in_chans``,
    ``patch_size``): the tensors that fit load, the others stay freshly initialised and are listed
    in ``model.pretrained_fresh``. The file passes the same integrity checks as
    :func:`load_foundation_model` first — a file that fails them is never read into a model."""
    from .factory import create_model

    _, tensors, _, card = read_foundation_weights(name, None, verify)
    model = create_model(name, **config_overrides)
    own = model.state_dict()
    fit = {k: v for k, v in tensors.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(fit, strict=False)
    model.pretrained_fresh = sorted(k for k in own if k not in fit)
    model.foundation_card = card
    return model


def read_foundation_weights(name: str = "tiny", path: Optional[PathLike] = None, verify: bool = True
                            ) -> tuple:
    """``(path, tensors, config, card)`` of a foundation model file, after every integrity check:
    the sha256 against the model card (a model loaded by name must have one), then each tensor's
    dtype (floating) and values (finite). Any failure raises and names the file."""
    from safetensors import safe_open

    if path is None:
        if name not in FOUNDATION_MODELS:
            raise CheckpointError(f"unknown foundation model {name!r}; available: {FOUNDATION_MODELS}")
        paths = foundation_paths(name)
        weights, card_json = paths["weights"], paths["card_json"]
    else:
        weights, card_json = Path(path), Path(path).with_suffix(".json")
    if not weights.is_file():
        raise DataFileNotFound(f"foundation model weights not found: {weights} (re-install mifomo_lite, or "
                               f"recreate them with the command in the model card)")
    card = _read_card(card_json)
    if verify:
        _verify_against_card(weights, card, required=path is None)
    try:
        with safe_open(str(weights), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:
        raise CheckpointError(f"{weights}: corrupted or not a safetensors file ({exc})") from None
    if "config" not in meta:
        raise CheckpointError(f"{weights}: no model config in the safetensors metadata (not written by "
                              "save_foundation_model?)")
    check_weight_tensors(tensors, weights)
    return weights, tensors, HyperSIGMAConfig.from_dict(json.loads(meta["config"])), card


def _read_card(card_json: Path) -> Optional[dict]:
    if not card_json.is_file():
        return None
    try:
        return json.loads(card_json.read_text())
    except (ValueError, OSError) as exc:
        raise CheckpointError(f"{card_json}: the model card is not readable JSON ({exc})") from None


def _verify_against_card(weights: Path, card: Optional[dict], required: bool) -> None:
    if not (card and card.get("sha256")):
        if required:
            raise ChecksumError(f"{weights}: no model card with a sha256 next to it "
                                f"({weights.with_suffix('.json').name}), so the weights cannot be verified; "
                                "re-install mifomo_lite or restore the card")
        return
    digest = sha256_file(weights)
    if digest != card["sha256"]:
        raise ChecksumError(f"{weights}: sha256 {digest} differs from the model card's {card['sha256']}; "
                            "the file is corrupted or was replaced — re-install mifomo_lite (nothing was loaded)")


def check_weight_tensors(tensors: dict, where: Any, expected_shapes: Optional[dict] = None) -> None:
    """Raise a :class:`CheckpointError` naming ``where`` and the first offending tensor unless every
    tensor is real floating point, holds only finite values and (when ``expected_shapes`` maps its
    name to a shape) has that shape. Integer, complex, NaN or Inf weights would otherwise be cast
    or copied into the model silently."""
    for key, t in tensors.items():
        if not torch.is_floating_point(t):
            raise CheckpointError(f"{where}: tensor {key!r} has dtype {t.dtype}; weights must be real "
                                  "floating point (float16/bfloat16/float32/float64)")
        # a meta tensor (a shape-only manifest) has no values to check
        if not t.is_meta and not bool(torch.isfinite(t).all()):
            n = int((~torch.isfinite(t)).sum())
            raise CheckpointError(f"{where}: tensor {key!r} holds {n} NaN/Inf value(s); the file is corrupt")
        if expected_shapes and key in expected_shapes and tuple(t.shape) != tuple(expected_shapes[key]):
            raise CheckpointError(f"{where}: tensor {key!r} has shape {tuple(t.shape)} but the model "
                                  f"expects {tuple(expected_shapes[key])}")


# --------------------------------------------------------------------------- model card
def write_model_card(card: dict, json_path: PathLike, md_path: Optional[PathLike] = None) -> None:
    """Write the card as JSON and (optionally) as a readable Markdown page."""
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(card, indent=2, default=_jsonable) + "\n")
    if md_path is not None:
        with atomic_path(md_path) as tmp:
            tmp.write_text(render_model_card(card))


def _jsonable(o: Any):
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, (Path,)):
        return str(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def _fmt_pm(d: dict, key: str) -> str:
    return f"{100 * d[key]['mean']:.2f} ± {100 * d[key]['std']:.2f}"


def render_model_card(card: dict) -> str:
    cfg = card.get("config", {})
    pre = card.get("pretraining", {})
    lines = [f"# mifomo_lite foundation model `{card.get('name')}`", "",
             card.get("summary", ""), "",
             "## Files", "",
             f"* `{card.get('file')}` — {card.get('bytes', 0) / 1e6:.2f} MB, {card.get('parameters', 0):,} parameters, "
             f"sha256 `{card.get('sha256')}`",
             "* loads with `mifomo_lite.models.load_foundation_model(\"tiny\")` (a `MifomoHyperSIGMA` in eval mode)", "",
             "## Architecture", "",
             "| field | value |", "|---|---|"]
    for k in ("embed_dim", "depth", "num_heads", "out_indices", "spectral_tap", "spectral_tokens", "in_chans",
              "patch_size", "attention", "fusion_dim", "drop_path_rate"):
        if k in cfg:
            lines.append(f"| {k} | {cfg[k]} |")
    lines += ["", "## Pretraining", ""]
    for k in ("method", "data", "steps", "batch_size", "samples_seen", "wall_time_s", "cpu_time_s", "final_loss",
              "final_loss_spatial", "final_loss_spectral", "first_loss", "optimizer", "machine"):
        if k in pre:
            v = pre[k]
            if k == "data" and isinstance(v, list):
                v = "; ".join(f"{d['name']} ({d['height']}×{d['width']})" for d in v)
            lines.append(f"* **{k}**: {v}")
    if card.get("command"):
        lines += ["", "Reproduce (from the repository root):", "", "```bash", card["command"], "```"]
    ev = card.get("evaluation")
    if ev:
        lines += ["", "## Frozen-embedding few-shot evaluation", "",
                  ev.get("protocol", ""), "",
                  "| features | OA % | AA % | κ × 100 |", "|---|---|---|---|"]
        for row in ev.get("results", []):
            lines.append(f"| {row['features']} | {_fmt_pm(row, 'oa')} | {_fmt_pm(row, 'aa')} | {_fmt_pm(row, 'kappa')} |")
        diag = ev.get("diagnostics")
        if diag:
            lines += ["", diag.get("title", "Diagnostics"), "", diag.get("protocol", ""), "",
                      "| features | OA % | AA % | κ × 100 |", "|---|---|---|---|"]
            for row in diag.get("results", []):
                lines.append(f"| {row['features']} | {_fmt_pm(row, 'oa')} | {_fmt_pm(row, 'aa')} | "
                             f"{_fmt_pm(row, 'kappa')} |")
        if ev.get("note"):
            lines += ["", ev["note"]]
    if card.get("limitations"):
        lines += ["", "## Limitations", ""] + [f"* {x}" for x in card["limitations"]]
    lines += ["", "## Provenance", "", f"* created {card.get('created', '')}",
              f"* environment: `{json.dumps(card.get('environment', {}))}`", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- evaluation
def prototype_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    """Overall accuracy, average (per-class recall) accuracy and Cohen's κ, as fractions (the model
    cards' scale); computed by :func:`mifomo_lite.fsl.classification_metrics`."""
    from ..fsl.metrics import classification_metrics

    m = classification_metrics(y_true, y_pred, n_classes)
    return {k: float(m[k]) / 100.0 for k in ("oa", "aa", "kappa")}


def _features(features: Union[str, nn.Module, Callable], prepared, rows, cols, batch_size: int,
              device: Optional[torch.device]) -> torch.Tensor:
    if isinstance(features, str):
        if features != "pca":
            raise ValueError(f"features={features!r}: use a model, a callable or 'pca'")
        return prepared.pixels(rows, cols).float()
    fn = features.forward_embedding if hasattr(features, "forward_embedding") else features
    was_training = getattr(features, "training", None)
    if isinstance(features, nn.Module):
        features.eval()
        device = device or next(features.parameters()).device
    out = []
    try:
        with torch.no_grad():
            for _, x in prepared.iter_batches(rows, cols, batch_size):
                out.append(fn(x.to(device or "cpu")).float().cpu())
    finally:
        if isinstance(features, nn.Module) and was_training:
            features.train()
    return torch.cat(out)


def spatial_tap_features(model: MifomoHyperSIGMA) -> Callable:
    """A feature function for :func:`evaluate_frozen_prototypes` that skips the fusion: the centre
    pixel of the four spatial tap maps, concatenated (4·D values). Useful to tell the encoder's
    quality apart from the (untrained) fusion layers'. Put the model in eval mode first."""
    def taps(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([m[:, :, model.center, model.center] for m in model.spat_encoder(x)], dim=1)

    return taps


def evaluate_frozen_prototypes(
    features: Union[str, nn.Module, Callable],
    scene: Any = "indian_pines",
    n_shot: int = 5,
    seeds: Sequence[int] = range(10),
    n_components: int = 50,
    patch_size: int = 9,
    batch_size: int = 512,
    device: Optional[Union[str, torch.device]] = None,
) -> dict:
    """Few-shot accuracy of **frozen** features with a cosine prototype classifier.

    For every seed, :func:`mifomo_lite.data.few_shot_split` draws ``n_shot`` support pixels per
    class; all other labelled pixels are queries. Each class prototype is the mean support
    feature; a query gets the class of the most cosine-similar prototype. Nothing is trained.

    ``features``: a model with ``forward_embedding`` (or any callable ``(N, C, w, w) → (N, d)``),
    or ``"pca"`` for the raw centre-pixel PCA vector. ``scene``: a registry name, a ``Scene`` or a
    ``PreparedScene``. Features of all labelled pixels are computed once, then reused by every seed.

    Returns ``{"per_seed": [...], "oa"/"aa"/"kappa": {"mean", "std"}, "n_query", "seconds", ...}``
    (std is the population std, as MIFOMO reports it).
    """
    from .. import data as D
    from ..fsl.protonet import prototypes

    t0 = time.perf_counter()
    if isinstance(scene, str):
        scene = D.load_scene(scene)
    prepared = scene if hasattr(scene, "patches") else D.prepare_scene(scene, n_components=n_components,
                                                                         patch_size=patch_size)
    rows, cols, labels = prepared.labelled_pixels()
    index = np.full((prepared.height, prepared.width), -1, dtype=np.int64)
    index[rows, cols] = np.arange(rows.size)
    feats = _features(features, prepared, rows, cols, batch_size, torch.device(device) if device else None)
    t_feat = time.perf_counter() - t0
    feats = torch.nn.functional.normalize(feats, dim=1)
    per_seed = []
    for seed in seeds:
        split = D.few_shot_split(prepared, n_shot=n_shot, seed=int(seed))
        s_idx = index[split.support_rows, split.support_cols]
        q_idx = index[split.query_rows, split.query_cols]
        k = split.n_classes
        sup, ys = feats[s_idx], torch.as_tensor(split.support_labels)
        protos = prototypes(sup, ys, k)
        pred = (feats[q_idx] @ torch.nn.functional.normalize(protos, dim=1).T).argmax(1).numpy()
        m = prototype_metrics(split.query_labels, pred, k)
        m["seed"] = int(seed)
        per_seed.append(m)
    res = {"scene": getattr(prepared, "name", "scene"), "n_shot": n_shot, "n_seeds": len(per_seed),
           "n_query": int(len(q_idx)), "feature_dim": int(feats.shape[1]), "per_seed": per_seed,
           "feature_seconds": round(t_feat, 2), "seconds": round(time.perf_counter() - t0, 2)}
    for key in ("oa", "aa", "kappa"):
        vals = np.array([m[key] for m in per_seed])
        res[key] = {"mean": float(vals.mean()), "std": float(vals.std())}
    return res
