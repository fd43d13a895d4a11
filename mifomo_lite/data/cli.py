"""``mifomo-lite data ...`` sub-commands: ``list``, ``info NAME [--json]``, ``fetch NAME``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict

from .datafolder import data_root
from .download import describe_status
from .fetch import fetch_scene
from .loaders import available_locally, load_scene
from .registry import get_scene_info, list_scenes
from .scene import Scene


def register(subparsers: Any) -> None:
    data = subparsers.add_parser("data", help="list, describe and download hyperspectral scenes",
                                 description="Hyperspectral scenes: list, describe, download.")
    sub = data.add_subparsers(dest="data_command", metavar="ACTION")
    data.set_defaults(handler=lambda args: (data.print_help(), 2)[1])

    p = sub.add_parser("list", help="list the registered scenes and where they are available")
    p.add_argument("--root", help="data folder (default: $MIFOMO_DATA_DIR or the user cache)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("info", help="load a scene and describe it (shape, classes, checksums)")
    p.add_argument("name", help="scene name (see `data list`) or path of your own file")
    p.add_argument("--root", help="data folder (default: $MIFOMO_DATA_DIR or the user cache)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--download", action="store_true", help="download missing files first")
    byo_flags(p)
    p.set_defaults(handler=cmd_info)

    p = sub.add_parser("fetch", help="download a scene's files into the data folder")
    p.add_argument("name", help="scene name (see `data list`)")
    p.add_argument("--root", help="data folder (default: $MIFOMO_DATA_DIR or the user cache)")
    p.add_argument("--force", action="store_true", help="download again even if present")
    p.add_argument("--base-url", help="mirror to download from: <base-url>/<file name>")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_fetch)


def byo_flags(p: argparse.ArgumentParser, labels: bool = True) -> None:
    """The bring-your-own-scene flags shared by ``run``, ``demo`` and ``data info``."""
    g = p.add_argument_group("your own scene (given as a file path)")
    g.add_argument("--cube-key", default=None, metavar="NAME", help="variable holding the cube in a .mat/.npz")
    if labels:
        g.add_argument("--labels", default=None, metavar="PATH", help="label map file (any supported format)")
    g.add_argument("--labels-key", default=None, metavar="NAME", help="variable holding the label map")
    g.add_argument("--class-names", default=None, metavar="A,B,C|FILE",
                   help="class names: comma-separated, or a text file with one per line")
    g.add_argument("--labels-downsample", default=None, choices=("nearest", "majority"),
                   help="label map drawn at a whole multiple of the cube's resolution: bring it down")


def cmd_list(args: argparse.Namespace) -> int:
    rows = []
    for info in list_scenes():
        ok, where = available_locally(info.name, args.root)
        rows.append({
            "name": info.name, "title": info.title, "sensor": info.sensor,
            "shape": list(info.shape), "classes": info.n_classes, "role": info.role,
            "available": ok, "where": where,
            "download": "automatic" if info.downloadable else "manual",
        })
    if args.json:
        print(json.dumps({"data_root": str(data_root(args.root)), "scenes": rows}, indent=2))
        return 0
    print(f"data folder: {data_root(args.root)}")
    print(f"{'name':<18}{'sensor':<27}{'H×W×B':<17}{'cls':>4}  {'role':<7}{'download':<10}status")
    for r in rows:
        shape = "×".join(str(s) for s in r["shape"])
        print(f"{r['name']:<18}{r['sensor']:<27}{shape:<17}{r['classes']:>4}  {r['role']:<7}"
              f"{r['download']:<10}{r['where']}")
    return 0


def scene_report(scene: Scene) -> Dict[str, Any]:
    """JSON-ready description of a loaded scene (used by ``data info --json``)."""
    h, w, b = scene.shape
    wl = scene.wavelengths
    return {
        "name": scene.name,
        "title": scene.meta.get("title", scene.name),
        "sensor": scene.sensor,
        "shape": [h, w, b],
        "height": h, "width": w, "bands": b,
        "n_classes": scene.n_classes,
        "n_labelled": scene.n_labelled,
        "n_unlabelled": h * w - scene.n_labelled,
        "classes": scene.class_table(),
        "wavelength_range_nm": None if wl is None else [float(wl[0]), float(wl[-1])],
        "wavelengths_approximate": bool(scene.meta.get("wavelengths_approximate", False)),
        "value_range": [float(scene.cube.min()), float(scene.cube.max())],
        "source": scene.meta.get("source"),
        "files": scene.meta.get("files"),
        "keys": scene.meta.get("keys"),
        "sha256": scene.meta.get("sha256"),
        "checksum": scene.meta.get("checksum"),
        "checksum_status": scene.meta.get("checksum_status"),
        "citation": scene.meta.get("citation"),
    }


def cmd_info(args: argparse.Namespace) -> int:
    from .validate import parse_class_names

    own = dict(cube_key=args.cube_key, labels=args.labels, labels_key=args.labels_key,
               class_names=parse_class_names(args.class_names), labels_downsample=args.labels_downsample)
    scene = load_scene(args.name, root=args.root, download=args.download, progress=not args.json,
                       **{k: v for k, v in own.items() if v is not None})
    if args.json:
        print(json.dumps(scene_report(scene), indent=2))
        return 0
    print(scene.summary())
    for role, path in (scene.meta.get("files") or {}).items():
        status = (scene.meta.get("checksum") or {}).get(role)
        extra = f"  [{describe_status(status)}]" if status else ""
        print(f"  {role}: {path}{extra}")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    info = get_scene_info(args.name)
    paths = fetch_scene(info.name, args.root, force=args.force, base_url=args.base_url,
                        progress=not args.no_progress)
    scene = load_scene(info.name, root=args.root, progress=False)
    print(f"{info.name}: {len(paths)} file(s) in {data_root(args.root) / info.name}")
    for role, path in paths.items():
        status = (scene.meta.get("checksum") or {}).get(role, "?")
        print(f"  {role}: {path}  [{describe_status(status)}]")
    h, w, b = scene.shape
    print(f"  loaded OK: {h}×{w}×{b}, {scene.n_classes} classes, {scene.n_labelled:,} labelled")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from ..cli import main

    sys.exit(main(["data", *sys.argv[1:]]))
