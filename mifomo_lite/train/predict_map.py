"""Sparse-label mode: a class map of your whole scene from a few labelled points.

When you have no full ground truth — only a handful of pixels you know, say five per class — there
is nothing to test on, so nothing is scored. ``mifomo-lite run --target scene.tif --support
points.csv`` instead:

1. reads the cube (any supported format) and the points, a CSV with one ``row,col,class`` line per
   pixel (0-based row and column; ``class`` a number or a name; a header line is optional);
2. embeds every pixel with the pretrained foundation model (PCA and patches as configured),
   averages the points of each class into a prototype, and gives every pixel the class of the
   most similar prototype (the kit's prototypical head; no episodic training, because that needs a
   query set to adapt on);
3. writes, atomically, ``classification_map.npy`` (0 = none, 1..C), ``classification_map.tif``
   (the same map; class names in its description; a GeoTIFF with the input's georeferencing when
   the cube was one), ``classification_map.png`` (with a legend),
   ``classes.json`` and ``scene.json`` (files and sha256).
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from .. import data as D
from .. import fsl
from ..data.validate import validate_scene
from ..errors import DataError, DataFileNotFound
from ..utils import atomic_path, resolve_device, seed_everything
from . import report as R
from .config import RunConfig
from .outdir import check_out_dir, run_folder
from .pipeline import build_model, embed_pixels

__all__ = ["read_points", "points_scene", "predict_whole_map", "write_map_folder", "run_sparse"]


def read_points(path: Any, grid: Sequence[int]) -> tuple[np.ndarray, np.ndarray, list]:
    """``(rows, cols, classes)`` of a ``row,col,class`` CSV, checked against the ``(H, W)`` grid:
    whole numbers inside it, one class per pixel, at least two classes."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataFileNotFound(f"support points file not found: {path}")
    rows, cols, classes, seen = [], [], [], {}
    with open(path, newline="") as fh:
        for n, rec in enumerate(csv.reader(fh), start=1):
            rec = [c.strip() for c in rec]
            if not rec or not any(rec) or rec[0].startswith("#"):
                continue
            if n == 1 and rec[0].lower() in ("row", "r", "y"):
                continue  # header
            if len(rec) != 3:
                raise DataError(f"{path}, line {n}: expected 3 values row,col,class, got {len(rec)}: {rec}")
            r, c = (_whole(v, path, n, what) for v, what in ((rec[0], "row"), (rec[1], "col")))
            if not (0 <= r < grid[0] and 0 <= c < grid[1]):
                raise DataError(f"{path}, line {n}: pixel (row {r}, col {c}) is outside the {grid[0]}×{grid[1]} "
                                "cube (rows and columns count from 0)")
            if seen.get((r, c), rec[2]) != rec[2]:
                raise DataError(f"{path}, line {n}: pixel (row {r}, col {c}) is given two classes, "
                                f"{seen[(r, c)]!r} and {rec[2]!r}")
            seen[(r, c)] = rec[2]
            rows.append(r), cols.append(c), classes.append(rec[2])
    if len(set(classes)) < 2:
        raise DataError(f"{path}: the points name {len(set(classes))} class(es); a class map needs at least two")
    return np.asarray(rows, np.int64), np.asarray(cols, np.int64), classes


def _whole(text: str, path: Path, line: int, what: str) -> int:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value) or not value.is_integer():
        raise DataError(f"{path}, line {line}: {what} must be a whole number, got {text!r}")
    return int(value)


def points_scene(cube: np.ndarray, rows, cols, classes: list, name: str,
                 class_names: Optional[Sequence[str]] = None, meta: Optional[dict] = None) -> D.Scene:
    """A :class:`~mifomo_lite.data.Scene` whose only labelled pixels are the points. Numeric
    classes keep their ids; named classes are numbered in order of first appearance."""
    numeric = all(c.lstrip("-").isdigit() for c in classes)
    if numeric:
        ids = [int(c) for c in classes]
        names = class_names
    else:
        order = list(dict.fromkeys(classes))
        ids = [order.index(c) + 1 for c in classes]
        names = class_names or order
    labels = np.zeros(cube.shape[:2], np.int64)
    labels[rows, cols] = ids
    return D.Scene.from_arrays(cube, labels, name=name, class_names=names, meta=meta)


def predict_whole_map(cfg: RunConfig, scene: D.Scene, log: Callable = print) -> tuple[np.ndarray, float]:
    """Class ids 1..C for every pixel: prototypes of the points' embeddings, nearest by the
    prototypical head, with the pretrained model frozen."""
    t0 = time.perf_counter()
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device, allow_fallback=cfg.allow_cpu_fallback)
    model = build_model(cfg, device)
    prepared = D.prepare_scene(scene, n_components=cfg.pca_components, patch_size=cfg.patch_size, seed=cfg.seed)
    rows, cols, labels0 = scene.labelled_pixels()
    support = embed_pixels(model, prepared, rows, cols, batch_size=cfg.eval_batch_size, device=device)
    protos = fsl.prototypes(support, torch.as_tensor(labels0), scene.n_classes).to(device)
    H, W = scene.height, scene.width
    pred = np.zeros((H, W), np.int64)
    all_r, all_c = np.divmod(np.arange(H * W), W)
    step = max(cfg.eval_batch_size * 16, 1)
    for s in range(0, H * W, step):
        r, c = all_r[s:s + step], all_c[s:s + step]
        emb = embed_pixels(model, prepared, r, c, batch_size=cfg.eval_batch_size, device=device)
        with torch.inference_mode():
            pred[r, c] = model.classifier.predict(emb.to(device), protos).cpu().numpy() + 1
    log(f"class map of {H}×{W} pixels from {len(rows)} points in {time.perf_counter() - t0:.1f} s")
    return pred, time.perf_counter() - t0


def write_map_folder(folder: Path, pred: np.ndarray, scene: D.Scene, seconds: float, record: dict) -> None:
    """The map as ``.npy``, ``.tif`` and ``.png`` plus ``classes.json``, ``scene.json``, ``report.md``."""
    import tifffile

    classes = {int(i + 1): n for i, n in enumerate(scene.class_names)}
    with atomic_path(folder / "classification_map.npy") as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, pred.astype(np.uint16 if scene.n_classes < 65535 else np.int64))
    with atomic_path(folder / "classification_map.tif") as tmp:
        tifffile.imwrite(tmp, pred.astype(np.uint16), description=json.dumps({"classes": classes}),
                         metadata=None, extratags=[(*tag, True) for tag in scene.meta.get("geotiff_tags", [])])
    R.save_figure(plot_map_with_points(pred, scene), folder / "classification_map.png")
    R.write_json(folder / "classes.json", {"classes": classes, "points_per_class": {
        n: int(c) for n, c in zip(scene.class_names, scene.class_counts())}})
    R.write_json(folder / "scene.json", record)
    counts = np.bincount(pred.ravel(), minlength=scene.n_classes + 1)[1:]
    lines = [f"# Class map of {scene.name} from labelled points", "",
             f"{scene.height}×{scene.width} pixels, {scene.n_classes} classes, {scene.n_labelled} points, "
             f"{seconds:.1f} s. Nothing is scored: there is no ground truth to score against.", "",
             "| id | class | points | pixels predicted |", "|---|---|---|---|"]
    lines += [f"| {i + 1} | {n} | {int(p)} | {int(c)} |"
              for i, (n, p, c) in enumerate(zip(scene.class_names, scene.class_counts(), counts))]
    with atomic_path(folder / "report.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def plot_map_with_points(pred: np.ndarray, scene: D.Scene):
    """The predicted map with the labelled points marked (white-edged dots) and a named legend."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    n = scene.n_classes
    cmap = np.asarray(R.class_colours(n))
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.imshow(cmap[np.clip(pred, 0, n)], interpolation="nearest")
    rows, cols, labels0 = scene.labelled_pixels()
    ax.scatter(cols, rows, c=cmap[labels0 + 1], s=18, edgecolors="white", linewidths=0.8)
    ax.set_title(f"{scene.name}: predicted classes ({len(rows)} labelled points marked)")
    ax.axis("off")
    fig.legend(handles=[Patch(color=cmap[i + 1], label=f"{i + 1} {scene.class_names[i]}") for i in range(n)],
               loc="center right", fontsize=7, frameon=False)
    fig.subplots_adjust(right=0.75)
    return fig


def run_sparse(cfg: RunConfig, target: Any, support: Any, out: Optional[Path] = None, *,
               overwrite: bool = False, cube_key: Optional[str] = None,
               class_names: Optional[Sequence[str]] = None, log: Callable = print) -> tuple[np.ndarray, Path]:
    """Sparse-label mode end to end (see the module docstring); returns the map and its folder."""
    from .runner import default_run_dir, scene_record

    cfg = cfg.validate()
    out = Path(out) if out else default_run_dir(cfg, target=str(target))
    check_out_dir(out, overwrite)
    read = D.read_array(target, (cube_key,) if cube_key else (), strict=cube_key is not None, ndim=3,
                        what="image cube", as_float32=True)
    rows, cols, classes = read_points(support, read.array.shape[:2])
    meta = {"source": f"file {read.path}", "files": {"cube": str(read.path), "support": str(Path(support))},
            "geotiff_tags": read.meta.get("geotiff_tags", [])}     # a GeoTIFF in gives a GeoTIFF out
    scene = points_scene(read.array, rows, cols, classes, Path(str(target)).stem, class_names, meta)
    validate_scene(scene, 0, cfg.pca_components)    # values and bands; no class size applies here
    with run_folder(out, overwrite) as part:
        pred, secs = predict_whole_map(cfg, scene, log)
        write_map_folder(part, pred, scene, secs, scene_record(scene))
        R.write_json(part / "config.json", cfg.to_dict())
    return pred, out
