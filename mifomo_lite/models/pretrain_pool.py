"""The pretraining pool: every pixel of several preprocessed scenes, labelled or not.

:class:`PatchPool` draws augmented w×w windows from the scenes; :func:`synthetic_pretraining_scene`
simulates varied sensors and :func:`load_unlabelled_cube` reads a real cube. Indian Pines, the
kit's offline evaluation target, is refused everywhere (``FORBIDDEN_SCENES``). The pool for a
:class:`~mifomo_lite.models.pretrain.PretrainConfig` is built by
:func:`~mifomo_lite.models.pretrain.build_pretraining_pool`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import DataError

__all__ = ["PatchPool", "synthetic_pretraining_scene", "load_unlabelled_cube", "SYNTHETIC_SENSORS",
           "FORBIDDEN_SCENES"]

# The offline evaluation target must never be seen during pretraining.
FORBIDDEN_SCENES = ("indian_pines", "indian pines", "indianpines", "indian_pines_corrected")


class PatchPool:
    """Random w×w windows from several preprocessed scenes — every pixel, labelled or not.

    ``scenes`` are :class:`mifomo_lite.data.PreparedScene` objects (anything with ``height``,
    ``width``, ``name`` and ``patches(rows, cols)``). Each batch draws its samples from the scenes
    with equal probability per scene (so a small real scene is not drowned by large synthetic
    ones), then optionally applies one of the 8 flips/rotations of the square to each window.
    """

    def __init__(self, scenes: Sequence, augment: bool = True, guard: bool = True):
        if not scenes:
            raise DataError("the pretraining pool is empty: give at least one scene")
        # guard=False only for :func:`target_self_supervision`, which adapts one run's model in
        # memory and never ships weights: the shipped foundation model stays Indian-Pines-free.
        for s in scenes if guard else ():
            if any(f in str(getattr(s, "name", "")).lower().replace("-", "_") for f in FORBIDDEN_SCENES):
                raise DataError(f"refusing to pretrain on {s.name!r}: Indian Pines is the kit's offline evaluation "
                                "target and must stay unseen by the foundation model")
        chans = {int(s.n_channels) for s in scenes}
        if len(chans) != 1:
            raise DataError(f"pretraining scenes differ in channel count {sorted(chans)}: preprocess all of them "
                            "to the same number of PCA components (a scene with fewer bands keeps its band count)")
        self.scenes = list(scenes)
        self.augment = augment

    def __len__(self) -> int:
        return sum(s.height * s.width for s in self.scenes)

    def describe(self) -> list[dict]:
        return [{"name": s.name, "height": int(s.height), "width": int(s.width), "channels": int(s.n_channels)}
                for s in self.scenes]

    def sample(self, n: int, rng: np.random.Generator) -> torch.Tensor:
        which = rng.integers(0, len(self.scenes), size=n)
        out = []
        for k in np.unique(which):
            s, m = self.scenes[k], int((which == k).sum())
            out.append(s.patches(rng.integers(0, s.height, size=m), rng.integers(0, s.width, size=m)))
        x = torch.cat(out)[torch.from_numpy(rng.permutation(n))]
        if self.augment:
            t = rng.integers(0, 8, size=n)
            for code in range(1, 8):
                idx = torch.from_numpy(np.flatnonzero(t == code))
                if idx.numel():
                    y = x[idx]
                    if code & 4:
                        y = y.flip(-1)
                    x[idx] = torch.rot90(y, k=code & 3, dims=(-2, -1))
        return x


# Simulated sensors for the synthetic part of the pool: band count and wavelength range roughly
# like the instruments behind the benchmark scenes (and HyperSIGMA's pretraining data).
SYNTHETIC_SENSORS = (
    {"sensor": "AVIRIS-like", "n_bands": 200, "wavelength_range": (400.0, 2500.0)},
    {"sensor": "ROSIS-like", "n_bands": 103, "wavelength_range": (430.0, 860.0)},
    {"sensor": "HySpex-like", "n_bands": 128, "wavelength_range": (363.0, 1018.0)},
    {"sensor": "CASI-like", "n_bands": 144, "wavelength_range": (380.0, 1050.0)},
    {"sensor": "Hyperion-like", "n_bands": 175, "wavelength_range": (400.0, 2400.0)},
    {"sensor": "GF-5-like", "n_bands": 150, "wavelength_range": (400.0, 1000.0)},
)


def synthetic_pretraining_scene(i: int, size: int = 96, seed: int = 0):
    """The i-th synthetic scene of the pretraining pool: sensor ``SYNTHETIC_SENSORS[i % 6]``, 8–16
    materials drawn from a 200-material library, random calibration shift, gain, shading, noise,
    region count and mixing — every knob from a seeded generator, so the pool is reproducible."""
    from ..data import synthetic_scene

    rng = np.random.default_rng([int(seed), 31337, int(i)])
    sensor = SYNTHETIC_SENSORS[i % len(SYNTHETIC_SENSORS)]
    n_cls = int(rng.integers(8, 17))
    return synthetic_scene(
        size, size, sensor["n_bands"], class_ids=sorted(rng.choice(np.arange(1, 201), n_cls, replace=False).tolist()),
        wavelength_range=sensor["wavelength_range"], spectral_shift_nm=float(rng.uniform(-5, 5)),
        gain=float(rng.uniform(0.8, 1.2)), offset=float(rng.uniform(-0.02, 0.02)),
        illumination=float(rng.uniform(0.0, 0.4)), noise_std=float(rng.uniform(0.003, 0.02)),
        n_regions=int(rng.integers(3 * n_cls, 6 * n_cls)), mixing_sigma=float(rng.uniform(0.5, 2.0)),
        variability=float(rng.uniform(0.02, 0.06)), background_fraction=0.0, seed=int(seed) * 1000 + i,
        library_seed=int(seed), name=f"synthetic-{i}-{sensor['sensor']}", sensor=sensor["sensor"])


def load_unlabelled_cube(path_or_name: str, n_components: int = 50, patch_size: int = 9, seed: int = 0):
    """A real cube for pretraining — labels are not needed. ``path_or_name`` is a file (``.mat``,
    ``.npy``/``.npz``, ENVI; the 3-D variable is found automatically) or a registry scene name.
    Returns a :class:`~mifomo_lite.data.PreparedScene` (PCA, whitening, z-score as the pipeline)."""
    from ..data import PreparedScene, load_scene, preprocess_cube, read_array
    from ..data.scene import check_cube

    text = str(path_or_name)
    key = Path(text).stem.lower().replace("-", "_").replace(" ", "_")
    if any(f.replace(" ", "_") in key for f in FORBIDDEN_SCENES) or key in ("ip", "indian"):
        raise DataError(f"refusing to pretrain on {text}: Indian Pines is the kit's offline evaluation target")
    p = Path(text).expanduser()
    if p.exists():
        cube = check_cube(read_array(p, ndim=3, what="image cube", as_float32=True).array, what=str(p))
        name = p.stem
    else:
        scene = load_scene(text)
        if any(f in scene.name.lower().replace(" ", "_") for f in FORBIDDEN_SCENES):
            raise DataError(f"refusing to pretrain on {scene.name}: Indian Pines is the offline evaluation target")
        cube, name = scene.cube, scene.name
    image, info = preprocess_cube(cube, n_components, seed=seed)
    return PreparedScene(image, patch_size=patch_size, name=name, meta={"preprocessing": info, "source": text})
