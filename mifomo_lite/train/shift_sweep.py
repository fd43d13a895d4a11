"""How strong a domain shift does the mixup bridge need? A paired sweep over shift strengths.

The intermediate domain is meant to bridge a gap between source and target. To see whether it
does, the gap must be a knob: :func:`bridge_shift_sweep` shifts the target scene by
:func:`~mifomo_lite.data.shift.shift_scene` at each strength (0 = the scene itself) and runs the
whole pipeline twice on it, with and without the intermediate domain. Test episode *e* uses the
same seed in both arms and at every strength (the shift keeps labels and masks, so the support and
query pixels are the same too): the comparison is paired twice over, within a strength (bridge vs
no bridge) and across strengths (the same episode under a larger shift).

:func:`sweep_summary` condenses the tidy rows per strength (means, the paired difference and its
sign-flip p-value), :func:`gain_growth` gives the per-episode change of the bridge's gain between
two strengths, and :func:`plot_bridge_sweep` draws OA against strength for both arms.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from ..data.shift import SHIFT_KINDS, shift_scene, spectral_distance
from ..errors import ConfigError, EpisodeError

__all__ = ["bridge_shift_sweep", "sweep_summary", "gain_growth", "plot_bridge_sweep"]

ARMS = (("bridge", True), ("no_bridge", False))


def _strengths(strengths: Sequence[float]) -> List[float]:
    out = [float(s) for s in strengths]
    if not out or any(not 0.0 <= s <= 1.0 for s in out) or len(set(out)) != len(out):
        raise ConfigError(f"strengths must be distinct numbers in [0, 1]; got {list(strengths)!r}")
    return sorted(out)


def _paired_rows(strength: float, angle: float, runs: Dict[str, Any], stage: str) -> List[dict]:
    """One row per test episode of the two arms run at one strength; checks the pairing. Without
    a ``no_bridge`` run, that arm is read from the bridge run after its support-only stage."""
    ep_b = runs["bridge"].metrics["episodes"]
    ep_n = runs["no_bridge"].metrics["episodes"] if "no_bridge" in runs else [
        dict(e, final={"plain": e["after_support"]["plain"]}) for e in ep_b]
    rows = []
    for b, n in zip(ep_b, ep_n):
        gap = abs(b["after_support"]["plain"]["oa"] - n["after_support"]["plain"]["oa"])
        if b["seed"] != n["seed"] or b["n_query"] != n["n_query"] or gap > 1e-9:
            raise EpisodeError(f"episode {b['episode']} at strength {strength:g} is not paired: seeds "
                               f"{b['seed']}/{n['seed']}, queries {b['n_query']}/{n['n_query']}, OA after the "
                               f"support-only stage differs by {gap:.3g} points (expected identical arms "
                               "before the intermediate domain)")
        oa_b, oa_n = float(b["final"][stage]["oa"]), float(n["final"][stage]["oa"])
        rows.append({"strength": strength, "spectral_angle": angle, "episode": int(b["episode"]),
                     "seed": int(b["seed"]), "oa_support": float(b["after_support"]["plain"]["oa"]),
                     "oa_bridge": oa_b, "oa_no_bridge": oa_n, "difference": oa_b - oa_n})
    return rows


def bridge_shift_sweep(cfg, strengths: Sequence[float], *, target_scene=None, source_scenes=None,
                       kinds: Sequence[str] = SHIFT_KINDS, shift_seed: int = 0, stage: str = "plain",
                       reuse_support: bool = True, log: Optional[Callable[[str], None]] = None) -> List[dict]:
    """Tidy rows ``{strength, spectral_angle, episode, seed, oa_support, oa_bridge, oa_no_bridge,
    difference}``, one per strength and test episode: the final OA (``stage`` = ``"plain"``,
    prototypes only, or ``"propagated"``) with and without the intermediate domain on the target
    shifted by ``strength`` (``kinds`` and ``shift_seed`` as in :func:`shift_scene`).
    ``spectral_angle`` is the mean spectral angle (radians) of the shifted target to the original.

    Both arms are the same computation up to the end of the support-only stage, and without the
    intermediate domain the model is evaluated right there: with ``stage="plain"`` and
    ``reuse_support`` (the default) the no-bridge OA is therefore read from the bridge run after its
    support-only stage, which halves the cost; ``reuse_support=False`` runs the second arm.

    ``cfg`` is a :class:`~mifomo_lite.train.config.RunConfig`; the drift probe and the baselines
    are switched off (they change no OA). ``target_scene`` defaults to ``cfg.target`` loaded from
    ``cfg.data_root``; ``source_scenes`` to the preset's. ``log`` receives one line per run."""
    from ..data import load_scene
    from .pipeline import run_pipeline

    if stage not in ("plain", "propagated"):
        raise ConfigError(f"stage must be 'plain' or 'propagated'; got {stage!r}")
    arms = ARMS[:1] if reuse_support and stage == "plain" else ARMS
    levels = _strengths(strengths)
    base = target_scene if target_scene is not None else load_scene(cfg.target, root=cfg.data_root,
                                                                    progress=cfg.progress)
    cfg = cfg.replace(drift_probe_pixels=0, baselines=False)
    rows: List[dict] = []
    for s in levels:
        shifted = shift_scene(base, s, kinds=kinds, seed=shift_seed)
        angle = spectral_distance(base, shifted)
        runs = {arm: run_pipeline(cfg.replace(use_intermediate_domain=on), target_scene=shifted,
                                  source_scenes=source_scenes, log=lambda *a, **k: None, keep_model=False)
                for arm, on in arms}
        rows += _paired_rows(s, angle, runs, stage)
        if log is not None:
            d = np.array([r["difference"] for r in rows if r["strength"] == s])
            log(f"strength {s:g} (spectral angle {angle:.3f} rad): bridge − no bridge {d.mean():+.2f} ± "
                f"{d.std():.2f} OA points over {d.size} paired episodes")
    return rows


def _by_strength(rows: Sequence[dict]) -> Dict[float, List[dict]]:
    if not rows:
        raise ConfigError("the sweep has no rows")
    out: Dict[float, List[dict]] = {}
    for r in rows:
        out.setdefault(float(r["strength"]), []).append(r)
    return dict(sorted(out.items()))


def sweep_summary(rows: Sequence[dict]) -> List[dict]:
    """One row per strength: ``n`` paired episodes, the mean OA of each arm, the mean and std of
    the paired difference (bridge − no bridge) and its two-sided sign-flip ``p``."""
    from ..lessons import sign_flip_p

    out = []
    for s, rs in _by_strength(rows).items():
        d = np.array([r["difference"] for r in rs])
        out.append({"strength": s, "spectral_angle": float(rs[0]["spectral_angle"]), "n": int(d.size),
                    "oa_bridge": float(np.mean([r["oa_bridge"] for r in rs])),
                    "oa_no_bridge": float(np.mean([r["oa_no_bridge"] for r in rs])),
                    "difference": float(d.mean()), "difference_std": float(d.std()), "p": sign_flip_p(d)})
    return out


def gain_growth(rows: Sequence[dict], low: Optional[float] = None, high: Optional[float] = None) -> np.ndarray:
    """Per episode, the bridge's gain at strength ``high`` minus its gain at ``low`` (defaults: the
    largest and the smallest strength of the sweep); > 0 where the bridge helps more under the
    larger shift. Episodes are matched by seed."""
    groups = _by_strength(rows)
    low = min(groups) if low is None else float(low)
    high = max(groups) if high is None else float(high)
    if low not in groups or high not in groups or low == high:
        raise ConfigError(f"need two different strengths of the sweep {sorted(groups)}; got {low} and {high}")
    at_low = {r["seed"]: r["difference"] for r in groups[low]}
    at_high = {r["seed"]: r["difference"] for r in groups[high]}
    seeds = sorted(set(at_low) & set(at_high))
    if not seeds:
        raise EpisodeError(f"strengths {low:g} and {high:g} share no episode seed: nothing to pair")
    return np.array([at_high[k] - at_low[k] for k in seeds], dtype=float)


def plot_bridge_sweep(rows: Sequence[dict], title: str = "how strong a shift does the bridge need?"):
    """OA against shift strength for both arms (mean ± std over the episodes)."""
    from .report import _plt

    plt = _plt()
    summ = sweep_summary(rows)
    x = np.array([r["strength"] for r in summ])
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for key, label, colour in (("oa_bridge", "with the bridge", "tab:green"),
                               ("oa_no_bridge", "without the bridge", "tab:grey")):
        per_s = [[r[key] for r in rs] for rs in _by_strength(rows).values()]
        ax.errorbar(x, [np.mean(v) for v in per_s], yerr=[np.std(v) for v in per_s], marker="o",
                    capsize=3, color=colour, label=label)
    ax.set_xlabel("shift strength (0 = the target scene itself)")
    ax.set_ylabel("OA (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig
