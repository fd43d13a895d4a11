"""Per-run target self-supervision: the pretraining MAE continued on the unlabelled target scene.

Used by the few-shot pipeline (``target_ssl_steps``, transductive mode only) before any few-shot
training; it adapts one run's encoders in memory and never writes weights.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

import numpy as np
import torch

from ..errors import ConfigError
from .fusion import MifomoHyperSIGMA
from .mae import MaskedAutoencoder
from .pretrain import PretrainConfig, _fused_kw, mae_step, param_groups
from .pretrain_pool import PatchPool

__all__ = ["target_self_supervision"]


def target_self_supervision(model: MifomoHyperSIGMA, prepared, *, steps: int, lr: float = 5e-4,
                            batch_size: int = 64, warmup_steps: int = 50, seed: int = 0,
                            device: Optional[torch.device] = None, progress: bool = False,
                            log: Callable[[str], None] = print) -> dict:
    """Continue the MAE objective on the unlabelled *target* scene before any few-shot training.

    Cross-domain few-shot learning with unlabelled target data (STARTUP: Phoo & Hariharan,
    *Self-training for Few-shot Transfer Across Extreme Task Differences*, ICLR 2021; test-time
    training: Sun et al., ICML 2020): the transductive protocol already hands every query pixel to
    label propagation and to the pseudo-labels, so the encoders may as well learn the target
    sensor's statistics from them. This runs the pretraining MAE (same masks, losses and optimiser
    as :func:`pretrain`) on windows centred on **every pixel of the scene** — no labels and no
    ground-truth mask are read, so a support or query label cannot leak in — with fresh decoders
    (seeded through the global torch RNG) that are discarded afterwards, and a linear warm-up to a
    constant ``lr``. Only the two encoders change (in place); nothing is written to disk. Returns
    ``{"steps", "seconds", "history"}`` (loss per step).
    """
    if steps < 1:
        raise ConfigError(f"target self-supervision needs steps >= 1, got {steps}")
    device = device or next(model.parameters()).device
    cfg = PretrainConfig(size="target", steps=int(steps), batch_size=int(batch_size), lr=float(lr),
                         warmup_steps=min(int(warmup_steps), int(steps)), seed=int(seed),
                         n_components=int(model.cfg.in_chans), patch_size=int(model.cfg.patch_size))
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)  # the decoders' initialisation
    mae = MaskedAutoencoder(model, cfg).to(device)
    pool = PatchPool([prepared], augment=cfg.augment, guard=False)
    was_training = model.training
    grads = {n: p.requires_grad for n, p in model.named_parameters()}
    model.requires_grad_(False)
    for enc in (model.spat_encoder, model.spec_encoder):
        enc.requires_grad_(True)
    opt = torch.optim.AdamW(param_groups(mae, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas, **_fused_kw())
    rng = np.random.default_rng([cfg.seed, 4242])
    history, started = [], time.perf_counter()
    steps_iter = range(cfg.steps)
    if progress:
        from tqdm.auto import tqdm

        steps_iter = tqdm(steps_iter, desc="target self-supervision (MAE)", unit="step", leave=False)
    mae.train()
    try:
        for step in steps_iter:
            # warm-up, then a constant rate: a short continuation has nothing to anneal (with the
            # pretraining's cosine decay, 500 steps moved propagated OA half as much)
            lr_now = cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup_steps))
            losses = mae_step(mae, opt, pool.sample(cfg.batch_size, rng).to(device), lr_now, gen, cfg.grad_clip)
            history.append({"step": step + 1, "loss": losses["loss"].item(), "lr": lr_now})
    finally:
        for n, p in model.named_parameters():
            p.requires_grad_(grads[n])
        model.train(was_training)
    seconds = time.perf_counter() - started
    log(f"target self-supervision: {cfg.steps} MAE steps on {prepared.name} in {seconds:.1f} s "
        f"(loss {history[0]['loss']:.3f} → {history[-1]['loss']:.3f})")
    return {"steps": cfg.steps, "seconds": seconds, "history": history}
