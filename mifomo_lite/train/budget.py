"""The compute of the MIFOMO protocol, counted in patches through the network (SPEC §8.2–8.9).

Multiplied by the FLOPs of one patch (:func:`mifomo_lite.models.count_flops`) this gives the cost
of a run before it starts — notebook 07 uses it to size the paper's reproduction.
"""

from __future__ import annotations

from .config import RunConfig

__all__ = ["source_phase_patches", "target_run_patches"]


def source_phase_patches(cfg: RunConfig, n_source_classes: int) -> int:
    """Patches of the source phase (with gradients): every episode embeds ``n_way`` classes ×
    (shots + queries)."""
    n_way = n_source_classes if cfg.source_n_way == "all" else min(int(cfg.source_n_way), n_source_classes)
    return int(cfg.source_episodes * n_way * (cfg.source_n_shot + cfg.source_n_query))


def target_run_patches(cfg: RunConfig, n_source_classes: int, n_classes: int, n_labelled: int) -> dict:
    """Patches of the test episodes of one target run: ``train`` (with gradients: the support-only
    steps on every shot, the intermediate-domain steps) and ``evaluated`` (no gradients: every
    query pixel, after the support stage and at the end)."""
    support = cfg.support_steps * cfg.n_shot * n_classes
    per_step = ((n_source_classes + n_classes) * (cfg.intermediate_n_shot + cfg.intermediate_n_query)
                + cfg.intermediate_mixups)
    intermediate = cfg.intermediate_steps * per_step if cfg.use_intermediate_domain else 0
    queries = n_labelled - cfg.n_shot * n_classes
    stages = 2 if cfg.use_intermediate_domain else 1
    return {"train": int(cfg.n_test_episodes * (support + intermediate)),
            "evaluated": int(cfg.n_test_episodes * stages * queries)}
