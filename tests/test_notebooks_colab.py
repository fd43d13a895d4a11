"""Colab readiness without Colab: one install source (pyproject's [project.urls] Repository, or
$MIFOMO_INSTALL_SOURCE), no other file naming the repository, GPU accelerator metadata."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from mifomo_tools.nbrun import discover, read_py
from mifomo_tools.nbrun.install import (INSTALL_ENV, colab_base, default_install_source, install_problems,
                                        repository_slug, repository_url, stamp_text)
from mifomo_tools.nbrun.structure import NotebookError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = discover(ROOT / "notebooks")


def _tracked_text_files():
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    for rel in out.stdout.splitlines():
        path = ROOT / rel
        if path.suffix in {".py", ".ipynb", ".md", ".toml", ".yml", ".yaml", ".cfg", ".txt", ".json", ""}:
            try:
                yield rel, path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue


def test_repository_comes_from_pyproject():
    url = repository_url(ROOT)
    assert url.startswith("https://github.com/") and url.count("/") == 4
    assert default_install_source(ROOT) == f"git+{url}"
    assert colab_base(ROOT).endswith(f"/github/{repository_slug(ROOT)}/blob/main/")


@pytest.mark.parametrize("py", NOTEBOOKS, ids=lambda p: p.stem)
def test_install_cell_reads_the_variable_and_defaults_to_pyproject(py):
    nb = read_py(py)
    assert install_problems(nb, ROOT) == []
    twin = json.loads(py.with_suffix(".ipynb").read_text(encoding="utf-8"))
    cell = "".join(next(c["source"] for c in twin["cells"] if "%pip install" in "".join(c["source"])))
    assert f'os.environ.get("{INSTALL_ENV}", "{default_install_source(ROOT)}")' in cell
    assert f"%pip install --quiet --no-deps {{{INSTALL_ENV}}}" in cell  # magic, not a comment, in the twin


@pytest.mark.parametrize("folder", ["notebooks", "notebooks/student"])
def test_every_ipynb_asks_colab_for_a_gpu(folder):
    files = sorted((ROOT / folder).glob("[0-9][0-9]_*.ipynb"))
    assert len(files) == len(NOTEBOOKS)
    for f in files:
        meta = json.loads(f.read_text(encoding="utf-8"))["metadata"]
        assert meta.get("accelerator") == "GPU", f"{f.name}: metadata.accelerator is {meta.get('accelerator')!r}"
        assert meta.get("colab", {}).get("gpuType"), f"{f.name}: no metadata.colab.gpuType"


def test_no_file_but_pyproject_hard_codes_the_repository():
    """The repository is named in pyproject.toml only; elsewhere only in lines that the stamp
    writes from it (badges, install defaults), which must equal what the stamp writes now."""
    slug = repository_slug(ROOT)
    offenders = []
    for rel, text in _tracked_text_files():
        if rel in ("pyproject.toml", "tests/test_notebooks_colab.py"):
            continue
        for i, line in enumerate(text.splitlines(), 1):
            named = slug in line or re.search(r"(colab\.research\.google\.com/github|git\+https://github\.com)"
                                              r"/[\w.-]+/[\w.-]+", line)
            stamped = rel.startswith("notebooks/") and (colab_base(ROOT) in line or INSTALL_ENV in line)
            if named and not (stamped and stamp_text(line, ROOT) == line):
                offenders.append(f"{rel}:{i}: {line.strip()[:100]}")
    assert not offenders, "repository named outside pyproject.toml:\n" + "\n".join(offenders)


def test_stamp_follows_a_moved_repository(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project.urls]\nRepository = "https://github.com/someone/kit"\n')
    src = NOTEBOOKS[0].read_text(encoding="utf-8")
    moved = stamp_text(src, tmp_path)
    assert "https://colab.research.google.com/github/someone/kit/blob/main/notebooks/" in moved
    assert f'os.environ.get("{INSTALL_ENV}", "git+https://github.com/someone/kit")' in moved
    assert repository_slug(ROOT) not in moved
    assert stamp_text(moved, tmp_path) == moved


@pytest.mark.parametrize("body", ["", "[project.urls]\nHomepage = 'https://x.org'\n",
                                  "[project.urls]\nRepository = 'https://gitlab.com/a/b'\n"])
def test_a_missing_or_non_github_repository_is_a_clear_error(tmp_path, body):
    (tmp_path / "pyproject.toml").write_text(body)
    with pytest.raises(NotebookError, match="Repository"):
        repository_url(tmp_path)
