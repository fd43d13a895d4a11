"""Downloads against a local HTTP server on 127.0.0.1 (never the real network): success,
checksum mismatch, interrupted transfer, offline mode, HTTP errors, recorded checksums, zip
archives. Nothing partial may be left in the cache."""

from __future__ import annotations

import dataclasses
import io
import json
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import scipy.io

from mifomo_lite.data import SCENES, download_file, fetch_scene, load_scene
from mifomo_lite.data import registry as registry_mod
from mifomo_lite.data.download import sidecar_path
from mifomo_lite.data.registry import ArchiveSpec, FileSpec
from mifomo_lite.errors import ChecksumError, DownloadError
from mifomo_lite.utils import sha256_file


class _Server:
    """Serves ``files`` (name → bytes) under three prefixes: ``/ok/`` (normal), ``/cut/``
    (announces the full Content-Length, sends half, closes) and ``/404``-style misses."""

    def __init__(self) -> None:
        self.files: dict = {}
        self.requests: list = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                server.requests.append(self.path)
                mode, _, name = self.path.lstrip("/").partition("/")
                data = server.files.get(name)
                if data is None or mode not in ("ok", "cut"):
                    self.send_error(404, "no such file")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if mode == "ok":
                    self.wfile.write(data)
                else:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def url(self, mode: str = "ok") -> str:
        return f"http://127.0.0.1:{self.port}/{mode}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(isolated_cache, monkeypatch):
    monkeypatch.delenv("MIFOMO_OFFLINE", raising=False)          # allow (loopback) downloads
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    srv = _Server()
    yield srv
    srv.close()


@pytest.fixture
def salinas_a_files(shared_dir):
    return {p.name: p.read_bytes() for p in (shared_dir / "data" / "salinas_a").glob("*.mat")}


def _leftovers(folder):
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


# ----------------------------------------------------------------------------- download_file
def test_download_file_streams_and_verifies(server, salinas_a_files, tmp_path):
    server.files.update(salinas_a_files)
    dest = tmp_path / "dl" / "SalinasA_corrected.mat"
    sha = SCENES["salinas_a"].file("cube").sha256
    digest = download_file(f"{server.url()}/SalinasA_corrected.mat", dest, sha, progress=True)
    assert digest == sha == sha256_file(dest)
    assert _leftovers(dest.parent) == ["SalinasA_corrected.mat"]          # no .part file


def test_checksum_mismatch_leaves_nothing(server, salinas_a_files, tmp_path):
    server.files.update(salinas_a_files)
    dest = tmp_path / "dl" / "SalinasA_gt.mat"
    wrong = SCENES["salinas_a"].file("cube").sha256
    with pytest.raises(ChecksumError, match=r"checksum mismatch.*expected sha256 d75684ed"):
        download_file(f"{server.url()}/SalinasA_gt.mat", dest, wrong, progress=False)
    assert not dest.exists() and _leftovers(dest.parent) == []


def test_interrupted_transfer_leaves_nothing(server, salinas_a_files, tmp_path):
    server.files.update(salinas_a_files)
    dest = tmp_path / "dl" / "SalinasA_corrected.mat"
    with pytest.raises(DownloadError, match="interrupted"):
        download_file(f"{server.url('cut')}/SalinasA_corrected.mat", dest, progress=False)
    assert not dest.exists() and _leftovers(dest.parent) == []


def test_http_error_and_unreachable_host(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_file(f"{server.url()}/missing.mat", tmp_path / "m.mat", progress=False)
    with socket.socket() as s:                      # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="cannot reach .* Are you offline"):
        download_file(f"http://127.0.0.1:{port}/x.mat", tmp_path / "x.mat", progress=False,
                      timeout=5)
    assert _leftovers(tmp_path) == []


def test_offline_mode_refuses_without_connecting(server, salinas_a_files, tmp_path, monkeypatch):
    server.files.update(salinas_a_files)
    monkeypatch.setenv("MIFOMO_OFFLINE", "1")
    with pytest.raises(DownloadError, match="MIFOMO_OFFLINE"):
        download_file(f"{server.url()}/SalinasA_gt.mat", tmp_path / "gt.mat")
    with pytest.raises(DownloadError, match="MIFOMO_OFFLINE"):
        load_scene("salinas_a", download=True, progress=False)
    assert server.requests == []


# -------------------------------------------------------------------------------- fetch_scene
def test_fetch_salinas_a_from_mirror_then_load(server, salinas_a_files, isolated_cache):
    server.files.update(salinas_a_files)
    paths = fetch_scene("salinas_a", base_url=server.url(), progress=False)
    folder = isolated_cache / "data" / "salinas_a"
    assert set(paths) == {"cube", "labels"} and paths["cube"].parent == folder
    scene = load_scene("salinas_a")
    assert scene.shape == (83, 86, 204) and scene.n_classes == 6 and scene.n_labelled == 5348
    assert scene.meta["checksum"] == {"cube": "verified", "labels": "verified"}
    # present files are checked, not downloaded again
    n = len(server.requests)
    fetch_scene("salinas_a", base_url=server.url(), progress=False)
    assert len(server.requests) == n


def test_load_scene_download_true_uses_env_mirror(server, salinas_a_files, monkeypatch):
    server.files.update(salinas_a_files)
    monkeypatch.setenv("MIFOMO_DATA_MIRROR", server.url())
    scene = load_scene("salinas_a", download=True, progress=False)
    assert scene.n_labelled == 5348 and scene.meta["source"].startswith("downloaded")


def test_fetch_bad_mirror_content_is_refused(server, salinas_a_files, isolated_cache):
    # the mirror serves the label file under the cube's name
    server.files["SalinasA_corrected.mat"] = salinas_a_files["SalinasA_gt.mat"]
    server.files["SalinasA_gt.mat"] = salinas_a_files["SalinasA_gt.mat"]
    with pytest.raises(ChecksumError):
        fetch_scene("salinas_a", base_url=server.url(), progress=False)
    assert not (isolated_cache / "data" / "salinas_a" / "SalinasA_corrected.mat").exists()
    assert all(not n.endswith(".part") for n in _leftovers(isolated_cache))


def test_fetch_interrupted_leaves_cache_clean(server, salinas_a_files, isolated_cache):
    server.files.update(salinas_a_files)
    with pytest.raises(DownloadError, match="interrupted"):
        fetch_scene("salinas_a", base_url=server.url("cut"), progress=False)
    assert _leftovers(isolated_cache / "data" / "salinas_a") == []


def test_manual_only_scene(server):
    with pytest.raises(DownloadError, match="cannot be downloaded automatically.*Baidu"):
        fetch_scene("houston2013", progress=False)


def _tiny_scene_files():
    rng = np.random.default_rng(0)
    cube = rng.random((5, 6, 3))
    gt = np.zeros((5, 6), np.uint8)
    gt[:2] = 1
    gt[3:] = 2
    out = {}
    for name, key, arr in (("tiny.mat", "tiny", cube), ("tiny_gt.mat", "tiny_gt", gt)):
        buf = io.BytesIO()
        scipy.io.savemat(buf, {key: arr})
        out[name] = buf.getvalue()
    return out


def _register_tiny(monkeypatch, files):
    info = dataclasses.replace(
        SCENES["salinas_a"], name="tiny", title="tiny test scene", height=5, width=6, n_bands=3,
        sensor_bands=None, removed_bands=(), n_classes=2, class_names=("one", "two"),
        class_counts=None, n_labelled=None, aliases=(), files=files)
    monkeypatch.setitem(registry_mod.SCENES, "tiny", info)
    return info


def test_unknown_checksum_is_recorded_at_first_download(server, monkeypatch, isolated_cache):
    server.files.update(_tiny_scene_files())
    _register_tiny(monkeypatch, (
        FileSpec("cube", "tiny.mat", ("tiny",), url=f"{server.url()}/tiny.mat"),
        FileSpec("labels", "tiny_gt.mat", ("tiny_gt",), url=f"{server.url()}/tiny_gt.mat")))
    scene = load_scene("tiny", download=True, progress=False)
    assert scene.meta["checksum"] == {"cube": "recorded", "labels": "recorded"}
    assert "recorded, unverified" in scene.meta["checksum_status"]
    cube_path = isolated_cache / "data" / "tiny" / "tiny.mat"
    record = json.loads(sidecar_path(cube_path).read_text())
    assert record["sha256"] == sha256_file(cube_path) and record["origin"] == "downloaded"
    assert record["url"].endswith("/ok/tiny.mat")
    cube_path.write_bytes(cube_path.read_bytes()[:-8] + b"tampered")
    with pytest.raises(ChecksumError, match="changed since then"):
        load_scene("tiny")


def test_archive_download_and_extraction(server, monkeypatch, isolated_cache):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in _tiny_scene_files().items():
            zf.writestr(f"Tiny_MATLAB/{name}", data)
    server.files["tiny.zip"] = buf.getvalue()
    arch = ArchiveSpec("tiny.zip", f"{server.url()}/tiny.zip")
    _register_tiny(monkeypatch, (FileSpec("cube", "tiny.mat", ("tiny",), archive=arch),
                                 FileSpec("labels", "tiny_gt.mat", ("tiny_gt",), archive=arch)))
    paths = fetch_scene("tiny", progress=False)
    folder = isolated_cache / "data" / "tiny"
    assert paths == {"cube": folder / "tiny.mat", "labels": folder / "tiny_gt.mat"}
    assert not (folder / "tiny.zip").exists()                # archive removed after extraction
    assert server.requests.count("/ok/tiny.zip") == 1
    scene = load_scene("tiny")
    assert scene.n_labelled == 24 and scene.class_names == ["one", "two"]
