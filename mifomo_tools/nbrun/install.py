"""Where the notebooks install the kit from, and the Colab metadata they carry.

The one place that names the kit's home is ``[project.urls] Repository`` in ``pyproject.toml``.
From it come the Open-in-Colab badges and the default of the install cell, which reads the
environment variable ``MIFOMO_INSTALL_SOURCE`` first (a wheel path, a ``git+https://...`` URL or
any other pip requirement). ``stamp_text`` writes both into a notebook's source;
``mifomo-lite notebooks stamp`` applies it to every notebook, and the tests check that no other
file names the repository.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional

from .structure import NotebookError

INSTALL_ENV = "MIFOMO_INSTALL_SOURCE"
COLAB_PREFIX = "https://colab.research.google.com/github/"
# metadata Colab reads: open the notebook on a GPU runtime (a T4 fits every profile but paper)
ACCELERATOR_METADATA: Dict[str, object] = {"accelerator": "GPU", "colab": {"gpuType": "T4", "provenance": []}}

BADGE_RE = re.compile(re.escape(COLAB_PREFIX) + r"[^/\s)]+/[^/\s)]+/blob/[^/\s)]+/")
DEFAULT_RE = re.compile(r'(os\.environ\.get\(\s*"' + INSTALL_ENV + r'",\s*)"[^"]*"')


def project_root() -> Path:
    return Path(__file__).resolve().parents[2]


def repository_url(root: Optional[Path] = None) -> str:
    """``[project.urls] Repository`` of the checkout's ``pyproject.toml`` (an https GitHub URL)."""
    import tomllib

    path = Path(root or project_root()) / "pyproject.toml"
    try:
        urls = tomllib.loads(path.read_text(encoding="utf-8"))["project"]["urls"]
        url = str(urls["Repository"]).rstrip("/")
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise NotebookError(f"{path}: no [project.urls] Repository ({exc})") from None
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise NotebookError(f"{path}: [project.urls] Repository must be https://github.com/OWNER/NAME "
                            f"(Colab opens notebooks from GitHub), got {url!r}")
    return url


def repository_slug(root: Optional[Path] = None) -> str:
    """``OWNER/NAME`` of the repository."""
    return repository_url(root).split("github.com/", 1)[1]


def default_install_source(root: Optional[Path] = None) -> str:
    """What the install cell installs when ``MIFOMO_INSTALL_SOURCE`` is not set."""
    return f"git+{repository_url(root)}"


def colab_base(root: Optional[Path] = None, branch: str = "main") -> str:
    return f"{COLAB_PREFIX}{repository_slug(root)}/blob/{branch}/"


def stamp_text(text: str, root: Optional[Path] = None) -> str:
    """``text`` with every Colab badge and the install cell's default pointing at the repository."""
    text = BADGE_RE.sub(colab_base(root), text)
    return DEFAULT_RE.sub(lambda m: f'{m.group(1)}"{default_install_source(root)}"', text)


def stamp_notebooks(nb_dir: Path, root: Optional[Path] = None) -> List[Path]:
    """Stamp every ``NN_topic.py`` in ``nb_dir`` and rewrite its ``.ipynb`` twin; returns the
    sources that changed."""
    import jupytext

    from .structure import discover, read_ipynb, read_py

    changed = []
    for py in discover(nb_dir):
        old = py.read_text(encoding="utf-8")
        new = stamp_text(old, root)
        if new != old:
            py.write_text(new, encoding="utf-8")
            changed.append(py)
        nb = read_py(py)
        nb.metadata.update(ACCELERATOR_METADATA)
        twin = py.with_suffix(".ipynb")
        if twin.exists():  # keep the twin's cell ids: a re-stamp changes only what it must
            old_cells = read_ipynb(twin).cells
            for new_cell, old_cell in zip(nb.cells, old_cells):
                if "id" in old_cell:
                    new_cell["id"] = old_cell["id"]
        jupytext.write(nb, str(twin), fmt="ipynb")
    return changed


def install_problems(nb, root: Optional[Path] = None) -> List[str]:
    """What is wrong with a notebook's install cell and Colab metadata (empty: fine)."""
    problems = []
    for key, value in ACCELERATOR_METADATA.items():
        if key == "colab":
            if not nb.metadata.get("colab", {}).get("gpuType"):
                problems.append("notebook metadata has no colab.gpuType (Colab would open a CPU runtime)")
        elif nb.metadata.get(key) != value:
            problems.append(f"notebook metadata {key!r} is {nb.metadata.get(key)!r}, expected {value!r}")
    cells = [c for c in nb.cells if c.cell_type == "code" and "%pip install" in c.source]
    if not cells:
        return problems + ["no install cell (%pip install)"]
    src = cells[0].source
    if f'os.environ.get("{INSTALL_ENV}"' not in src:
        problems.append(f"install cell does not read ${INSTALL_ENV}")
    elif f'"{default_install_source(root)}"' not in src:
        problems.append(f"install cell's default is not {default_install_source(root)} "
                        "(run: mifomo-lite notebooks stamp)")
    if not re.search(r"%pip install .*--no-deps.*\{" + INSTALL_ENV + r"\}", src):
        problems.append(f"install cell must run: %pip install --no-deps {{{INSTALL_ENV}}}")
    return problems
