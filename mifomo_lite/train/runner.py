"""Run folders: execute a configured run and write everything next to its results.

A run folder holds ``config.json`` (the exact configuration), ``metrics.json`` (config, seeds,
versions, timings, per-episode metrics, aggregates, baselines), ``report.md`` (the results table
in words), and figures: ``classification_map.png`` (the whole scene), ``tsne.png``,
``curves.png`` (training losses), ``lambda.png`` (the λ scheduler).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from .. import fsl
from ..utils import atomic_path, write_json
from . import report as R
from .ablation_table import row_from_metrics, write_ablation
from .config import ABLATIONS, RunConfig, ablation_overrides
from .outdir import check_out_dir, default_dir, run_folder
from .checkpoint import checkpoint_kwargs
from .pipeline import RunResult, embed_pixels, inference_dtype, run_pipeline, scene_feature_map

__all__ = ["run_to_folder", "write_run_folder", "results_rows", "pool_rows", "pool_comparison", "whole_scene_map",
           "ablate", "default_run_dir"]

STAGE_LABELS = {
    "final/propagated": "MIFOMO-lite (final, with propagation)",
    "final/plain": "MIFOMO-lite (final, prototypes only)",
    "after_support/propagated": "after support-only adaptation, with propagation",
    "after_support/plain": "after support-only adaptation, prototypes only",
}


def default_run_dir(cfg: RunConfig, root: str = "runs", target: Optional[str] = None) -> Path:
    """``runs/<stamp>-<preset>-<target>-<adaptation>``; the target (a name or a path) is reduced
    to a safe file-name fragment, so the folder always lies inside ``root``."""
    return default_dir(root, cfg.preset, target or cfg.target, cfg.adaptation)


def results_rows(summary: dict, pool: Optional[str] = None) -> list[dict]:
    """Rows for :func:`report.results_table`: kit stages first, then baselines. ``pool``: the run's
    ``transductive_pool``; when given, every propagated row names it (the labelled pool's as
    "uses the GT mask — optimistic")."""
    mark = {None: "", "labelled": f" [labelled pool: {R.LABELLED_POOL_MARK}]", "scene": " [scene pool]"}[pool]
    rows = []
    for key, label in STAGE_LABELS.items():
        if key in summary:
            rows.append({"name": label + (mark if key.endswith("/propagated") else ""), **summary[key]})
    for key, value in summary.items():
        if key.startswith("baseline/"):
            name = key.split("/", 1)[1]
            rows.append({"name": "baseline: " + name + (mark if "propagation" in name else ""), **value})
    return rows


POOL_STAGE_LABELS = {
    "final": "MIFOMO-lite (final, with propagation)",
    "after_support": "after support-only adaptation, with propagation",
}


def pool_rows(summary: dict, paired_by_pool: Optional[dict] = None) -> list[dict]:
    """Rows for :func:`report.pools_table`: the kit's propagated stages, then the baselines, each
    with its OA in the labelled and in the scene pool and the paired kit − baseline difference in
    each pool (``metrics["paired_by_pool"]``)."""
    paired_by_pool = paired_by_pool or {}
    rows = []
    for stage, label in POOL_STAGE_LABELS.items():
        oa = {pool: summary.get(f"{stage}/propagated_{pool}_pool", {}).get("OA") for pool in ("labelled", "scene")}
        if any(oa.values()):
            rows.append({"name": label, **oa})
    names = [k.split("/", 1)[1] for k in summary if k.startswith("baseline_labelled_pool/")]
    for name in names:
        row = {"name": "baseline: " + name}
        for pool in ("labelled", "scene"):
            row[pool] = summary.get(f"baseline_{pool}_pool/{name}", {}).get("OA")
            row[f"paired_{pool}"] = paired_by_pool.get(pool, {}).get(name)
        rows.append(row)
    return rows


def pool_comparison(m: dict) -> str:
    """The propagated results in both node pools side by side (markdown), with the pool the run
    trained with named; empty when the run did not propagate."""
    rows = pool_rows(m.get("summary", {}), m.get("paired_by_pool"))
    if not rows:
        return ""
    pool = m.get("config", {}).get("transductive_pool", "labelled")
    own = (f"labelled ({R.LABELLED_POOL_MARK})" if pool == "labelled" else "scene (every pixel of the scene a node; "
           "the label mask only samples the support and scores)")
    return "\n".join([
        "Propagation over both node pools, from the same embeddings. Labelled pool = the ground-truth-"
        f"labelled pixels (the paper's protocol; {R.LABELLED_POOL_MARK}); scene pool = every pixel "
        f"of the scene except the support (what a user without ground truth has). This run's own pool "
        f"(its pseudo-labels and the rows above marked 'with propagation'): {own}. The SVMs are inductive: the "
        "same in both pools.",
        "",
        R.pools_table(rows),
    ])


def best_kit_and_baseline(summary: dict) -> tuple[Optional[tuple], Optional[tuple]]:
    kit = next(((STAGE_LABELS[k], summary[k]) for k in STAGE_LABELS if k in summary), None)
    base = [(k.split("/", 1)[1], v) for k, v in summary.items() if k.startswith("baseline/")]
    best = max(base, key=lambda kv: kv[1]["OA"]["mean"]) if base else None
    return kit, best


def verdict(summary: dict, paired: Optional[dict] = None) -> str:
    """One honest sentence comparing the kit with the strongest baseline on OA (plus, when given,
    the paired per-episode difference from ``metrics["paired"]``)."""
    kit, best = best_kit_and_baseline(summary)
    if kit is None or best is None:
        return "No baseline was run, so there is nothing to compare with."
    k, b = kit[1]["OA"], best[1]["OA"]
    diff = k["mean"] - b["mean"]
    text = _versus_baseline(k, b, best[0], diff)
    if paired and best[0] in paired:
        p = paired[best[0]]
        pval = f"; paired t-test p = {p['p']:.2g}" if p.get("p") is not None else ""
        text += (f" Paired over the same {p['n']} episodes: kit − baseline = {p['mean']:+.2f} ± {p['std']:.2f} "
                 f"points, kit ahead in {p['wins']}/{p['n']}{pval}.")
    return text + _propagation_sentence(summary)


def _propagation_sentence(summary: dict) -> str:
    """Whether propagation helped the final stage — measured, never assumed."""
    if "final/plain" not in summary or "final/propagated" not in summary:
        return ""
    plain, prop = summary["final/plain"]["OA"]["mean"], summary["final/propagated"]["OA"]["mean"]
    how = "added" if prop >= plain else "cost"
    return (f" (Headline = final stage with propagation, fixed in advance; propagation {how} "
            f"{abs(prop - plain):.2f} points over prototypes only, {plain:.2f} %.)")


def _versus_baseline(k: dict, b: dict, name: str, diff: float) -> str:
    if diff > b["std"]:
        return (f"The kit ({k['mean']:.2f} % OA) beats the strongest baseline, {name} "
                f"({b['mean']:.2f} ± {b['std']:.2f} %), by {diff:.2f} points — more than one standard deviation.")
    if diff > 0:
        return (f"The kit ({k['mean']:.2f} % OA) is ahead of the strongest baseline, {name} "
                f"({b['mean']:.2f} ± {b['std']:.2f} %), by {diff:.2f} points — less than one standard "
                "deviation, so not a clear win.")
    return (f"The kit ({k['mean']:.2f} % OA) does NOT beat the strongest baseline, {name} "
            f"({b['mean']:.2f} ± {b['std']:.2f} %): it is {-diff:.2f} points behind. That is a finding, "
            "not a bug to hide — transductive propagation on simple spatial features is strong on this scene.")


def whole_scene_map(result: RunResult, batch_size: int = 256,
                    reuse_episode_embeddings: bool = True) -> tuple[np.ndarray, float]:
    """Predict every pixel of the target scene with the last episode's prototypes.

    Batched inference without autograd; returns the (H, W) map of class ids 1..C and the seconds
    it took. The last episode's final evaluation already embedded its support and query pixels
    with this very model (same weights, same inference precision), so by default those embeddings
    are reused and only the remaining pixels — the unlabelled background, and queries a smoke run
    skipped — go through the model (on Indian Pines: 10,776 of 21,025 pixels).
    ``reuse_episode_embeddings=False`` embeds every pixel afresh. With ``feature_smoothing > 1``
    every pixel is read through the run's smoothing window, as the episode's pixels were."""
    t0 = time.perf_counter()
    model, target, last = result.model, result.target, result.last_episode
    split = last["split"]
    protos = fsl.prototypes(last["support_emb"], torch.as_tensor(split.support_labels), split.n_classes)
    H, W = target.prepared.height, target.prepared.width
    pred = np.zeros((H, W), dtype=np.int64)
    device = next(model.parameters()).device
    protos = protos.to(device)
    if result.config.feature_smoothing > 1:
        # every pixel read through the run's smoothing window, as the episode's pixels were; the
        # episode's feature map already holds the raw embeddings of the pixels its windows touched
        fmap = last.get("feature_map") if reuse_episode_embeddings else None
        if fmap is None:
            fmap = scene_feature_map(model, target, result.config, device, desc="classification map")
        rows, cols = np.nonzero(np.ones((H, W), dtype=bool))
        emb = fmap.read(rows, cols)
        with torch.inference_mode():
            pred[rows, cols] = model.classifier.predict(emb.to(device), protos).cpu().numpy() + 1
        return pred, time.perf_counter() - t0
    todo = np.ones((H, W), dtype=bool)
    if reuse_episode_embeddings:
        with torch.inference_mode():
            for rows, cols, emb in ((split.support_rows, split.support_cols, last["support_emb"]),
                                    (split.query_rows, split.query_cols, last["query_emb"])):
                if len(rows):
                    pred[rows, cols] = model.classifier.predict(emb.to(device), protos).cpu().numpy() + 1
                    todo[rows, cols] = False
    rows, cols = np.nonzero(todo)
    if rows.size:
        emb = embed_pixels(model, target.prepared, rows, cols, batch_size=batch_size, device=device,
                           dtype=inference_dtype(device, result.config))
        with torch.inference_mode():
            pred[rows, cols] = model.classifier.predict(emb.to(device), protos).cpu().numpy() + 1
    return pred, time.perf_counter() - t0


def write_run_folder(result: RunResult, out_dir: Path, log: Callable = print) -> Path:
    """Write metrics, figures and the report of ``result`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg, m = result.config, dict(result.metrics)
    figures = {}
    if cfg.classification_map and result.model is not None and result.last_episode:
        pred, secs = whole_scene_map(result)
        m["timings"]["classification_map_s"] = secs
        gt = result.target.scene.labels
        fig = R.plot_classification_map(pred, gt, result.target.class_names,
                                        title=f"prototype prediction of every pixel (episode {len(m['episodes']) - 1}; "
                                              "the whole-scene map is not propagated)")
        figures["classification_map"] = R.save_figure(fig, out / "classification_map.png").name
    if cfg.tsne and result.last_episode:
        last = result.last_episode
        fig = R.plot_tsne(last["query_emb"].numpy(), last["split"].query_labels, result.target.class_names,
                          title="t-SNE of query embeddings (last episode)", seed=cfg.seed)
        figures["tsne"] = R.save_figure(fig, out / "tsne.png").name
    curves = {k: v for k, v in result.history.items() if v}
    if curves:
        figures["curves"] = R.save_figure(R.plot_curves(curves, "training losses"), out / "curves.png").name
    if result.lambda_trajectories and result.lambda_trajectories[-1]:
        figures["lambda"] = R.save_figure(R.plot_lambda(result.lambda_trajectories[-1],
                                                        "λ scheduler (last episode)"), out / "lambda.png").name
    if m.get("drift") and _drift_points_exist(m["drift"]):
        figures["drift"] = R.save_figure(R.plot_drift(m["drift"]), out / "drift.png").name
    m["figures"] = figures
    write_json(out / "metrics.json", m)
    write_json(out / "config.json", cfg.to_dict())
    text = render_report(m)
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(text)
    return out


def _drift_points_exist(drift: dict) -> bool:
    return bool(drift.get("phases") or drift.get("episodes"))


def render_report(m: dict) -> str:
    cfg = m["config"]
    lines = [
        f"# MIFOMO-lite run: {m['target']['name']} ({cfg['preset']} preset)",
        "",
        f"* target: {m['target']['name']} {tuple(m['target']['shape'])}, {m['target']['n_classes']} classes, "
        f"{cfg['n_shot']}-shot, {len(m['seeds'])} test episodes (seeds {m['seeds'][0]}…{m['seeds'][-1]})",
        "* sources: " + ", ".join(f"{s['name']} ({s['n_classes']} classes)" for s in m["sources"]),
        f"* model: {cfg['model']} ({cfg['weights']} weights), adaptation {cfg['adaptation']}, "
        f"mode {cfg['mode']}, device {m['device']}",
        f"* wall time: {m['timings']['total_s']:.1f} s",
    ]
    ssl = m.get("target_ssl")
    if ssl:
        lines.append(f"* phase 0, target self-supervision: {ssl['steps']} MAE steps on the unlabelled target "
                     f"scene in {m['timings'].get('target_ssl_s', 0.0):.1f} s "
                     f"(loss {ssl['first_loss']:.3f} → {ssl['last_loss']:.3f})")
    w = cfg.get("feature_smoothing", 1)
    if w > 1:
        lines.append(f"* feature smoothing: every embedding is the mean over its {w}×{w} window of the scene, "
                     "for the kit and for the transductive baselines alike (the SVMs see unsmoothed features)")
    lines += [
        "",
        "## Results (mean ± population std over test episodes)",
        "",
        R.results_table(results_rows(m["summary"], cfg.get("transductive_pool", "labelled"))),
        "",
        verdict(m["summary"], m.get("paired")),
        "",
    ]
    both = pool_comparison(m)
    if both:
        lines += ["## Both propagation pools", "", both, ""]
    lines += [
        "No model selection on the test set: every number is measured after a fixed number of steps.",
    ]
    lines += R.drift_section(m.get("drift"))
    if m.get("figures"):
        lines += ["", "## Figures", ""] + [f"![{k}]({v})" for k, v in m["figures"].items()]
    return "\n".join(lines) + "\n"


def run_to_folder(cfg: RunConfig, out_dir: Optional[Path] = None, log: Callable = print,
                  overwrite: bool = False, drop_small_classes: bool = False, resume: bool = False,
                  phase1_cache: Optional[Path] = None, **kw) -> tuple[RunResult, Path]:
    """Run ``cfg`` and write its folder; returns the result and the folder.

    In order, before any training: the config is validated, the folder checked (an existing
    non-empty ``out_dir`` is refused unless ``overwrite``), the target scene loaded (or
    ``target_scene`` taken) and validated by :func:`mifomo_lite.data.validate.validate_scene`
    (``drop_small_classes`` leaves out classes too small for ``n_shot``). The folder is owned and
    atomic (:func:`mifomo_lite.train.outdir.run_folder`): a second run on it is refused, and it
    appears only once the run is complete, with ``scene.json`` recording the scene's name, files
    and their sha256.

    ``resume`` and ``phase1_cache``: per-episode checkpoints and the phase-1 cache
    (:func:`~mifomo_lite.train.checkpoint.checkpoint_kwargs`)."""
    cfg = cfg.validate()
    given = kw.get("target_scene")
    out = Path(out_dir) if out_dir else default_run_dir(cfg, target=getattr(given, "name", None))
    check_out_dir(out, overwrite, resume)
    scene = target_scene_for(cfg, given, drop_small_classes, log)
    if given is not None and scene.name not in (cfg.target, Path(cfg.target).stem):
        cfg = cfg.replace(target=scene.name)   # the config records the scene that was really used
    kw["target_scene"] = scene
    checkpoint_kwargs(None, out, cfg, resume, phase1_cache)   # refuses a changed config before any work
    with run_folder(out, overwrite, resume) as part:
        kw.update(checkpoint_kwargs(part, out, cfg, resume, phase1_cache))
        result = run_pipeline(cfg, log=log, **kw)
        write_run_folder(result, part, log=log)
        R.write_json(part / "scene.json", scene_record(scene))
    return result, out


def target_scene_for(cfg: RunConfig, scene=None, drop_small_classes: bool = False, log: Callable = print):
    """The run's target scene — ``scene``, or ``cfg.target`` loaded by name or path — after the
    checks of :func:`~mifomo_lite.data.validate.validate_scene`."""
    from ..data import load_scene
    from ..data.validate import validate_scene

    if scene is None:
        scene = load_scene(cfg.target, root=cfg.data_root, progress=cfg.progress)
    checked = validate_scene(scene, cfg.n_shot, cfg.pca_components, drop_small_classes=drop_small_classes)
    for text in checked.meta.get("dropped_classes", []) if checked is not scene else []:
        log(f"dropped class {text}: fewer than n_shot + 1 = {cfg.n_shot + 1} labelled pixels")
    return checked


def scene_record(scene) -> dict:
    """What identifies the target scene of a run: name, shape, classes, source, files and sha256."""
    from ..utils import sha256_file

    files = dict(scene.meta.get("files") or {})
    digests = dict(scene.meta.get("sha256") or {})
    for role, path in files.items():
        if role not in digests and Path(path).is_file():
            digests[role] = sha256_file(path)
    return {"name": scene.name, "shape": list(scene.shape), "n_classes": scene.n_classes,
            "classes": scene.class_table(), "source": scene.meta.get("source"), "files": files,
            "sha256": digests, "dropped_classes": scene.meta.get("dropped_classes", [])}


def ablate(cfg: RunConfig, names: Optional[Sequence[str]] = None, out_dir: Optional[Path] = None,
           log: Callable = print, *, target_scene=None, source_scenes=None, jobs: int = 1,
           executor: str = "local", overwrite: bool = False) -> tuple[dict, Path]:
    """Run the Table X grid (each ablation on the same seeds) and write ``ablation.md`` / ``.json``
    (each row's OA and its paired difference to ``full``: :mod:`mifomo_lite.train.ablation_table`).

    ``target_scene`` / ``source_scenes``: ready ``Scene`` objects to use instead of loading
    ``cfg.target`` / ``cfg.sources`` by name (as in :func:`run_pipeline`), e.g. a synthetic scene.
    ``jobs`` / ``executor``: how the rows run (:func:`mifomo_lite.sweep.run_tasks`); every row is
    seeded on its own, so the results and the folder are the same however they run, provided each
    row uses the same number of CPU threads (``num_threads``): a parallel worker runs one thread
    by default, and a different thread count changes float rounding in the last digits."""
    names = list(names or ABLATIONS)
    for name in names:
        if name not in ABLATIONS:
            from ..errors import ConfigError

            raise ConfigError(f"unknown ablation {name!r}; choose from {', '.join(ABLATIONS)}")
    out = Path(out_dir) if out_dir else default_run_dir(cfg, "runs/ablate", getattr(target_scene, "name", None))
    with run_folder(check_out_dir(out, overwrite), overwrite) as part:
        payload = _ablate_into(cfg, names, part, log, target_scene, source_scenes, jobs, executor)
    return payload, out


def _ablate_into(cfg: RunConfig, names: list, out: Path, log: Callable, target_scene, source_scenes,
                 jobs: int, executor: str) -> dict:
    from ..sweep import run_tasks

    serial = jobs == 1 and executor == "local"
    if not serial:
        log(f"{len(names)} ablations, {jobs} at a time ({executor}): {', '.join(names)}")
    tasks = [(cfg, name, i == 0, out, target_scene, source_scenes, log if serial else None)
             for i, name in enumerate(names)]
    # submitit's job files go beside the results folder, so its layout is the same for every executor
    rows = run_tasks(_ablation_row, tasks, jobs=jobs, executor=executor, log_dir=out.parent / f"{out.name}.submitit")
    table = {name: row for name, (row, _) in zip(names, rows)}
    baselines = rows[0][1] if rows else {}
    return write_ablation(out, {"config": cfg.to_dict(), "ablations": table, "baselines": baselines})


def _ablation_row(cfg: RunConfig, name: str, with_baselines: bool, out: Path, target_scene, source_scenes,
                  log: Optional[Callable]) -> tuple[dict, dict]:
    """One ablation: run it, write its folder ``out/name``; return its table row and baselines."""
    log = log or (lambda *a, **k: None)
    overrides = ablation_overrides(name, cfg.ablation_semantics)
    log(f"ablation {name}: {overrides or 'full method'}")
    sub = cfg.replace(**overrides, baselines=with_baselines, classification_map=False, tsne=False)
    res = run_pipeline(sub, target_scene=target_scene, source_scenes=source_scenes, log=log, keep_model=False)
    write_run_folder(res, out / name, log=log)
    return row_from_metrics(res.metrics)
