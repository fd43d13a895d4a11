"""Exercises of notebook 00 (hyperspectral data tour)."""

from __future__ import annotations

import numpy as np

from .core import expected, Fail, as_array, call, expect_close, expect_shape, register

NB = "00_data_tour"


# ---------------------------------------------------------------- 00.1 nearest band to a wavelength


@register("00.1", NB, "nearest band",
          "Look at |wavelengths − nm| for every band and take the position of the smallest one "
          "(np.argmin). Return the band *index* as a Python int, not the wavelength.",
          expects="function")
def _check_nearest_band(fn):
    rng = np.random.default_rng(7)
    cases = [(np.linspace(400, 2500, 200), 550.0), (np.linspace(400, 2500, 200), 401.0),
             (np.linspace(400, 2500, 200), 3000.0), (np.linspace(430, 860, 103), 640.0)]
    for _ in range(6):
        wl = np.sort(rng.uniform(380, 2520, size=int(rng.integers(20, 250))))
        cases.append((wl, float(rng.uniform(350, 2600))))
    for wl, nm in cases:
        got = call(fn, wl.copy(), nm)
        if isinstance(got, (float, np.floating)) and not float(got).is_integer():
            raise Fail(f"for {nm:g} nm your function returned {got!r}: return the band index, "
                       "not the wavelength.")
        if not isinstance(got, (int, np.integer, float, np.floating)):
            raise Fail(f"your function returned {type(got).__name__}; return one integer index.")
        want = expected("00.1", wl, nm)
        if int(got) != want:
            off = "below the range" if nm < wl[0] else ("above the range" if nm > wl[-1] else "")
            raise Fail(f"for {nm:g} nm on a {wl.size}-band sensor your index is wrong"
                       f"{' (the wavelength is ' + off + ' — the nearest band is at the edge)' if off else ''}.")


# ---------------------------------------------------------------- 00.2 false-colour image


@register("00.2", NB, "false-colour image",
          "Take the three bands in the given order (R, G, B), and stretch *each channel on its "
          "own*: its 2nd percentile → 0, its 98th percentile → 1, then clip to [0, 1].",
          expects="function")
def _check_false_colour(fn):
    rng = np.random.default_rng(11)
    cube = rng.gamma(2.0, 500.0, size=(12, 9, 30)) * np.linspace(0.5, 3.0, 30)
    cube[0, 0, :] = 1e6  # one saturated pixel: a min-max stretch would wash the image out
    bands = (25, 14, 3)
    got = as_array(call(fn, cube.copy(), bands), "your image")
    expect_shape(got, (12, 9, 3), "your image", "(height, width, 3 channels)")
    if got.min() < -1e-9 or got.max() > 1 + 1e-9:
        raise Fail("your image has values outside [0, 1]: clip after stretching.")
    want = expected("00.2", cube, bands)
    if np.allclose(got, expected("00.2", cube, bands[::-1]), atol=1e-6) and not np.allclose(got, want):
        raise Fail("your channels are in reverse order: channel 0 must come from bands[0] (red).")
    expect_close(got, want, "your image", atol=1e-6,
                 mismatch="Is the stretch per channel, between the 2nd and 98th percentiles?")


# ---------------------------------------------------------------- 00.3 mean spectrum per class


@register("00.3", NB, "mean spectrum per class",
          "Classes are 1..C (C = labels.max()); 0 means unlabelled and must be ignored. "
          "cube[labels == k] selects the (n_k, B) spectra of class k; average over the pixels.",
          expects="function")
def _check_class_means(fn):
    rng = np.random.default_rng(5)
    cube = rng.normal(size=(10, 11, 7)) + np.arange(7)
    labels = rng.integers(0, 5, size=(10, 11))
    labels[0, :4] = [1, 2, 3, 4]  # every class present
    got = as_array(call(fn, cube.copy(), labels.copy()), "your spectra")
    if got.ndim == 2 and got.shape[0] == 5:
        raise Fail("you returned 5 rows for 4 classes: label 0 (unlabelled background) is not a class.")
    expect_shape(got, (4, 7), "your spectra", "(n_classes, n_bands): one row per class 1..C")
    want = expected("00.3", cube, labels)
    expect_close(got, want, "your spectra", atol=1e-6,
                 mismatch="Row k−1 must be the *mean* spectrum of the pixels whose label is k.")


# ---------------------------------------------------------------- 00.4 rarest class of a scene


@register("00.4", NB, "rarest class",
          "scene.class_counts() gives the pixels per class (entry c−1 counts class c) and "
          "scene.class_names the names in the same order. Return the class *name* (a string).",
          expects="function")
def _check_rarest(fn):
    from ..data import load_scene, synthetic_scene

    for scene in (synthetic_scene(height=24, width=24, n_bands=12, n_classes=6, seed=3),
                  load_scene("indian_pines")):
        got = call(fn, scene)
        if not isinstance(got, str):
            raise Fail(f"your function returned {type(got).__name__}; return the class name (a string).")
        if got.strip().lower() != expected("00.4", scene).lower():
            raise Fail(f"on scene {scene.name!r} your function returned {got!r}, which is not the "
                       "class with the fewest labelled pixels.")
