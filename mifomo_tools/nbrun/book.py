"""The Jupyter Book (1.x, Sphinx-based; builds offline) in ``book/``.

The book's pages are ``book/*.md`` plus the *executed* notebooks in ``book/_executed/`` — the
output of ``mifomo-lite notebooks run --profile smoke --out book/_executed`` — so the book shows the
outputs of the papermill run; ``_config.yml`` turns execution off. ``build_book`` checks that every
notebook of the TOC has been executed, tidies the executed copies (hides papermill's injected
parameter cell) and runs ``jupyter-book build``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

from .structure import NotebookError

EXECUTED_SUBDIR = "_executed"


def default_book_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "book"


def toc_files(book_dir: Path) -> List[str]:
    """Every ``file:`` entry of ``_toc.yml`` (root first), without extension."""
    import yaml

    toc = yaml.safe_load((Path(book_dir) / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk({k: v for k, v in toc.items() if k != "root"})
    return [re.sub(r"\.(md|ipynb)$", "", f) for f in files]


def toc_notebooks(book_dir: Path) -> List[str]:
    """Notebook names (``NN_topic``) that the TOC lists under ``_executed/``."""
    return [f.split("/", 1)[1] for f in toc_files(book_dir) if f.startswith(EXECUTED_SUBDIR + "/")]


def has_figures(executed_ipynb: Path) -> bool:
    """Whether an executed notebook has at least one image output."""
    nb = json.loads(Path(executed_ipynb).read_text(encoding="utf-8"))
    return any("image/png" in o.get("data", {}) for c in nb.get("cells", []) for o in c.get("outputs", []))


def figure_pages(book_dir: Path) -> List[str]:
    """TOC pages of executed notebooks that have figures (their <img>s must load in the book)."""
    ex = Path(book_dir) / EXECUTED_SUBDIR
    return [f"{EXECUTED_SUBDIR}/{n}" for n in toc_notebooks(book_dir)
            if (ex / f"{n}.ipynb").exists() and has_figures(ex / f"{n}.ipynb")]


def tidy_executed(path: Path) -> None:
    """Hide papermill's injected-parameters cell in the book (its values are printed by setup)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    changed = False
    for cell in data.get("cells", []):
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
            changed = True
    if changed:
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def missing_executed(book_dir: Path) -> List[str]:
    ex = Path(book_dir) / EXECUTED_SUBDIR
    return [n for n in toc_notebooks(book_dir) if not (ex / f"{n}.ipynb").exists()]


def build_book(book_dir: Optional[Path] = None, *, strict: bool = True, quiet: bool = True,
               timeout: int = 900) -> Path:
    """Build the HTML book in ``<book_dir>/_build/html``; return that folder."""
    book_dir = Path(book_dir) if book_dir else default_book_dir()
    missing = missing_executed(book_dir)
    if missing:
        raise NotebookError(
            f"the book needs executed notebooks in {book_dir / EXECUTED_SUBDIR}: missing "
            f"{', '.join(missing)}; run: mifomo-lite notebooks run --profile smoke --out "
            f"{book_dir / EXECUTED_SUBDIR}")
    for nb in (book_dir / EXECUTED_SUBDIR).glob("*.ipynb"):
        tidy_executed(nb)
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(book_dir), "--all"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    if quiet:
        cmd += ["-q"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise NotebookError("jupyter-book is not installed; pip install 'jupyter-book==1.0.4.post1'") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
        raise NotebookError(f"jupyter-book build failed (exit {proc.returncode}):\n{tail}")
    html = book_dir / "_build" / "html"
    if not (html / "index.html").exists():
        raise NotebookError(f"jupyter-book finished but {html / 'index.html'} is missing")
    return html


def stage_book(book_dir: Path, executed_dir: Path, dest: Path) -> Path:
    """Copy the book sources and the executed notebooks into ``dest`` (for a build outside the
    checkout, e.g. in tests)."""
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(book_dir, dest, ignore=shutil.ignore_patterns("_build", EXECUTED_SUBDIR, ".*"))
    (dest / EXECUTED_SUBDIR).mkdir()
    for nb in Path(executed_dir).glob("*.ipynb"):
        shutil.copy2(nb, dest / EXECUTED_SUBDIR / nb.name)
    return dest
