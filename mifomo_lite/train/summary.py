"""Aggregates over the test episodes: mean ± std per stage and baseline, and paired differences."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .. import fsl

__all__ = ["summarise_episodes", "paired_differences"]


def summarise_episodes(episodes: list) -> dict:
    """Mean ± population std of OA/AA/κ per (stage, prediction) and per baseline."""
    out: dict = {}
    if not episodes:
        return out
    for stage in ("after_support", "final"):
        for kind in ("plain", "propagated"):
            vals = [ep[stage][kind] for ep in episodes if kind in ep.get(stage, {})]
            if vals:
                out[f"{stage}/{kind}"] = _agg(vals)
    names = episodes[0].get("baselines", {}).keys()
    for name in names:
        out[f"baseline/{name}"] = _agg([ep["baselines"][name] for ep in episodes])
    return out


def paired_differences(episodes: list, stage: str = "final/propagated") -> dict:
    """Per-baseline paired OA difference (kit − baseline, in points) over the same episodes.

    The across-episode std of each method is dominated by how hard each split is, and both methods
    share the split; the paired difference isolates the method effect. Returns
    ``{baseline: {"mean", "std" (population), "wins", "n", "p"}}`` (``wins``: episodes where the kit
    is strictly ahead; ``p``: two-sided p-value of the paired t-test, i.e. a one-sample t-test of
    the differences against 0 — None with fewer than 2 episodes or identical differences)."""
    st, kind = stage.split("/")
    eps = [ep for ep in episodes if kind in ep.get(st, {}) and ep.get("baselines")]
    if not eps:
        return {}
    kit = np.array([ep[st][kind]["oa"] for ep in eps], dtype=float)
    out = {}
    for name in eps[0]["baselines"]:
        d = kit - np.array([ep["baselines"][name]["oa"] for ep in eps], dtype=float)
        out[name] = {"mean": float(d.mean()), "std": float(d.std()), "wins": int((d > 0).sum()), "n": len(d),
                     "p": _paired_p_value(d)}
    return out


def _paired_p_value(d: np.ndarray) -> Optional[float]:
    if len(d) < 2 or np.ptp(d) == 0:
        return None
    from scipy.stats import ttest_1samp

    return float(ttest_1samp(d, 0.0).pvalue)


def _agg(vals: list) -> dict:
    a = fsl.aggregate_episodes(vals)
    return {k.upper() if k != "kappa" else k: {"mean": float(a[k]["mean"]), "std": float(a[k]["std"])}
            for k in ("oa", "aa", "kappa")}
