"""One seeded test episode (step 2 of the algorithm in :mod:`mifomo_lite.train.pipeline`).

The episode restarts from the state phase 1 left, adapts on the support set, evaluates, and — with
the intermediate domain on — pseudo-labels the query pixels, trains on the intermediate domain and
evaluates again. Its inputs are one :class:`EpisodeContext`; its output one :class:`EpisodeOutcome`.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
from torch import nn

from .. import data as D
from ..utils import seed_everything
from .baselines import FeatureCache, run_baselines
from .config import RunConfig
from .domains import Domain, subsample_queries
from .embedding import EmbeddingCache, embed_split
from .evaluation import node_embeddings, stage_metrics
from .model import restore_episode_start
from .phases import adapt_on_support, pseudo_label_pool, support_pool, train_intermediate_domain

__all__ = ["EpisodeContext", "EpisodeOutcome", "run_test_episode", "timed"]


@contextlib.contextmanager
def timed(seconds: dict, key: str):
    """Add the wall time of the ``with`` block to ``seconds[key]``."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - t0


@dataclass
class EpisodeContext:
    """What every test episode reads: the model after phase 1, the states it restarts from, the
    domains, and the run's caches (``None`` where they do not apply)."""

    model: nn.Module
    target: Domain
    sources: Sequence[Domain]
    cfg: RunConfig
    device: torch.device
    initial_state: dict          # target-phase trainables before phase 1 (``code_reset`` restores them)
    phase1_state: dict           # the whole model after phase 1
    feature_cache: Optional[FeatureCache] = None
    embedding_cache: Optional[EmbeddingCache] = None
    drift: Optional[object] = None  # a DriftRecorder (mifomo_lite.train.drift_record), None = off


@dataclass
class EpisodeOutcome:
    """What one test episode produced: its metrics record, the λ trajectory of the intermediate
    domain (None when that phase is off), its loss history, the last evaluation's embeddings, and
    wall seconds per kind of work (``adaptation_s``, ``evaluation_s``, ``baselines_s``)."""

    record: dict
    trajectory: Optional[list]
    history: dict
    last: dict
    seconds: dict = field(default_factory=dict)


def _evaluate(ctx: EpisodeContext, split, desc: str, seconds: dict):
    """Embed the split and score it (with propagation where the run reports it)."""
    cfg = ctx.cfg
    with timed(seconds, "evaluation_s"):
        s_emb, q_emb, fmap = embed_split(ctx.model, ctx.target, split, cfg, ctx.device, progress_desc=desc,
                                         cache=ctx.embedding_cache)
        propagate = cfg.mode == "transductive" and cfg.report_with_lgc
        # the scene pool's nodes: scored whenever the run propagates, and the pseudo-labels' pool
        # when the run's own pool is "scene"
        nodes = (node_embeddings(ctx.model, ctx.target, split, cfg, ctx.device, fmap, ctx.embedding_cache, q_emb)
                 if propagate or (cfg.transductive_pool == "scene" and cfg.mode == "transductive") else None)
        stage = stage_metrics(ctx.model, split, cfg, s_emb, q_emb, propagate=propagate, nodes=nodes)
    return stage, {"split": split, "support_emb": s_emb, "query_emb": q_emb, "feature_map": fmap, "nodes": nodes}


def _record_drift(ctx: EpisodeContext, e: int, stage: str, seconds: dict) -> None:
    if ctx.drift is not None:
        with timed(seconds, "drift_s"):
            ctx.drift.episode(e, stage)


def run_test_episode(ctx: EpisodeContext, e: int) -> EpisodeOutcome:
    """Test episode ``e`` (seed ``cfg.seed + e``): steps 2a–2d and 3 of the algorithm."""
    cfg, model, seed = ctx.cfg, ctx.model, ctx.cfg.seed + e
    restore_episode_start(model, cfg, ctx.phase1_state, ctx.initial_state)
    seed_everything(seed)
    split = subsample_queries(D.few_shot_split(ctx.target.scene, n_shot=cfg.n_shot, seed=seed),
                              cfg.max_query_pixels, seed)
    hist: dict = {}
    seconds: dict = {"adaptation_s": 0.0, "evaluation_s": 0.0, "baselines_s": 0.0, "drift_s": 0.0}
    rec: dict = {"episode": e, "seed": seed, "n_support": split.n_support, "n_query": split.n_query}
    with timed(seconds, "adaptation_s"):
        adapt_on_support(model, ctx.target, split, cfg, ctx.device, hist, ctx.embedding_cache)
    _record_drift(ctx, e, "after_support", seconds)
    rec["after_support"], last = _evaluate(ctx, split, f"episode {e}: query (after support)", seconds)
    trajectory = None
    if cfg.use_intermediate_domain:
        with timed(seconds, "adaptation_s"):
            pool = (pseudo_label_pool(model, ctx.target, split, last["query_emb"], last["support_emb"], cfg,
                                      nodes=last["nodes"])
                    if cfg.mode == "transductive" else support_pool(split))
            rec["pseudo_labels"] = {k: pool[k] for k in ("n_pseudo", "pseudo_accuracy", "warnings")
                                    + (("n_pseudo_scored", "pool", "pseudo_accuracy_scope") if "pool" in pool else ())}
            rec["pseudo_labels"]["kept_classes"] = [int(c) for c in pool["kept_classes"]]
            trajectory = train_intermediate_domain(model, ctx.target, ctx.sources, pool, cfg, ctx.device, seed, hist)
        _record_drift(ctx, e, "after_intermediate", seconds)
        rec["final"], last = _evaluate(ctx, split, f"episode {e}: query (final)", seconds)
    else:
        rec["final"] = rec["after_support"]
    if ctx.feature_cache is not None:
        with timed(seconds, "baselines_s"):
            rec.update(run_baselines(ctx.feature_cache, split))
    return EpisodeOutcome(rec, trajectory, hist, last, seconds)
