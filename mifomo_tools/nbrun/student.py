"""The student edition: every notebook without its solutions.

Cells tagged ``solution`` are replaced: in code cells the lines between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` become a ``# YOUR CODE HERE`` stub (the function signature around them stays,
so the notebook still runs top to bottom and ``check`` reports "not implemented yet"); a code cell
without markers becomes a stub as a whole; a markdown cell becomes "*Your answer here.*". The Colab
badge points at the student copy. The edition is committed in ``notebooks/student/`` and checked
for staleness by the tests (``mifomo-lite notebooks student --check notebooks/student``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import List, Optional

from mifomo_lite.utils import atomic_path
from .install import ACCELERATOR_METADATA, colab_base
from .structure import default_notebooks_dir, discover, read_py

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = "# YOUR CODE HERE"
STUDENT_SUBDIR = "student"
BANNER = ("> **Student edition.** Cells marked `# YOUR CODE HERE` are yours to fill in; "
          "`check(...)` tells you whether your answer is right.")


def stub_code(source: str) -> str:
    lines = source.splitlines()
    if not any(l.strip() == BEGIN for l in lines):
        return f"{STUB}\nraise NotImplementedError"
    out: List[str] = []
    inside = False
    for line in lines:
        s = line.strip()
        if s == BEGIN:
            indent = line[: len(line) - len(line.lstrip())]
            out += [f"{indent}{STUB}", f"{indent}raise NotImplementedError"]
            inside = True
        elif s == END:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def student_notebook(nb, name: str):
    """A copy of notebook ``nb`` (named ``name``) with its solutions stubbed out."""
    import copy

    import nbformat

    new = nbformat.v4.new_notebook()
    new.metadata = {"kernelspec": copy.deepcopy(nb.metadata.get("kernelspec", {})),
                    "language_info": {"name": "python"}, **copy.deepcopy(ACCELERATOR_METADATA)}
    base = colab_base()
    badge_from = f"{base}notebooks/{name}.ipynb"
    badge_to = f"{base}notebooks/{STUDENT_SUBDIR}/{name}.ipynb"
    for i, cell in enumerate(nb.cells):
        tags = list(cell.get("metadata", {}).get("tags", []))
        src = cell.source.replace(badge_from, badge_to)
        if cell.cell_type == "markdown":
            if "solution" in tags:
                src = "*Your answer here.*"
            if i == 0:
                src = src.rstrip() + "\n\n" + BANNER
            c = nbformat.v4.new_markdown_cell(src)
        else:
            if "solution" in tags:
                src = stub_code(src)
            c = nbformat.v4.new_code_cell(src)
        if tags:
            c.metadata["tags"] = tags
        c.id = f"{name[:2]}-{i:03d}"  # deterministic ids: regenerating gives identical bytes
        new.cells.append(c)
    return new


def render(nb) -> str:
    import nbformat

    return nbformat.writes(nb) + "\n"


def write_student_edition(out_dir: Path, nb_dir: Optional[Path] = None) -> List[Path]:
    nb_dir = Path(nb_dir) if nb_dir else default_notebooks_dir()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for py in discover(nb_dir):
        target = out_dir / f"{py.stem}.ipynb"
        with atomic_path(target) as tmp:
            tmp.write_text(render(student_notebook(read_py(py), py.stem)), encoding="utf-8")
            tmp.chmod(0o644)
        written.append(target)
    return written


def stale_problems(student_dir: Path, nb_dir: Optional[Path] = None) -> List[str]:
    """Why ``student_dir`` is not what ``write_student_edition`` would produce now (empty: fresh)."""
    nb_dir = Path(nb_dir) if nb_dir else default_notebooks_dir()
    student_dir = Path(student_dir)
    problems = []
    expected = {py.stem: render(student_notebook(read_py(py), py.stem)) for py in discover(nb_dir)}
    for name, text in expected.items():
        f = student_dir / f"{name}.ipynb"
        if not f.exists():
            problems.append(f"{f} is missing")
        elif f.read_text(encoding="utf-8") != text:
            problems.append(f"{f} is stale (its notebook changed)")
    if student_dir.is_dir():
        for f in sorted(student_dir.glob("*.ipynb")):
            if f.stem not in expected:
                problems.append(f"{f} has no source notebook any more")
    if problems:
        problems.append(f"regenerate with: mifomo-lite notebooks student --out {student_dir}")
    return problems


def leaked_solutions(student_dir: Path) -> List[str]:
    """Solution markers that made it into a student notebook (must be none)."""
    out = []
    for f in sorted(Path(student_dir).glob("*.ipynb")):
        nb = json.loads(f.read_text(encoding="utf-8"))
        for i, c in enumerate(nb["cells"]):
            src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            if BEGIN in src or END in src or re.search(r"^\s*###\s*SOLUTION", src, re.M):
                out.append(f"{f.name} cell {i}")
    return out
