"""Aggregates over the test episodes: mean ± std per stage and baseline, and paired differences —
for the run's own propagation pool and for each pool by name (``labelled``: the paper's protocol,
it uses the GT mask; ``scene``: every pixel of the scene is a node)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .. import fsl

__all__ = ["POOL_KINDS", "summarise_episodes", "paired_differences", "paired_by_pool", "paired_stats",
           "paired_by_seed"]

#: The propagated predictions a stage may hold: the run's pool, then each pool by name.
POOL_KINDS = ("propagated", "propagated_labelled_pool", "propagated_scene_pool")
_BASELINE_KEYS = {"baselines": "baseline", "baselines_labelled_pool": "baseline_labelled_pool",
                  "baselines_scene_pool": "baseline_scene_pool"}


def summarise_episodes(episodes: list) -> dict:
    """Mean ± population std of OA/AA/κ per (stage, prediction) and per baseline: keys
    ``<stage>/<kind>`` (kinds ``plain`` and :data:`POOL_KINDS`) and ``baseline/<name>`` (the run's
    pool), ``baseline_labelled_pool/<name>``, ``baseline_scene_pool/<name>``."""
    out: dict = {}
    if not episodes:
        return out
    for stage in ("after_support", "final"):
        for kind in ("plain",) + POOL_KINDS:
            vals = [ep[stage][kind] for ep in episodes if kind in ep.get(stage, {})]
            if vals:
                out[f"{stage}/{kind}"] = _agg(vals)
    for key, prefix in _BASELINE_KEYS.items():
        for name in episodes[0].get(key, {}):
            out[f"{prefix}/{name}"] = _agg([ep[key][name] for ep in episodes])
    return out


def paired_by_pool(episodes: list) -> dict:
    """:func:`paired_differences` of the final propagated OA in each pool against the baselines in
    the same pool: ``{"labelled": {...}, "scene": {...}}`` (a pool without records is left out)."""
    out = {}
    for pool in ("labelled", "scene"):
        d = paired_differences(episodes, f"final/propagated_{pool}_pool", baselines=f"baselines_{pool}_pool")
        if d:
            out[pool] = d
    return out


def paired_differences(episodes: list, stage: str = "final/propagated", baselines: str = "baselines") -> dict:
    """Per-baseline paired OA difference (kit − baseline, in points) over the same episodes.

    The across-episode std of each method is dominated by how hard each split is, and both methods
    share the split; the paired difference isolates the method effect. Returns
    ``{baseline: {"mean", "std" (population), "wins", "n", "p"}}`` (``wins``: episodes where the kit
    is strictly ahead; ``p``: two-sided p-value of the paired t-test, i.e. a one-sample t-test of
    the differences against 0 — None with fewer than 2 episodes or identical differences).
    ``baselines``: the record key of the baselines to pair with (those of the same pool)."""
    st, kind = stage.split("/")
    eps = [ep for ep in episodes if kind in ep.get(st, {}) and ep.get(baselines)]
    if not eps:
        return {}
    kit = np.array([ep[st][kind]["oa"] for ep in eps], dtype=float)
    return {name: paired_stats(kit - np.array([ep[baselines][name]["oa"] for ep in eps], dtype=float))
            for name in eps[0][baselines]}


def paired_stats(d) -> dict:
    """Paired differences ``d`` (one per episode, in points) summarised: ``{"mean", "std"
    (population), "wins" (strictly > 0), "n", "p"}`` (``p``: two-sided p-value of the paired t-test,
    None with fewer than 2 episodes or identical differences)."""
    d = np.asarray(d, dtype=float)
    return {"mean": float(d.mean()), "std": float(d.std()), "wins": int((d > 0).sum()), "n": len(d),
            "p": _paired_p_value(d)}


def paired_by_seed(ahead: dict, behind: dict) -> Optional[dict]:
    """:func:`paired_stats` of ``ahead − behind`` over the episode seeds both hold (``{seed: OA}``
    each; the same seed is the same support/query split), or None when they share no seed."""
    seeds = sorted(set(ahead) & set(behind), key=str)
    if not seeds:
        return None
    return {**paired_stats([float(ahead[s]) - float(behind[s]) for s in seeds]),
            "unpaired": len(set(ahead) ^ set(behind))}


def _paired_p_value(d: np.ndarray) -> Optional[float]:
    if len(d) < 2 or np.ptp(d) == 0:
        return None
    from scipy.stats import ttest_1samp

    return float(ttest_1samp(d, 0.0).pvalue)


def _agg(vals: list) -> dict:
    a = fsl.aggregate_episodes(vals)
    return {k.upper() if k != "kappa" else k: {"mean": float(a[k]["mean"]), "std": float(a[k]["std"])}
            for k in ("oa", "aa", "kappa")}
