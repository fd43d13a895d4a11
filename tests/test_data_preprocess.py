"""MIFOMO preprocessing (SPEC §4): PCA + whitening, z-score, reflect padding, on-the-fly patches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mifomo_lite.data import (PreparedScene, prepare_scene, preprocess_cube, preprocess_scene,
                              reflect_pad, synthetic_scene)
from mifomo_lite.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def scene():
    return synthetic_scene(40, 36, 60, n_classes=6, seed=0)


def test_pca_whiten_zscore(scene):
    image = preprocess_scene(scene, n_components=10)
    assert image.shape == (10, 40, 36) and image.dtype == np.float32
    flat = image.reshape(10, -1).astype(np.float64)
    np.testing.assert_allclose(flat.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(flat.std(axis=1), 1, atol=1e-4)          # population std
    # whitened components are uncorrelated
    corr = np.corrcoef(flat)
    np.testing.assert_allclose(corr, np.eye(10), atol=1e-3)


def test_matches_a_plain_sklearn_reference(scene):
    from sklearn.decomposition import PCA

    flat = scene.cube.reshape(-1, scene.n_bands)
    ref = PCA(n_components=8, whiten=True, random_state=0).fit_transform(flat)
    ref = (ref - ref.mean(0)) / (ref.std(0) + 1e-8)
    ref = ref.T.reshape(8, 40, 36)
    ours, info = preprocess_cube(scene.cube, 8)
    np.testing.assert_allclose(ours, ref, atol=2e-4)
    assert info["pca"] and info["fit_pixels"] == 40 * 36


def test_pca_skipped_when_components_exceed_bands(scene):
    image, info = preprocess_cube(scene.cube, n_components=60)
    assert image.shape == (60, 40, 36) and info["pca"] is False
    band = scene.cube[:, :, 5].astype(np.float64)
    np.testing.assert_allclose(image[5], (band - band.mean()) / (band.std() + 1e-8), atol=1e-4)


def test_subsampled_fit_for_large_scenes(scene):
    full, _ = preprocess_cube(scene.cube, 5)
    sub, info = preprocess_cube(scene.cube, 5, max_fit_pixels=600, chunk_pixels=256)
    assert info["fit_pixels"] == 600
    # same subspace up to component signs
    for k in range(3):
        c = np.corrcoef(full[k].ravel(), sub[k].ravel())[0, 1]
        assert abs(c) > 0.95


def test_reflect_padding_matches_torch():
    x = np.random.default_rng(0).random((3, 6, 7)).astype(np.float32)
    ours = reflect_pad(x, 4)
    ref = F.pad(torch.from_numpy(x)[None], (4, 4, 4, 4), mode="reflect")[0].numpy()
    np.testing.assert_array_equal(ours, ref)
    # the edge is not repeated: [a b c ...] → [... c b a b c ...]
    assert ours[0, 4, 3] == x[0, 0, 1] and ours[0, 4, 4] == x[0, 0, 0]


def test_patches_on_the_fly(scene):
    prep = prepare_scene(scene, n_components=12, patch_size=9)
    assert prep.shape == (12, 40, 36) and prep.radius == 4 and prep.n_classes == 6
    rows = np.array([0, 5, 39, 20])
    cols = np.array([0, 35, 17, 2])
    p = prep.patches(rows, cols)
    assert p.shape == (4, 12, 9, 9) and p.dtype == torch.float32
    # centre pixel is the pixel itself
    torch.testing.assert_close(p[:, :, 4, 4], torch.from_numpy(prep.image[:, rows, cols].T))
    torch.testing.assert_close(prep.pixels(rows, cols), p[:, :, 4, 4])
    # a patch equals the slice of the torch-reflect-padded image
    padded = F.pad(torch.from_numpy(np.ascontiguousarray(prep.image))[None], (4, 4, 4, 4),
                   mode="reflect")[0]
    torch.testing.assert_close(torch.from_numpy(np.ascontiguousarray(prep.padded)), padded)
    for i, (r, c) in enumerate(zip(rows, cols)):
        torch.testing.assert_close(p[i], padded[:, r:r + 9, c:c + 9])


def test_batches_cover_the_scene_without_materialising(scene):
    prep = PreparedScene(np.random.default_rng(1).random((3, 10, 11)).astype(np.float32),
                         patch_size=5)
    seen = 0
    first = None
    for rows, cols, x in prep.iter_scene(batch_size=32):
        assert x.shape[0] <= 32 and x.shape[1:] == (3, 5, 5)
        first = first if first is not None else (rows[0], cols[0])
        seen += x.shape[0]
    assert seen == 110 and first == (0, 0)
    prep2 = prepare_scene(scene, 6, 7)
    r, c, _ = prep2.labelled_pixels()
    chunks = [x for _, x in prep2.iter_batches(r, c, batch_size=100)]
    torch.testing.assert_close(torch.cat(chunks), prep2.patches(r, c))
    total = sum(x.shape[0] for _, _, x in prep2.iter_scene(256, labelled_only=True))
    assert total == scene.n_labelled


def test_bad_parameters(scene):
    with pytest.raises(ConfigError, match="odd"):
        prepare_scene(scene, 5, patch_size=8)
    with pytest.raises(ConfigError, match="n_components"):
        preprocess_cube(scene.cube, 0)
    prep = prepare_scene(scene, 5, 3)
    with pytest.raises(DataError, match="outside"):
        prep.patches([40], [0])
    with pytest.raises(DataError, match="labels map is"):
        PreparedScene(prep.image, np.zeros((3, 3)))
