"""Synthetic scenes: determinism, many classes, spatial coherence, domain-shift knobs."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mifomo_lite.data import Scene, endmember_spectra, synthetic_domain_pair, synthetic_scene
from mifomo_lite.errors import ConfigError


def test_deterministic_and_seed_dependent():
    a = synthetic_scene(32, 32, 40, n_classes=5, seed=3)
    b = synthetic_scene(32, 32, 40, n_classes=5, seed=3)
    c = synthetic_scene(32, 32, 40, n_classes=5, seed=4)
    np.testing.assert_array_equal(a.cube, b.cube)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.labels, c.labels)


def test_many_classes_shape_and_fast():
    synthetic_scene(16, 16, 10, n_classes=3)                 # warm up imports
    t = time.perf_counter()
    s = synthetic_scene(64, 64, 100, n_classes=19, seed=0)
    assert time.perf_counter() - t < 1.0
    assert isinstance(s, Scene) and s.shape == (64, 64, 100) and s.cube.dtype == np.float32
    assert s.n_classes == 19 and (s.class_counts() >= 20).all()
    assert 0 < s.n_labelled < 64 * 64                          # some background
    assert s.wavelengths[0] == 400 and s.wavelengths[-1] == 2500


def test_regions_are_spatially_coherent():
    s = synthetic_scene(48, 48, 20, n_classes=8, seed=1, noise_std=0.0)
    same = (s.labels[:, 1:] == s.labels[:, :-1]).mean()
    assert same > 0.85                                        # neighbours mostly agree


def test_spectra_are_smooth_and_class_specific():
    s = synthetic_scene(48, 48, 100, n_classes=6, seed=2, noise_std=0.0, variability=0.0,
                        mixing_sigma=0.0)
    means = np.stack([s.cube[s.labels == c].mean(axis=0) for c in range(1, 7)])
    # class means differ clearly from one another
    d = np.linalg.norm(means[:, None] - means[None], axis=2)
    assert d[~np.eye(6, dtype=bool)].min() > 0.05
    # smooth: band-to-band steps are small compared with the spectrum's range
    assert np.abs(np.diff(means, axis=1)).max() < 0.2 * (means.max() - means.min())


def test_shared_and_disjoint_classes_use_one_library():
    a = synthetic_scene(32, 32, 50, class_ids=[1, 2, 3, 4], seed=0, noise_std=0.0,
                        variability=0.0, mixing_sigma=0.0)
    b = synthetic_scene(32, 32, 50, class_ids=[3, 4, 20, 21], seed=5, noise_std=0.0,
                        variability=0.0, mixing_sigma=0.0)
    assert a.original_ids.tolist() == [1, 2, 3, 4] and b.original_ids.tolist() == [3, 4, 20, 21]
    assert b.class_names[0] == "material_03" == a.class_names[2]
    # material 3 has the same pure spectrum in both scenes
    pure_a = a.cube[a.labels == 3].mean(axis=0)
    pure_b = b.cube[b.labels == 1].mean(axis=0)
    np.testing.assert_allclose(pure_a, pure_b, atol=1e-5)
    # and the spectrum does not depend on which other materials are in the library call
    wl = np.linspace(400, 2500, 50)
    np.testing.assert_allclose(endmember_spectra(wl, [3])[0], endmember_spectra(wl, [9, 3])[1])


def test_domain_shift_knobs():
    base = dict(height=32, width=32, n_classes=4, seed=7, noise_std=0.0)
    ref = synthetic_scene(n_bands=60, **base)
    # band count / wavelength range: resampled spectra, same layout
    vnir = synthetic_scene(n_bands=30, wavelength_range=(400, 1000), **base)
    assert vnir.shape == (32, 32, 30) and vnir.wavelengths[-1] == 1000
    np.testing.assert_array_equal(vnir.labels, ref.labels)
    # gain and offset are exact affine maps
    g = synthetic_scene(n_bands=60, gain=2.0, offset=0.1, **base)
    np.testing.assert_allclose(g.cube, 2.0 * ref.cube + 0.1, rtol=1e-5, atol=1e-5)
    per_band = synthetic_scene(n_bands=60, gain=np.linspace(1, 2, 60), **base)
    np.testing.assert_allclose(per_band.cube[..., -1], 2 * ref.cube[..., -1], rtol=1e-5)
    # illumination: a smooth multiplicative field, same per band
    ill = synthetic_scene(n_bands=60, illumination=0.3, **base)
    ratio = ill.cube / ref.cube
    assert np.allclose(ratio[..., 0], ratio[..., 30], atol=1e-4) and ratio.std() > 0.01
    # noise level
    noisy = synthetic_scene(n_bands=60, **{**base, "noise_std": 0.05})
    assert 0.04 < (noisy.cube - ref.cube).std() < 0.06
    # spectral calibration shift changes the spectra, not the layout
    shifted = synthetic_scene(n_bands=60, spectral_shift_nm=20, **base)
    assert not np.allclose(shifted.cube, ref.cube)
    # class priors change class areas
    skew = synthetic_scene(64, 64, 10, n_classes=4, class_priors=[10, 1, 1, 1], n_regions=40,
                           seed=1)
    counts = skew.class_counts()
    assert counts[0] == counts.max()


def test_domain_pair():
    src, tgt = synthetic_domain_pair(seed=0, size=32, n_source_classes=19, n_target_classes=6,
                                     n_shared=2)
    assert src.n_classes == 19 and src.n_bands == 128 and tgt.n_bands == 100
    assert set(src.original_ids) & set(tgt.original_ids) == {1, 2}


def test_bad_arguments():
    with pytest.raises(ConfigError, match="class_ids"):
        synthetic_scene(16, 16, 10, class_ids=[0, 1])
    with pytest.raises(ConfigError, match="class_priors"):
        synthetic_scene(16, 16, 10, n_classes=3, class_priors=[1, 2])
    with pytest.raises(ConfigError, match="gain"):
        synthetic_scene(16, 16, 10, n_classes=3, gain=[1, 2])
