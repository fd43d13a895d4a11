"""The one way the pipeline turns pixels into embeddings: :func:`embed_pixels` (batched, no
autograd, in the run's inference precision), read raw or through the run's ``feature_smoothing``
window (:func:`scene_feature_map`), and cached when the backbone is frozen (:class:`EmbeddingCache`).
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Optional

import numpy as np
import torch
from torch import nn

from .. import fsl
from .config import RunConfig
from .domains import Domain

__all__ = ["progress_bar", "autocast", "cpu_has_native_bf16", "inference_dtype", "embed_pixels", "embed", "scene_feature_map",
           "EmbeddingCache", "embed_split"]


def progress_bar(iterable, enabled: bool, **kw):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, **kw)


def autocast(device: torch.device, enabled: bool):
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
    follows ``amp`` (bf16 on CUDA when set, else float32). Returns float32 on CPU."""
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
        for _, x in progress_bar(batches, progress and total > 4, total=total, desc=desc, leave=False):
            out.append(model(x).float().cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, getattr(model, "embed_dim", 0))


def embed(model: nn.Module, prepared, rows, cols, cfg: RunConfig, device: torch.device, *,
          desc: str = "embedding", progress: Optional[bool] = None) -> torch.Tensor:
    """:func:`embed_pixels` with the run's settings: ``eval_batch_size``, the inference precision
    (:func:`inference_dtype`) and, unless ``progress`` says otherwise, the run's progress bars."""
    return embed_pixels(model, prepared, rows, cols, batch_size=cfg.eval_batch_size, device=device, amp=cfg.amp,
                        progress=cfg.progress if progress is None else progress, desc=desc,
                        dtype=inference_dtype(device, cfg))


def scene_feature_map(model: nn.Module, target: "Domain", cfg: RunConfig, device, *,
                      desc: str = "embedding") -> fsl.LazyFeatureMap:
    """A :class:`~mifomo_lite.fsl.LazyFeatureMap` of ``model``'s embeddings over the target scene,
    read out with the run's ``feature_smoothing`` window (each pixel embedded at most once)."""
    prep = target.prepared

    def compute(rows, cols):
        return embed(model, prep, rows, cols, cfg, device, desc=desc)

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

    def scene_map(self) -> fsl.LazyFeatureMap:
        """A feature map over the whole scene (any pixel, labelled or not), built once per run: the
        smoothed one when the run smooths, else a raw one (the scene pool's node embeddings)."""
        if self.feature_map is not None:
            return self.feature_map
        if getattr(self, "_scene_map", None) is None:
            self._scene_map = scene_feature_map(self.model, self.target, self.cfg, self.device,
                                                desc="embedding cache, scene pool (frozen backbone)")
        return self._scene_map

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
            self.emb = embed(self.model, self.target.prepared, self.target.rows, self.target.cols, self.cfg,
                             self.device, desc="embedding cache (frozen backbone)")
            self.seconds = time.perf_counter() - t0
        return self.emb[torch.from_numpy(self.target.pixel_index(rows, cols))]


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
    s_emb = embed(model, target.prepared, split.support_rows, split.support_cols, cfg, device, progress=False)
    q_emb = embed(model, target.prepared, split.query_rows, split.query_cols, cfg, device, desc=progress_desc)
    return s_emb, q_emb, None
