"""The Jupyter Book: its TOC lists every notebook, it builds offline from the notebooks executed
by papermill (smoke profile), and it works in a real headless browser (Debian's chromium): pages
render, figures load, next/previous navigation follows the TOC."""

import html as html_lib
import importlib.util
import re
import sys
from pathlib import Path

import pytest

from mifomo_tools.nbrun import discover
from mifomo_tools.nbrun.book import (EXECUTED_SUBDIR, build_book, external_assets, figure_pages, has_figures,
                                     stage_book, stage_edition, toc_files, toc_notebooks)
from mifomo_tools.nbrun.structure import NotebookError
from mifomo_tools.nbrun.browser import blank_fraction, check_book, find_chromium
from mifomo_tools.nbrun.runner import execute_one

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # test_notebooks_student's helpers
BOOK = ROOT / "book"
NB_DIR = ROOT / "notebooks"
NAMES = [p.stem for p in discover(NB_DIR)]


def test_toc_lists_every_notebook_once_and_nothing_else():
    listed = toc_notebooks(BOOK)
    assert sorted(listed) == sorted(NAMES), (
        f"book/_toc.yml must list exactly the notebooks in notebooks/: missing "
        f"{sorted(set(NAMES) - set(listed))}, extra {sorted(set(listed) - set(NAMES))}")
    assert listed == sorted(listed), "notebooks appear in the TOC in number order"
    assert len(listed) == len(set(listed))


def test_book_pages_exist():
    files = toc_files(BOOK)
    assert files[0] == "intro"
    for page in ("intro", "glossary", "paper_vs_code"):
        assert page in files and (BOOK / f"{page}.md").exists()
    cfg = (BOOK / "_config.yml").read_text()
    assert re.search(r'execute_notebooks:\s*"?off"?', cfg), "the book must not execute notebooks itself"


def test_intro_links_every_notebook():
    intro = (BOOK / "intro.md").read_text()
    for name in NAMES:
        assert f"({EXECUTED_SUBDIR}/{name}.ipynb)" in intro, f"intro.md has no link to {name}"


def test_paper_vs_code_covers_the_switches():
    text = (BOOK / "paper_vs_code.md").read_text()
    for key in ("pseudo_label_refiner", "pseudo_label_target", "trainable_set", "reset_phase1_trainables",
                "recreate_optimizer_each_support_step", "support_split_fixed", "lgc_sigma", "lgc_batch_size",
                "attention", "mixup_temperature_form", "intermediate_fsl_term", "report_with_lgc",
                "drop_path_rate"):
        assert f"`{key}`" in text, f"paper_vs_code.md does not discuss {key}"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    return tmp_path_factory.getbasetemp() / "notebooks-smoke"  # shared with test_notebooks.py


@pytest.fixture(scope="module")
def built_book(tmp_path_factory, executed):
    if importlib.util.find_spec("jupyter_book") is None:
        pytest.skip("jupyter-book is not installed (pip install 'jupyter-book==1.0.4.post1', extra 'book')")
    for name in NAMES:
        res = execute_one(NB_DIR / f"{name}.py", executed, profile="smoke", device="cpu", seed=0, reuse=True)
        assert res.error is None, f"{name} failed under papermill: {res.error}"
    staged = stage_book(BOOK, executed, tmp_path_factory.mktemp("book") / "book")
    return build_book(staged, strict=True)  # the student edition


@pytest.mark.slow
def test_book_builds_offline(built_book, executed):
    html = built_book
    assert (html / "index.html").exists()
    for page in toc_files(BOOK):
        assert (html / f"{page}.html").exists(), f"{page}.html was not built"
    with_figures = [n for n in NAMES if has_figures(executed / f"{n}.ipynb")]
    assert "00_data_tour" in with_figures
    for name in NAMES:
        text = (html / EXECUTED_SUBDIR / f"{name}.html").read_text(encoding="utf-8")
        if name in with_figures:
            assert "_images/" in text, f"{name}: its figures are missing from the built page"
        assert "Traceback" not in text, f"{name}: an error traceback is shown in the book"
    assert external_assets(html) == [], "the book fetches scripts or styles from the network"
    assert (html / "_static" / "mathjax" / "tex-chtml.js").exists(), "MathJax is not served locally"


@pytest.mark.slow
def test_student_book_shows_no_solution_line(built_book):
    from test_notebooks_student import _norm, solution_key_lines

    for name in NAMES:
        page = re.sub(r"<[^>]+>", "", (built_book / EXECUTED_SUBDIR / f"{name}.html").read_text(encoding="utf-8"))
        page = _norm(html_lib.unescape(page))
        leaked = [k for k in solution_key_lines(NB_DIR / f"{name}.py") if _norm(k) in page]
        assert not leaked, f"{name}: the student book shows solution lines {leaked}"


def test_editions_stage_solutions_only_for_the_teacher(tmp_path, executed):
    import json

    staged = stage_book(BOOK, tmp_path / "none", tmp_path / "book")
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["solution"]}, "execution_count": 3,
                     "source": "def f(x):\n    ### BEGIN SOLUTION\n    return x * 42\n    ### END SOLUTION\n",
                     "outputs": [{"output_type": "stream", "name": "stdout", "text": "42\n"}]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (staged / EXECUTED_SUBDIR / "00_x.ipynb").write_text(json.dumps(nb))
    student = json.loads((stage_edition(staged, "student") / EXECUTED_SUBDIR / "00_x.ipynb").read_text())
    teacher = json.loads((stage_edition(staged, "teacher") / EXECUTED_SUBDIR / "00_x.ipynb").read_text())
    assert "x * 42" not in "".join(student["cells"][0]["source"]) and student["cells"][0]["outputs"] == []
    assert "YOUR CODE HERE" in "".join(student["cells"][0]["source"])
    assert "x * 42" in "".join(teacher["cells"][0]["source"]) and teacher["cells"][0]["outputs"]
    with pytest.raises(NotebookError, match="edition"):
        stage_edition(staged, "answers")


@pytest.mark.slow
def test_book_in_headless_chromium(built_book, executed, tmp_path):
    if find_chromium() is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); CI installs it")
    pages = toc_files(BOOK)
    titles = {"intro": "mifomo_lite", "glossary": "Glossary", "paper_vs_code": "paper versus"}
    for name in NAMES:
        first = (NB_DIR / f"{name}.py").read_text().split("\n# # ", 1)[1].split("\n", 1)[0]
        titles[f"{EXECUTED_SUBDIR}/{name}"] = first.split("·", 1)[-1].strip()
    problems = check_book(built_book, pages, titles=titles,
                          figure_pages=figure_pages(built_book.parents[1]),
                          screenshot_pages=["intro", f"{EXECUTED_SUBDIR}/{NAMES[0]}"], workdir=tmp_path)
    assert not problems, "the book in chromium:\n  " + "\n  ".join(problems)
    white, std = blank_fraction(tmp_path / "intro.png")
    assert white < 0.995 and std > 0.01
