"""Per-episode numbers behind the computed claims of the run notebooks (06, 07).

A claim about a run holds only when it holds episode by episode, so each function here returns
paired per-episode differences (``> 0`` = the claim's direction) for
:func:`mifomo_lite.lessons.paired_verdict`, read from a run's ``metrics.json`` content or an
``ablation.json`` table — never from numbers typed into a notebook.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..errors import OutputError

__all__ = ["ablation_episode_oa", "pool_gaps", "drift_differences", "last_cosine"]


def ablation_episode_oa(table: Mapping, name: str) -> np.ndarray:
    """Per-episode OA of ablation row ``name`` at the stage the table (``ablation.json``) reports
    for it (``final/plain`` or ``final/propagated``): the row's ``episodes`` records, in episode order."""
    row = table["ablations"].get(name)
    if row is None or "episodes" not in row:
        raise OutputError(f"ablation row {name!r} has no per-episode records in the table "
                          f"(rows: {', '.join(table['ablations'])})")
    return np.array([e["headline"] for e in row["episodes"]], dtype=float)


def pool_gaps(episodes: list, stage: str = "final") -> np.ndarray:
    """Per episode: OA over the labelled pool minus OA over the scene pool, in points (> 0: the
    ground-truth mask's pool scores higher). Episodes that did not score both pools are skipped."""
    both = [ep[stage] for ep in episodes
            if "propagated_labelled_pool" in ep.get(stage, {}) and "propagated_scene_pool" in ep.get(stage, {})]
    return np.array([s["propagated_labelled_pool"]["oa"] - s["propagated_scene_pool"]["oa"] for s in both],
                    dtype=float)


def last_cosine(drift: Mapping) -> float:
    """Cosine to the frozen embeddings after the last run-level phase that ran (1.0: none ran)."""
    phases = drift.get("phases") or {}
    for name in ("after_phase1", "after_phase0"):
        if name in phases:
            return float(phases[name]["cosine"])
    return 1.0


def drift_differences(drift: Mapping) -> np.ndarray:
    """Per test episode: how far the run-level phases (0 and 1) moved the embedding from the frozen
    one (``1 − cosine`` after them) minus how much further the episode's own adaptation moved it
    (cosine after them − cosine at the episode's end). > 0: the run-level phases moved it more.
    Empty without a drift record or episodes."""
    if not drift:
        return np.zeros(0)
    base = last_cosine(drift)
    out = []
    for ep in drift.get("episodes") or []:
        end = ep.get("after_intermediate") or ep.get("after_support")
        if end is not None:
            out.append((1.0 - base) - (base - float(end["cosine"])))
    return np.array(out, dtype=float)
