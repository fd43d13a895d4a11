"""Controllable domain shift of a scene (mifomo_lite.data.shift)."""

import numpy as np
import pytest

from mifomo_lite.data.scene import Scene
from mifomo_lite.data.shift import SHIFT_KINDS, gain_curve, shift_cube, shift_scene, spectral_distance
from mifomo_lite.data.synthetic import synthetic_scene
from mifomo_lite.errors import ConfigError, DataError

STRENGTHS = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)


@pytest.fixture(scope="module")
def scene():
    return synthetic_scene(24, 24, 60, seed=0)


def test_strength_zero_is_an_identical_copy(scene):
    out = shift_scene(scene, 0.0, seed=5)
    assert isinstance(out, Scene) and out is not scene
    assert np.array_equal(out.cube, scene.cube) and out.cube is not scene.cube
    assert spectral_distance(scene, out) < 1e-6


@pytest.mark.parametrize("kinds", [(k,) for k in SHIFT_KINDS] + [SHIFT_KINDS])
def test_distance_grows_monotonically_with_strength(scene, kinds):
    d = [spectral_distance(scene, shift_scene(scene, s, kinds=kinds, seed=1)) for s in STRENGTHS]
    assert all(b > a for a, b in zip(d, d[1:])), d
    assert d[-1] > 0.01   # strength 1 is a real shift, not rounding


def test_labels_masks_and_metadata_untouched(scene):
    out = shift_scene(scene, 0.7, seed=2)
    assert np.array_equal(out.labels, scene.labels) and out.labels is not scene.labels
    assert out.class_names == scene.class_names and np.array_equal(out.original_ids, scene.original_ids)
    assert np.array_equal(out.wavelengths, scene.wavelengths)
    assert out.cube.dtype == np.float32 and out.cube.shape == scene.cube.shape
    assert out.name == "synthetic+shift0.7" and out.meta["domain_shift"]["strength"] == 0.7
    assert "domain_shift" not in scene.meta   # the input scene is not modified


def test_seeded_and_strength_scales_the_same_perturbation(scene):
    a = shift_scene(scene, 0.5, kinds=("noise",), seed=3).cube
    b = shift_scene(scene, 0.5, kinds=("noise",), seed=3).cube
    c = shift_scene(scene, 0.5, kinds=("noise",), seed=4).cube
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    full = shift_scene(scene, 1.0, kinds=("noise",), seed=3).cube
    np.testing.assert_allclose(full - scene.cube, 2.0 * (a - scene.cube), rtol=1e-4, atol=1e-6)
    # the noise has the documented size: strength · max_noise · std of each band
    std = scene.cube.reshape(-1, 60).std(0)
    ratio = (full - scene.cube).reshape(-1, 60).std(0) / std
    assert np.all(np.abs(ratio - 0.1) < 0.02)
    big = shift_scene(scene, 1.0, kinds=("noise",), seed=3, max_noise=0.5).cube
    assert np.all(np.abs((big - scene.cube).reshape(-1, 60).std(0) / std - 0.5) < 0.1)


def test_band_shift_is_an_exact_translation_for_whole_bands():
    cube = np.arange(2 * 3 * 20, dtype=np.float32).reshape(2, 3, 20)
    out = shift_cube(cube, 0.5, kinds=("band_shift",), max_band_shift=4)   # s = 2 bands
    assert np.array_equal(out[..., 2:], cube[..., :-2])
    assert np.array_equal(out[..., 0], cube[..., 0]) and np.array_equal(out[..., 1], cube[..., 0])  # edge repeated
    half = shift_cube(cube, 0.125, kinds=("band_shift",), max_band_shift=4)  # s = 0.5: midpoints
    np.testing.assert_allclose(half[..., 1:], 0.5 * (cube[..., 1:] + cube[..., :-1]))


def test_gain_has_the_documented_range():
    u = gain_curve(200, seed=7)
    assert np.isclose(np.abs(u).max(), 1.0) and np.all(np.abs(np.diff(u)) < 0.2)   # smooth, peak 1
    ones = np.ones((1, 1, 200), np.float32)
    g = shift_cube(ones, 1.0, kinds=("gain",), seed=7)[0, 0]
    assert np.isclose(np.abs(g - 1.0).max(), 0.5, atol=1e-6) and g.min() >= 0.5 - 1e-6


def test_bad_arguments_give_clear_errors(scene):
    for bad in (-0.1, 1.5, float("nan"), "strong"):
        with pytest.raises(ConfigError, match="strength"):
            shift_scene(scene, bad)
    with pytest.raises(ConfigError, match="blur"):
        shift_scene(scene, 0.5, kinds=("blur",))
    with pytest.raises(ConfigError, match="max_gain"):
        shift_scene(scene, 0.5, max_gain=1.0)
    with pytest.raises(DataError, match="Scene"):
        shift_scene(scene.cube, 0.5)
    with pytest.raises(DataError, match="same"):
        spectral_distance(scene.cube, scene.cube[:, :, :10])
