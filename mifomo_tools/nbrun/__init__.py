"""Machinery around the notebooks: discovery and twin reading, papermill regression runs with
baselines, the student edition, and the Jupyter Book build.

Notebook-side helpers (``record_metrics``, ``setup``) live in :mod:`mifomo_lite.notebooks`; the
command line is ``mifomo-lite notebooks ...`` (:mod:`mifomo_tools.notebooks_cli`).
"""

from .structure import (
    NOTEBOOK_RE,
    colab_url,
    default_notebooks_dir,
    discover,
    read_py,
    read_ipynb,
    select,
    structure_problems,
    twin_problems,
)

__all__ = [
    "NOTEBOOK_RE", "colab_url", "default_notebooks_dir", "discover", "read_py",
    "read_ipynb", "select", "structure_problems", "twin_problems",
]
