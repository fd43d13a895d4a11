"""A controllable domain shift for one scene: the same pixels and labels, a different "sensor".

Cross-domain few-shot learning is meant to bridge a gap between domains; to see whether a method
really bridges one, the size of the gap must be a knob. :func:`shift_scene` turns a scene into a
shifted copy whose labels, masks and nominal wavelengths are unchanged and whose spectra differ by
up to three sensor-like effects, each scaled by one ``strength`` in [0, 1]:

* ``"band_shift"`` — a spectral translation (a calibration error): band ``b`` of the new cube reads
  the old spectrum at position ``b − s`` with ``s = strength · max_band_shift`` bands (default 8),
  linearly interpolated for a fractional ``s``; positions outside the cube repeat the edge band.
  A feature at band 40 appears at band 40 + s.
* ``"gain"`` — a per-band multiplicative gain ``g_b = 1 + strength · max_gain · u_b`` where
  ``u_b ∈ [−1, 1]`` is a smooth random curve over the bands (a sum of three random cosines,
  scaled to a peak of 1): at strength 1 and the default ``max_gain = 0.5`` the gains span up to
  [0.5, 1.5] — a different radiometric response, not just a brightness change.
* ``"noise"`` — additive Gaussian noise whose standard deviation in band b is
  ``strength · max_noise · std_b`` (``std_b``: that band's spatial standard deviation in the
  original cube; default ``max_noise = 0.1``, i.e. 20 dB below the band's spatial variation at
  strength 1 — already enough to halve the frozen tiny model's embedding cosine on Salinas-A,
  because per-scene PCA whitening lifts the noise in the low-variance components).

Effects apply in that order (shift, gain, noise). Everything random comes from ``seed``, and the
random *shape* of the gain curve and the noise does not depend on ``strength``, so a larger
strength scales the same perturbation: the shift grows monotonically (see
:func:`spectral_distance`). Strength 0 returns an exact copy of the cube.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Optional

import numpy as np

from ..errors import ConfigError, DataError
from .scene import Scene

__all__ = ["SHIFT_KINDS", "shift_scene", "shift_cube", "gain_curve", "spectral_distance"]

SHIFT_KINDS = ("band_shift", "gain", "noise")


def _check_strength(strength) -> float:
    try:
        s = float(strength)
    except (TypeError, ValueError):
        raise ConfigError(f"shift strength must be a number in [0, 1]; got {strength!r}") from None
    if not np.isfinite(s) or not 0.0 <= s <= 1.0:
        raise ConfigError(f"shift strength must lie in [0, 1] (0 = no shift, 1 = the documented maximum); got {s}")
    return s


def _check_kinds(kinds: Iterable[str]) -> tuple:
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    bad = [k for k in kinds if k not in SHIFT_KINDS]
    if bad or not kinds:
        raise ConfigError(f"shift kinds {list(kinds)!r}: choose one or more of {SHIFT_KINDS}")
    return kinds


def gain_curve(n_bands: int, seed: int = 0) -> np.ndarray:
    """A smooth random curve ``u ∈ [−1, 1]`` over ``n_bands`` bands with a peak |u| of 1: three
    cosines of random frequency (0.5–3 periods over the spectrum), phase and amplitude."""
    rng = np.random.default_rng([int(seed), 1])
    t = np.linspace(0.0, 1.0, int(n_bands))
    u = np.zeros_like(t)
    for _ in range(3):
        u += rng.uniform(0.3, 1.0) * np.cos(2 * np.pi * rng.uniform(0.5, 3.0) * t + rng.uniform(0, 2 * np.pi))
    peak = np.abs(u).max()
    return u / peak if peak > 0 else u


def _band_shift(cube: np.ndarray, s: float) -> np.ndarray:
    """Translate every spectrum by ``s`` bands (fractional: linear interpolation; edges repeated)."""
    b = cube.shape[2]
    pos = np.clip(np.arange(b, dtype=np.float64) - s, 0.0, b - 1.0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, b - 1)
    w = (pos - lo).astype(np.float32)
    return cube[..., lo] * (1.0 - w) + cube[..., hi] * w


def shift_cube(cube: np.ndarray, strength: float, *, kinds: Iterable[str] = SHIFT_KINDS, seed: int = 0,
               max_band_shift: float = 8.0, max_gain: float = 0.5, max_noise: float = 0.1) -> np.ndarray:
    """The shifted float32 copy of an ``(H, W, B)`` cube (see the module docstring for the three
    effects and what ``strength`` and the ``max_*`` magnitudes mean)."""
    s = _check_strength(strength)
    kinds = _check_kinds(kinds)
    cube = np.asarray(cube)
    if cube.ndim != 3:
        raise DataError(f"shift_cube needs an (H, W, B) cube; got shape {cube.shape}")
    for name, v in (("max_band_shift", max_band_shift), ("max_gain", max_gain), ("max_noise", max_noise)):
        if not (np.isfinite(v) and v >= 0):
            raise ConfigError(f"{name} must be a finite number ≥ 0; got {v}")
    if max_gain >= 1.0:
        raise ConfigError(f"max_gain must be < 1 so that every band gain stays positive; got {max_gain}")
    out = np.array(cube, dtype=np.float32, copy=True)
    if s == 0.0:
        return out
    if "band_shift" in kinds and max_band_shift > 0:
        out = _band_shift(out, s * float(max_band_shift))
    if "gain" in kinds and max_gain > 0:
        out = out * (1.0 + s * float(max_gain) * gain_curve(out.shape[2], seed)).astype(np.float32)
    if "noise" in kinds and max_noise > 0:
        std = np.asarray(cube, dtype=np.float64).reshape(-1, cube.shape[2]).std(axis=0)
        z = np.random.default_rng([int(seed), 2]).standard_normal(out.shape, dtype=np.float32)
        out = out + z * (s * float(max_noise) * std).astype(np.float32)
    return np.ascontiguousarray(out, dtype=np.float32)


def shift_scene(scene: Scene, strength: float, *, kinds: Iterable[str] = SHIFT_KINDS, seed: int = 0,
                max_band_shift: float = 8.0, max_gain: float = 0.5, max_noise: float = 0.1,
                name: Optional[str] = None) -> Scene:
    """A new :class:`~mifomo_lite.data.scene.Scene` with the cube of ``scene`` shifted by
    :func:`shift_cube` and everything else (labels, masks, class names, wavelengths) copied. The
    name defaults to ``"<name>+shift<strength>"``; ``meta["domain_shift"]`` records the settings."""
    if not isinstance(scene, Scene):
        raise DataError(f"shift_scene needs a mifomo_lite Scene; got {type(scene).__name__}")
    kinds = _check_kinds(kinds)
    cube = shift_cube(scene.cube, strength, kinds=kinds, seed=seed, max_band_shift=max_band_shift,
                      max_gain=max_gain, max_noise=max_noise)
    meta = dict(scene.meta)
    meta["domain_shift"] = {"strength": float(strength), "kinds": list(kinds), "seed": int(seed),
                            "max_band_shift": float(max_band_shift), "max_gain": float(max_gain),
                            "max_noise": float(max_noise), "base_scene": scene.name}
    copy = lambda a: None if a is None else np.array(a, copy=True)  # noqa: E731
    return dataclasses.replace(
        scene, name=name or f"{scene.name}+shift{float(strength):g}", cube=cube, labels=copy(scene.labels),
        class_names=list(scene.class_names), original_ids=copy(scene.original_ids),
        wavelengths=copy(scene.wavelengths), train_mask=copy(scene.train_mask),
        test_mask=copy(scene.test_mask), meta=meta)


def spectral_distance(a, b) -> float:
    """Mean spectral angle (radians) between corresponding pixels of two ``(H, W, B)`` cubes (or
    scenes): 0 for identical spectra, insensitive to a per-pixel brightness factor, sensitive to
    band shifts, band-dependent gains and noise."""
    a = a.cube if isinstance(a, Scene) else np.asarray(a)
    b = b.cube if isinstance(b, Scene) else np.asarray(b)
    if a.shape != b.shape or a.ndim != 3:
        raise DataError(f"spectral_distance needs two cubes of the same (H, W, B) shape; got {a.shape} and {b.shape}")
    x = a.reshape(-1, a.shape[2]).astype(np.float64)
    y = b.reshape(-1, b.shape[2]).astype(np.float64)
    cos = (x * y).sum(1) / np.maximum(np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1), 1e-300)
    return float(np.arccos(np.clip(cos, -1.0, 1.0)).mean())
