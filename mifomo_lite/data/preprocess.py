"""Preprocessing as MIFOMO does it (SPEC §4), and on-the-fly patch extraction.

Per scene, independently for source and target:

1. **PCA** to ``n_components`` (default 50) with whitening, fitted on *all* pixels, labelled or
   not (MIFOMO ``dataloader.py``). Skipped when ``n_components >= bands`` — MIFOMO only runs PCA
   when it reduces the band count.
2. **Z-score** each component over all pixels: ``(x - mean) / (std + 1e-8)`` with the
   *population* standard deviation (as FDFSL does).
3. **Reflect padding** by ``r = w // 2`` on both spatial axes, PyTorch ``"reflect"`` semantics
   (the edge pixel is not repeated: ``[a b c]`` padded by 1 is ``[b a b c b]``; NumPy's
   ``np.pad(mode="reflect")`` is identical).
4. **Patches** of w×w (default 9) around each pixel, (N, C, w, w) float32.

Memory. MIFOMO cuts and caches a patch for every labelled pixel. The kit instead keeps the padded
(C, H+2r, W+2r) image and cuts patches *on demand* (:meth:`PreparedScene.patches`) or batch by
batch (:meth:`PreparedScene.iter_batches`), so a full-scene map of Pavia University (207,400
patches, ≈ 3.4 GB at 50×9×9) is never held in memory at once.

Large scenes. ``sklearn`` PCA works in float64; fitting it on all 5.9 million Chikusei pixels
needs several GB. When a scene has more than ``max_fit_pixels`` pixels (default 1,000,000 — more
than any target scene, so targets are processed exactly as in MIFOMO), the PCA is *fitted* on a
seeded random subsample of that many pixels and then *applied* to every pixel in chunks. With
a million samples the components are practically identical to the full fit.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, Optional, Sequence, Tuple

import numpy as np
import torch

from ..errors import ConfigError, DataError
from .scene import Scene

ZSCORE_EPS = 1e-8


def preprocess_cube(cube: np.ndarray, n_components: int = 50, *, whiten: bool = True,
                    seed: int = 0, max_fit_pixels: Optional[int] = 1_000_000,
                    chunk_pixels: int = 1 << 18) -> Tuple[np.ndarray, Dict[str, Any]]:
    """PCA (+whitening) and per-component z-score of an (H, W, B) cube.

    Returns ``(image, info)``: ``image`` is (C, H, W) float32 with C = ``n_components``, or B
    when ``n_components >= B`` (PCA skipped); ``info`` records what was done (components kept,
    explained variance ratio, number of pixels the PCA was fitted on, ...).
    """
    if n_components is None or int(n_components) < 1:
        raise ConfigError(f"n_components must be a positive integer, not {n_components!r}")
    n_components = int(n_components)
    cube = np.asarray(cube)
    if cube.ndim != 3:
        raise DataError(f"expected an (H, W, B) cube, got shape {cube.shape}")
    h, w, b = cube.shape
    n_pix = h * w
    flat = cube.reshape(n_pix, b)
    info: Dict[str, Any] = {"n_components_requested": n_components, "bands_in": b,
                            "whiten": whiten, "seed": seed}
    if n_components < b:
        from sklearn.decomposition import PCA

        if n_components > n_pix:
            raise DataError(f"cannot keep {n_components} PCA components from only {n_pix} pixels")
        if max_fit_pixels is not None and n_pix > max_fit_pixels:
            rng = np.random.default_rng(seed)
            idx = np.sort(rng.choice(n_pix, size=int(max_fit_pixels), replace=False))
            fit_data = flat[idx]
        else:
            fit_data = flat
        pca = PCA(n_components=n_components, whiten=whiten, random_state=seed)
        pca.fit(fit_data)
        out = np.empty((n_components, n_pix), dtype=np.float32)
        for s in range(0, n_pix, chunk_pixels):
            out[:, s:s + chunk_pixels] = pca.transform(flat[s:s + chunk_pixels]).T
        info.update(pca=True, fit_pixels=int(fit_data.shape[0]),
                    explained_variance_ratio=pca.explained_variance_ratio_.astype(float).tolist(),
                    explained_variance_total=float(pca.explained_variance_ratio_.sum()))
        del fit_data
    else:
        out = np.ascontiguousarray(flat.T, dtype=np.float32)
        info.update(pca=False, reason=f"n_components ({n_components}) >= bands ({b}): PCA "
                                      "skipped, z-score only (as MIFOMO)")
    # Per-component z-score with population std (ddof=0), float64 statistics; one component at
    # a time so the float64 temporaries stay small on big scenes.
    for k in range(out.shape[0]):
        row = out[k]
        mean = row.mean(dtype=np.float64)
        std = row.std(dtype=np.float64)
        row -= np.float32(mean)
        row /= np.float32(std + ZSCORE_EPS)
    info["channels"] = int(out.shape[0])
    return out.reshape(out.shape[0], h, w), info


def preprocess_scene(scene: Scene, n_components: int = 50, whiten: bool = True, seed: int = 0,
                     *, max_fit_pixels: Optional[int] = 1_000_000) -> np.ndarray:
    """MIFOMO preprocessing of a scene's cube: (C, H, W) float32 (see :func:`preprocess_cube`)."""
    image, _ = preprocess_cube(scene.cube, n_components, whiten=whiten, seed=seed,
                               max_fit_pixels=max_fit_pixels)
    return image


def reflect_pad(image: np.ndarray, radius: int) -> np.ndarray:
    """Pad a (C, H, W) image by ``radius`` on both spatial axes with reflect (edge not repeated)
    semantics — identical to ``torch.nn.functional.pad(..., mode="reflect")``. Images smaller than
    the radius are reflected repeatedly (PyTorch would refuse)."""
    return np.pad(image, ((0, 0), (radius, radius), (radius, radius)), mode="reflect")


class PreparedScene:
    """A preprocessed image plus labels, serving w×w patches on demand.

    Build it with :meth:`from_scene` (runs :func:`preprocess_cube`) or directly from a (C, H, W)
    image. Coordinates are always (row, column) in the *original* image; patch ``[:, :, r, r]``
    is the centre pixel.

    The padded image is stored channel-last as one torch tensor, so gathering N patches is a
    single indexed read of N·w·w rows of C values.
    """

    def __init__(self, image: np.ndarray, labels: Optional[np.ndarray] = None, *,
                 patch_size: int = 9, class_names: Optional[Sequence[str]] = None,
                 train_mask: Optional[np.ndarray] = None, test_mask: Optional[np.ndarray] = None,
                 name: str = "scene", meta: Optional[Dict[str, Any]] = None) -> None:
        patch_size = int(patch_size)
        if patch_size < 1 or patch_size % 2 == 0:
            raise ConfigError(f"patch_size must be a positive odd number (9 in MIFOMO), "
                              f"not {patch_size}")
        image = np.asarray(image, dtype=np.float32)
        if image.ndim != 3:
            raise DataError(f"expected a (C, H, W) image, got shape {image.shape}")
        self.name = name
        self.patch_size = patch_size
        self.radius = patch_size // 2
        self.n_channels, self.height, self.width = (int(s) for s in image.shape)
        r = self.radius
        # One channel-last copy of the padded image is all that is kept (the unpadded image is a
        # view into it), so a PCA-50 Chikusei costs ≈ 1.2 GB, not twice that.
        self._padded = np.pad(image.transpose(1, 2, 0), ((r, r), (r, r), (0, 0)), mode="reflect")
        hp, wp = self._padded.shape[:2]
        self._wp = wp
        # flat view: row index = padded_row * Wp + padded_col (shares memory with _padded)
        self._flat = torch.from_numpy(self._padded.reshape(hp * wp, self.n_channels))
        offs = np.arange(patch_size)
        self._offsets = torch.from_numpy((offs[:, None] * wp + offs[None, :]).reshape(-1))
        for mname, m in (("labels", labels), ("train_mask", train_mask), ("test_mask", test_mask)):
            if m is not None:
                m = np.asarray(m, dtype=np.int64)
                if m.shape != (self.height, self.width):
                    raise DataError(f"{mname} map is {m.shape} but the image is "
                                    f"{self.height}×{self.width}")
            setattr(self, mname, m)
        self.class_names = list(class_names) if class_names is not None else None
        self.meta = dict(meta or {})

    # ---------------------------------------------------------------------------- construction
    @classmethod
    def from_scene(cls, scene: Scene, n_components: int = 50, patch_size: int = 9, *,
                   whiten: bool = True, seed: int = 0,
                   max_fit_pixels: Optional[int] = 1_000_000) -> "PreparedScene":
        """Preprocess ``scene`` as MIFOMO does (PCA-``n_components``, whitening, z-score)."""
        image, info = preprocess_cube(scene.cube, n_components, whiten=whiten, seed=seed,
                                      max_fit_pixels=max_fit_pixels)
        meta = {"scene": scene.name, "preprocessing": info, "patch_size": int(patch_size),
                "padding": "reflect", "source_meta": dict(scene.meta)}
        return cls(image, scene.labels, patch_size=patch_size, class_names=scene.class_names,
                   train_mask=scene.train_mask, test_mask=scene.test_mask, name=scene.name,
                   meta=meta)

    # ------------------------------------------------------------------------------ properties
    @property
    def image(self) -> np.ndarray:
        """The preprocessed (C, H, W) image, unpadded (a read-only view, not a copy)."""
        r = self.radius
        view = self._padded[r:r + self.height, r:r + self.width].transpose(2, 0, 1)
        view = view.view()
        view.flags.writeable = False
        return view

    @property
    def padded(self) -> np.ndarray:
        """The reflect-padded (C, H + 2r, W + 2r) image (a read-only view)."""
        view = self._padded.transpose(2, 0, 1).view()
        view.flags.writeable = False
        return view

    @property
    def shape(self) -> Tuple[int, int, int]:
        """``(channels, height, width)`` of the (unpadded) image."""
        return (self.n_channels, self.height, self.width)

    @property
    def n_classes(self) -> int:
        if self.class_names is not None:
            return len(self.class_names)
        return int(self.labels.max()) if self.labels is not None else 0

    def labelled_pixels(self, which: str = "labels") -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows, cols, labels0)`` of the labelled pixels of ``labels``/``train``/``test``."""
        m = {"labels": self.labels, "train": self.train_mask, "test": self.test_mask}[which]
        if m is None:
            raise DataError(f"prepared scene {self.name!r} has no {which} map")
        rows, cols = np.nonzero(m)
        return rows.astype(np.int64), cols.astype(np.int64), m[rows, cols] - 1

    # --------------------------------------------------------------------------------- patches
    def _flat_index(self, rows: Any, cols: Any) -> torch.Tensor:
        r = torch.as_tensor(np.asarray(rows), dtype=torch.long).reshape(-1)
        c = torch.as_tensor(np.asarray(cols), dtype=torch.long).reshape(-1)
        if r.shape != c.shape:
            raise DataError(f"rows and cols differ in length ({r.numel()} vs {c.numel()})")
        if r.numel():
            bad = (r < 0) | (r >= self.height) | (c < 0) | (c >= self.width)
            if bool(bad.any()):
                i = int(torch.nonzero(bad)[0])
                raise DataError(f"pixel ({int(r[i])}, {int(c[i])}) is outside the "
                                f"{self.height}×{self.width} image")
        # top-left corner of the patch in padded coordinates is (row, col)
        return (r * self._wp + c)[:, None] + self._offsets[None, :]

    def patches(self, rows: Any, cols: Any, *, device: Any = None,
                dtype: Optional[torch.dtype] = None) -> torch.Tensor:
        """(N, C, w, w) float32 patches centred on pixels ``(rows[i], cols[i])``."""
        idx = self._flat_index(rows, cols)
        n = idx.shape[0]
        out = self._flat.index_select(0, idx.reshape(-1))
        out = out.view(n, self.patch_size, self.patch_size, self.n_channels)
        out = out.permute(0, 3, 1, 2).contiguous()
        if dtype is not None:
            out = out.to(dtype)
        if device is not None:
            out = out.to(device)
        return out

    def pixels(self, rows: Any, cols: Any) -> torch.Tensor:
        """(N, C) centre-pixel vectors (the preprocessed spectra), e.g. for pixel baselines."""
        r = torch.as_tensor(np.asarray(rows), dtype=torch.long).reshape(-1) + self.radius
        c = torch.as_tensor(np.asarray(cols), dtype=torch.long).reshape(-1) + self.radius
        return self._flat.index_select(0, r * self._wp + c).clone()

    def iter_batches(self, rows: Any, cols: Any, batch_size: int = 1024, *, device: Any = None
                     ) -> Iterator[Tuple[slice, torch.Tensor]]:
        """Yield ``(slice, patches)`` for consecutive chunks of the given pixels; only one batch
        of patches exists at a time."""
        rows = np.asarray(rows).reshape(-1)
        cols = np.asarray(cols).reshape(-1)
        if batch_size < 1:
            raise ConfigError(f"batch_size must be ≥ 1, not {batch_size}")
        for s in range(0, rows.size, batch_size):
            sl = slice(s, min(s + batch_size, rows.size))
            yield sl, self.patches(rows[sl], cols[sl], device=device)

    def iter_scene(self, batch_size: int = 1024, *, labelled_only: bool = False,
                   device: Any = None) -> Iterator[Tuple[np.ndarray, np.ndarray, torch.Tensor]]:
        """Yield ``(rows, cols, patches)`` over every pixel of the scene (row-major) — or only
        the labelled ones — in batches: whole-scene inference without materialising all
        patches."""
        if labelled_only:
            rows, cols, _ = self.labelled_pixels()
        else:
            rr, cc = np.meshgrid(np.arange(self.height), np.arange(self.width), indexing="ij")
            rows, cols = rr.reshape(-1), cc.reshape(-1)
        for sl, x in self.iter_batches(rows, cols, batch_size, device=device):
            yield rows[sl], cols[sl], x

    def __repr__(self) -> str:
        return (f"PreparedScene(name={self.name!r}, channels={self.n_channels}, "
                f"size={self.height}×{self.width}, patch_size={self.patch_size})")


def prepare_scene(scene: Scene, n_components: int = 50, patch_size: int = 9, *,
                  whiten: bool = True, seed: int = 0,
                  max_fit_pixels: Optional[int] = 1_000_000) -> PreparedScene:
    """Shortcut for :meth:`PreparedScene.from_scene`."""
    return PreparedScene.from_scene(scene, n_components, patch_size, whiten=whiten, seed=seed,
                                    max_fit_pixels=max_fit_pixels)
