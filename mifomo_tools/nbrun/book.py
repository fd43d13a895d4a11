"""The Jupyter Book (1.x, Sphinx-based; builds offline) in ``book/``.

The book's pages are ``book/*.md`` plus the *executed* notebooks in ``book/_executed/`` — the
output of ``mifomo-lite notebooks run --profile smoke --out book/_executed`` — so the book shows the
outputs of the papermill run; ``_config.yml`` turns execution off. ``build_book`` checks that every
notebook of the TOC has been executed, tidies the executed copies (hides papermill's injected
parameter cell) and runs ``jupyter-book build``.

Two editions come from the same executed notebooks: the **student** book (the default) shows
every solution cell as its ``# YOUR CODE HERE`` stub, without outputs; the **teacher** book shows
the solutions. Each edition is staged in ``_build/src/<edition>`` and built there (HTML in
``_build/src/<edition>/_build/html``). MathJax is served from the build itself
(``sphinx-mathjax-offline``), so the book renders without network.
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
EDITIONS = ("student", "teacher")


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


def student_view(executed_ipynb: Path) -> None:
    """Rewrite an executed notebook as the student sees it: solution cells become their stubs
    (markdown: "*Your answer here.*") and lose their outputs."""
    from .student import stub_code

    path = Path(executed_ipynb)
    data = json.loads(path.read_text(encoding="utf-8"))
    for cell in data.get("cells", []):
        if "solution" not in cell.get("metadata", {}).get("tags", []):
            continue
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code":
            cell["source"] = stub_code(src)
            cell["outputs"] = []
            cell["execution_count"] = None
        else:
            cell["source"] = "*Your answer here.*"
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def stage_edition(book_dir: Path, edition: str) -> Path:
    """Copy the book sources and executed notebooks into ``_build/src/<edition>`` (the student
    edition with its solutions stubbed out); return that folder."""
    if edition not in EDITIONS:
        raise NotebookError(f"unknown book edition {edition!r}; choose one of {', '.join(EDITIONS)}")
    book_dir = Path(book_dir)
    dest = book_dir / "_build" / "src" / edition
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(book_dir, dest, ignore=shutil.ignore_patterns("_build", ".*"))
    if edition == "student":
        for nb in (dest / EXECUTED_SUBDIR).glob("*.ipynb"):
            student_view(nb)
    return dest


def build_book(book_dir: Optional[Path] = None, *, edition: str = "student", strict: bool = True,
               quiet: bool = True, timeout: int = 900) -> Path:
    """Build the HTML book of ``edition`` (student by default); return its HTML folder."""
    book_dir = Path(book_dir) if book_dir else default_book_dir()
    missing = missing_executed(book_dir)
    if missing:
        raise NotebookError(
            f"the book needs executed notebooks in {book_dir / EXECUTED_SUBDIR}: missing "
            f"{', '.join(missing)}; run: mifomo-lite notebooks run --profile lite --out "
            f"{book_dir / EXECUTED_SUBDIR}")
    for nb in (book_dir / EXECUTED_SUBDIR).glob("*.ipynb"):
        tidy_executed(nb)
    src = stage_edition(book_dir, edition)
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(src), "--all"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    if quiet:
        cmd += ["-q"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise NotebookError("jupyter-book is not installed; pip install -e '.[book]'") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
        raise NotebookError(f"jupyter-book build failed (exit {proc.returncode}):\n{tail}")
    html = src / "_build" / "html"
    if not (html / "index.html").exists():
        raise NotebookError(f"jupyter-book finished but {html / 'index.html'} is missing")
    return html


def external_assets(html_dir: Path) -> List[str]:
    """Scripts and stylesheets that a built page would fetch from the network (must be none)."""
    found = []
    for page in sorted(Path(html_dir).rglob("*.html")):
        text = page.read_text(encoding="utf-8", errors="replace")
        for m in re.finditer(r"<(script|link)\b[^>]*?(?:src|href)=\"(https?:)?//[^\"]+\"[^>]*>", text):
            tag = m.group(0)
            if m.group(1) == "link" and not re.search(r"rel=\"(stylesheet|preload|modulepreload)\"", tag):
                continue
            found.append(f"{page.relative_to(html_dir)}: {tag[:120]}")
    return found


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
