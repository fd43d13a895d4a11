"""Where the notebooks are, how to read their twins, and what every notebook must contain.

A notebook is ``notebooks/NN_topic.py`` (jupytext percent format, the source of truth) plus its
output-free ``notebooks/NN_topic.ipynb`` twin for Colab. The checks here are used by the tests
and by ``mifomo-lite notebooks check``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, List, Optional, Sequence

from mifomo_lite.errors import MifomoError

NOTEBOOK_RE = re.compile(r"^(\d\d)_[a-z0-9_]+$")
COLAB_BADGE_IMG = "https://colab.research.google.com/assets/colab-badge.svg"
MIN_EXERCISES = 3


class NotebookError(MifomoError, ValueError):
    """A notebook is missing, malformed, or its twin is out of date."""


def default_notebooks_dir() -> Path:
    """``notebooks/`` beside the package (a source checkout or an editable install)."""
    here = Path(__file__).resolve().parents[2] / "notebooks"
    return here


def colab_url(rel_path: str) -> str:
    """The Open-in-Colab link of a file of the repository named in pyproject.toml."""
    from .install import colab_base

    return colab_base() + rel_path


def discover(nb_dir: Optional[Path] = None) -> List[Path]:
    """The ``NN_topic.py`` sources in ``nb_dir``, in number order."""
    nb_dir = Path(nb_dir) if nb_dir else default_notebooks_dir()
    if not nb_dir.is_dir():
        raise NotebookError(f"notebooks folder {nb_dir} does not exist (pass --notebooks DIR)")
    return sorted(p for p in nb_dir.glob("*.py") if NOTEBOOK_RE.match(p.stem))


def select(paths: Sequence[Path], only: Optional[Iterable[str]]) -> List[Path]:
    """Keep the notebooks named in ``only`` (``"00"`` or ``"00_data_tour"``); all when empty."""
    only = [str(o).strip() for o in (only or []) if str(o).strip()]
    if not only:
        return list(paths)
    chosen = []
    for want in only:
        hits = [p for p in paths if p.stem == want or p.stem.split("_", 1)[0] == want.zfill(2)]
        if not hits:
            names = ", ".join(p.stem for p in paths) or "(none)"
            raise NotebookError(f"no notebook matches {want!r}; available: {names}")
        chosen.extend(h for h in hits if h not in chosen)
    return sorted(chosen)


def read_py(path: Path):
    """The notebook as jupytext reads its percent ``.py`` file."""
    import jupytext

    return jupytext.read(str(path), fmt="py:percent")


def read_ipynb(path: Path):
    import nbformat

    return nbformat.read(str(path), as_version=4)


def _tags(cell) -> List[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def cell_signature(nb) -> List[tuple]:
    """What must agree between twins: type, source (trailing blanks ignored) and tags per cell."""
    return [(c.cell_type, c.source.rstrip(), tuple(_tags(c))) for c in nb.cells]


def twin_problems(py_path: Path) -> List[str]:
    """Differences between ``NN.py`` and its ``NN.ipynb`` twin, plus outputs left in the twin."""
    ipynb = py_path.with_suffix(".ipynb")
    if not ipynb.exists():
        return [f"{ipynb.name} is missing; create it with: jupytext --to ipynb {py_path.name}"]
    a, b = cell_signature(read_py(py_path)), cell_signature(read_ipynb(ipynb))
    problems = []
    if len(a) != len(b):
        problems.append(f"{py_path.name} has {len(a)} cells but {ipynb.name} has {len(b)}")
    for i, (ca, cb) in enumerate(zip(a, b)):
        if ca != cb:
            what = "type" if ca[0] != cb[0] else ("tags" if ca[1] == cb[1] else "source")
            first = ca[1].splitlines()[0] if ca[1] else ""
            problems.append(f"cell {i} ({first[:50]!r}) differs in {what}")
            if len(problems) > 5:
                break
    nb = read_ipynb(ipynb)
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None):
            problems.append(f"{ipynb.name} cell {i} has outputs; the twin must be output-free")
            break
    if problems:
        problems.append(f"regenerate with: jupytext --to ipynb notebooks/{py_path.name}")
    return problems


def structure_problems(py_path: Path) -> List[str]:
    """What every notebook needs: jupytext header + python3 kernelspec, Colab badge, idempotent
    install cell, learning objectives, a ``parameters`` cell (profile/device/seed), a summary, at
    least three checked exercises, and metrics recorded for the regression runs."""
    nb = read_py(py_path)
    text = py_path.read_text(encoding="utf-8")
    problems = []
    if not text.startswith("# ---\n") or "format_name: percent" not in text:
        problems.append("no jupytext percent header")
    ks = nb.metadata.get("kernelspec", {})
    if ks.get("name") != "python3":
        problems.append(f"kernelspec name is {ks.get('name')!r}, expected 'python3'")
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    badge = colab_url(f"notebooks/{py_path.stem}.ipynb")
    if COLAB_BADGE_IMG not in md or badge not in md:
        problems.append(f"no Open-in-Colab badge linking to {badge}")
    install = [c for c in nb.cells if c.cell_type == "code" and "%pip install" in c.source]
    if install:
        src = install[0].source
        if "except ImportError" not in src:
            problems.append("install cell is not idempotent (try: import mifomo_lite / except ImportError)")
        for banned in ("torch", "ipywidgets"):
            for line in src.splitlines():
                if "%pip" in line and re.search(rf"\b{banned}\b", line):
                    problems.append(f"install cell reinstalls {banned}: {line.strip()}")
    from .install import install_problems

    problems += install_problems(nb)
    if not re.search(r"learning objectives", md, re.I):
        problems.append("no 'Learning objectives' section")
    params = [c for c in nb.cells if "parameters" in _tags(c)]
    if len(params) != 1:
        problems.append(f"expected exactly one cell tagged 'parameters', found {len(params)}")
    else:
        for name in ("profile", "device", "seed"):
            if not re.search(rf"^{name}\s*=", params[0].source, re.M):
                problems.append(f"parameters cell does not set {name}")
    if not re.search(r"^#+\s*summary", md, re.I | re.M):
        problems.append("no '## Summary' section")
    ids = sorted(set(re.findall(r"check\(\s*[\"'](\d\d\.\d+)[\"']", code)))
    if len(ids) < MIN_EXERCISES:
        problems.append(f"only {len(ids)} checked exercises (check('NN.k', ...)), need ≥ {MIN_EXERCISES}")
    wrong_nb = [i for i in ids if i.split(".")[0] != py_path.stem[:2]]
    if wrong_nb:
        problems.append(f"exercise ids {wrong_nb} do not belong to notebook {py_path.stem[:2]}")
    if "record_metrics(" not in code:
        problems.append("never calls record_metrics(...) (the papermill regression run needs metrics)")
    if not any("solution" in _tags(c) for c in nb.cells):
        problems.append("no cell tagged 'solution' (the student edition would contain nothing to do)")
    return problems
