"""``mifomo-lite notebooks ...``: list, check, run (papermill regression), student edition, book."""

from __future__ import annotations

import argparse
from pathlib import Path

from mifomo_lite.notebooks import PROFILES


def register(subparsers) -> None:
    p = subparsers.add_parser("notebooks", help="run the notebooks (papermill), student edition, book",
                              description="Notebook tooling: regression runs, student edition, book.")
    sub = p.add_subparsers(dest="nb_command", metavar="ACTION")
    p.set_defaults(handler=lambda a: (p.print_help(), 2)[1])

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--notebooks", type=Path, default=None, metavar="DIR",
                        help="folder of NN_topic.py notebooks (default: notebooks/ of the checkout)")

    ls = sub.add_parser("list", parents=[common], help="list the notebooks and their exercises")
    ls.set_defaults(handler=_list)

    ck = sub.add_parser("check", parents=[common],
                        help="structure and .py/.ipynb twin checks (no execution)")
    ck.set_defaults(handler=_check)

    _add_run(sub, common)
    _add_stamp_and_student(sub, common)
    _add_book(sub, common)


def _add_run(sub, common) -> None:
    run = sub.add_parser("run", parents=[common], help="execute notebooks with papermill, compare metrics",
                         description="Execute notebooks with papermill (parameters profile, device, "
                                     "seed), collect their metrics and compare them with "
                                     "notebooks/baselines/<profile>.json.")
    run.add_argument("--profile", choices=PROFILES, default="smoke")
    run.add_argument("--only", nargs="+", metavar="NN", help="notebook numbers or names (e.g. 00 02)")
    run.add_argument("--out", type=Path, required=True, metavar="DIR",
                     help="folder for executed notebooks, metrics and summary.json")
    run.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--baselines", type=Path, default=None, metavar="FILE",
                     help="baselines JSON (default notebooks/baselines/<profile>.json)")
    run.add_argument("--update-baselines", action="store_true",
                     help="write the measured metrics into the baselines file (keeps tolerances)")
    run.add_argument("--reuse", action="store_true",
                     help="skip notebooks already executed in DIR from the same source and parameters")
    run.add_argument("--cell-timeout", type=int, default=None, metavar="S",
                     help="fail a cell that runs longer than S seconds")
    run.add_argument("--jobs", type=int, default=1, metavar="N",
                     help="run N notebooks at a time in local processes (default 1: serial)")
    run.set_defaults(handler=_run)


def _add_stamp_and_student(sub, common) -> None:
    sp = sub.add_parser("stamp", parents=[common],
                        help="point badges and install cells at [project.urls] Repository; Colab metadata",
                        description="Rewrite every notebook's Open-in-Colab badge and install-cell "
                                    "default from pyproject.toml's [project.urls] Repository, and "
                                    "write the .ipynb twins with Colab's GPU accelerator metadata.")
    sp.set_defaults(handler=_stamp)

    st = sub.add_parser("student", parents=[common], help="generate or check the student edition",
                        description="Write the student edition (solution cells replaced by "
                                    "'# YOUR CODE HERE' stubs) or check a folder for staleness.")
    g = st.add_mutually_exclusive_group(required=True)
    g.add_argument("--out", type=Path, metavar="DIR", help="write the edition into DIR")
    g.add_argument("--check", type=Path, metavar="DIR", help="fail when DIR is stale")
    st.set_defaults(handler=_student)


def _add_book(sub, common) -> None:
    bk = sub.add_parser("book", parents=[common], help="build the Jupyter Book (and check it in chromium)",
                        description="Build book/ with jupyter-book from the notebooks executed into "
                                    "book/_executed (run them first, or pass --run).")
    bk.add_argument("--book", type=Path, default=None, metavar="DIR", help="book folder (default book/)")
    bk.add_argument("--run", action="store_true",
                    help="first run the notebooks (smoke, --reuse) into BOOK/_executed")
    bk.add_argument("--profile", choices=PROFILES, default="smoke",
                    help="profile of the --run (make book uses lite)")
    bk.add_argument("--edition", choices=("student", "teacher"), default="student",
                    help="student (solutions stubbed out; the default) or teacher")
    bk.add_argument("--browser-check", action="store_true",
                    help="then check pages, figures and navigation in headless chromium")
    bk.set_defaults(handler=_book)


def _list(args) -> int:
    from mifomo_lite.exercises import list_exercises
    from .nbrun import discover

    for py in discover(args.notebooks):
        exs = list_exercises(py.stem[:2])
        print(f"{py.stem:<28} {len(exs)} exercises: {', '.join(e.id for e in exs)}")
    return 0


def _check(args) -> int:
    from .nbrun import discover, structure_problems, twin_problems

    bad = 0
    for py in discover(args.notebooks):
        probs = structure_problems(py) + twin_problems(py)
        print(f"{'✓' if not probs else '✗'} {py.stem}")
        for p in probs:
            print(f"    {p}")
        bad += bool(probs)
    return 1 if bad else 0


def _out_folder(out) -> None:
    """Refuse an ``--out`` that is an existing file, before any work."""
    if out is not None and out.exists() and not out.is_dir():
        from mifomo_lite.errors import OutputError

        raise OutputError(f"--out {out} is an existing file, not a folder; choose a folder path")


def _run(args) -> int:
    from .nbrun.runner import run_notebooks

    _out_folder(args.out)
    summary = run_notebooks(args.profile, args.out, only=args.only, nb_dir=args.notebooks,
                            device=args.device, seed=args.seed, baselines=args.baselines,
                            update_baselines=args.update_baselines, reuse=args.reuse,
                            cell_timeout=args.cell_timeout, jobs=args.jobs)
    return 0 if summary.ok else 1


def _student(args) -> int:
    from .nbrun.student import stale_problems, write_student_edition

    _out_folder(args.out)
    if args.out:
        for path in write_student_edition(args.out, args.notebooks):
            print(f"wrote {path}")
        return 0
    problems = stale_problems(args.check, args.notebooks)
    for p in problems:
        print(p)
    if not problems:
        print(f"student edition in {args.check} is up to date")
    return 1 if problems else 0


def _book(args) -> int:
    from .nbrun.book import EXECUTED_SUBDIR, build_book, default_book_dir, figure_pages, toc_files, toc_notebooks

    book = args.book or default_book_dir()
    if args.run:
        from .nbrun.runner import run_notebooks

        summary = run_notebooks(args.profile, book / EXECUTED_SUBDIR, only=toc_notebooks(book),
                                nb_dir=args.notebooks, reuse=True)
        if not summary.ok:
            return 1
    html = build_book(book, edition=args.edition)
    print(f"{args.edition} book built: {html / 'index.html'}")
    if args.browser_check:
        from .nbrun.browser import check_book

        pages = toc_files(book)
        problems = check_book(html, pages, figure_pages=figure_pages(html.parents[1]))
        for p in problems:
            print(f"✗ {p}")
        if problems:
            return 1
        print(f"✓ {len(pages)} pages render, figures load, navigation works (chromium)")
    return 0


def _stamp(args) -> int:
    from .nbrun.install import default_install_source, stamp_notebooks
    from .nbrun.structure import default_notebooks_dir

    nb_dir = args.notebooks or default_notebooks_dir()
    changed = stamp_notebooks(nb_dir)
    print(f"{len(changed)} notebook(s) re-stamped; install default {default_install_source()}; "
          f".ipynb twins rewritten with Colab GPU metadata")
    return 0
