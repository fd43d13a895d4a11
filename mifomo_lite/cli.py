"""The ``mifomo-lite`` command line.

Each area of the kit owns its sub-commands in its own module, which exposes
``register(subparsers)``; this file only lists those modules. A sub-command's handler receives the
parsed ``argparse.Namespace`` and returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import io
import sys
from typing import Optional, Sequence

from . import __version__
from .errors import MifomoError

# Modules that add sub-commands (each defines ``register(subparsers)``).
COMMAND_MODULES = [
    "mifomo_lite.data.cli",
    "mifomo_lite.models.cli",
    "mifomo_lite.models.pretrain_cli",
    "mifomo_lite.train.cli",
    "mifomo_lite.peft.cli",
    "mifomo_tools.notebooks_cli",
    "mifomo_tools.bench_cli",
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
    except BaseException as exc:  # noqa: BLE001 - the one place every failure becomes a message
        return report_failure(exc)


def report_failure(exc: BaseException) -> int:
    """Turn any failure of a sub-command into one line on stderr and an exit status:
    a :class:`MifomoError` → its message (which names the problem and the fix), status 2;
    Ctrl-C → 130; a closed pipe (``| head``) → silent, 141; ``SystemExit`` passes through; anything
    else → one line plus the path of a log holding the full traceback, status 1."""
    if isinstance(exc, SystemExit):
        raise exc
    if isinstance(exc, BrokenPipeError):
        _silence_stdout()
        return 141
    if isinstance(exc, KeyboardInterrupt):
        print("mifomo-lite: interrupted", file=sys.stderr)
        return 130
    if isinstance(exc, MifomoError):
        print(f"mifomo-lite: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    if isinstance(exc, MemoryError):
        print("mifomo-lite: error: out of memory (MemoryError); use a smaller scene or crop, fewer PCA "
              "components or a smaller eval_batch_size", file=sys.stderr)
        return 2
    log = write_traceback_log(exc)
    where = f"full traceback in {log}" if log else "the traceback could not be saved"
    print(f"mifomo-lite: internal error: {type(exc).__name__}: {one_line(str(exc))[:300]} ({where}; "
          "please report it)", file=sys.stderr)
    return 1


def one_line(text: str) -> str:
    """``text`` with its lines joined by spaces — a message for one stderr line."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def write_traceback_log(exc: BaseException) -> Optional[str]:
    """Write ``exc``'s traceback to ``<user cache>/logs/error-<time>-<pid>.log``; return its path."""
    import datetime as _dt
    import os
    import traceback

    from .utils import user_cache_dir

    try:
        folder = user_cache_dir("logs")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"error-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        path.write_text("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        return str(path)
    except OSError:
        return None


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so Python's exit-time flush stays quiet."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
