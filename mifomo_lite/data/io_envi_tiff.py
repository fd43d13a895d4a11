"""Image-file readers: TIFF / GeoTIFF (``tifffile``; a cube as pages or samples per pixel) and
ENVI header/image pairs (``spectral``; ``.hdr`` + ``.img``/``.bsq``/``.bil``/``.bip``/raw), with the
wavelengths and class names an ENVI header carries."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataFileNotFound
from .io_common import ArrayRead, check_size, envi_header_for, real_array

ENVI_IMAGE_SUFFIXES = (".img", ".bsq", ".bil", ".bip", ".raw", ".dat", "")


# GeoTIFF georeferencing tags (pixel scale, tie points, transformation, GeoKey directory and its
# double / ASCII parameters, GDAL no-data): carried from an input cube to the maps written for it.
GEOTIFF_TAGS = (33550, 33922, 34264, 34735, 34736, 34737, 42113)


def read_tiff(path: Path, what: str, as_float32: bool) -> ArrayRead:
    """A TIFF/GeoTIFF: the first image series (pages become the first axis, so a multi-page cube
    arrives bands-first and is moved later by :func:`orient_cube`)."""
    import tifffile

    with tifffile.TiffFile(path) as tf:
        series = tf.series[0]
        check_size(series.shape, 4 if as_float32 else np.dtype(series.dtype).itemsize, path, what)
        arr, axes = series.asarray(), str(series.axes)
        geo = [(code, int(t.dtype), int(t.count), t.value) for code in GEOTIFF_TAGS
               if (t := tf.pages[0].tags.get(code)) is not None]
    if arr.ndim == 3 and axes[:1] in ("I", "Q", "Z", "C", "S") and axes[1:] == "YX":
        arr = np.moveaxis(arr, 0, -1)   # pages / planar samples are the bands
    return ArrayRead(np.ascontiguousarray(real_array(np.asarray(arr), path, what, as_float32)), path, None,
                     "TIFF (tifffile)", meta={"tiff_axes": axes, "geotiff_tags": geo})


def open_envi(path: Path):
    import spectral.io.envi as envi

    if path.suffix.lower() == ".hdr":
        hdr = path
        image = None
        for suffix in ENVI_IMAGE_SUFFIXES:
            cand = path.with_suffix(suffix) if suffix else path.with_suffix("")
            if cand.exists() and cand != path:
                image = cand
                break
        if image is None:
            raise DataFileNotFound(f"{path}: ENVI header found but no image file next to it "
                                   f"(tried {', '.join(s or '(no suffix)' for s in ENVI_IMAGE_SUFFIXES)})")
    else:
        hdr = envi_header_for(path)
        image = path
    try:
        return envi.open(str(hdr), str(image))
    except FileNotFoundError as exc:
        raise DataFileNotFound(f"{path}: ENVI file missing ({exc})") from None


def read_envi(path: Path, as_float32: bool) -> ArrayRead:
    img = open_envi(path)
    check_size(img.shape, 4 if as_float32 else np.dtype(img.dtype).itemsize, path, "image")
    arr = real_array(np.asarray(img.load()), path, "image", as_float32)
    meta = dict(img.metadata)
    wavelengths = None
    if "wavelength" in meta:
        try:
            wl = np.asarray([float(v) for v in meta["wavelength"]], dtype=np.float64)
            units = str(meta.get("wavelength units", "")).lower()
            if units.startswith("micro") or units in ("um", "µm") or (not units and wl.max() < 100):
                wl = wl * 1000.0
            wavelengths = wl
        except (TypeError, ValueError):
            wavelengths = None
    names = meta.get("class names")
    class_names = [str(n) for n in names] if names else None
    return ArrayRead(arr, path, None, "ENVI (spectral)", wavelengths=wavelengths,
                     class_names=class_names, meta={"envi_header": {k: meta[k] for k in
                                                                   ("samples", "lines", "bands",
                                                                    "interleave", "data type")
                                                                   if k in meta}})
