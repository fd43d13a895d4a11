"""The scenes of a run: the target and source domains, preprocessed, with their labelled pools.

Each scene is reduced by its own PCA (SPEC §4) and becomes a :class:`Domain`; the test episodes
draw their support and query pixels from the target's labelled pool.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from .. import data as D
from ..errors import DataError
from .config import RunConfig

__all__ = ["Domain", "source_scene", "available_sources", "prepare_domains", "subsample_queries"]


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


def subsample_queries(split, max_query: Optional[int], seed: int):
    """Keep a seeded random subset of at most ``max_query`` query pixels (smoke runs only)."""
    if not max_query or split.n_query <= max_query:
        return split
    import dataclasses

    keep = np.sort(np.random.default_rng([seed, 99]).choice(split.n_query, size=int(max_query), replace=False))
    return dataclasses.replace(split, query_rows=split.query_rows[keep], query_cols=split.query_cols[keep],
                               query_labels=split.query_labels[keep])
