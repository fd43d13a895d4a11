"""Reference solutions and typical mistakes of every notebook exercise (teacher edition).

They are not part of the kit (the wheel holds only the checkers and the stored checks, see
:mod:`mifomo_lite.exercises.core`). ``install()`` hands them to the checkers, so that the tests can
prove that every checker accepts the reference and rejects the mistakes; ``python -m
teacher.exercises.record`` re-records the stored checks after a checker or reference changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable, Dict, Sequence, Tuple


def collect() -> Tuple[Dict[str, Callable[..., Any]], Dict[str, Callable[[], Any]], Dict[str, Callable[[], Sequence[Any]]]]:
    """``(references, answers, wrong)`` of every ``nbNN_*`` module of this folder."""
    refs: Dict[str, Callable[..., Any]] = {}
    answers: Dict[str, Callable[[], Any]] = {}
    wrong: Dict[str, Callable[[], Sequence[Any]]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("nb"):
            mod = importlib.import_module(f"{__name__}.{info.name}")
            refs.update(mod.REFERENCES)
            answers.update(mod.ANSWERS)
            wrong.update(mod.WRONG)
    return refs, answers, wrong


def install() -> None:
    """Give the checkers the reference solutions (idempotent)."""
    from mifomo_lite.exercises.core import provide_references

    provide_references(*collect())
