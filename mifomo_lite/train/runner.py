"""Run folders: execute a configured run and write everything next to its results.

A run folder holds ``config.json`` (the exact configuration), ``metrics.json`` (config, seeds,
versions, timings, per-episode metrics, aggregates, baselines), ``report.md`` (the results table
in words), and figures: ``classification_map.png`` (the whole scene), ``tsne.png``,
``curves.png`` (training losses), ``lambda.png`` (the λ scheduler).
"""

from __future__ import annotations

import datetime as _dt
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from .. import fsl
from ..utils import atomic_path, write_json
from . import report as R
from .config import ABLATIONS, RunConfig
from .pipeline import RunResult, embed_pixels, inference_dtype, run_pipeline, scene_feature_map

__all__ = ["run_to_folder", "write_run_folder", "results_rows", "whole_scene_map", "ablate",
           "default_run_dir"]

STAGE_LABELS = {
    "final/propagated": "MIFOMO-lite (final, with propagation)",
    "final/plain": "MIFOMO-lite (final, prototypes only)",
    "after_support/propagated": "after support-only adaptation, with propagation",
    "after_support/plain": "after support-only adaptation, prototypes only",
}


def default_run_dir(cfg: RunConfig, root: str = "runs") -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{stamp}-{cfg.preset}-{cfg.target}-{cfg.adaptation}"


def results_rows(summary: dict) -> list[dict]:
    """Rows for :func:`report.results_table`: kit stages first, then baselines."""
    rows = []
    for key, label in STAGE_LABELS.items():
        if key in summary:
            rows.append({"name": label, **summary[key]})
    for key, value in summary.items():
        if key.startswith("baseline/"):
            rows.append({"name": "baseline: " + key.split("/", 1)[1], **value})
    return rows


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
                                        title=f"prediction (episode {len(m['episodes']) - 1}, no propagation)")
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
    m["figures"] = figures
    write_json(out / "metrics.json", m)
    write_json(out / "config.json", cfg.to_dict())
    text = render_report(m)
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(text)
    return out


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
        R.results_table(results_rows(m["summary"])),
        "",
        verdict(m["summary"], m.get("paired")),
        "",
        "No model selection on the test set: every number is measured after a fixed number of steps.",
    ]
    if m.get("figures"):
        lines += ["", "## Figures", ""] + [f"![{k}]({v})" for k, v in m["figures"].items()]
    return "\n".join(lines) + "\n"


def run_to_folder(cfg: RunConfig, out_dir: Optional[Path] = None, log: Callable = print, **kw) -> tuple[RunResult, Path]:
    """Run ``cfg`` and write its folder; returns the result and the folder."""
    out = Path(out_dir) if out_dir else default_run_dir(cfg)
    result = run_pipeline(cfg, log=log, **kw)
    write_run_folder(result, out, log=log)
    return result, out


def ablate(cfg: RunConfig, names: Optional[Sequence[str]] = None, out_dir: Optional[Path] = None,
           log: Callable = print, *, target_scene=None, source_scenes=None, jobs: int = 1,
           executor: str = "local") -> tuple[dict, Path]:
    """Run the Table X grid (each ablation on the same seeds) and write ``ablation.md`` / ``.json``.

    ``target_scene`` / ``source_scenes``: ready ``Scene`` objects to use instead of loading
    ``cfg.target`` / ``cfg.sources`` by name (as in :func:`run_pipeline`), e.g. a synthetic scene.
    ``jobs`` / ``executor``: how the rows run (:func:`mifomo_lite.sweep.run_tasks`); every row is
    seeded on its own, so the results and the folder are the same however they run."""
    from ..sweep import run_tasks

    names = list(names or ABLATIONS)
    for name in names:
        if name not in ABLATIONS:
            from ..errors import ConfigError

            raise ConfigError(f"unknown ablation {name!r}; choose from {', '.join(ABLATIONS)}")
    out = Path(out_dir) if out_dir else default_run_dir(cfg.replace(adaptation=cfg.adaptation), "runs/ablate")
    serial = jobs == 1 and executor == "local"
    if not serial:
        log(f"{len(names)} ablations, {jobs} at a time ({executor}): {', '.join(names)}")
    tasks = [(cfg, name, i == 0, out, target_scene, source_scenes, log if serial else None)
             for i, name in enumerate(names)]
    # submitit's job files go beside the results folder, so its layout is the same for every executor
    rows = run_tasks(_ablation_row, tasks, jobs=jobs, executor=executor, log_dir=out.parent / f"{out.name}.submitit")
    table = {name: row for name, (row, _) in zip(names, rows)}
    baselines = rows[0][1] if rows else {}
    payload = {"config": cfg.to_dict(), "ablations": table, "baselines": baselines}
    write_json(out / "ablation.json", payload)
    lines = [{"name": n, **{k: v[k] for k in ("OA", "AA", "kappa")}} for n, v in table.items()]
    lines += [{"name": "baseline: " + n, **v} for n, v in baselines.items()]
    with atomic_path(out / "ablation.md") as tmp:
        tmp.write_text("# Table X ablation\n\n" + R.results_table(lines) + "\n")
    return payload, out


def _ablation_row(cfg: RunConfig, name: str, with_baselines: bool, out: Path, target_scene, source_scenes,
                  log: Optional[Callable]) -> tuple[dict, dict]:
    """One ablation: run it, write its folder ``out/name``; return its table row and baselines."""
    log = log or (lambda *a, **k: None)
    log(f"ablation {name}: {ABLATIONS[name] or 'full method'}")
    sub = cfg.replace(**ABLATIONS[name], baselines=with_baselines, classification_map=False, tsne=False)
    res = run_pipeline(sub, target_scene=target_scene, source_scenes=source_scenes, log=log, keep_model=False)
    write_run_folder(res, out / name, log=log)
    s = res.metrics["summary"]
    key = "final/propagated" if "final/propagated" in s else "final/plain"
    row = {"stage": key, **s[key], "plain": s.get("final/plain"), "time_s": res.metrics["timings"]["total_s"]}
    return row, {k.split("/", 1)[1]: v for k, v in s.items() if k.startswith("baseline/")}
