"""``mifomo-lite data list / info / fetch``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from mifomo_lite.cli import main


def _script():
    exe = Path(sys.executable).parent / "mifomo-lite"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "mifomo_lite.cli"]


def test_info_indian_pines_json_offline_console_script(isolated_cache):
    """The done-criterion command, run as a real process with downloads forbidden."""
    env = dict(os.environ)
    out = subprocess.run([*_script(), "data", "info", "indian_pines", "--json"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["shape"] == [145, 145, 200]
    assert report["n_classes"] == 16 and report["n_labelled"] == 10249
    assert len(report["classes"]) == 16 and report["classes"][8]["name"] == "Oats"
    assert report["classes"][8]["pixels"] == 20
    assert report["checksum"] == {"cube": "verified", "labels": "verified"}
    assert "tensorly" in report["source"]


def test_list(isolated_cache, capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("indian_pines", "pavia_university", "salinas", "salinas_a", "houston2013",
                 "chikusei"):
        assert name in out
    assert "tensorly" in out and "manual" in out
    assert main(["data", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["scenes"]
    assert {r["name"]: r["available"] for r in rows}["indian_pines"] is True


def test_info_salinas_a_text_and_json(isolated_cache, shared_dir, tmp_path, capsys):
    root = tmp_path / "root"
    (root / "salinas_a").mkdir(parents=True)
    for f in (shared_dir / "data" / "salinas_a").glob("*.mat"):
        shutil.copy(f, root / "salinas_a" / f.name)
    assert main(["data", "info", "salinas_a", "--root", str(root)]) == 0
    text = capsys.readouterr().out
    assert "83 × 86 pixels × 204 bands" in text and "5,348" in text
    assert "Lettuce_romaine_7wk" in text and "verified" in text
    assert main(["data", "info", "salinas_a", "--root", str(root), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["shape"] == [83, 86, 204] and report["n_classes"] == 6
    assert report["n_labelled"] == 5348
    assert [c["original_id"] for c in report["classes"]] == [1, 10, 11, 12, 13, 14]
    assert report["checksum"] == {"cube": "verified", "labels": "verified"}


def test_errors_are_one_line_with_exit_code_2(isolated_cache, capsys):
    assert main(["data", "info", "indian_pine"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'indian_pines'" in err and "Traceback" not in err
    assert main(["data", "info", "salinas_a"]) == 2
    assert "data fetch salinas_a" in capsys.readouterr().err
    assert main(["data", "fetch", "salinas_a"]) == 2            # offline in tests
    assert "MIFOMO_OFFLINE" in capsys.readouterr().err
    assert main(["data"]) == 2


def test_fetch_from_local_mirror(isolated_cache, shared_dir, monkeypatch, capsys):
    """`data fetch --base-url` against a loopback server."""
    from test_data_download import _Server

    monkeypatch.delenv("MIFOMO_OFFLINE", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for var in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(var, raising=False)
    srv = _Server()
    try:
        srv.files.update({p.name: p.read_bytes()
                          for p in (shared_dir / "data" / "salinas_a").glob("*.mat")})
        assert main(["data", "fetch", "salinas_a", "--base-url", srv.url(), "--no-progress"]) == 0
    finally:
        srv.close()
    out = capsys.readouterr().out
    assert "83×86×204, 6 classes, 5,348 labelled" in out and "verified" in out
