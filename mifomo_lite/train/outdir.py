"""Owned, atomic run folders.

A run never writes into its final folder directly. :func:`run_folder` checks the destination
before any work (not a file; empty or ``overwrite``), takes a lock beside it so a second run on the
same folder is refused, and hands out ``<out>.part/``. Only when the run has finished is the
``.part`` folder renamed onto ``<out>`` — so a crash, Ctrl-C or a full disk leaves no half-written
folder, and with ``overwrite`` no file of an older run survives next to the new one.

A *resumable* run (``resume=True``) keeps its partial state where a crash cannot remove it: its
``<out>.part/`` folder survives an error or an interrupt, and the next resumable run on the same
``out`` continues in it (the episodes it holds are checked and reused by
:mod:`~mifomo_lite.train.checkpoint`). A finished resumable folder may be resumed too: it is moved
back to ``<out>.part/``, the run completes it again and it is published as before. A non-empty
folder that no resumable run wrote is still refused.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
import shutil
from pathlib import Path
from typing import Iterator, Optional

from ..errors import MifomoError, OutputError

__all__ = ["run_folder", "check_out_dir", "safe_name", "default_dir", "resume_source", "EPISODES"]

#: The sub-folder of a resumable run folder that holds its finished test episodes.
EPISODES = "episodes"


def safe_name(text: str, limit: int = 60) -> str:
    """A folder-name fragment made from user text (a scene name or a path): the file stem, with
    every character other than letters, digits, ``.``, ``_`` and ``-`` replaced by ``_`` — never
    a path separator, never ``..``."""
    stem = Path(str(text)).stem if ("/" in str(text) or "\\" in str(text) or Path(str(text)).suffix) else str(text)
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_.")
    return (name or "scene")[:limit]


def default_dir(root: str, *parts: str) -> Path:
    """``root/<stamp>-<part>-<part>...`` with every part sanitised; always inside ``root``."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(root) / "-".join([stamp] + [safe_name(p) for p in parts])
    if Path(root).resolve() not in path.resolve().parents:  # pragma: no cover - safe_name forbids it
        raise OutputError(f"run folder {path} would lie outside {root}")
    return path


def _part(out: Path) -> Path:
    return out.with_name(out.name + ".part")


def resume_source(out: Path) -> Optional[Path]:
    """The folder whose state a resumable run on ``out`` continues: ``<out>.part`` left by an
    interrupted run, else a finished resumable ``out``; None when there is none."""
    out = Path(out)
    for folder in (_part(out), out):
        if (folder / EPISODES).is_dir():
            return folder
    return None


def check_out_dir(out: Path, overwrite: bool = False, resume: bool = False) -> Path:
    """Refuse, before any work, an ``out`` that is a file or a non-empty folder (unless
    ``overwrite``, or ``resume`` and the folder was written by a resumable run). Returns ``out``."""
    out = Path(out)
    if overwrite and resume:
        raise OutputError(f"--out {out}: --overwrite and --resume exclude each other (replace the folder, "
                          "or continue the run in it)")
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is an existing file, not a folder; choose a folder path")
    if resume and out.is_dir() and any(out.iterdir()) and not (out / EPISODES).is_dir():
        raise OutputError(f"--out {out} already holds files that no resumable run wrote (no {EPISODES}/ "
                          "folder); choose another folder, or pass --overwrite to replace it")
    if out.is_dir() and any(out.iterdir()) and not overwrite and not resume:
        raise OutputError(f"--out {out} already holds files (an earlier run?); choose another folder, "
                          "or pass --overwrite (overwrite=True) to replace it")
    if out.parent.exists() and not out.parent.is_dir():
        raise OutputError(f"--out {out}: its parent {out.parent} is a file")
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - alive, another user's
        return True
    return True


def _lock(out: Path) -> Path:
    lock = out.with_name(out.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and _pid_alive(pid):
                raise OutputError(f"--out {out} is being written by another run (process {pid}, lock "
                                  f"{lock}); wait for it or choose another folder") from None
            lock.unlink(missing_ok=True)  # a stale lock of a run that died
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        return lock
    raise OutputError(f"cannot lock {lock}")  # pragma: no cover - lost a race twice


@contextlib.contextmanager
def run_folder(out: Path, overwrite: bool = False, resume: bool = False) -> Iterator[Path]:
    """Yield ``<out>.part`` to write into; on success rename it onto ``out`` (replacing an earlier
    folder when ``overwrite`` or ``resume``), on any error or interrupt remove it — unless
    ``resume``: then it is kept for the next resumable run, which continues in it (module
    docstring). Holds ``<out>.lock`` meanwhile."""
    out = check_out_dir(Path(out), overwrite, resume)
    lock = _lock(out)
    part = _part(out)
    try:
        check_out_dir(out, overwrite, resume)  # again, under the lock
        if resume:
            if not part.exists() and (out / EPISODES).is_dir():
                os.replace(out, part)      # a finished resumable folder: complete it again
            part.mkdir(parents=True, exist_ok=True)
        else:
            if part.exists():
                shutil.rmtree(part)        # left by a run that died; we hold the lock
            part.mkdir(parents=True)
        yield part
        _publish(part, out)
    except OSError as exc:
        if isinstance(exc, MifomoError):
            raise
        kept = f"its unfinished folder {part} was kept for --resume" if resume else "its unfinished folder was removed"
        raise OutputError(f"{out}: the run stopped with {type(exc).__name__}: {exc}; {kept} and nothing was "
                          f"written to {out}") from exc
    finally:
        if part.exists() and not resume:
            shutil.rmtree(part, ignore_errors=True)
        lock.unlink(missing_ok=True)


def _publish(part: Path, out: Path) -> None:
    old: Optional[Path] = None
    if out.exists():
        old = out.with_name(f"{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(part, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
