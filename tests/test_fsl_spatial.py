"""Spatial smoothing of per-pixel features (mifomo_lite.fsl.spatial)."""

import numpy as np
import pytest
import torch

from mifomo_lite.errors import ConfigError, DataError
from mifomo_lite.fsl import LazyFeatureMap, smooth_feature_map, window_neighbourhood


def _manual_mean(x: torch.Tensor, r: int, c: int, size: int) -> torch.Tensor:
    rad = size // 2
    return x[max(r - rad, 0):r + rad + 1, max(c - rad, 0):c + rad + 1].reshape(-1, x.shape[2]).mean(0)


@pytest.mark.parametrize("size", [3, 5])
def test_smoothing_is_the_window_mean_cut_at_the_border(size):
    x = torch.randn(7, 9, 4, generator=torch.Generator().manual_seed(0))
    out = smooth_feature_map(x, size)
    assert out.shape == x.shape
    for r, c in [(0, 0), (6, 8), (3, 4), (1, 7), (5, 0)]:
        torch.testing.assert_close(out[r, c], _manual_mean(x, r, c, size))
    assert smooth_feature_map(x, 1) is x


@pytest.mark.parametrize("bad", [0, 2, -1, True, 3.5])
def test_window_side_must_be_odd_and_positive(bad):
    with pytest.raises(ConfigError, match="odd integer"):
        smooth_feature_map(torch.zeros(3, 3, 1), bad)


def test_neighbourhood_covers_each_window_inside_the_image():
    need = window_neighbourhood([0, 4], [0, 4], 8, 8, 5)
    expect = np.zeros((8, 8), dtype=bool)
    expect[0:3, 0:3] = True
    expect[2:7, 2:7] = True
    assert (need == expect).all()
    assert window_neighbourhood([3], [3], 8, 8, 1).sum() == 1
    with pytest.raises(DataError, match=r"pixel \(row 8, col 0\) is outside the 8×8 image"):
        window_neighbourhood([8], [0], 8, 8, 3)


def test_lazy_map_computes_each_pixel_once_and_matches_the_dense_mean():
    x = torch.randn(10, 12, 3, generator=torch.Generator().manual_seed(1))
    calls = []

    def compute(rows, cols):
        calls.append(len(rows))
        return x[torch.from_numpy(rows), torch.from_numpy(cols)]

    fmap = LazyFeatureMap(compute, 10, 12, size=3)
    rows, cols = np.array([0, 5, 9]), np.array([0, 6, 11])
    dense = smooth_feature_map(x, 3)
    torch.testing.assert_close(fmap.read(rows, cols), dense[rows, cols])
    assert calls == [4 + 9 + 4] and fmap.n_computed == 17
    # a second read of overlapping pixels computes only what is new
    torch.testing.assert_close(fmap.read([5], [7]), dense[5, 7][None])
    assert calls == [17, 3]
    torch.testing.assert_close(fmap.read_raw([5], [6]), x[5, 6][None])
    assert len(calls) == 2
    # all pixels: equal to the dense whole-map mean
    r, c = np.nonzero(np.ones((10, 12), dtype=bool))
    torch.testing.assert_close(fmap.read(r, c), dense.reshape(-1, 3))


def test_lazy_map_rejects_features_of_the_wrong_shape():
    fmap = LazyFeatureMap(lambda r, c: torch.zeros(len(r) + 1, 2), 4, 4, size=1)
    with pytest.raises(DataError, match="expected \\(n_pixels, n_features\\)"):
        fmap.read([0], [0])
