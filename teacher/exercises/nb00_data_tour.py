"""Reference solutions and typical mistakes of nb00_data_tour (teacher edition; not in the kit)."""

from __future__ import annotations

import numpy as np
from mifomo_lite.exercises.core import Fail, as_array, call, expect_close, expect_shape, register


def _ref_nearest_band(wavelengths, nm):
    return int(np.argmin(np.abs(np.asarray(wavelengths, float) - nm)))


def _nearest_band_wrong():
    return [
        lambda w, nm: int(np.searchsorted(np.asarray(w), nm)),          # the insertion point
        lambda w, nm: int(np.argmin(np.asarray(w) - nm)),                # forgot abs
        lambda w, nm: float(np.asarray(w)[_ref_nearest_band(w, nm)]),  # the wavelength, not the index
    ]


def _ref_false_colour(cube, bands):
    cube = np.asarray(cube, dtype=np.float64)
    out = np.zeros(cube.shape[:2] + (3,))
    for i, b in enumerate(bands):
        ch = cube[:, :, int(b)]
        lo, hi = np.percentile(ch, [2, 98])
        out[:, :, i] = np.clip((ch - lo) / (hi - lo), 0, 1) if hi > lo else 0.0
    return out


def _false_colour_wrong():
    def minmax(cube, bands):
        x = np.asarray(cube, float)[:, :, list(bands)]
        return (x - x.min(axis=(0, 1))) / (x.max(axis=(0, 1)) - x.min(axis=(0, 1)))

    def no_clip(cube, bands):
        x = np.asarray(cube, float)[:, :, list(bands)]
        lo, hi = np.percentile(x, [2, 98], axis=(0, 1))
        return (x - lo) / (hi - lo)

    def global_stretch(cube, bands):
        x = np.asarray(cube, float)[:, :, list(bands)]
        lo, hi = np.percentile(x, [2, 98])
        return np.clip((x - lo) / (hi - lo), 0, 1)

    return [minmax, no_clip, global_stretch, lambda c, b: _ref_false_colour(c, b[::-1])]


def _ref_class_means(cube, labels):
    cube = np.asarray(cube, dtype=np.float64)
    labels = np.asarray(labels)
    c = int(labels.max())
    return np.stack([cube[labels == k].mean(axis=0) for k in range(1, c + 1)])


def _class_means_wrong():
    return [
        lambda cube, labels: np.stack([np.asarray(cube)[np.asarray(labels) == k].mean(0)
                                       for k in range(0, int(np.max(labels)) + 1)]),  # includes background
        lambda cube, labels: np.stack([np.asarray(cube)[np.asarray(labels) == k].mean(0)
                                       for k in range(0, int(np.max(labels)))]),      # off by one
        lambda cube, labels: np.stack([np.asarray(cube)[np.asarray(labels) == k].sum(0)
                                       for k in range(1, int(np.max(labels)) + 1)]),  # sum, not mean
    ]


def _ref_rarest(scene) -> str:
    return scene.class_names[int(np.argmin(scene.class_counts()))]


def _rarest_wrong():
    return [
        lambda scene: scene.class_names[int(np.argmax(scene.class_counts()))],   # the most common
        lambda scene: scene.class_names[int(np.argmin(scene.class_counts())) + 1],  # off by one
        lambda scene: int(np.argmin(scene.class_counts())) + 1,                   # label, not name
    ]


REFERENCES = {"00.1": _ref_nearest_band, "00.2": _ref_false_colour, "00.3": _ref_class_means, "00.4": _ref_rarest}
ANSWERS = {"00.1": lambda: _ref_nearest_band, "00.2": lambda: _ref_false_colour, "00.3": lambda: _ref_class_means, "00.4": lambda: _ref_rarest}
WRONG = {"00.1": _nearest_band_wrong, "00.2": _false_colour_wrong, "00.3": _class_means_wrong, "00.4": _rarest_wrong}
