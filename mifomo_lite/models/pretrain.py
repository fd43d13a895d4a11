"""Masked-autoencoder (MAE) pretraining of both HyperSIGMA encoders, small enough for a CPU.

HyperSIGMA pretrains each encoder as an MAE (He et al., *Masked Autoencoders Are Scalable Vision
Learners*, CVPR 2022; SPEC §5.8): hide most tokens, encode the visible ones, and let a light
decoder rebuild the hidden ones. This module does the same for the kit's own small model:

* **Spatial MAE** — tokens are the pixels of a w×w window (MIFOMO's tokenisation). 75 % of them are
  masked; the decoder predicts each masked pixel's C PCA values.
* **Spectral MAE** — tokens are the T band groups. 25 % are masked; the decoder predicts each
  masked group's w×w map.
* **Loss** — mean squared error on the masked tokens only, against *normalised* targets
  (``norm_pix_loss``: every target token is standardised over its own values), summed over the
  two branches.
* **Optimiser** — AdamW, betas (0.9, 0.95), weight decay 0.05 (none on biases, norms, position
  embeddings and the mask token), linear warm-up then cosine decay.

Differences from HyperSIGMA's pretraining, all deliberate: the input is MIFOMO's preprocessing
(PCA components, whitened and z-scored, w×w windows) instead of 64×64×100 reflectance crops, so the
pretrained input layers are usable downstream; the encoders *do* add their ``pos_embed`` (the
released HyperSIGMA code never does, leaving it untrained); decoders are tiny (64 wide, 2 blocks);
windows get random flips and 90° rotations. As in HyperSIGMA, the encoder's final ``norm`` is applied
before the decoder (and then never again), and pretraining uses full attention only.

Training state is saved every ``checkpoint_every`` steps as ``pretrain_state.safetensors`` (model,
decoders, AdamW moments, torch RNG) plus ``pretrain_state.json`` (step, config, loss history,
NumPy RNG, wall time), so an interrupted run resumes exactly where it stopped.

The pool of scenes is :mod:`.pretrain_pool`; continuing the MAE on one run's target scene is
:mod:`.target_ssl`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from ..errors import CheckpointError, ConfigError
from ..utils import atomic_path, seed_everything
from .factory import create_model
from .fusion import MifomoHyperSIGMA
from .mae import MAEDecoder, MaskedAutoencoder, masked_mse, random_masking, sincos_pos_embed  # noqa: F401
from .pretrain_pool import PatchPool, load_unlabelled_cube, synthetic_pretraining_scene

__all__ = ["PretrainConfig", "MAEDecoder", "MaskedAutoencoder", "random_masking", "build_pretraining_pool",
           "pretrain", "lr_at", "PretrainResult"]

STATE_TENSORS = "pretrain_state.safetensors"
STATE_JSON = "pretrain_state.json"


@dataclass
class PretrainConfig:
    """Settings of a pretraining run (all JSON-serialisable; stored with every checkpoint)."""

    size: str = "tiny"
    steps: int = 1000
    batch_size: int = 128
    lr: float = 1e-3
    min_lr: float = 1e-5
    warmup_steps: int = 50
    weight_decay: float = 0.05
    betas: tuple = (0.9, 0.95)
    grad_clip: Optional[float] = 1.0
    spatial_mask_ratio: float = 0.75
    spectral_mask_ratio: float = 0.25
    norm_pix_loss: bool = True
    decoder_dim: int = 64
    decoder_depth: int = 1
    decoder_heads: int = 4
    spectral_blocks: str = "tap"  # "tap": only blocks 0..spectral_tap (all MIFOMO uses); "all": HyperSIGMA's MAE
    n_components: int = 50
    patch_size: int = 9
    synthetic_scenes: int = 8
    synthetic_size: int = 96
    extra: tuple = ()
    augment: bool = True
    seed: int = 0
    checkpoint_every: int = 100
    threads: Optional[int] = None

    def __post_init__(self):
        self.betas = tuple(self.betas)
        self.extra = tuple(str(e) for e in self.extra)
        if not 0 <= self.spatial_mask_ratio < 1 or not 0 <= self.spectral_mask_ratio < 1:
            raise ConfigError("mask ratios must lie in [0, 1)")
        if self.spectral_blocks not in ("all", "tap"):
            raise ConfigError(f"spectral_blocks must be 'all' or 'tap', got {self.spectral_blocks!r}")
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError("steps and batch_size must be ≥ 1")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"], d["extra"] = list(self.betas), list(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PretrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})



# --------------------------------------------------------------------------- data
def build_pretraining_pool(cfg: PretrainConfig, log: Callable[[str], None] = print) -> PatchPool:
    """Synthetic scenes from varied simulated sensors plus ``cfg.extra`` real cubes (e.g. Salinas-A),
    each preprocessed exactly as the few-shot pipeline does (PCA-``n_components``, whitened,
    z-scored, reflect-padded windows). Indian Pines is refused."""
    from ..data import prepare_scene

    scenes = []
    for i in range(cfg.synthetic_scenes):
        scene = synthetic_pretraining_scene(i, cfg.synthetic_size, cfg.seed)
        scenes.append(prepare_scene(scene, n_components=cfg.n_components, patch_size=cfg.patch_size, seed=cfg.seed))
    for path in cfg.extra:
        scenes.append(load_unlabelled_cube(path, cfg.n_components, cfg.patch_size, cfg.seed))
    for s in scenes:
        log(f"  pool: {s.name} {s.height}×{s.width}, {s.n_channels} channels")
    return PatchPool(scenes, augment=cfg.augment)


# --------------------------------------------------------------------------- optimisation
def lr_at(step: int, cfg: PretrainConfig) -> float:
    """Linear warm-up to ``lr`` over ``warmup_steps``, then cosine decay to ``min_lr`` at ``steps``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(1.0, t)))


def param_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on matrices only — not on biases, norms, position embeddings or mask tokens."""
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim < 2 or name.endswith(("pos_embed", "mask_token")):
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def mae_step(mae: MaskedAutoencoder, opt: torch.optim.Optimizer, x: torch.Tensor, lr: float,
             gen: Optional[torch.Generator], grad_clip: Optional[float]) -> dict:
    """One optimiser step of both MAEs on the batch ``x`` at learning rate ``lr`` (the masking
    noise is drawn from ``gen`` on the CPU); returns the losses."""
    for g in opt.param_groups:
        g["lr"] = lr
    losses = mae(x, gen)
    opt.zero_grad(set_to_none=True)
    losses["loss"].backward()
    if grad_clip:
        nn.utils.clip_grad_norm_(mae.parameters(), grad_clip)
    opt.step()
    return losses


def _fused_kw() -> dict:
    """``fused=True`` (one kernel for all AdamW updates) where this torch supports it on CPU."""
    import inspect

    return {"fused": True} if "fused" in inspect.signature(torch.optim.AdamW).parameters and \
        tuple(int(p) for p in torch.__version__.split(".")[:2]) >= (2, 4) else {}


def _save_state(out: Path, mae: MaskedAutoencoder, opt: torch.optim.Optimizer, meta: dict,
                gen: Optional[torch.Generator] = None) -> None:
    from safetensors.torch import save_file

    tensors = {f"mae.{k}": v.detach().contiguous() for k, v in mae.state_dict().items()}
    osd = opt.state_dict()
    for idx, st in osd["state"].items():
        for k, v in st.items():
            tensors[f"optim.{idx}.{k}"] = torch.as_tensor(v).detach().contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    if gen is not None:
        tensors["rng.mask"] = gen.get_state()
    meta = dict(meta, param_groups=[{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()}
                                    for g in osd["param_groups"]])
    with atomic_path(out / STATE_TENSORS) as tmp:
        save_file(tensors, str(tmp))
    with atomic_path(out / STATE_JSON) as tmp:
        tmp.write_text(json.dumps(meta, indent=1))


def _load_state(out: Path, mae: MaskedAutoencoder, opt: torch.optim.Optimizer,
                gen: Optional[torch.Generator] = None) -> dict:
    from safetensors.torch import load_file

    meta = json.loads((out / STATE_JSON).read_text())
    tensors = load_file(str(out / STATE_TENSORS))
    mae.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("mae.")}, strict=True)
    state: dict = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, idx, name = k.split(".", 2)
            state.setdefault(int(idx), {})[name] = v
    groups = [dict(g, betas=tuple(g["betas"])) if "betas" in g else g for g in meta["param_groups"]]
    opt.load_state_dict({"state": state, "param_groups": groups})
    torch.set_rng_state(tensors["rng.torch"])
    if gen is not None and "rng.mask" in tensors:
        gen.set_state(tensors["rng.mask"])
    return meta


@dataclass
class PretrainResult:
    """What :func:`pretrain` returns."""

    model: MifomoHyperSIGMA
    step: int
    wall_time_s: float
    history: list = field(default_factory=list)
    pool: list = field(default_factory=list)
    out_dir: Optional[Path] = None
    cpu_time_s: float = 0.0  # process CPU time (all threads) spent in training steps

    @property
    def final_loss(self) -> Optional[float]:
        """Mean total loss over the last 10 % of logged steps (at least the last one)."""
        if not self.history:
            return None
        tail = self.history[-max(1, len(self.history) // 10):]
        return float(np.mean([h["loss"] for h in tail]))


def pretrain(cfg: PretrainConfig, out_dir, resume: bool = True, progress: bool = True,
             time_budget_s: Optional[float] = None, pool: Optional[PatchPool] = None,
             log: Callable[[str], None] = print) -> PretrainResult:
    """Run (or resume) MAE pretraining; returns the trained :class:`MifomoHyperSIGMA` and its history.

    ``out_dir`` receives the resumable state every ``cfg.checkpoint_every`` steps and at the end.
    ``time_budget_s`` stops early (after saving) once that much wall time has been spent in this
    call. ``pool`` replaces the default data (:func:`build_pretraining_pool`).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    seed_everything(cfg.seed)
    model = create_model(cfg.size, drop_path_rate=0.0, in_chans=cfg.n_components, patch_size=cfg.patch_size)
    mae = MaskedAutoencoder(model, cfg)
    opt = torch.optim.AdamW(param_groups(mae, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas, **_fused_kw())
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)  # masking noise
    step, wall, cpu, history = 0, 0.0, 0.0, []
    if resume and (out / STATE_JSON).exists() and (out / STATE_TENSORS).exists():
        step, wall, cpu, history = _resume(out, cfg, mae, opt, gen, rng, log)
    if pool is None:
        pool = build_pretraining_pool(cfg, log=log)

    def save() -> None:
        _save_state(out, mae, opt, {"step": step, "wall_time_s": wall, "history": history,
                                    "config": cfg.to_dict(), "model_config": model.cfg.to_dict(),
                                    "numpy_rng": rng.bit_generator.state, "pool": pool.describe(),
                                    "cpu_time_s": cpu}, gen)

    bar = _progress_bar(cfg, step) if progress else None
    started = time.perf_counter()
    mae.train()
    try:
        while step < cfg.steps:
            t0, c0 = time.perf_counter(), time.process_time()
            lr = lr_at(step, cfg)
            losses = mae_step(mae, opt, pool.sample(cfg.batch_size, rng), lr, gen, cfg.grad_clip)
            step += 1
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
            history.append({"step": step, "loss": losses["loss"].item(), "spatial": losses["spatial"].item(),
                            "spectral": losses["spectral"].item(), "lr": lr})
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{history[-1]['loss']:.4f}", lr=f"{lr:.2e}")
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                save()
            if time_budget_s is not None and time.perf_counter() - started > time_budget_s:
                log(f"time budget of {time_budget_s:.0f} s reached at step {step}; state saved, run again to resume")
                save()
                break
    finally:
        if bar is not None:
            bar.close()
    model.eval()
    return PretrainResult(model=model, step=step, wall_time_s=wall, history=history, pool=pool.describe(),
                          out_dir=out, cpu_time_s=cpu)


def _progress_bar(cfg: PretrainConfig, step: int):
    from tqdm.auto import tqdm

    return tqdm(total=cfg.steps, initial=step, desc=f"MAE pretraining ({cfg.size})", unit="step")


def _resume(out: Path, cfg: PretrainConfig, mae, opt, gen: torch.Generator, rng: np.random.Generator,
            log: Callable[[str], None]) -> tuple[int, float, float, list]:
    """Load the saved state of ``out`` into ``mae``/``opt``/``gen``/``rng``; return ``(step, wall
    seconds, CPU seconds, history)``. Refuses a state saved with another model shape."""
    try:
        meta = _load_state(out, mae, opt, gen)
    except Exception as exc:  # truncated/corrupt state: a clear message, never a traceback
        raise CheckpointError(f"{out}: the saved pretraining state cannot be resumed ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}); delete {STATE_JSON} and "
                              f"{STATE_TENSORS} there, or use another --out, to start afresh") from None
    saved = PretrainConfig.from_dict(meta["config"])
    if (saved.size, saved.n_components, saved.patch_size) != (cfg.size, cfg.n_components, cfg.patch_size):
        raise ConfigError(f"{out}: the saved run used size={saved.size}, n_components={saved.n_components}, "
                          f"patch_size={saved.patch_size}; use another --out folder or the same settings")
    step, wall = int(meta["step"]), float(meta["wall_time_s"])
    rng.bit_generator.state = meta["numpy_rng"]
    log(f"resuming from step {step} ({wall:.0f} s so far)")
    return step, wall, float(meta.get("cpu_time_s", 0.0)), list(meta["history"])
