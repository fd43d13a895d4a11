"""The baselines every episode is scored against, on exactly the episode's split: two SVMs and
two transductive propagations (PCA window means, a random encoder's embeddings).

The propagations run over the same node pools as the kit (:mod:`mifomo_lite.train.evaluation`):
the labelled query pixels and the whole scene except the support; the SVMs are inductive and the
same in both."""

from __future__ import annotations

import numpy as np
import torch

from .. import fsl
from ..models import create_model
from .config import RunConfig
from .domains import Domain
from .embedding import embed, scene_feature_map
from .evaluation import POOLS, run_scene_nodes

__all__ = ["FeatureCache", "run_baselines"]


class FeatureCache:
    """Per-pixel features that do not depend on the episode, computed once per run:
    PCA centre vector, PCA 9×9 mean, and a randomly initialised encoder's embedding. The last two
    feed the transductive baselines and are read through the run's ``feature_smoothing`` window,
    exactly as the kit reads its own embeddings (the PCA centre vector feeds the pixel SVM and is
    never smoothed)."""

    def __init__(self, target: Domain, cfg: RunConfig, device):
        self.target, self.cfg, self.device = target, cfg, device
        self._pca = self._mean = self._random = None
        self._mean_smoothed = self._random_map = self._mean_map = None

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
                self._mean_map = fsl.LazyFeatureMap(self._window_means, prep.height, prep.width,
                                                    self.cfg.feature_smoothing)
                self._mean_smoothed = self._mean_map.read(self.target.rows, self.target.cols).numpy()
            return self._mean_smoothed
        if self._mean is None:
            self._mean = self._window_means(self.target.rows, self.target.cols).numpy()
        return self._mean

    def scene_features(self, kind: str, rows, cols) -> np.ndarray:
        """Features of any scene pixels (labelled or not), read through the run's
        ``feature_smoothing`` window as the transductive baselines read them: ``kind`` is ``"mean"``
        (PCA window mean) or ``"random"`` (the random encoder). Each pixel is computed once per run."""
        if kind == "mean":
            if self._mean_map is None:
                prep = self.target.prepared
                self._mean_map = fsl.LazyFeatureMap(self._window_means, prep.height, prep.width,
                                                    self.cfg.feature_smoothing)
            return self._mean_map.read(rows, cols).numpy()
        self.random_encoder(np.zeros(0, dtype=np.int64))  # builds the random model (and its map when smoothing)
        if self._random_map is None:
            self._random_map = scene_feature_map(self._rnd_model, self.target, self.cfg, self.device,
                                                 desc="random encoder, scene pool")
        return self._random_map.read(rows, cols).numpy()

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
            self._random[todo] = embed(self._rnd_model, t.prepared, t.rows[todo], t.cols[todo], self.cfg,
                                       self.device, desc="random encoder").numpy()
            self._have[todo] = True
        return self._random[idx]


def run_baselines(cache: FeatureCache, split, include_random: bool = True) -> dict:
    """Classical and transductive baselines on exactly the episode's split, over each pool.

    Returns ``{"baselines": <the run's transductive_pool>, "baselines_labelled_pool": ...,
    "baselines_scene_pool": ...}``, each ``{name: metrics}``. The transductive ones read and
    propagate their features exactly as the kit does (the run's ``feature_smoothing`` and
    ``propagation_class_mass``); the SVMs see the unsmoothed features and are the same in every
    pool."""
    svm = _svm_baselines(cache, split)
    out = {f"baselines_{pool}_pool": {**svm, **_propagation_baselines(cache, split, pool, include_random)}
           for pool in POOLS}
    return {"baselines": out[f"baselines_{cache.cfg.transductive_pool}_pool"], **out}


def _svm_baselines(cache: FeatureCache, split) -> dict:
    """The two inductive SVMs (PCA centre vector; plus the 9×9 window mean)."""
    si = cache.rows_of(split.support_rows, split.support_cols)
    qi = cache.rows_of(split.query_rows, split.query_cols)
    C, ys, yq = split.n_classes, split.support_labels, split.query_labels
    pca, mean = cache.pca(), cache.spatial_mean()
    both = np.concatenate([pca, mean], axis=1)
    return {"SVM (PCA)": fsl.classification_metrics(yq, fsl.svm_baseline(pca[si], ys, pca[qi], n_classes=C).pred, C),
            "SVM (PCA + 9×9 mean)": fsl.classification_metrics(
                yq, fsl.svm_baseline(both[si], ys, both[qi], n_classes=C).pred, C)}


def _propagation_baselines(cache: FeatureCache, split, pool: str, include_random: bool) -> dict:
    """The transductive baselines over ``pool``'s nodes: the labelled query pixels, or every scene
    pixel but the support (scored at the query pixels' positions among them)."""
    si = cache.rows_of(split.support_rows, split.support_cols)
    C, ys, yq, mass = split.n_classes, split.support_labels, split.query_labels, cache.cfg.propagation_class_mass
    kinds = ("mean", "random") if include_random else ("mean",)
    if pool == "labelled":
        qi = cache.rows_of(split.query_rows, split.query_cols)
        feats = {"mean": lambda idx: cache.spatial_mean(smoothed=True)[idx], "random": cache.random_encoder}
        support = {k: feats[k](si) for k in kinds}
        nodes, pick = {k: feats[k](qi) for k in kinds}, slice(None)
    else:
        sn = run_scene_nodes(cache.target, split, cache.cfg)
        support = {k: cache.scene_features(k, split.support_rows, split.support_cols) for k in kinds}
        nodes, pick = {k: cache.scene_features(k, sn["rows"], sn["cols"]) for k in kinds}, sn["query_pos"]
    names = {"mean": "PCA 9×9 mean + propagation", "random": "random encoder + propagation"}
    cfg, res = cache.cfg, {}
    for k in kinds:
        r = fsl.propagation_baseline(support[k], ys, nodes[k], n_classes=C, class_mass=mass, k=cfg.graph_k,
                                     alpha=cfg.graph_alpha, sigma_scale=cfg.graph_sigma_scale)
        res[names[k]] = fsl.classification_metrics(yq, np.asarray(r.pred)[pick], C)
    return res
