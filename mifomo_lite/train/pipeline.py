"""The MIFOMO pipeline (Algorithm 1 of arXiv 2601.22581), end to end.

Phases, as the released code runs them (SPEC §8):

0. **Target self-supervision** (a kit extension, off unless ``target_ssl_steps > 0``; transductive
   mode only) — the foundation model's MAE objective, continued on windows around every pixel of
   the unlabelled target scene (no labels, no ground-truth mask); see
   :func:`mifomo_lite.models.target_self_supervision`.
1. **Source episodic training** — N-way K-shot episodes from the source scene(s); loss
   ``L_fsl + L_mx`` (prototype cross-entropy plus same-episode embedding mixup).
2. **Per test episode** (seed = ``cfg.seed + e``):
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

Everything a student might want to inspect is returned in a :class:`RunResult`.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import data as D
from .. import fsl
from ..errors import ChecksumError, ConfigError, DataError, EpisodeError
from ..models import create_model, load_foundation_model
from ..peft import adapter_parameters, apply_adaptation, param_groups
from ..peft.protocol import matches_any, protocol_trainables
from ..utils import environment_record, resolve_device, seed_everything
from .config import RunConfig

__all__ = ["Domain", "RunResult", "prepare_domains", "build_model", "run_pipeline",
           "embed_pixels", "set_phase_trainables", "adaptation_options", "make_optimizer",
           "run_target_ssl", "train_source_phase", "adapt_on_support", "pseudo_label_pool", "support_pool",
           "train_intermediate_domain", "embed_split", "stage_metrics", "evaluate_stage", "predict", "full_graph_scores",
           "inference_dtype", "scene_feature_map", "EmbeddingCache", "FeatureCache", "run_baselines", "summarise_episodes",
           "paired_differences"]


def _progress(iterable, enabled: bool, **kw):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, **kw)


# ------------------------------------------------------------------------------------- data
@dataclass
class Domain:
    """A preprocessed scene plus its labelled-pixel pool (0-based class ids)."""

    name: str
    scene: Any                      # mifomo_lite.data.Scene
    prepared: Any                   # mifomo_lite.data.PreparedScene
    rows: np.ndarray
    cols: np.ndarray
    labels: np.ndarray
    class_names: list

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @functools.cached_property
    def _pool_position(self) -> np.ndarray:
        """``(H, W)`` map: position of each labelled pixel in the pool, -1 elsewhere."""
        lookup = np.full((self.prepared.height, self.prepared.width), -1, dtype=np.int64)
        lookup[self.rows, self.cols] = np.arange(len(self.rows))
        return lookup

    def pixel_index(self, rows, cols) -> np.ndarray:
        """Positions in the labelled-pixel pool (``self.rows``/``self.cols``) of the pixels
        ``(rows, cols)``; a clear error for a pixel that is not in the pool."""
        idx = self._pool_position[np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)]
        if (idx < 0).any():
            bad = int(np.flatnonzero(idx < 0)[0])
            raise DataError(f"pixel (row {int(np.asarray(rows)[bad])}, col {int(np.asarray(cols)[bad])}) "
                            f"is not a labelled pixel of {self.name}")
        return idx


def _domain(scene, cfg: RunConfig) -> Domain:
    prepared = D.prepare_scene(scene, n_components=cfg.pca_components, patch_size=cfg.patch_size,
                               seed=cfg.seed)
    rows, cols, labels = prepared.labelled_pixels()
    return Domain(scene.name, scene, prepared, rows, cols, labels, list(scene.class_names))


def source_scene(name: str, cfg: RunConfig):
    """A source scene by name: ``synthetic`` (19 classes, an AVIRIS-like sensor different from
    the target's) or any registry / file name ``load_scene`` accepts."""
    if name == "synthetic":
        return D.synthetic_scene(height=72, width=72, n_bands=128, n_classes=19,
                                 wavelength_range=(380.0, 2450.0), noise_std=0.01,
                                 seed=cfg.seed + 1000, name="synthetic_source",
                                 sensor="synthetic (128 bands)")
    return D.load_scene(name, root=cfg.data_root, progress=cfg.progress)


def available_sources(cfg: RunConfig) -> list[str]:
    """Resolve ``sources=("auto",)``: synthetic plus real source scenes present in the cache."""
    out: list[str] = []
    for name in cfg.sources:
        if name != "auto":
            out.append(name)
            continue
        out.append("synthetic")
        for cand in ("salinas_a", "chikusei", "pavia_university", "salinas"):
            if cand == cfg.target:
                continue
            try:
                D.load_scene(cand, root=cfg.data_root, progress=False)
            except Exception:
                continue
            out.append(cand)
    return list(dict.fromkeys(out))


def prepare_domains(cfg: RunConfig, target_scene=None, source_scenes: Optional[Sequence] = None):
    """Load and preprocess the target and source scene(s) (PCA per scene, SPEC §4)."""
    tgt = target_scene if target_scene is not None else D.load_scene(
        cfg.target, root=cfg.data_root, progress=cfg.progress)
    target = _domain(tgt, cfg)
    if source_scenes is None:
        source_scenes = [source_scene(n, cfg) for n in available_sources(cfg)]
    sources = [_domain(s, cfg) for s in source_scenes]
    for s in sources:
        if s.prepared.n_channels != target.prepared.n_channels:
            raise DataError(
                f"source {s.name!r} has {s.prepared.n_channels} channels after preprocessing but the "
                f"target {target.name!r} has {target.prepared.n_channels}: input-level mixup needs "
                f"equal channel counts (scenes with fewer bands than pca_components={cfg.pca_components} "
                "keep all their bands — lower pca_components)")
    return target, sources


# ------------------------------------------------------------------------------------ model
def build_model(cfg: RunConfig, device: torch.device) -> nn.Module:
    """The foundation model with the run's input size, plus the prototypical head as
    ``model.classifier`` (so its ``scale`` trains in the protocol's ``scale`` group)."""
    overrides = dict(in_chans=cfg.pca_components, patch_size=cfg.patch_size,
                     attention=cfg.attention, drop_path_rate=cfg.drop_path_rate)
    if cfg.weights == "pretrained":
        try:
            model = load_foundation_model(cfg.model, **overrides)
        except ChecksumError:
            raise  # integrity: the run stops, no fallback ever reads a file that failed verification
        except Exception:
            # in_chans / patch_size change the shapes of patch_embed / pos_embed / spat_map: load
            # what fits and keep those fresh (they are trained by the protocol anyway).
            model = _load_pretrained_partial(cfg, overrides)
    elif cfg.weights == "random":
        model = create_model(cfg.model, **overrides)
    else:  # official HyperSIGMA weights
        from ..models import load_official_hypersigma

        model = create_model(cfg.model, **overrides)
        if not (cfg.official_spatial and cfg.official_spectral):
            raise ConfigError("weights='official' needs official_spatial=PATH and official_spectral=PATH "
                              "(see `mifomo-lite model load-official --help`)")
        load_official_hypersigma(model, spatial=cfg.official_spatial, spectral=cfg.official_spectral)
    model.readout = cfg.readout
    model.classifier = fsl.PrototypicalHead(init_scale=20.0)
    return model.to(device)


def _load_pretrained_partial(cfg: RunConfig, overrides: dict) -> nn.Module:
    """The shipped weights that fit the run's shapes; the file is verified (sha256, dtype, finite
    values) by :func:`load_foundation_partial` before any tensor is read into the model."""
    from ..models.foundation import load_foundation_partial

    return load_foundation_partial(cfg.model, **overrides)


def set_phase_trainables(model: nn.Module, cfg: RunConfig, phase: str) -> None:
    """Freeze everything, then unfreeze the adapter and the protocol's trainables of ``phase``."""
    if cfg.adaptation == "full":
        model.requires_grad_(True)
        return
    model.requires_grad_(False)
    for _, p in adapter_parameters(model).values():
        p.requires_grad_(True)
    prefixes = protocol_trainables(cfg.trainable_set, phase) + ("classifier",)
    for name, p in model.named_parameters():
        if matches_any(name, prefixes):
            p.requires_grad_(True)


def adaptation_options(cfg: RunConfig) -> dict:
    if cfg.adaptation == "cp":
        return {"shared_across_heads": cfg.cp_shared_across_heads}
    if cfg.adaptation == "lora":
        return {"rank": cfg.lora_rank}
    if cfg.adaptation == "prompt":
        return {"n_prompts": cfg.n_prompts}
    return {}


def make_optimizer(model: nn.Module, cfg: RunConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, lr_model=cfg.lr_model, lr_peft=cfg.lr_peft, lr_scale=cfg.lr_scale,
                          weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(groups, betas=(0.9, 0.999), eps=cfg.adam_eps)


def trainable_state(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}


# -------------------------------------------------------------------------------- embedding
def _autocast(device: torch.device, enabled: bool):
    """Training/inference autocast: bf16 on CUDA when ``enabled`` (the ``amp`` switch)."""
    if device.type == "cuda" and enabled:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cpu_has_native_bf16() -> bool:
    """True where oneDNN runs bf16 natively (AVX512-BF16 or AMX): there bf16 autocast speeds up
    CPU inference; elsewhere it would be emulated and slower."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def inference_dtype(device: torch.device, cfg: RunConfig) -> torch.dtype:
    """The autocast dtype of no-grad embedding (evaluation, pseudo-labels, scene map)."""
    if device.type == "cuda":
        return torch.bfloat16 if cfg.amp else torch.float32
    if cfg.inference_precision == "bfloat16" or (cfg.inference_precision == "auto" and cpu_has_native_bf16()):
        return torch.bfloat16
    return torch.float32


def _inference_autocast(device: torch.device, dtype: Optional[torch.dtype]):
    if dtype is None or dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def embed_pixels(model: nn.Module, prepared, rows, cols, *, batch_size: int = 256,
                 device: Optional[torch.device] = None, amp: bool = False,
                 progress: bool = False, desc: str = "embedding",
                 dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """Embeddings ``(N, D)`` of the patches centred on ``(rows, cols)``: eval mode, no autograd,
    in batches (only one batch of patches exists at a time). Restores the train/eval mode.
    ``dtype``: autocast dtype (e.g. ``torch.bfloat16``; see :func:`inference_dtype`); ``None``
    keeps the old behaviour (bf16 on CUDA when ``amp``, else float32). Returns float32 on CPU."""
    device = device or next(model.parameters()).device
    if dtype is None:
        dtype = torch.bfloat16 if (device.type == "cuda" and amp) else torch.float32
    was_training = model.training
    model.eval()
    out = []
    n = len(rows)
    batches = prepared.iter_batches(rows, cols, batch_size, device=device)
    total = math.ceil(n / batch_size) if n else 0
    with torch.inference_mode(), _inference_autocast(device, dtype):
        for _, x in _progress(batches, progress and total > 4, total=total, desc=desc, leave=False):
            out.append(model(x).float().cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, getattr(model, "embed_dim", 0))


def scene_feature_map(model: nn.Module, target: "Domain", cfg: RunConfig, device, *,
                      desc: str = "embedding") -> fsl.LazyFeatureMap:
    """A :class:`~mifomo_lite.fsl.LazyFeatureMap` of ``model``'s embeddings over the target scene,
    read out with the run's ``feature_smoothing`` window (each pixel embedded at most once)."""
    prep = target.prepared

    def compute(rows, cols):
        return embed_pixels(model, prep, rows, cols, batch_size=cfg.eval_batch_size, device=device, amp=cfg.amp,
                            progress=cfg.progress, desc=desc, dtype=inference_dtype(device, cfg))

    return fsl.LazyFeatureMap(compute, prep.height, prep.width, cfg.feature_smoothing)


class EmbeddingCache:
    """Embeddings of the target's labelled pixels, computed once per run.

    Only valid while nothing inside the backbone trains (``backbone_is_frozen``): then every
    query pass of every episode would recompute exactly the same numbers, so we compute each
    pixel once (eval mode) and look it up afterwards."""

    def __init__(self, model: nn.Module, target: "Domain", cfg: RunConfig, device):
        self.model, self.target, self.cfg, self.device = model, target, cfg, device
        self.emb: Optional[torch.Tensor] = None
        self.seconds = 0.0
        # with feature smoothing the cache holds raw embeddings of whatever pixels the smoothing
        # windows touch (unlabelled ones too), computed once, and reads them out smoothed
        self.feature_map = (scene_feature_map(model, target, cfg, device, desc="embedding cache (frozen backbone)")
                            if cfg.feature_smoothing > 1 else None)

    def raw(self, rows, cols) -> torch.Tensor:
        """Unsmoothed embeddings (what training on the support set sees on the uncached path)."""
        if self.feature_map is None:
            return self(rows, cols)
        return self._timed(lambda: self.feature_map.read_raw(rows, cols))

    def _timed(self, fn):
        t0 = time.perf_counter()
        out = fn()
        self.seconds += time.perf_counter() - t0
        return out

    def __call__(self, rows, cols) -> torch.Tensor:
        if self.feature_map is not None:
            return self._timed(lambda: self.feature_map.read(rows, cols))
        if self.emb is None:
            t0 = time.perf_counter()
            self.emb = embed_pixels(self.model, self.target.prepared, self.target.rows, self.target.cols,
                                    batch_size=self.cfg.eval_batch_size, device=self.device, amp=self.cfg.amp,
                                    progress=self.cfg.progress, desc="embedding cache (frozen backbone)",
                                    dtype=inference_dtype(self.device, self.cfg))
            self.seconds = time.perf_counter() - t0
        return self.emb[torch.from_numpy(self.target.pixel_index(rows, cols))]


def backbone_is_frozen(model: nn.Module) -> bool:
    """True when no parameter outside the prototypical head trains."""
    return not any(p.requires_grad for n, p in model.named_parameters() if not n.startswith("classifier."))


# ---------------------------------------------------------------------------------- results
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


def _onehot(y: torch.Tensor, n: int) -> torch.Tensor:
    return F.one_hot(y.long(), n).float()


# -------------------------------------------------------------------------------- phase 1
def _episode_loss(model: nn.Module, es: torch.Tensor, ys: torch.Tensor, eq: torch.Tensor, yq: torch.Tensor,
                  n_way: int, n_mixups: int, gen: torch.Generator) -> torch.Tensor:
    """``L_fsl`` on the queries against the support prototypes, plus ``L_mx`` on ``n_mixups``
    embedding-level mixups of the queries (soft labels; skipped when 0)."""
    protos = fsl.prototypes(es, ys, n_way)
    loss = fsl.fsl_loss(model.classifier(eq, protos), yq)
    if n_mixups > 0:
        mb = fsl.embedding_mixup(eq, _onehot(yq, n_way), n_mixups, generator=gen)
        loss = loss + fsl.soft_cross_entropy(model.classifier(mb.emb, protos), mb.y)
    return loss


def _step(opt: torch.optim.Optimizer, loss: torch.Tensor, losses: list) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    losses.append(float(loss.detach()))


def run_target_ssl(model: nn.Module, target: Domain, cfg: RunConfig, device, history: dict,
                   log: Callable = print) -> Optional[dict]:
    """Phase 0: ``cfg.target_ssl_steps`` MAE steps on the unlabelled target scene (None when off).
    Inductive mode skips it: that mode never shows the model unlabelled target pixels."""
    if cfg.target_ssl_steps <= 0:
        return None
    if cfg.mode != "transductive":
        log("inductive mode: target self-supervision skipped (it reads the unlabelled target pixels)")
        return None
    from ..models.pretrain import target_self_supervision

    rec = target_self_supervision(model, target.prepared, steps=cfg.target_ssl_steps, lr=cfg.target_ssl_lr,
                                  batch_size=cfg.target_ssl_batch_size, seed=cfg.seed, device=device,
                                  progress=cfg.progress, log=log)
    history["target_ssl"] = [h["loss"] for h in rec["history"]]
    return {**rec, "first_loss": rec["history"][0]["loss"], "last_loss": rec["history"][-1]["loss"]}


def train_source_phase(model: nn.Module, sources: Sequence[Domain], cfg: RunConfig,
                       device: torch.device, history: dict, log: Callable = print) -> None:
    """Phase 1: episodic training on the source scene(s) with ``L_fsl + L_mx``."""
    if cfg.source_episodes <= 0 or not sources:
        return
    samplers = [D.EpisodeSampler((np.stack([s.rows, s.cols], 1), s.labels), n_way=cfg.source_n_way,
                                 n_shot=cfg.source_n_shot, n_query=cfg.source_n_query,
                                 n_episodes=None, seed=cfg.seed + 17 * (i + 1))
                for i, s in enumerate(sources)]
    set_phase_trainables(model, cfg, "source")
    model.classifier.logit_form = "cosine_similarity"
    opt = make_optimizer(model, cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    model.train()
    losses = history.setdefault("source", [])
    for step in _progress(range(cfg.source_episodes), cfg.progress, desc="phase 1: source episodes"):
        k = step % len(sources)
        ep = samplers[k].episode(step // len(sources))
        sx, sy, qx, qy = ep.to_tensors(sources[k].prepared, device=device)
        with _autocast(device, cfg.amp):
            emb = model(torch.cat([sx, qx])).float()
        loss = _episode_loss(model, emb[: len(sy)], sy, emb[len(sy):], qy, ep.n_way,
                             cfg.source_mixups if cfg.use_mixup else 0, gen)
        _step(opt, loss, losses)


# ------------------------------------------------------------------------------ phase 2
def _support_split(split, n_shot_inner: int, rng: np.random.Generator, shuffle: bool):
    """Split each class's support shots into ``n_shot_inner`` support + the rest as query."""
    s_idx, q_idx = [], []
    for c in range(split.n_classes):
        members = np.flatnonzero(split.support_labels == c)
        if shuffle:
            members = rng.permutation(members)
        s_idx.append(members[:n_shot_inner])
        q_idx.append(members[n_shot_inner:])
    return np.concatenate(s_idx), np.concatenate(q_idx)


def adapt_on_support(model: nn.Module, target: Domain, split, cfg: RunConfig,
                     device: torch.device, history: dict, cache: Optional["EmbeddingCache"] = None) -> None:
    """Support-only adaptation (``prepare_for_pseudo_labeling``): a 2 + 3 inner episode per class."""
    if cfg.support_steps <= 0:
        return
    n_inner = max(1, round(2 / 5 * split.n_shot))
    if split.n_shot - n_inner < 1:
        raise EpisodeError(f"support-only adaptation needs at least 2 shots per class, got n_shot={split.n_shot}")
    sx_all, sy_all = split.support_tensors(target.prepared, device=device)
    rng = np.random.default_rng(split.seed)
    s_idx, q_idx = _support_split(split, n_inner, rng, shuffle=False)
    gen = torch.Generator().manual_seed(split.seed)
    opt = make_optimizer(model, cfg)
    model.train()
    losses = history.setdefault("support", [])
    for step in range(cfg.support_steps):
        if not cfg.support_split_fixed and step > 0:
            s_idx, q_idx = _support_split(split, n_inner, rng, shuffle=True)
        if cfg.recreate_optimizer_each_support_step and step > 0:
            opt = make_optimizer(model, cfg)
        if cache is not None:  # frozen backbone: the embeddings cannot change
            emb = cache.raw(split.support_rows, split.support_cols).to(device)
        else:
            with _autocast(device, cfg.amp):
                emb = model(sx_all).float()
        loss = _episode_loss(model, emb[s_idx], sy_all[s_idx], emb[q_idx], sy_all[q_idx], split.n_classes,
                             cfg.target_mixups if cfg.use_mixup else 0, gen)
        _step(opt, loss, losses)


def pseudo_label_pool(model: nn.Module, target: Domain, split, query_emb: torch.Tensor,
                      support_emb: torch.Tensor, cfg: RunConfig, scores: Optional[torch.Tensor] = None) -> dict:
    """Pseudo-labels for the query pixels (transductive): refine, then keep the top-k confident.

    ``scores``: ready ``[n_query, C]`` refined scores to select from (e.g. deliberately corrupted
    ones in an experiment); by default they come from the prototype head and ``cfg``'s refiner.
    Returns the target pool: pixel coordinates and soft label vectors over the kept classes
    (support pixels one-hot, pseudo-labelled pixels as chosen by ``pseudo_label_target``)."""
    C = split.n_classes
    ys = torch.as_tensor(split.support_labels)
    if scores is not None:
        scores = torch.as_tensor(scores, dtype=torch.float32)
        if scores.shape != (len(split.query_labels), C):
            raise DataError(f"scores has shape {tuple(scores.shape)}; expected ({len(split.query_labels)}, {C}) "
                            "= (query pixels, classes)")
    elif cfg.pseudo_label_refiner == "lgc" and cfg.pseudo_label_propagation == "full_graph":
        scores = full_graph_scores(support_emb, split.support_labels, query_emb, C, cfg.propagation_class_mass)
    else:
        probs = _head_probabilities(model, query_emb, fsl.prototypes(support_emb, ys, C))
        scores = fsl.refine_pseudo_labels(
            probs, method=cfg.pseudo_label_refiner, support_emb=support_emb, support_y_onehot=_onehot(ys, C),
            query_emb=query_emb, epsilon=cfg.eps_smoothing, alpha=cfg.lgc_alpha, sigma=cfg.lgc_sigma,
            batch_size=cfg.lgc_batch_size)
        if cfg.pseudo_label_refiner == "lgc":
            scores = _class_mass(scores, cfg)
    sel = fsl.select_confident_pseudo_labels(scores.float(), _onehot(ys, C), min_count=cfg.min_class_count,
                                             top_k=cfg.top_k_confident,
                                             pseudo_label_target=cfg.pseudo_label_target)
    kept = sel.kept_classes.long()
    remap = torch.full((C,), -1, dtype=torch.long)
    remap[kept] = torch.arange(len(kept))
    s_keep = remap[ys] >= 0
    s_rows, s_cols = split.support_rows[s_keep.numpy()], split.support_cols[s_keep.numpy()]
    s_y = _onehot(remap[ys[s_keep]], len(kept))
    qi = sel.query_indices.long().numpy()
    q_y = sel.query_labels.float()
    pseudo_true = split.query_labels[qi]
    pseudo_pred = kept[q_y.argmax(1)].numpy() if len(qi) else np.zeros(0, dtype=np.int64)
    return {
        "rows": np.concatenate([s_rows, split.query_rows[qi]]),
        "cols": np.concatenate([s_cols, split.query_cols[qi]]),
        "y": torch.cat([s_y, q_y]) if len(qi) else s_y,
        "kept_classes": kept.numpy(),
        "n_pseudo": int(len(qi)),
        "pseudo_accuracy": float((pseudo_true == pseudo_pred).mean() * 100) if len(qi) else float("nan"),
        "warnings": list(sel.warnings),
    }


def support_pool(split) -> dict:
    """Inductive mode: the target pool is the labelled support set only."""
    C = split.n_classes
    return {"rows": split.support_rows, "cols": split.support_cols,
            "y": _onehot(torch.as_tensor(split.support_labels), C),
            "kept_classes": np.arange(C), "n_pseudo": 0, "pseudo_accuracy": float("nan"), "warnings": []}


def _sample_pool_episode(pool: dict, n_shot: int, n_query: int, rng: np.random.Generator):
    """A target episode from the pseudo-labelled pool: every kept class, ``n_shot`` + ``n_query``
    pixels, class membership = argmax of the label vector. Classes with too few pixels are drawn
    with replacement (the released code keeps them, with a warning)."""
    cls = pool["y"].argmax(1).numpy()
    s_idx, q_idx, s_lab = [], [], []
    for k in range(pool["y"].shape[1]):
        members = np.flatnonzero(cls == k)
        if members.size == 0:
            continue
        need = n_shot + n_query
        pick = rng.choice(members, size=need, replace=members.size < need)
        s_idx.append(pick[:n_shot])
        q_idx.append(pick[n_shot:])
        s_lab.append(np.full(n_shot, k))
    return np.concatenate(s_idx), np.concatenate(q_idx), np.concatenate(s_lab)


def train_intermediate_domain(model: nn.Module, target: Domain, sources: Sequence[Domain], pool: dict,
                              cfg: RunConfig, device: torch.device, seed: int, history: dict) -> list:
    """Intermediate-domain training with the Wasserstein λ scheduler (SPEC §8.6–8.7)."""
    if cfg.intermediate_steps <= 0 or not sources:
        return []
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    src = sources[0]
    n_tgt = pool["y"].shape[1]
    sampler = D.EpisodeSampler((np.stack([src.rows, src.cols], 1), src.labels), n_way=cfg.source_n_way,
                               n_shot=cfg.intermediate_n_shot, n_query=cfg.intermediate_n_query,
                               n_episodes=None, seed=seed + 5)
    sched = fsl.MixupScheduler(perturbation_range=cfg.perturbation_range, temperature=cfg.mixup_temperature,
                               form=cfg.mixup_temperature_form)
    opt = make_optimizer(model, cfg)
    model.train()
    model.classifier.logit_form = "cosine_distance"
    losses = history.setdefault("intermediate", [])
    N = cfg.intermediate_steps
    for t in range(N):
        ep = sampler.episode(t)
        n_src = ep.n_way  # source classes of this episode (all of them by default)
        sx, sy, qx, qy = ep.to_tensors(src.prepared, device=device)
        ts, tq, ts_lab = _sample_pool_episode(pool, cfg.intermediate_n_shot, cfg.intermediate_n_query, rng)
        tx_s = target.prepared.patches(pool["rows"][ts], pool["cols"][ts], device=device)
        tx_q = target.prepared.patches(pool["rows"][tq], pool["cols"][tq], device=device)
        ty_q = pool["y"][tq].to(device)
        with _autocast(device, cfg.amp):
            emb = model(torch.cat([sx, qx, tx_s, tx_q])).float()
        n1, n2, n3 = len(sy), len(sy) + len(qy), len(sy) + len(qy) + len(ts)
        e_ss, e_sq, e_ts, e_tq = emb[:n1], emb[n1:n2], emb[n2:n3], emb[n3:]
        protos = torch.cat([fsl.prototypes(e_ss, sy, ep.n_way),
                            _class_means(e_ts, torch.as_tensor(ts_lab, device=device), n_tgt)])
        ys_joint, yt_joint = fsl.extend_label_space(_onehot(qy, n_src).to(device), ty_q, n_src, n_tgt)
        loss = emb.new_zeros(())
        if cfg.use_mixup:
            n_pairs = cfg.intermediate_mixups
            i = torch.randint(len(qy), (n_pairs,), generator=gen)
            j = torch.randint(len(tq), (n_pairs,), generator=gen)
            lam = sched.sample(n_pairs, generator=gen).to(device)
            ys_1h = _onehot(qy, n_src)
            mix_e = fsl.cross_domain_mixup(e_sq[i], ys_1h[i], e_tq[j], ty_q[j], lam, n_src, n_tgt)
            mix_x = fsl.cross_domain_mixup(qx[i], ys_1h[i], tx_q[j], ty_q[j], lam, n_src, n_tgt)
            with _autocast(device, cfg.amp):
                e_mix_x = model(mix_x.x).float()
            loss = loss + fsl.soft_cross_entropy(model.classifier(e_mix_x, protos), mix_x.y) \
                + fsl.soft_cross_entropy(model.classifier(mix_e.x, protos), mix_e.y)
        if cfg.intermediate_fsl_term or not cfg.use_mixup:
            # without mixup the two domains are trained side by side on their own episodes
            logits_s = model.classifier(e_sq, protos)
            logits_t = model.classifier(e_tq, protos)
            loss = loss + fsl.soft_cross_entropy(logits_s, ys_joint) + fsl.soft_cross_entropy(logits_t, yt_joint)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if cfg.use_mixup:
            sched.update(t, N, e_sq.detach().cpu(), e_tq.detach().cpu(), mix_e.x.detach().cpu())
    return list(sched.trajectory) if cfg.use_mixup else []


def _head_probabilities(model: nn.Module, query_emb: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
    """Prototype-head probabilities computed on the head's device (embeddings are kept on the
    CPU between stages; the head's learnable scale lives with the model), returned on the CPU."""
    dev = next(model.classifier.parameters()).device
    with torch.no_grad():
        return model.classifier.probabilities(query_emb.to(dev), protos.to(dev)).float().cpu()


def _class_means(emb: torch.Tensor, labels: torch.Tensor, n: int) -> torch.Tensor:
    """Class means; classes with no member get a zero prototype (cosine logit 0)."""
    out = emb.new_zeros(n, emb.shape[1])
    out.index_add_(0, labels, emb)
    counts = torch.bincount(labels, minlength=n).clamp_min(1).to(emb.dtype)
    return out / counts[:, None]


# ------------------------------------------------------------------------------- evaluation
def full_graph_scores(support_emb: torch.Tensor, support_y, query_emb: torch.Tensor, n_classes: int,
                      class_mass: str = "none") -> torch.Tensor:
    """LGC over one k-NN graph of the support and *all* query embeddings (the transductive
    baselines' propagation, :func:`mifomo_lite.fsl.propagation_baseline`, with the same
    ``class_mass`` option): ``[n_query, C]`` scores, row-normalised to sum to 1 (rows with no mass
    stay 0)."""
    res = fsl.propagation_baseline(support_emb.float().numpy(), np.asarray(support_y), query_emb.float().numpy(),
                                   n_classes=n_classes, class_mass=class_mass)
    f = torch.as_tensor(np.clip(res.scores, 0.0, None), dtype=torch.float32)
    return f / f.sum(1, keepdim=True).clamp_min(1e-12)


def predict(model: nn.Module, support_emb: torch.Tensor, support_y: np.ndarray, query_emb: torch.Tensor,
            n_classes: int, cfg: RunConfig, propagate: bool) -> np.ndarray:
    """Query predictions from prototypes, optionally refined by label propagation."""
    if propagate and cfg.eval_propagation == "full_graph":  # the graph alone: no prototype scores needed
        return full_graph_scores(support_emb, support_y, query_emb, n_classes,
                                 cfg.propagation_class_mass).argmax(1).numpy()
    ys = torch.as_tensor(support_y)
    probs = _head_probabilities(model, query_emb, fsl.prototypes(support_emb, ys, n_classes))
    if not propagate:
        return probs.argmax(1).numpy()
    scores = fsl.label_propagation(support_emb, _onehot(ys, n_classes), query_emb, probs,
                                   alpha=cfg.lgc_alpha, sigma=cfg.lgc_sigma, batch_size=cfg.lgc_batch_size)
    return _class_mass(scores, cfg).argmax(1).numpy()


def _class_mass(scores: torch.Tensor, cfg: RunConfig) -> torch.Tensor:
    """The run's class mass normalisation of the batch-80 LGC's scores. Each row keeps its original
    sum, so that ``pseudo_label_target="lgc_raw"`` still gets targets of the released code's scale;
    only the split between classes (and so the argmax) changes."""
    if cfg.propagation_class_mass == "none":
        return scores
    f = scores.detach().cpu().double().clamp_min(0.0)
    g = torch.as_tensor(fsl.class_mass_normalisation(f.numpy()))
    g = g * (f.sum(1, keepdim=True) / g.sum(1, keepdim=True).clamp_min(1e-300))
    return g.to(scores.dtype)


def embed_split(model, target: Domain, split, cfg: RunConfig, device, *, progress_desc: str = "query",
                cache: Optional[EmbeddingCache] = None):
    """Embeddings of the support and query pixels as the evaluation reads them: ``(s_emb, q_emb,
    feature_map)``. With ``cfg.feature_smoothing > 1`` each is the mean over its window of the
    scene (:mod:`mifomo_lite.fsl.spatial`) and ``feature_map`` holds the raw embeddings computed
    (reused by the whole-scene map); otherwise ``feature_map`` is None."""
    if cache is not None:
        return (cache(split.support_rows, split.support_cols), cache(split.query_rows, split.query_cols),
                cache.feature_map)
    if cfg.feature_smoothing > 1:
        fmap = scene_feature_map(model, target, cfg, device, desc=progress_desc)
        rows = np.concatenate([split.support_rows, split.query_rows])
        cols = np.concatenate([split.support_cols, split.query_cols])
        emb = fmap.read(rows, cols)   # one pass over every window both sets need
        return emb[:split.n_support], emb[split.n_support:], fmap
    dtype = inference_dtype(device, cfg)
    s_emb = embed_pixels(model, target.prepared, split.support_rows, split.support_cols,
                         batch_size=cfg.eval_batch_size, device=device, amp=cfg.amp, dtype=dtype)
    q_emb = embed_pixels(model, target.prepared, split.query_rows, split.query_cols,
                         batch_size=cfg.eval_batch_size, device=device, amp=cfg.amp,
                         progress=cfg.progress, desc=progress_desc, dtype=dtype)
    return s_emb, q_emb, None


def stage_metrics(model, split, cfg: RunConfig, s_emb: torch.Tensor, q_emb: torch.Tensor, *, propagate: bool) -> dict:
    """Metrics of one evaluation stage, without and (optionally) with propagation."""
    C = split.n_classes
    out = {"plain": fsl.classification_metrics(split.query_labels,
                                               predict(model, s_emb, split.support_labels, q_emb, C, cfg, False), C)}
    if propagate:
        out["propagated"] = fsl.classification_metrics(
            split.query_labels, predict(model, s_emb, split.support_labels, q_emb, C, cfg, True), C)
    return out


def evaluate_stage(model, target: Domain, split, cfg: RunConfig, device, *, propagate: bool,
                   progress_desc: str = "query", cache: Optional[EmbeddingCache] = None):
    """Embed support and all query pixels (:func:`embed_split`); metrics without and (optionally)
    with propagation. Returns ``(metrics, s_emb, q_emb)``."""
    s_emb, q_emb, _ = embed_split(model, target, split, cfg, device, progress_desc=progress_desc, cache=cache)
    return stage_metrics(model, split, cfg, s_emb, q_emb, propagate=propagate), s_emb, q_emb


# -------------------------------------------------------------------------------- baselines
class FeatureCache:
    """Per-pixel features that do not depend on the episode, computed once per run:
    PCA centre vector, PCA 9×9 mean, and a randomly initialised encoder's embedding. The last two
    feed the transductive baselines and are read through the run's ``feature_smoothing`` window,
    exactly as the kit reads its own embeddings (the PCA centre vector feeds the pixel SVM and is
    never smoothed)."""

    def __init__(self, target: Domain, cfg: RunConfig, device):
        self.target, self.cfg, self.device = target, cfg, device
        self._pca = self._mean = self._random = None
        self._mean_smoothed = self._random_map = None

    def rows_of(self, rows, cols) -> np.ndarray:
        return self.target.pixel_index(rows, cols)

    def pca(self) -> np.ndarray:
        if self._pca is None:
            self._pca = self.target.prepared.pixels(self.target.rows, self.target.cols).numpy()
        return self._pca

    def spatial_mean(self, smoothed: bool = False) -> np.ndarray:
        """PCA 9×9 window mean of every labelled pixel; ``smoothed=True`` reads it through the run's
        ``feature_smoothing`` window (the propagation baseline's features)."""
        if smoothed and self.cfg.feature_smoothing > 1:
            if self._mean_smoothed is None:
                prep = self.target.prepared
                means = fsl.LazyFeatureMap(self._window_means, prep.height, prep.width, self.cfg.feature_smoothing)
                self._mean_smoothed = means.read(self.target.rows, self.target.cols).numpy()
            return self._mean_smoothed
        if self._mean is None:
            self._mean = self._window_means(self.target.rows, self.target.cols).numpy()
        return self._mean

    def _window_means(self, rows, cols) -> torch.Tensor:
        """``(N, C)`` mean PCA vector of the patch window around each pixel."""
        return torch.cat([x.mean(dim=(2, 3)) for _, x in self.target.prepared.iter_batches(rows, cols, 2048)])

    def random_encoder(self, idx: np.ndarray) -> np.ndarray:
        """Embeddings of a randomly initialised encoder (same architecture) for labelled-pixel
        indices ``idx``; each pixel is embedded at most once per run."""
        t = self.target
        if self._random is None:
            torch.manual_seed(self.cfg.seed + 4242)
            self._rnd_model = create_model(self.cfg.model, in_chans=self.cfg.pca_components,
                                           patch_size=self.cfg.patch_size).to(self.device)
            self._rnd_model.readout = self.cfg.readout  # the same readout as the kit's model: a fair control
            if self.cfg.feature_smoothing > 1:     # and the same smoothing
                self._random_map = scene_feature_map(self._rnd_model, t, self.cfg, self.device, desc="random encoder")
            self._random = np.zeros((len(t.rows), self._rnd_model.embed_dim), dtype=np.float32)
            self._have = np.zeros(len(t.rows), dtype=bool)
        todo = np.unique(idx[~self._have[idx]])
        if todo.size and self._random_map is not None:
            self._random[todo] = self._random_map.read(t.rows[todo], t.cols[todo]).numpy()
            self._have[todo] = True
        elif todo.size:
            self._random[todo] = embed_pixels(self._rnd_model, t.prepared, t.rows[todo], t.cols[todo],
                                              batch_size=self.cfg.eval_batch_size, device=self.device,
                                              progress=self.cfg.progress, desc="random encoder",
                                              dtype=inference_dtype(self.device, self.cfg)).numpy()
            self._have[todo] = True
        return self._random[idx]


def run_baselines(cache: FeatureCache, split, include_random: bool = True) -> dict:
    """Classical and transductive baselines on exactly the episode's split. The transductive ones
    read and propagate their features exactly as the kit does (the run's ``feature_smoothing`` and
    ``propagation_class_mass``); the SVMs see the unsmoothed features."""
    si = cache.rows_of(split.support_rows, split.support_cols)
    qi = cache.rows_of(split.query_rows, split.query_cols)
    C = split.n_classes
    ys, yq = split.support_labels, split.query_labels
    pca, mean = cache.pca(), cache.spatial_mean()
    both = np.concatenate([pca, mean], axis=1)
    res = {}

    def score(name, result):
        res[name] = fsl.classification_metrics(yq, np.asarray(result.pred), C)

    score("SVM (PCA)", fsl.svm_baseline(pca[si], ys, pca[qi], n_classes=C))
    score("SVM (PCA + 9×9 mean)", fsl.svm_baseline(both[si], ys, both[qi], n_classes=C))
    mass = cache.cfg.propagation_class_mass
    mean_s = cache.spatial_mean(smoothed=True)  # = mean unless the run smooths features
    score("PCA 9×9 mean + propagation",
          fsl.propagation_baseline(mean_s[si], ys, mean_s[qi], n_classes=C, class_mass=mass))
    if include_random:
        score("random encoder + propagation",
              fsl.propagation_baseline(cache.random_encoder(si), ys, cache.random_encoder(qi), n_classes=C,
                                       class_mass=mass))
    return res


# --------------------------------------------------------------------------------- the run
def subsample_queries(split, max_query: Optional[int], seed: int):
    """Keep a seeded random subset of at most ``max_query`` query pixels (smoke runs only)."""
    if not max_query or split.n_query <= max_query:
        return split
    import dataclasses

    keep = np.sort(np.random.default_rng([seed, 99]).choice(split.n_query, size=int(max_query), replace=False))
    return dataclasses.replace(split, query_rows=split.query_rows[keep], query_cols=split.query_cols[keep],
                               query_labels=split.query_labels[keep])


def run_pipeline(cfg: RunConfig, *, target_scene=None, source_scenes=None, log: Callable = print,
                 keep_model: bool = True) -> RunResult:
    """Run MIFOMO as configured and return every metric (see the module docstring)."""
    cfg = cfg.validate()
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    if cfg.num_threads:
        torch.set_num_threads(int(cfg.num_threads))
    device = resolve_device(cfg.device, allow_fallback=cfg.allow_cpu_fallback)
    seed_everything(cfg.seed)

    t0 = time.perf_counter()
    target, sources = prepare_domains(cfg, target_scene, source_scenes)
    timings["data_s"] = time.perf_counter() - t0
    transductive = cfg.mode == "transductive"
    if not sources and (cfg.source_episodes > 0 or cfg.use_intermediate_domain):
        raise ConfigError("no source scene: set sources=synthetic (or a scene name)")

    model = build_model(cfg, device)
    history: dict = {}
    ssl_record = run_target_ssl(model, target, cfg, device, history, log)
    timings["target_ssl_s"] = ssl_record["seconds"] if ssl_record else 0.0
    summary = apply_adaptation(model, cfg.adaptation, trainable_set=cfg.trainable_set, phase="source",
                               extra_trainable=("classifier",), **adaptation_options(cfg))
    set_phase_trainables(model, cfg, "target")
    initial_state = trainable_state(model)          # what "code_reset" restores (SPEC §9 note A)

    t0 = time.perf_counter()
    train_source_phase(model, sources, cfg, device, history, log)
    timings["source_phase_s"] = time.perf_counter() - t0
    set_phase_trainables(model, cfg, "target")
    phase1_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    cache = FeatureCache(target, cfg, device) if cfg.baselines else None
    emb_cache = EmbeddingCache(model, target, cfg, device) if backbone_is_frozen(model) else None
    episodes, lambdas = [], []
    last: dict = {}
    t_adapt = t_eval = t_base = 0.0
    for e in _progress(range(cfg.n_test_episodes), cfg.progress, desc="test episodes"):
        seed = cfg.seed + e
        model.load_state_dict(phase1_state)
        if cfg.reset_phase1_trainables == "code_reset":
            with torch.no_grad():
                for name, p in model.named_parameters():
                    if name in initial_state:
                        p.copy_(initial_state[name])
        set_phase_trainables(model, cfg, "target")
        seed_everything(seed)
        split = subsample_queries(D.few_shot_split(target.scene, n_shot=cfg.n_shot, seed=seed),
                                  cfg.max_query_pixels, seed)
        ep_hist: dict = {}
        rec: dict = {"episode": e, "seed": seed, "n_support": split.n_support, "n_query": split.n_query}

        t0 = time.perf_counter()
        adapt_on_support(model, target, split, cfg, device, ep_hist, emb_cache)
        t_adapt += time.perf_counter() - t0
        t0 = time.perf_counter()
        s_emb, q_emb, fmap = embed_split(model, target, split, cfg, device,
                                         progress_desc=f"episode {e}: query (after support)", cache=emb_cache)
        stage = stage_metrics(model, split, cfg, s_emb, q_emb, propagate=transductive and cfg.report_with_lgc)
        rec["after_support"] = stage
        t_eval += time.perf_counter() - t0

        if cfg.use_intermediate_domain:
            t0 = time.perf_counter()
            pool = pseudo_label_pool(model, target, split, q_emb, s_emb, cfg) if transductive else support_pool(split)
            rec["pseudo_labels"] = {k: pool[k] for k in ("n_pseudo", "pseudo_accuracy", "warnings")}
            rec["pseudo_labels"]["kept_classes"] = [int(c) for c in pool["kept_classes"]]
            traj = train_intermediate_domain(model, target, sources, pool, cfg, device, seed, ep_hist)
            lambdas.append(traj)
            t_adapt += time.perf_counter() - t0
            t0 = time.perf_counter()
            s_emb, q_emb, fmap = embed_split(model, target, split, cfg, device,
                                             progress_desc=f"episode {e}: query (final)", cache=emb_cache)
            stage = stage_metrics(model, split, cfg, s_emb, q_emb, propagate=transductive and cfg.report_with_lgc)
            t_eval += time.perf_counter() - t0
        rec["final"] = stage
        if cache is not None:
            t0 = time.perf_counter()
            rec["baselines"] = run_baselines(cache, split)
            t_base += time.perf_counter() - t0
        episodes.append(rec)
        for k, v in ep_hist.items():
            history.setdefault(k, []).extend(v)
        last = {"split": split, "support_emb": s_emb, "query_emb": q_emb, "feature_map": fmap}

    timings.update(adaptation_s=t_adapt, evaluation_s=t_eval, baselines_s=t_base,
                   total_s=time.perf_counter() - t_start)
    if emb_cache is not None:
        timings["embedding_cache_s"] = emb_cache.seconds
    metrics = {
        "config": cfg.to_dict(),
        "environment": environment_record(),
        "device": str(device),
        "target": {"name": target.name, "shape": list(target.scene.cube.shape),
                   "n_classes": target.n_classes, "class_names": target.class_names},
        "sources": [{"name": s.name, "n_classes": s.n_classes, "shape": list(s.scene.cube.shape)}
                    for s in sources],
        "adaptation": summary.to_dict() if hasattr(summary, "to_dict") else str(summary),
        "embedding_cache": emb_cache is not None,
        # its wall time is timings["target_ssl_s"]: everything outside "timings" repeats exactly
        "target_ssl": ssl_record and {k: ssl_record[k] for k in ("steps", "first_loss", "last_loss")},
        "seeds": [cfg.seed + e for e in range(cfg.n_test_episodes)],
        "episodes": [fsl.to_jsonable(r) for r in episodes],
        "summary": summarise_episodes(episodes),
        "paired": paired_differences(episodes),
        "timings": timings,
    }
    return RunResult(cfg, metrics, history, lambdas, last, model if keep_model else None, target)


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
