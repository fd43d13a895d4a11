"""The MIFOMO pipeline (Algorithm 1 of arXiv 2601.22581), end to end.

:func:`run_pipeline` runs the phases in order, as the released code does (SPEC §8):

0. **Target self-supervision** (a kit extension, off unless ``target_ssl_steps > 0``; transductive
   mode only) — the foundation model's MAE objective, continued on windows around every pixel of
   the unlabelled target scene (no labels, no ground-truth mask); :func:`~.phases.run_target_ssl`.
1. **Source episodic training** — N-way K-shot episodes from the source scene(s); loss
   ``L_fsl + L_mx`` (prototype cross-entropy plus same-episode embedding mixup);
   :func:`~.phases.train_source_phase`.
2. **Per test episode** (seed = ``cfg.seed + e``; :func:`~.episode.run_test_episode`):
   a. reset the target-phase trainables (``reset_phase1_trainables``);
   b. *support-only adaptation*: the 5 shots of each class are split 2 + 3 into a tiny episode;
   c. *pseudo-labelling*: prototype probabilities of the unlabelled query pixels, refined by label
      propagation (or ε-smoothing, or nothing), filtered to the top-k most confident per class;
   d. *intermediate domain*: source and pseudo-labelled target samples mixed at input and
      embedding level, λ moved from target to source by the Wasserstein scheduler;
3. **Evaluation** — OA, AA, κ, per-class accuracy, with and without propagation, mean ± std over
   the seeded test episodes. The model is never selected on the test set: it is evaluated after a
   fixed number of steps.

``mode="inductive"`` (the paper's open question) never shows the model the unlabelled target
pixels during training: pseudo-labelling is skipped and the intermediate domain mixes the source
with the labelled support set only; evaluation uses no propagation over the query set.

With ``drift_probe_pixels > 0`` the run also records, after phase 0, after phase 1 and per test
episode after the support adaptation and after the intermediate domain, how far the model moved
from the one built at the start (:mod:`~.drift_record`; ``metrics["drift"]``). ``reset_capture``
says whether the state ``code_reset`` restores is taken at model build or after phase 0.

Everything a student might want to inspect is returned in a :class:`RunResult`. The names of the
phase modules are re-exported here, so ``from mifomo_lite.train.pipeline import ...`` keeps working.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
from torch import nn

from .. import fsl
from ..errors import ConfigError
from ..peft import apply_adaptation
from ..utils import environment_record, resolve_device, seed_everything
from .baselines import FeatureCache, run_baselines
from .checkpoint import EpisodeStore, Phase1Cache, restore_phase1, run_episodes
from .config import RunConfig
from .domains import Domain, available_sources, prepare_domains, source_scene, subsample_queries
from .drift_record import make_recorder
from .embedding import (EmbeddingCache, cpu_has_native_bf16, embed_pixels, embed_split, inference_dtype,
                        progress_bar, scene_feature_map)
from .episode import EpisodeContext, EpisodeOutcome, run_test_episode, timed
from .evaluation import evaluate_stage, full_graph_scores, predict, propagated_scores, stage_metrics
from .evaluation import _class_mass  # noqa: F401  (re-exported for notebooks and tests)
from .model import (adaptation_options, backbone_is_frozen, build_model, make_optimizer, set_phase_trainables,
                    trainable_state)
from .phases import (adapt_on_support, pseudo_label_pool, run_target_ssl, support_pool, train_intermediate_domain,
                     train_source_phase)
from .summary import paired_by_pool, paired_differences, summarise_episodes

__all__ = ["Domain", "RunResult", "prepare_domains", "build_model", "run_pipeline",
           "embed_pixels", "set_phase_trainables", "adaptation_options", "make_optimizer",
           "run_target_ssl", "train_source_phase", "adapt_on_support", "pseudo_label_pool", "support_pool",
           "train_intermediate_domain", "embed_split", "stage_metrics", "evaluate_stage", "predict",
           "full_graph_scores", "propagated_scores", "inference_dtype", "scene_feature_map", "EmbeddingCache",
           "FeatureCache", "run_baselines", "summarise_episodes", "paired_differences", "source_scene",
           "available_sources", "subsample_queries", "cpu_has_native_bf16", "backbone_is_frozen", "source_phases"]


@dataclass
class RunResult:
    """Everything a run produced (``metrics`` is what ``metrics.json`` stores)."""

    config: RunConfig
    metrics: dict
    history: dict = field(default_factory=dict)
    lambda_trajectories: list = field(default_factory=list)
    last_episode: dict = field(default_factory=dict)
    model: Optional[nn.Module] = None
    target: Optional[Domain] = None
    phase1_cached: Optional[bool] = None   # True: phases 0 and 1 came from a Phase1Cache; None: no cache


def run_pipeline(cfg: RunConfig, *, target_scene=None, source_scenes=None, log: Callable = print,
                 keep_model: bool = True, store: Optional[EpisodeStore] = None,
                 phase1_cache: Optional[Phase1Cache] = None) -> RunResult:
    """Run MIFOMO as configured and return every metric (the algorithm in the module docstring).

    ``store`` (an :class:`~.checkpoint.EpisodeStore`) records each finished test episode and skips
    those an earlier, interrupted run of the same config recorded; ``phase1_cache`` (a
    :class:`~.checkpoint.Phase1Cache`) reuses the model after phases 0 and 1 of an earlier run
    with the same phase-0/1 settings and scenes. Neither changes any number."""
    cfg, device, timings, t_start = _start_run(cfg)
    with timed(timings, "data_s"):
        target, sources = prepare_domains(cfg, target_scene, source_scenes)
    if not sources and (cfg.source_episodes > 0 or cfg.use_intermediate_domain):
        raise ConfigError("no source scene: set sources=synthetic (or a scene name)")
    model, history = build_model(cfg, device), {}
    with timed(timings, "drift_s"):
        drift = make_recorder(model, target, cfg, device)                  # the frozen model's probe
    adapter, initial_state, ssl_record = source_phases(model, target, sources, cfg, device, history, log,
                                                       timings, drift, phase1_cache)            # phases 0, 1
    ctx = EpisodeContext(model, target, sources, cfg, device, initial_state,
                         {k: v.detach().clone() for k, v in model.state_dict().items()},
                         FeatureCache(target, cfg, device) if cfg.baselines else None,
                         EmbeddingCache(model, target, cfg, device) if backbone_is_frozen(model) else None,
                         drift)
    outcomes = run_episodes(ctx, store)                                                         # phases 2–3
    for o in outcomes:
        for k, v in o.history.items():
            history.setdefault(k, []).extend(v)
    _add_episode_timings(timings, outcomes, ctx.embedding_cache, t_start)
    metrics = metrics_document(ctx, outcomes, adapter, ssl_record, timings)
    return RunResult(cfg, metrics, history, [o.trajectory for o in outcomes if o.trajectory is not None],
                     outcomes[-1].last if outcomes else {}, model if keep_model else None, target,
                     phase1_cache.hit if phase1_cache is not None else None)


def source_phases(model: nn.Module, target, sources, cfg: RunConfig, device, history: dict, log: Callable,
                  timings: dict, drift, cache: Optional[Phase1Cache] = None):
    """Phase 0, the adapter, phase 1 — or, on a hit of ``cache``, the adapter and the stored state
    after phase 1. Returns ``(adapter, initial_state, ssl_record)``."""
    built = ({k: v.detach().clone() for k, v in model.state_dict().items()}
             if cfg.reset_capture == "before_phase0" else {})
    key = cache.key(cfg, target, sources, device) if cache is not None else None
    entry = cache.load(key, device) if cache is not None else None
    if entry is None:
        ssl_record = run_target_ssl(model, target, cfg, device, history, log)                  # phase 0
        timings["target_ssl_s"] = ssl_record["seconds"] if ssl_record else 0.0
        _record_phase(drift, "after_phase0", ssl_record is not None, timings)
    else:
        ssl_record, timings["target_ssl_s"] = entry["meta"]["ssl_record"], 0.0
        history.update(entry["meta"]["history"])
        if drift is not None and entry["meta"]["drift_after_phase0"] is not None:
            drift.phases["after_phase0"] = entry["meta"]["drift_after_phase0"]
    adapter = apply_adaptation(model, cfg.adaptation, trainable_set=cfg.trainable_set, phase="source",
                               extra_trainable=("classifier",), **adaptation_options(cfg))
    set_phase_trainables(model, cfg, "target")
    if entry is None:
        initial_state = reset_state(model, cfg, built)  # what "code_reset" restores (SPEC §9 note A)
        with timed(timings, "source_phase_s"):
            train_source_phase(model, sources, cfg, device, history, log)                       # phase 1
        if cache is not None:
            cache.save(key, model, initial_state, {
                "ssl_record": ssl_record, "history": history, "logit_form": model.classifier.logit_form,
                "training": model.training,
                "drift_after_phase0": drift.phases.get("after_phase0") if drift is not None else None})
    else:
        initial_state, timings["source_phase_s"] = entry["initial_state"], 0.0
        restore_phase1(model, entry)
        log(f"phase 1: the cached model of {cache.folder} (key {key}) — phases 0 and 1 skipped")
    set_phase_trainables(model, cfg, "target")
    _record_phase(drift, "after_phase1", cfg.source_episodes > 0 and bool(sources), timings)
    return adapter, initial_state, ssl_record


def reset_state(model: nn.Module, cfg: RunConfig, built: dict) -> dict:
    """The target-phase trainables "code_reset" restores, captured where ``cfg.reset_capture``
    says: ``after_phase0`` = their values now; ``before_phase0`` = their values at model build
    (``built``, a state dict), the adapters' fresh values for what did not exist then."""
    now = trainable_state(model)
    if cfg.reset_capture == "after_phase0":
        return now
    return {k: built[k].clone() if k in built else v for k, v in now.items()}


def _record_phase(drift, name: str, ran: bool, timings: dict) -> None:
    """Record the drift after a run-level phase that ran (no record for a phase that was off)."""
    if drift is not None and ran:
        with timed(timings, "drift_s"):
            drift.phase(name)


def _start_run(cfg: RunConfig):
    """Validate ``cfg``, set the thread count, pick the device and seed everything."""
    cfg = cfg.validate()
    t_start = time.perf_counter()
    if cfg.num_threads:
        # torch and the BLAS that NumPy/SciPy use (PCA, propagation) alike: a run's numbers depend
        # on its thread count through float rounding, so one setting must cover both
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(int(cfg.num_threads))
        threadpool_limits(limits=int(cfg.num_threads))
    device = resolve_device(cfg.device, allow_fallback=cfg.allow_cpu_fallback)
    seed_everything(cfg.seed)
    return cfg, device, {}, t_start


def _add_episode_timings(timings: dict, outcomes: list, emb_cache, t_start: float) -> None:
    for key in ("adaptation_s", "evaluation_s", "baselines_s"):
        timings[key] = sum(o.seconds[key] for o in outcomes)
    timings["drift_s"] = timings.get("drift_s", 0.0) + sum(o.seconds.get("drift_s", 0.0) for o in outcomes)
    timings["total_s"] = time.perf_counter() - t_start
    if emb_cache is not None:
        timings["embedding_cache_s"] = emb_cache.seconds


def metrics_document(ctx: EpisodeContext, outcomes: list[EpisodeOutcome], adapter, ssl_record: Optional[dict],
                     timings: dict) -> dict:
    """The run's ``metrics.json``: config, scenes, adapter, per-episode records and aggregates."""
    cfg, target = ctx.cfg, ctx.target
    episodes = [o.record for o in outcomes]
    return {
        "config": cfg.to_dict(),
        "environment": environment_record(),
        "device": str(ctx.device),
        "target": {"name": target.name, "shape": list(target.scene.cube.shape),
                   "n_classes": target.n_classes, "class_names": target.class_names},
        "sources": [{"name": s.name, "n_classes": s.n_classes, "shape": list(s.scene.cube.shape)}
                    for s in ctx.sources],
        "adaptation": adapter.to_dict() if hasattr(adapter, "to_dict") else str(adapter),
        "embedding_cache": ctx.embedding_cache is not None,
        # its wall time is timings["target_ssl_s"]: everything outside "timings" repeats exactly
        "target_ssl": ssl_record and {k: ssl_record[k] for k in ("steps", "first_loss", "last_loss")},
        "seeds": [cfg.seed + e for e in range(cfg.n_test_episodes)],
        "episodes": [fsl.to_jsonable(r) for r in episodes],
        "summary": summarise_episodes(episodes),
        "paired": paired_differences(episodes),
        "paired_by_pool": paired_by_pool(episodes),   # each pool against the baselines in the same pool
        "drift": ctx.drift.to_dict() if ctx.drift is not None else None,
        "timings": timings,
    }
