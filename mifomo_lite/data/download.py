"""Safe downloads and checksum bookkeeping.

:func:`download_file` streams a URL into a temporary file *beside* the target, hashing it on the
way, and only renames it onto the target (an atomic operation) when every byte arrived and the
sha256 is right. An interrupted transfer, an HTTP error or a checksum mismatch therefore never
leaves a half-written file in the cache.

Most benchmark files have no published checksum (SPEC §3.6). For those, the sha256 of the first
download is written to a small JSON file next to the data file (``<file>.sha256.json``) and the
file is checked against that record every time it is loaded. The checksum status of a file is
one of:

* ``"verified"`` — matches a checksum published in the registry;
* ``"recorded"`` — matches the sha256 recorded at first download (or first use); no published
  checksum exists, so it is *recorded, unverified*;
* ``"unrecorded"`` — no published checksum and no record could be written (read-only folder).

A mismatch is never a status: it raises :class:`~mifomo_lite.errors.ChecksumError`.

Set ``MIFOMO_OFFLINE=1`` to forbid every download (useful on clusters and in CI); set
``MIFOMO_DATA_MIRROR=<url>`` to fetch files from a mirror (``<url>/<file name>``) instead of the
official hosts.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import http.client
import json
import os
import shutil
import socket
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from ..errors import ChecksumError, DataError, DownloadError
from ..utils import atomic_path, sha256_file

USER_AGENT = "mifomo_lite (hyperspectral teaching kit; python urllib)"
SIDECAR_SUFFIX = ".sha256.json"


def is_offline() -> bool:
    """True when the environment variable ``MIFOMO_OFFLINE`` is set to 1/true/yes."""
    return os.environ.get("MIFOMO_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def download_file(url: str, dest: Any, sha256: Optional[str] = None, *,
                  expected_size: Optional[int] = None, timeout: float = 60.0,
                  progress: bool = True, chunk_size: int = 1 << 16,
                  desc: Optional[str] = None) -> str:
    """Download ``url`` to ``dest`` safely and return the file's sha256 (hex).

    The body is streamed into a temporary ``.part`` file in ``dest``'s folder while being hashed;
    after the last byte the length is compared with ``Content-Length`` and the hash with
    ``sha256`` (when given); only then is the file renamed onto ``dest``.

    Raises:
        DownloadError: offline (``MIFOMO_OFFLINE=1`` or no connection), HTTP error, timeout or a
            transfer that ended early. Nothing is written to ``dest``.
        ChecksumError: the received bytes do not have the expected sha256. Nothing is written.
    """
    dest = Path(dest)
    if is_offline():
        raise DownloadError(
            f"refusing to download {url}: MIFOMO_OFFLINE is set. Unset it, or place the file at "
            f"{dest} yourself")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    transfer = _Transfer(url)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return _receive(response, dest, transfer, sha256=sha256, expected_size=expected_size,
                            chunk_size=chunk_size, label=desc or dest.name, progress=progress)
    except (DownloadError, ChecksumError):
        raise
    except (OSError, http.client.HTTPException) as exc:
        raise _transfer_failure(exc, transfer, dest, timeout) from None


class _Transfer:
    """What is known about a transfer in flight, for the error message if it fails."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.received = 0
        self.total: Optional[int] = None


def _receive(response: Any, dest: Path, transfer: _Transfer, *, sha256: Optional[str],
             expected_size: Optional[int], chunk_size: int, label: str, progress: bool) -> str:
    """Stream ``response`` into a temporary file beside ``dest`` while hashing it; check the
    length against ``Content-Length`` and the hash against ``sha256``, and only then let the
    temporary file replace ``dest``. Returns the sha256 (hex)."""
    url = transfer.url
    hasher = hashlib.sha256()
    length = response.headers.get("Content-Length")
    transfer.total = int(length) if length and length.isdigit() else expected_size
    with atomic_path(dest) as tmp, open(tmp, "wb") as out, \
            _progress(transfer.total, label, progress) as bar:
        while True:
            block = response.read(chunk_size)
            if not block:
                break
            out.write(block)
            hasher.update(block)
            transfer.received += len(block)
            bar.update(len(block))
        received = transfer.received
        if length and length.isdigit() and received != int(length):
            raise DownloadError(
                f"download of {url} was interrupted: received {received:,} of "
                f"{int(length):,} bytes; nothing was saved, try again")
        digest = hasher.hexdigest()
        if sha256 is not None and digest.lower() != sha256.lower():
            raise ChecksumError(
                f"checksum mismatch for {url}: expected sha256 {sha256.lower()}, got "
                f"{digest} ({received:,} bytes). The file was not saved. The server may "
                "have changed the file, or a proxy altered it.")
        out.flush()
        os.fsync(out.fileno())
    return digest


def _transfer_failure(exc: BaseException, transfer: _Transfer, dest: Path,
                      timeout: float) -> DownloadError:
    """The :class:`DownloadError` that explains a network or file error during a transfer."""
    url, received, total = transfer.url, transfer.received, transfer.total
    if isinstance(exc, urllib.error.HTTPError):
        return DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}")
    if isinstance(exc, http.client.IncompleteRead):
        got = received + len(exc.partial or b"")
        expected = f" of {total:,}" if total else ""
        return DownloadError(f"download of {url} was interrupted after {got:,}{expected} bytes; "
                             "nothing was saved, try again")
    if isinstance(exc, urllib.error.URLError):
        return DownloadError(
            f"cannot reach {url} ({exc.reason}). Are you offline? You can download the file "
            f"elsewhere and copy it to {dest}")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return DownloadError(f"download of {url} timed out after {timeout:g} s; nothing was saved")
    return DownloadError(f"download of {url} failed after {received:,} bytes "
                         f"({type(exc).__name__}: {exc}); nothing was saved")


class _NullBar:
    def update(self, n: int) -> None:
        pass

    def __enter__(self) -> "_NullBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def _progress(total: Optional[int], desc: str, enabled: bool):
    if not enabled:
        return _NullBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                leave=False)


# ---------------------------------------------------------------------------- checksum records
def sidecar_path(path: Path) -> Path:
    """``<file>.sha256.json`` — where the recorded checksum of ``path`` lives."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def read_record(path: Path) -> Optional[Dict[str, Any]]:
    side = sidecar_path(path)
    if not side.exists():
        return None
    try:
        record = json.loads(side.read_text())
        if isinstance(record, dict) and isinstance(record.get("sha256"), str):
            return record
    except (OSError, ValueError):
        pass
    return None


def write_record(path: Path, sha256: str, *, origin: str, url: Optional[str] = None) -> bool:
    """Record ``sha256`` for ``path``; returns False when the folder is not writable."""
    path = Path(path)
    record = {
        "file": path.name,
        "sha256": sha256,
        "size": path.stat().st_size,
        "origin": origin,
        "url": url,
        "recorded_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "note": "no published checksum exists for this file; this is the sha256 seen at first "
                "download/use, checked on every later load (recorded, unverified)",
    }
    try:
        with atomic_path(sidecar_path(path)) as tmp:
            tmp.write_text(json.dumps(record, indent=2) + "\n")
        return True
    except OSError:
        return False


def check_file(path: Path, known_sha256: Optional[str], *, url: Optional[str] = None,
               record: bool = True, origin: str = "found in the data folder") -> Tuple[str, str]:
    """Check ``path`` against its published or recorded checksum.

    Returns ``(status, sha256)`` with status ``"verified"``, ``"recorded"`` or ``"unrecorded"``
    (see the module docstring). Raises :class:`ChecksumError` on a mismatch.
    """
    digest = sha256_file(path)
    if known_sha256:
        if digest != known_sha256.lower():
            raise ChecksumError(
                f"checksum mismatch for {path}: expected sha256 {known_sha256.lower()} "
                f"(published), got {digest}. The file is corrupt or a different version; delete "
                "it and download it again.")
        return "verified", digest
    rec = read_record(path)
    if rec is not None:
        if rec["sha256"].lower() != digest:
            raise ChecksumError(
                f"checksum mismatch for {path}: its sha256 was recorded as {rec['sha256']} on "
                f"{rec.get('recorded_at', '?')} ({rec.get('origin', '?')}) but is now {digest}. "
                f"The file changed since then; delete it (and {sidecar_path(path).name}) and "
                "download it again.")
        return "recorded", digest
    if record and write_record(path, digest, origin=origin, url=url):
        return "recorded", digest
    return "unrecorded", digest


def describe_status(status: str) -> str:
    return {
        "verified": "verified (sha256 matches the published checksum)",
        "recorded": "recorded, unverified (no published checksum; sha256 recorded at first "
                    "download/use and checked since)",
        "unrecorded": "unverified (no published checksum and no record)",
        "tensorly": "verified (sha256 of the tensorly copy matches the known checksums)",
    }.get(status, status)


# --------------------------------------------------------------------------------- archives
def extract_member(archive: Path, filename: str, dest: Path) -> Path:
    """Extract the member of zip ``archive`` whose base name is ``filename`` to ``dest``
    (atomically)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.namelist() if Path(m).name == Path(filename).name]
            if not members:
                raise DataError(f"{archive}: no member named {Path(filename).name!r} in the "
                                f"archive (it has {len(zf.namelist())} entries)")
            with zf.open(members[0]) as src, atomic_path(dest) as tmp, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, length=1 << 20)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{archive}: not a valid zip archive ({exc}); delete it and download it "
                        "again") from None
    return dest
