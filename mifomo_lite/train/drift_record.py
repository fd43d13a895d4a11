"""Did the run's adaptation move the model? A drift record per phase (:mod:`mifomo_lite.fsl.drift`).

At model build, before any training, :class:`DriftRecorder` draws a seeded probe of scene pixels
without the ground truth (:func:`~mifomo_lite.fsl.drift.probe_pixels`), embeds it with the frozen
model and snapshots every weight. After phase 0, after phase 1 and, per test episode, after the
support-only adaptation and after the intermediate domain, it embeds the same probe again and
records the cosine to the frozen embeddings, the 10-NN overlap and ``‖ΔW‖/‖W‖`` per adapted group.
Embedding runs in eval mode without autograd and restores the train/eval mode, so the record
changes no other number of the run.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from torch import nn

from ..fsl import drift as fdrift
from .config import RunConfig
from .embedding import embed

__all__ = ["DriftRecorder", "K_NEIGHBOURS"]

K_NEIGHBOURS = 10
PHASES = ("after_phase0", "after_phase1")
EPISODE_STAGES = ("after_support", "after_intermediate")


class DriftRecorder:
    """The drift of ``model`` from its state at construction, on ``cfg.drift_probe_pixels``
    pixels of the target scene (seed ``cfg.seed``). Call :meth:`phase` and :meth:`episode` at the
    points of the run; :meth:`to_dict` is the ``"drift"`` entry of ``metrics.json``."""

    def __init__(self, model: nn.Module, target, cfg: RunConfig, device):
        self.model, self.target, self.cfg, self.device = model, target, cfg, device
        prep = target.prepared
        self.rows, self.cols = fdrift.probe_pixels(prep.height, prep.width, cfg.drift_probe_pixels, seed=cfg.seed)
        self.before = fdrift.snapshot(model)
        self.frozen = self._embed()
        self.phases: dict = {}
        self.episodes: list = []

    def _embed(self):
        cfg = self.cfg
        return embed(self.model, self.target.prepared, self.rows, self.cols, cfg, self.device, progress=False)

    def _measure(self) -> dict:
        k = min(K_NEIGHBOURS, len(self.rows) - 1)
        rec = fdrift.summarise(self.frozen, self._embed(), self.model, self.before, k=k, max_points=None,
                               seed=self.cfg.seed, missing="frozen")
        w = rec.pop("weights")
        rec["weights"] = {"adapter_rel_delta": w["adapter_rel_delta"], "other_rel_delta": w["other_rel_delta"],
                          "groups": {g: {"kind": v["kind"], "rel_delta": v["rel_delta"]}
                                     for g, v in w["groups"].items()}}
        return rec

    def phase(self, name: str) -> None:
        """Record the drift after a run-level phase (``after_phase0`` or ``after_phase1``)."""
        self.phases[name] = self._measure()

    def episode(self, e: int, stage: str) -> None:
        """Record the drift of test episode ``e`` after ``stage`` (one of :data:`EPISODE_STAGES`)."""
        while len(self.episodes) <= e:
            self.episodes.append({"episode": len(self.episodes)})
        self.episodes[e][stage] = self._measure()

    def to_dict(self) -> dict:
        """The record, plus per stage the mean over episodes of cosine and k-NN overlap."""
        means: dict = {}
        for stage in EPISODE_STAGES:
            recs = [ep[stage] for ep in self.episodes if stage in ep]
            if recs:
                means[stage] = {key: float(np.mean([r[key] for r in recs])) for key in ("cosine", "knn_overlap")}
        return {"probe": {"n_pixels": int(len(self.rows)), "seed": int(self.cfg.seed), "drawn_without_gt": True},
                "phases": self.phases, "episodes": self.episodes, "episode_means": means}


def make_recorder(model: nn.Module, target, cfg: RunConfig, device) -> Optional[DriftRecorder]:
    """A :class:`DriftRecorder`, or None when ``cfg.drift_probe_pixels`` is 0 (off)."""
    return DriftRecorder(model, target, cfg, device) if cfg.drift_probe_pixels > 0 else None
