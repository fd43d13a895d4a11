"""The machinery behind auto-checked notebook exercises.

An :class:`Exercise` pairs a question with a *checker*: a function that receives the student's
answer (a value or a function) and raises :class:`Fail` with a hint when the answer is wrong. The
checker compares against a private reference computed on the fly (often on fresh random inputs),
so the expected answer is never stored as text in a notebook and never printed: feedback says
*what* is wrong (shape, range, order, "too high") and how to think about it, never the solution.

Reference solutions are **not** part of the kit: they live in the teacher folder
(``teacher/exercises`` of the repository, outside the wheel). A checker that needs the correct
output for its test inputs calls :func:`expected`, which reads it from ``expected/NN.json`` — the
outputs of the references on the checker's own (seeded) inputs, keyed by a fingerprint of those
inputs, recorded by ``python -m teacher.exercises.record``. With the teacher folder loaded
(:func:`provide_references`), ``expected`` computes the values from the references instead, and
each exercise's ``reference`` / ``wrong_answers`` (a correct answer and typical mistakes) are
available to the test suite, which proves that every checker accepts the one and rejects the
others; :func:`check` never shows them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import math
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np

from ..errors import MifomoError
from .digests import fingerprint, salted_digest

__all__ = [
    "Exercise", "Fail", "UnknownExercise", "register", "check", "get", "list_exercises",
    "results", "reset_results", "score", "call", "expect_close", "expect_equal", "expect_shape",
    "as_array", "expected", "provide_references", "recording", "fingerprint", "MissingExpectation",
    "salted_digest",
]

EXPECTED_DIR = Path(__file__).with_name("expected")


class Fail(Exception):
    """Raised by a checker: the answer is wrong; the message is the feedback shown to the student."""


class UnknownExercise(MifomoError, KeyError):
    """``check`` was called with an exercise id that no notebook registers."""

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return str(self.args[0]) if self.args else ""


class MissingExpectation(MifomoError, LookupError):
    """A checker asked for an expected value that was never recorded (the stored checks are stale)."""


def _no_reference() -> Any:
    raise MissingExpectation("reference solutions are not part of the installed kit; they live in the "
                             "teacher folder (teacher/exercises) of the repository")


@dataclass(frozen=True)
class Exercise:
    """One auto-checked exercise.

    ``id`` is ``"NN.k"`` (notebook number, exercise number); ``checker(answer)`` raises
    :class:`Fail` when the answer is wrong; ``hint`` is shown with every wrong answer;
    ``reference`` / ``wrong_answers`` build answers for the tests (never shown)."""

    id: str
    notebook: str
    title: str
    checker: Callable[[Any], None]
    hint: str
    reference: Callable[[], Any] = field(repr=False, default=_no_reference)
    wrong_answers: Callable[[], Sequence[Any]] = field(repr=False, default=lambda: [])
    expects: str = "value"  # "value" or "function": what the student passes to check()

    def __repr__(self) -> str:  # no reference in reprs, so printing the registry reveals nothing
        return f"Exercise({self.id!r}, {self.title!r}, expects={self.expects!r})"


_REGISTRY: Dict[str, Exercise] = {}
_RESULTS: Dict[str, bool] = {}
_LOADED = False


def register(id: str, notebook: str, title: str, hint: str, *, expects: str = "value"):
    """Decorator registering ``checker`` as exercise ``id``."""

    def deco(checker: Callable[[Any], None]) -> Callable[[Any], None]:
        if id in _REGISTRY and _REGISTRY[id].checker.__qualname__ != checker.__qualname__:
            raise ValueError(f"exercise id {id!r} registered twice")
        _REGISTRY[id] = Exercise(id=id, notebook=notebook, title=title, checker=checker, hint=hint,
                                 expects=expects)
        return checker

    return deco


# --- expected values: computed by the teacher's references, or read from the stored checks ----

_REFERENCES: Dict[str, Callable[..., Any]] = {}
_STORED: Dict[str, Dict[str, Any]] = {}
_RECORD: Optional[Dict[str, Dict[str, Any]]] = None


def provide_references(references: Dict[str, Callable[..., Any]], answers: Dict[str, Callable[[], Any]],
                       wrong: Dict[str, Callable[[], Sequence[Any]]]) -> None:
    """Load the teacher's reference functions (``expected`` then computes with them) and attach the
    reference answers and typical mistakes to the exercises (for the test suite)."""
    _load_all()
    _REFERENCES.update(references)
    for ex_id in set(answers) | set(wrong):
        ex = _REGISTRY[ex_id]
        _REGISTRY[ex_id] = dataclasses.replace(ex, reference=answers.get(ex_id, ex.reference),
                                               wrong_answers=wrong.get(ex_id, ex.wrong_answers))


@contextlib.contextmanager
def recording(stored_only: bool = False) -> Iterator[Dict[str, Dict[str, Any]]]:
    """Within the block, every expected value asked for is collected (``{id: {fingerprint: value}}``).
    ``stored_only=True`` ignores the teacher's references and reads the stored checks, as a
    student's installation does."""
    global _RECORD
    saved, table = dict(_REFERENCES), {}
    if stored_only:
        _REFERENCES.clear()
    _RECORD = table
    try:
        yield table
    finally:
        _RECORD = None
        _REFERENCES.update(saved)


def _encode(v: Any) -> Any:
    if hasattr(v, "detach") and hasattr(v, "numpy"):
        return {"torch": _encode(v.detach().cpu().numpy())}
    if isinstance(v, np.ndarray):
        return {"nd": v.tolist(), "dtype": v.dtype.str, "shape": list(v.shape)}
    if isinstance(v, np.generic):
        return {"np": v.item(), "dtype": v.dtype.str}
    if isinstance(v, tuple):
        return {"tuple": [_encode(x) for x in v]}
    if isinstance(v, list):
        return [_encode(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return {"float": repr(v)}
    if isinstance(v, (bool, int, float, str, type(None))):
        return v
    raise TypeError(f"cannot store a {type(v).__name__} as an expected value")


def _decode(v: Any) -> Any:
    if isinstance(v, list):
        return [_decode(x) for x in v]
    if not isinstance(v, dict):
        return v
    if "torch" in v:
        import torch

        return torch.from_numpy(_decode(v["torch"]))
    if "nd" in v:
        return np.array(v["nd"], dtype=np.dtype(v["dtype"])).reshape(v["shape"])
    if "np" in v:
        return np.dtype(v["dtype"]).type(v["np"])
    if "tuple" in v:
        return tuple(_decode(x) for x in v["tuple"])
    return float(v["float"])


def _stored(exercise_id: str) -> Dict[str, Any]:
    nb = exercise_id.split(".")[0]
    if nb not in _STORED:
        path = EXPECTED_DIR / f"{nb}.json"
        try:
            _STORED[nb] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MissingExpectation(f"the stored checks {path} cannot be read ({exc})") from None
    return _STORED[nb].get(exercise_id, {})


def expected(exercise_id: str, *args: Any) -> Any:
    """The correct output of exercise ``exercise_id`` for the checker's inputs ``args``."""
    key = fingerprint(args)
    ref = _REFERENCES.get(exercise_id)
    if ref is not None:
        value = ref(*args)
        if _RECORD is not None:
            _RECORD.setdefault(exercise_id, {})[key] = _encode(value)
        return value
    table = _stored(exercise_id)
    if key not in table:
        raise MissingExpectation(f"no stored check of exercise {exercise_id} for these inputs; "
                                 f"re-record with: python -m teacher.exercises.record")
    value = _decode(table[key])
    if _RECORD is not None:
        _RECORD.setdefault(exercise_id, {})[key] = table[key]
    return value


def _load_all() -> None:
    """Import every ``nbNN_*`` module of this package (each registers its notebook's exercises)."""
    global _LOADED
    if _LOADED:
        return
    from . import __path__ as pkg_path  # type: ignore[attr-defined]

    for info in sorted(pkgutil.iter_modules(pkg_path), key=lambda m: m.name):
        if info.name.startswith("nb"):
            importlib.import_module(f"{__package__}.{info.name}")
    _LOADED = True


def get(exercise_id: str) -> Exercise:
    _load_all()
    key = str(exercise_id).strip()
    if key not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownExercise(f"no exercise {exercise_id!r}; known exercises: {known}")
    return _REGISTRY[key]


def list_exercises(notebook: Optional[str] = None) -> List[Exercise]:
    """All exercises (of one notebook: ``"00"`` or ``"00_data_tour"``), in id order."""
    _load_all()
    out = sorted(_REGISTRY.values(), key=lambda e: [int(p) for p in e.id.split(".")])
    if notebook is not None:
        nb = str(notebook)
        out = [e for e in out if e.notebook == nb or e.notebook.split("_")[0] == nb]
    return out


def check(exercise_id: str, answer: Any, *, quiet: bool = False) -> bool:
    """Check ``answer`` for exercise ``exercise_id``; print ✓ or ✗ with a hint; return the verdict.

    Never raises because of the answer (a student function that crashes is a wrong answer with a
    readable message); an unknown id raises :class:`UnknownExercise`."""
    ex = get(exercise_id)
    ok, message = _verdict(ex, answer)
    _RESULTS[ex.id] = ok
    if not quiet:
        if ok:
            print(f"✓ Exercise {ex.id} ({ex.title}): correct. {message}".rstrip())
        else:
            print(f"✗ Exercise {ex.id} ({ex.title}): {message}\n  Hint: {ex.hint}")
    return ok


def _verdict(ex: Exercise, answer: Any) -> "tuple[bool, str]":
    if answer is None or answer is Ellipsis:
        return False, "no answer yet — replace the placeholder with your answer."
    if ex.expects == "function" and not callable(answer):
        return False, f"pass your *function* itself (e.g. check({ex.id!r}, my_function)), not {type(answer).__name__}."
    try:
        ex.checker(answer)
    except Fail as exc:
        return False, str(exc)
    except NotImplementedError:
        return False, "not implemented yet — replace `raise NotImplementedError` with your code."
    except MissingExpectation:  # the kit's stored checks are stale: not the student's fault
        raise
    except Exception as exc:  # the student's code (or an unusable answer) crashed inside the checker
        return False, f"checking your answer raised {type(exc).__name__}: {exc}"
    return True, ""


def results(notebook: Optional[str] = None) -> Dict[str, bool]:
    """Verdicts of the latest :func:`check` per exercise in this session."""
    ids = {e.id for e in list_exercises(notebook)}
    return {k: v for k, v in sorted(_RESULTS.items()) if k in ids}


def score(notebook: Optional[str] = None) -> "tuple[int, int]":
    """``(passed, total)`` for a notebook's exercises in this session."""
    res = results(notebook)
    return sum(res.values()), len(list_exercises(notebook))


def reset_results() -> None:
    _RESULTS.clear()


# --- helpers for checkers ---------------------------------------------------------------------

def call(fn: Callable, *args: Any, what: str = "your function", **kwargs: Any) -> Any:
    """Call a student's function; a crash becomes a :class:`Fail` that names the inputs' shapes."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except Fail:
        raise
    except Exception as exc:
        shapes = ", ".join(_describe(a) for a in args)
        raise Fail(f"{what} raised {type(exc).__name__}: {exc} (called with {shapes})") from None


def _describe(a: Any) -> str:
    shape = getattr(a, "shape", None)
    if shape is not None:
        return f"{type(a).__name__} of shape {tuple(shape)}"
    if isinstance(a, (int, float, str, bool)):
        return repr(a)
    return type(a).__name__


def as_array(x: Any, name: str = "your answer") -> np.ndarray:
    """Turn a NumPy array / torch tensor / nested list into a float64 NumPy array."""
    try:
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise Fail(f"{name} should be an array of numbers, got {type(x).__name__}") from None
    return arr


def expect_shape(arr: np.ndarray, shape: Sequence[int], name: str = "your answer", why: str = "") -> None:
    if tuple(arr.shape) != tuple(shape):
        raise Fail(f"{name} has shape {tuple(arr.shape)}, expected {tuple(shape)}{(' ' + why) if why else ''}.")


def expect_close(got: Any, want: Any, name: str = "your answer", rtol: float = 1e-5,
                 atol: float = 1e-6, mismatch: str = "") -> None:
    """Values must match the private reference; the message never prints the reference."""
    g = as_array(got, name)
    w = np.asarray(want, dtype=np.float64)
    expect_shape(g, w.shape, name)
    if not np.all(np.isfinite(g)):
        raise Fail(f"{name} contains NaN or infinite values.")
    if not np.allclose(g, w, rtol=rtol, atol=atol):
        frac = float(np.mean(~np.isclose(g, w, rtol=rtol, atol=atol)))
        extra = f" {mismatch}" if mismatch else ""
        raise Fail(f"{name} has the right shape but {frac:.0%} of its values are wrong.{extra}")


def expect_equal(got: Any, want: Any, name: str = "your answer", direction: bool = True) -> None:
    """Exact comparison of scalars; says "too high/too low" for numbers, never the value."""
    if isinstance(want, (int, np.integer)) and not isinstance(want, bool):
        if isinstance(got, bool) or not isinstance(got, (int, np.integer, float, np.floating)):
            raise Fail(f"{name} should be a whole number, got {type(got).__name__}.")
        if isinstance(got, (float, np.floating)) and not float(got).is_integer():
            raise Fail(f"{name} should be a whole number, got {got!r}.")
    if isinstance(want, (int, float, np.integer, np.floating)) and not isinstance(want, bool):
        if isinstance(got, bool) or not isinstance(got, (int, float, np.integer, np.floating)):
            raise Fail(f"{name} should be a number, got {type(got).__name__}.")
        if math.isclose(float(got), float(want), rel_tol=1e-9, abs_tol=1e-12):
            return
        side = ("too high" if float(got) > float(want) else "too low") if direction else "not right"
        raise Fail(f"{name} ({got!r}) is {side}.")
    if got != want:
        raise Fail(f"{name} ({got!r}) is not right.")
