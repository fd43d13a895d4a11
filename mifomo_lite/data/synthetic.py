"""Synthetic hyperspectral scenes with controllable domain shift.

Real benchmark scenes are large and their domain gaps are fixed. For tests and for controlled
experiments the kit can *generate* scenes whose ingredients you choose:

* **Endmember library.** Material ``k`` (k = 1, 2, ...) has a smooth reflectance spectrum defined
  as a *continuous function of wavelength*: a baseline with a slope, a few Gaussian absorption /
  reflection features, and for some materials a vegetation-like "red edge" near 700 nm. The
  spectrum of material ``k`` depends only on ``(library_seed, k)`` — not on which other materials
  are used — so two scenes can share classes (same ids) or not (disjoint ids).
* **Spatial layout.** A warped Voronoi tessellation gives spatially coherent, irregular fields;
  each region gets a class (every class at least one of the largest regions, the rest by
  ``class_priors``) or, for ``background_fraction`` of them, background (label 0).
* **Mixing.** Class maps are blurred (``mixing_sigma`` pixels) into abundances, so pixels near
  boundaries are linear mixtures — like real sensors.
* **Variability and noise.** Per-region and per-pixel brightness variation, then Gaussian noise.

Domain-shift knobs (apply any combination to make a "target" differ from a "source"):
``n_bands`` / ``wavelength_range`` (different sensor, by resampling the continuous spectra),
``spectral_shift_nm`` (calibration shift), ``gain`` / ``offset`` (scalar or per band),
``illumination`` (a smooth multiplicative shading field), ``noise_std``, ``class_priors`` and
``class_ids`` (shared or disjoint class sets).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import ConfigError
from .scene import Scene

FloatOrBands = Union[float, Sequence[float], np.ndarray]


def endmember_spectra(wavelengths: Sequence[float], ids: Sequence[int],
                      library_seed: int = 0) -> np.ndarray:
    """Reflectance spectra (len(ids), len(wavelengths)) of library materials ``ids``, sampled at
    ``wavelengths`` (nm). Values lie roughly in 0.02–0.9."""
    wl = np.asarray(wavelengths, dtype=np.float64)
    out = np.empty((len(ids), wl.size), dtype=np.float64)
    x = (wl - 1450.0) / 1050.0  # ≈ -1..1 across 400–2500 nm
    for row, k in enumerate(ids):
        rng = np.random.default_rng([int(library_seed), 7919, int(k)])
        spec = rng.uniform(0.12, 0.45) + rng.uniform(-0.12, 0.12) * x
        spec = spec + rng.uniform(-0.05, 0.05) * x ** 2
        for _ in range(int(rng.integers(3, 7))):
            centre = rng.uniform(380.0, 2520.0)
            width = rng.uniform(25.0, 220.0)
            amp = rng.uniform(-0.22, 0.28)
            spec = spec + amp * np.exp(-0.5 * ((wl - centre) / width) ** 2)
        if rng.random() < 0.4:  # vegetation-like red edge
            edge = rng.uniform(690.0, 735.0)
            spec = spec + rng.uniform(0.15, 0.35) / (1.0 + np.exp(-(wl - edge) / 12.0))
            spec = spec - 0.08 * np.exp(-0.5 * ((wl - 670.0) / 25.0) ** 2)
        out[row] = spec
    return np.clip(out, 0.02, 0.95)


def _smooth_field(rng: np.random.Generator, shape: Tuple[int, int], sigma: float) -> np.ndarray:
    """A smooth random field scaled to [-1, 1]."""
    from scipy.ndimage import gaussian_filter

    f = gaussian_filter(rng.standard_normal(shape), sigma=max(sigma, 0.5), mode="reflect")
    f -= f.mean()
    m = np.abs(f).max()
    return f / m if m > 0 else f


def _bands(value: FloatOrBands, n_bands: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n_bands, float(arr))
    if arr.shape != (n_bands,):
        raise ConfigError(f"{name} must be a number or have one value per band ({n_bands}), "
                          f"got shape {arr.shape}")
    return arr


def _checked_classes(height: int, width: int, n_bands: int, n_classes: int,
                     class_ids: Optional[Sequence[int]], class_priors: Optional[Sequence[float]],
                     background_fraction: float) -> Tuple[np.ndarray, np.ndarray]:
    """Validate the scene design; return the sorted class material ids and normalised priors."""
    if height < 4 or width < 4 or n_bands < 1:
        raise ConfigError(f"synthetic scene too small: {height}×{width}×{n_bands}")
    if class_ids is None:
        if n_classes < 1:
            raise ConfigError(f"n_classes must be ≥ 1, not {n_classes}")
        ids = np.arange(1, int(n_classes) + 1)
    else:
        ids = np.asarray(sorted(int(i) for i in class_ids), dtype=np.int64)
        if ids.size == 0 or ids.min() < 1 or np.unique(ids).size != ids.size:
            raise ConfigError(f"class_ids must be distinct positive integers, got {list(class_ids)}")
    n_cls = ids.size
    if class_priors is None:
        priors = np.full(n_cls, 1.0 / n_cls)
    else:
        priors = np.asarray(class_priors, dtype=np.float64)
        if priors.shape != (n_cls,) or (priors < 0).any() or priors.sum() <= 0:
            raise ConfigError(f"class_priors needs {n_cls} non-negative values, got {priors}")
        priors = priors / priors.sum()
    if not 0.0 <= background_fraction < 1.0:
        raise ConfigError(f"background_fraction must be in [0, 1), not {background_fraction}")
    return ids, priors


def _warped_voronoi(rng: np.random.Generator, height: int, width: int, total: int) -> np.ndarray:
    """Region id (0..total−1) per pixel of a Voronoi tessellation whose distances are measured
    in smoothly warped coordinates, so the regions are irregular but spatially coherent."""
    from scipy.spatial import cKDTree

    yy, xx = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64),
                         indexing="ij")
    warp = 0.12 * min(height, width)
    sig = max(height, width) / 10.0
    wy = yy + warp * _smooth_field(rng, (height, width), sig)
    wx = xx + warp * _smooth_field(rng, (height, width), sig)
    centres = np.column_stack([rng.uniform(0, height, total), rng.uniform(0, width, total)])
    _, region = cKDTree(centres).query(np.column_stack([wy.ravel(), wx.ravel()]))
    return region.reshape(height, width)


def _region_classes(rng: np.random.Generator, region: np.ndarray, total: int, n_cls: int,
                    n_bg: int, priors: np.ndarray) -> np.ndarray:
    """Class (0 = background) of each region. The ``n_cls`` largest regions get one class each,
    so every class exists and is as large as possible; the rest follow the priors, except
    ``n_bg`` random ones left as background."""
    sizes = np.bincount(region.ravel(), minlength=total)
    order = np.argsort(-sizes, kind="stable")
    region_class = np.zeros(total, dtype=np.int64)
    region_class[order[:n_cls]] = rng.permutation(n_cls) + 1
    rest = order[n_cls:]
    rest = rest[rng.permutation(rest.size)]
    region_class[rest[:n_bg]] = 0
    region_class[rest[n_bg:]] = rng.choice(n_cls, size=max(rest.size - n_bg, 0), p=priors) + 1
    return region_class


def _scene_endmembers(wl: np.ndarray, ids: np.ndarray, library_seed: int) -> np.ndarray:
    """Endmember rows sampled at ``wl``: row 0 is the background (the mean of two non-class
    library materials), row ``c`` the material of class ``c``."""
    class_spec = endmember_spectra(wl, ids, library_seed)
    bg_ids = [10_000 + int(library_seed) * 10 + j for j in range(2)]
    bg_spec = endmember_spectra(wl, bg_ids, library_seed)
    return np.vstack([0.5 * (bg_spec[0] + bg_spec[1]), class_spec])


def _mixed_cube(labels: np.ndarray, endmembers: np.ndarray, mixing_sigma: float) -> np.ndarray:
    """Linear mixture cube (H, W, bands): abundances are the one-hot class maps blurred by
    ``mixing_sigma`` pixels, so pixels near boundaries mix their neighbours' materials."""
    from scipy.ndimage import gaussian_filter

    height, width = labels.shape
    k = endmembers.shape[0]
    abund = np.zeros((height, width, k), dtype=np.float64)
    for j in range(k):
        onehot = (labels == j).astype(np.float64)
        abund[:, :, j] = gaussian_filter(onehot, mixing_sigma, mode="nearest") \
            if mixing_sigma > 0 else onehot
    abund /= abund.sum(axis=2, keepdims=True)
    cube = abund.reshape(-1, k) @ endmembers
    return cube.reshape(height, width, -1)


def _vary_and_degrade(rng: np.random.Generator, cube: np.ndarray, region: np.ndarray, total: int,
                      *, variability: float, illumination: float, gain: FloatOrBands,
                      offset: FloatOrBands, noise_std: float) -> np.ndarray:
    """Per-region and per-pixel brightness, smooth illumination, sensor gain/offset and noise."""
    height, width, n_bands = cube.shape
    region_gain = 1.0 + variability * rng.standard_normal(total)
    pixel_gain = 1.0 + variability * rng.standard_normal((height, width))
    cube *= (region_gain[region] * pixel_gain)[:, :, None]
    if illumination:
        cube *= (1.0 + float(illumination) * _smooth_field(rng, (height, width),
                                                            max(height, width) / 3.0))[:, :, None]
    cube = cube * _bands(gain, n_bands, "gain") + _bands(offset, n_bands, "offset")
    if noise_std:
        cube = cube + float(noise_std) * rng.standard_normal(cube.shape)
    return cube


def synthetic_scene(height: int = 64, width: int = 64, n_bands: int = 100,
                    n_classes: int = 10, *, class_ids: Optional[Sequence[int]] = None,
                    wavelength_range: Tuple[float, float] = (400.0, 2500.0),
                    spectral_shift_nm: float = 0.0, gain: FloatOrBands = 1.0,
                    offset: FloatOrBands = 0.0, illumination: float = 0.0,
                    noise_std: float = 0.01, class_priors: Optional[Sequence[float]] = None,
                    n_regions: Optional[int] = None, background_fraction: float = 0.1,
                    mixing_sigma: float = 1.0, variability: float = 0.03, seed: int = 0,
                    library_seed: int = 0, name: str = "synthetic",
                    sensor: str = "synthetic") -> Scene:
    """Generate a seeded, deterministic synthetic :class:`Scene`.

    Args:
        height, width, n_bands: cube size.
        n_classes: number of classes (ids 1..n_classes) when ``class_ids`` is not given.
        class_ids: library material ids to use as classes (positive ints). Use the same ids in
            two scenes for shared classes, disjoint ids for disjoint class sets. Class ``c`` of
            the scene has ``original_ids[c-1] = sorted(class_ids)[c-1]`` and name
            ``"material_<id>"``.
        wavelength_range: (first, last) band centre in nm; bands are evenly spaced.
        spectral_shift_nm: shift of the sensor's wavelength calibration.
        gain, offset: ``x → gain·x + offset``, scalar or per band.
        illumination: strength (0–1) of a smooth multiplicative shading field.
        noise_std: standard deviation of additive Gaussian noise (reflectance units).
        class_priors: relative area of each class (defaults to uniform).
        n_regions: number of Voronoi regions (default ``max(3·C, 12)`` plus background).
        background_fraction: fraction of extra regions left unlabelled (label 0).
        mixing_sigma: blur (pixels) of the class maps → mixed pixels at boundaries.
        variability: relative brightness variation per region and per pixel.
        seed: layout, variability and noise. library_seed: the endmember library.

    A 64×64×100 scene takes a few milliseconds.
    """
    ids, priors = _checked_classes(height, width, n_bands, n_classes, class_ids, class_priors,
                                   background_fraction)
    n_cls = ids.size
    rng = np.random.default_rng([int(seed), 104729])
    n_lab = max(int(n_regions) if n_regions is not None else max(3 * n_cls, 12), n_cls)
    n_bg = int(round(n_lab * background_fraction / (1.0 - background_fraction)))
    total = n_lab + n_bg
    region = _warped_voronoi(rng, height, width, total)
    labels = _region_classes(rng, region, total, n_cls, n_bg, priors)[region]
    wl = np.linspace(wavelength_range[0], wavelength_range[1], int(n_bands))
    cube = _mixed_cube(labels, _scene_endmembers(wl + spectral_shift_nm, ids, library_seed),
                       mixing_sigma)
    cube = _vary_and_degrade(rng, cube, region, total, variability=variability,
                             illumination=illumination, gain=gain, offset=offset,
                             noise_std=noise_std)
    params: Dict[str, Any] = dict(
        height=height, width=width, n_bands=int(n_bands), class_ids=ids.tolist(),
        wavelength_range=list(map(float, wavelength_range)), spectral_shift_nm=spectral_shift_nm,
        gain=np.asarray(gain).tolist(), offset=np.asarray(offset).tolist(),
        illumination=illumination, noise_std=noise_std, class_priors=priors.tolist(),
        n_regions=n_lab, background_regions=n_bg, mixing_sigma=mixing_sigma,
        variability=variability, seed=seed, library_seed=library_seed)
    return Scene(name=name, cube=cube.astype(np.float32), labels=labels,
                 class_names=[f"material_{i:02d}" for i in ids], original_ids=ids,
                 wavelengths=wl, sensor=sensor,
                 meta={"source": "synthetic_scene", "synthetic": params,
                       "checksum_status": "n/a (generated)"})


def synthetic_domain_pair(seed: int = 0, *, size: int = 48, n_source_classes: int = 19,
                          n_target_classes: int = 9, n_shared: int = 0,
                          library_seed: int = 0) -> Tuple[Scene, Scene]:
    """A ready-made cross-domain pair for tests and demos.

    The *source* mimics Chikusei (128 bands, 363–1018 nm, ``n_source_classes`` classes); the
    *target* mimics an AVIRIS scene (100 bands, 400–2500 nm), with a different gain, offset,
    illumination and noise, and ``n_target_classes`` classes of which ``n_shared`` also occur in
    the source (the rest are unseen materials, as in real cross-domain few-shot learning).
    """
    if not 0 <= n_shared <= min(n_source_classes, n_target_classes):
        raise ConfigError(f"n_shared must be between 0 and {min(n_source_classes, n_target_classes)}")
    src_ids = list(range(1, n_source_classes + 1))
    tgt_ids = src_ids[:n_shared] + list(range(100, 100 + n_target_classes - n_shared))
    source = synthetic_scene(size, size, 128, class_ids=src_ids, wavelength_range=(363.0, 1018.0),
                             noise_std=0.005, seed=seed, library_seed=library_seed,
                             name="synthetic_source", sensor="synthetic VNIR")
    target = synthetic_scene(size, size, 100, class_ids=tgt_ids, wavelength_range=(400.0, 2500.0),
                             gain=1.6, offset=0.03, illumination=0.2, noise_std=0.02,
                             seed=seed + 1, library_seed=library_seed, name="synthetic_target",
                             sensor="synthetic VNIR-SWIR")
    return source, target
