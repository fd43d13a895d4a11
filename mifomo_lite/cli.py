"""The ``mifomo-lite`` command line.

Each area of the kit owns its sub-commands in its own module, which exposes
``register(subparsers)``; this file only lists those modules. A sub-command's handler receives the
parsed ``argparse.Namespace`` and returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from . import __version__
from .errors import MifomoError

# Modules that add sub-commands (each defines ``register(subparsers)``).
COMMAND_MODULES = [
    "mifomo_lite.data.cli",
    "mifomo_lite.models.cli",
    "mifomo_lite.train.cli",
    "mifomo_lite.peft.cli",
    "mifomo_tools.notebooks_cli",
    "mifomo_lite.bench_cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mifomo-lite",
        description="Cross-domain few-shot hyperspectral classification (MIFOMO) teaching kit.",
    )
    parser.add_argument("--version", action="version", version=f"mifomo_lite {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except MifomoError as exc:  # expected, user-facing problems: one clear line, no traceback
        print(f"mifomo-lite: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mifomo-lite: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
