"""Spatial smoothing of per-pixel features over the scene: a plain w×w mean of neighbouring features.

Neighbouring pixels of a hyperspectral scene mostly belong to the same class, so averaging each
pixel's feature vector with those of its neighbours removes per-pixel noise before the features are
compared. Spatial filtering of per-pixel outputs is a standard spectral–spatial step in HSI
classification (e.g. edge-preserving filtering of the class-probability maps: Kang, Li &
Benediktsson, *Spectral–Spatial Hyperspectral Image Classification With Edge-Preserving
Filtering*, IEEE TGRS 2014); the kit uses the simplest form, a box mean of the *embeddings*.

The mean runs over the whole scene **image** — every pixel in the window, labelled or not — never
over the ground-truth mask, so it reads no label and does not exploit which pixels happen to be
annotated. At the image border the window is cut and the mean is over the pixels inside the image
(``count_include_pad=False``). Only the pixels that some requested window touches are needed, so a
:class:`LazyFeatureMap` computes features on demand and never embeds a pixel twice.

The smoothing helps the transductive baselines about as much as the kit (``docs/results.md``), so
the pipeline applies it to them too: a comparison without it would flatter the kit.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError, DataError

__all__ = ["check_window", "window_neighbourhood", "smooth_feature_map", "LazyFeatureMap"]


def check_window(size: int, name: str = "the smoothing window") -> int:
    """A smoothing window side: an odd integer ≥ 1 (1 = no smoothing); ``name`` goes into the error."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1 or size % 2 == 0:
        raise ConfigError(f"{name} must be an odd integer ≥ 1 (the window side; 1 = off), got {size!r}")
    return int(size)


def _coords(rows, cols, height: int, width: int) -> Tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rows, dtype=np.int64).reshape(-1)
    c = np.asarray(cols, dtype=np.int64).reshape(-1)
    if r.shape != c.shape:
        raise DataError(f"rows and cols differ in length ({r.size} vs {c.size})")
    bad = (r < 0) | (r >= height) | (c < 0) | (c >= width)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"pixel (row {int(r[i])}, col {int(c[i])}) is outside the {height}×{width} image")
    return r, c


def window_neighbourhood(rows, cols, height: int, width: int, size: int) -> np.ndarray:
    """``(H, W)`` boolean mask of every image pixel inside the ``size``×``size`` window of at least
    one of the pixels ``(rows, cols)`` — the features a smoothed read-out at those pixels needs."""
    size = check_window(size)
    r, c = _coords(rows, cols, height, width)
    need = np.zeros((height, width), dtype=bool)
    need[r, c] = True
    if size > 1 and r.size:
        m = torch.from_numpy(need).float()[None, None]
        need = (F.max_pool2d(m, size, stride=1, padding=size // 2)[0, 0] > 0).numpy()
    return need


def smooth_feature_map(features: torch.Tensor, size: int) -> torch.Tensor:
    """``(H, W, D)`` → ``(H, W, D)``: the mean of each pixel's ``size``×``size`` window, the window
    cut at the image border (the mean is over the pixels inside the image)."""
    size = check_window(size)
    if features.dim() != 3:
        raise DataError(f"features must be an (H, W, D) map; got shape {tuple(features.shape)}")
    if size == 1:
        return features
    x = features.permute(2, 0, 1)[None].float()
    out = F.avg_pool2d(x, size, stride=1, padding=size // 2, count_include_pad=False)
    return out[0].permute(1, 2, 0).to(features.dtype)


class LazyFeatureMap:
    """Per-pixel features of one scene, computed on demand and read out smoothed (or not).

    ``compute(rows, cols) -> (N, D) tensor`` produces raw features (e.g. a model's embeddings of the
    windows centred on those pixels); each pixel is computed at most once. :meth:`read` returns
    the ``size``×``size`` mean (:func:`smooth_feature_map`) at the requested pixels, computing
    first whatever their windows need; ``size=1`` returns the raw features.
    """

    def __init__(self, compute: Callable[[np.ndarray, np.ndarray], torch.Tensor], height: int, width: int,
                 size: int = 1):
        self.compute, self.height, self.width = compute, int(height), int(width)
        self.size = check_window(size)
        self.values: Optional[torch.Tensor] = None          # (H, W, D), zeros where not computed
        self.have = np.zeros((self.height, self.width), dtype=bool)
        self.n_computed = 0

    def ensure(self, mask: np.ndarray) -> None:
        """Compute the features of every pixel in ``mask`` (``(H, W)`` bool) not computed yet."""
        rows, cols = np.nonzero(mask & ~self.have)
        if rows.size == 0:
            return
        feats = torch.as_tensor(self.compute(rows, cols)).float()
        if feats.dim() != 2 or feats.shape[0] != rows.size:
            raise DataError(f"compute() returned shape {tuple(feats.shape)} for {rows.size} pixels; "
                            "expected (n_pixels, n_features)")
        if self.values is None:
            self.values = torch.zeros(self.height, self.width, feats.shape[1])
        elif feats.shape[1] != self.values.shape[2]:
            raise DataError(f"compute() returned {feats.shape[1]} features; earlier calls gave {self.values.shape[2]}")
        self.values[torch.from_numpy(rows), torch.from_numpy(cols)] = feats
        self.have[rows, cols] = True
        self.n_computed += int(rows.size)

    def read_raw(self, rows, cols) -> torch.Tensor:
        """``(N, D)`` unsmoothed features at ``(rows, cols)`` (computing only those pixels)."""
        return self._read(rows, cols, 1)

    def read(self, rows, cols) -> torch.Tensor:
        """``(N, D)`` features at ``(rows, cols)``, smoothed over ``size``×``size`` windows."""
        return self._read(rows, cols, self.size)

    def _read(self, rows, cols, size: int) -> torch.Tensor:
        r, c = _coords(rows, cols, self.height, self.width)
        self.ensure(window_neighbourhood(r, c, self.height, self.width, size))
        if r.size == 0:
            return torch.zeros(0, 0 if self.values is None else self.values.shape[2])
        # One pass over the whole map (cheap: a 145×145×64 box mean takes milliseconds); pixels not
        # computed hold zeros, but no requested window contains one.
        values = smooth_feature_map(self.values, size)   # the map itself when size == 1
        return values[torch.from_numpy(r), torch.from_numpy(c)].clone()
