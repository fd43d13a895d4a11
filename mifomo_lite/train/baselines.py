"""The baselines every episode is scored against, on exactly the episode's split: two SVMs and
two transductive propagations (PCA window means, a random encoder's embeddings)."""

from __future__ import annotations

import numpy as np
import torch

from .. import fsl
from ..models import create_model
from .config import RunConfig
from .domains import Domain
from .embedding import embed, scene_feature_map

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
            self._random[todo] = embed(self._rnd_model, t.prepared, t.rows[todo], t.cols[todo], self.cfg,
                                       self.device, desc="random encoder").numpy()
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
