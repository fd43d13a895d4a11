"""Short concept quizzes at the end of the notebooks, graded automatically.

In a notebook::

    from mifomo_lite import quiz
    quiz.show("03")                              # clickable questions in Jupyter, text in batch runs
    quiz.answer("03", {"q1": "b", "q2": 0.25})   # grade answers in code: prints ✓/✗, returns a score

Questions are data (``exercises/quizzes/NN.json`` in this package): multiple choice (answer with
the option's letter) or a number (accepted within the question's tolerance). The package stores
only salted digests of the correct answers (:func:`~mifomo_lite.exercises.core.salted_digest`),
never the answers themselves, so feedback is ✓, or ✗ with a hint. The answer key lives in the
teacher folder of the repository (``teacher/quizzes``), whose ``record`` script writes the digests.

A number is graded on a grid whose step is the tolerance: the digests cover every grid cell that
meets [answer − tol, answer + tol], so an answer within the tolerance is always accepted (and one
up to two tolerances away may be).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from .errors import MifomoError
from .exercises.core import salted_digest

__all__ = ["Question", "QuizScore", "UnknownQuestion", "QuizDataError", "QUIZ_DIR", "load", "questions",
           "grade", "answer", "show", "text", "choice_digest", "number_digests", "notebooks"]

QUIZ_DIR = Path(__file__).parent / "exercises" / "quizzes"
KINDS = ("choice", "number")


class UnknownQuestion(MifomoError, KeyError):
    """A quiz or a question id that does not exist."""

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return str(self.args[0]) if self.args else ""


class QuizDataError(MifomoError, ValueError):
    """A quiz file is missing, unreadable or malformed."""


@dataclass(frozen=True)
class Question:
    """One quiz question: ``kind`` is ``"choice"`` (``options`` maps letters to texts) or
    ``"number"`` (``tolerance`` is the accepted absolute error); ``digests`` hold the answer."""

    notebook: str
    id: str
    kind: str
    text: str
    hint: str
    options: Dict[str, str] = field(default_factory=dict)
    tolerance: float = 0.0
    digests: tuple = field(default=(), repr=False)

    @property
    def salt(self) -> str:
        return f"quiz{self.notebook}.{self.id}"


@dataclass
class QuizScore:
    """The outcome of :func:`answer`: ``correct`` of ``total`` questions; ``results`` per question id
    (questions left unanswered are not in it and count as not correct)."""

    notebook: str
    correct: int
    total: int
    results: Dict[str, bool]

    def __str__(self) -> str:
        return f"quiz {self.notebook}: {self.correct}/{self.total} correct"


def choice_digest(salt: str, letter: str) -> str:
    return salted_digest(salt, str(letter).strip().lower())


def _cell(x: float, step: float) -> int:
    return math.floor(x / step)


def number_digests(salt: str, value: float, tolerance: float) -> List[str]:
    """The digests of every grid cell (step = ``tolerance``) that meets [value ± tolerance]."""
    lo, hi = _cell(value - tolerance, tolerance), _cell(value + tolerance, tolerance)
    return sorted(salted_digest(salt, str(k)) for k in range(lo, hi + 1))


def _nb_key(notebook: Any) -> str:
    nb = str(notebook).strip()
    return nb.split("_", 1)[0].zfill(2) if nb[:1].isdigit() else nb


def notebooks() -> List[str]:
    """The notebook numbers that have a quiz."""
    return sorted(p.stem for p in QUIZ_DIR.glob("*.json"))


_CACHE: Dict[str, List[Question]] = {}


def load(notebook: Any, *, fresh: bool = False) -> List[Question]:
    """The questions of one notebook's quiz (``"03"`` or ``"03_episodic_prototypes"``)."""
    nb = _nb_key(notebook)
    if nb in _CACHE and not fresh:
        return _CACHE[nb]
    path = QUIZ_DIR / f"{nb}.json"
    if not path.exists():
        raise UnknownQuestion(f"no quiz for notebook {notebook!r}; quizzes exist for: {', '.join(notebooks())}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        qs = [_parse(nb, q, path) for q in data["questions"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise QuizDataError(f"quiz file {path} cannot be read: {exc}") from None
    _CACHE[nb] = qs
    return qs


def _parse(nb: str, q: Mapping[str, Any], path: Path) -> Question:
    kind = q["kind"]
    if kind not in KINDS:
        raise QuizDataError(f"{path}: question {q.get('id')!r} has kind {kind!r}; expected one of {KINDS}")
    tol = float(q.get("tolerance", 0.0))
    if kind == "number" and not tol > 0:
        raise QuizDataError(f"{path}: number question {q['id']!r} needs a tolerance > 0")
    if kind == "choice" and len(q.get("options", {})) < 2:
        raise QuizDataError(f"{path}: choice question {q['id']!r} needs at least two options")
    return Question(notebook=nb, id=q["id"], kind=kind, text=q["text"], hint=q["hint"],
                    options=dict(q.get("options", {})), tolerance=tol, digests=tuple(q.get("digests", ())))


def questions(notebook: Any) -> Dict[str, Question]:
    return {q.id: q for q in load(notebook)}


def _question(notebook: Any, qid: Any) -> Question:
    qs = questions(notebook)
    key = str(qid).strip()
    if key not in qs:
        raise UnknownQuestion(f"quiz {_nb_key(notebook)} has no question {qid!r}; its questions are "
                              f"{', '.join(qs)}")
    return qs[key]


def _to_number(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    try:
        x = float(str(value).strip().replace(",", ".")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def grade(notebook: Any, qid: Any, value: Any) -> "tuple[bool, str]":
    """``(correct, feedback)`` for one answer; the feedback never contains the answer. An unknown
    question id raises :class:`UnknownQuestion`; an unusable answer is simply wrong."""
    q = _question(notebook, qid)
    if not q.digests:
        raise QuizDataError(f"question {q.id} of quiz {q.notebook} has no stored answer; record the "
                            "digests with: python -m teacher.quizzes.record")
    if value is None or (isinstance(value, str) and not value.strip()):
        return False, "no answer yet."
    if q.kind == "choice":
        letter = str(value).strip().lower().rstrip(")")
        if letter not in q.options:
            return False, f"{value!r} is not one of the options ({', '.join(q.options)}); answer with a letter."
        ok = choice_digest(q.salt, letter) in q.digests
    else:
        x = _to_number(value)
        if x is None:
            return False, f"{value!r} is not a number."
        ok = salted_digest(q.salt, str(_cell(x, q.tolerance))) in q.digests
    return (True, "correct.") if ok else (False, f"not quite. Hint: {q.hint}")


def answer(notebook: Any, answers: Mapping[str, Any], *, quiet: bool = False) -> QuizScore:
    """Grade ``answers`` (``{question id: letter or number}``) against one notebook's quiz, print
    ✓ or ✗ with a hint per answered question (unless ``quiet``) and return the score."""
    if not isinstance(answers, Mapping):
        raise TypeError(f"answers must be a dict {{question id: answer}}, got {type(answers).__name__}")
    qs = questions(notebook)
    for qid in answers:  # all ids first, so a typo is reported before any grading
        _question(notebook, qid)
    results: Dict[str, bool] = {}
    for qid, value in answers.items():
        ok, feedback = grade(notebook, qid, value)
        results[str(qid).strip()] = ok
        if not quiet:
            print(f"{'✓' if ok else '✗'} {qid}: {feedback}")
    score = QuizScore(_nb_key(notebook), sum(results.values()), len(qs), results)
    if not quiet:
        print(score)
    return score


def text(notebook: Any) -> str:
    """The quiz as plain text, with a line saying how to answer it."""
    nb = _nb_key(notebook)
    lines = [f"Concept quiz {nb}"]
    for q in load(nb):
        lines.append(f"\n{q.id}. {q.text}")
        if q.kind == "choice":
            lines += [f"    {k}) {v}" for k, v in q.options.items()]
        else:
            lines.append(f"    (a number; answers within ±{q.tolerance:g} are accepted)")
    example = ", ".join(f'"{q.id}": {_example(q)}' for q in load(nb))
    lines.append(f'\nAnswer in a code cell: quiz.answer("{nb}", {{{example}}}) — '
                 "or open the notebook in Jupyter for clickable questions.")
    return "\n".join(lines)


def _example(q: Question) -> str:
    return '"a"' if q.kind == "choice" else "0.0"


def show(notebook: Any) -> Any:
    """Display the quiz: widgets (radio buttons or a text box, and a check button per question)
    in an interactive Jupyter kernel with ipywidgets; printed text in batch runs (papermill, CI,
    the book), outside a kernel or without ipywidgets. Returns the widget box, or None when printed."""
    from .notebooks import batch_mode

    load(notebook)  # fail early on an unknown notebook
    if not batch_mode() and _in_kernel():
        try:
            box = widget(notebook)
        except ImportError:
            box = None
        if box is not None:
            from IPython.display import display

            display(box)
            return box
    print(text(notebook))
    return None


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (where widgets can be displayed), not in a plain interpreter."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def widget(notebook: Any) -> Any:
    """An ipywidgets ``VBox`` with one row per question (raises ImportError without ipywidgets)."""
    import ipywidgets as W

    nb = _nb_key(notebook)
    rows = [W.HTML(f"<b>Concept quiz {nb}</b>")]
    for q in load(nb):
        rows.append(_question_widget(W, q))
    return W.VBox(rows)


def _question_widget(W: Any, q: Question) -> Any:
    label = W.HTML(f"<p><b>{q.id}.</b> {_escape(q.text)}</p>")
    if q.kind == "choice":
        entry = W.RadioButtons(options=[(f"{k}) {v}", k) for k, v in q.options.items()], value=None,
                               layout=W.Layout(width="auto"))
    else:
        entry = W.Text(placeholder=f"a number (± {q.tolerance:g})")
    button = W.Button(description="check")
    feedback = W.HTML("")

    def on_click(_: Any) -> None:
        ok, message = grade(q.notebook, q.id, entry.value)
        feedback.value = f"{'✓' if ok else '✗'} {_escape(message)}"

    button.on_click(on_click)
    box = W.VBox([label, entry, W.HBox([button, feedback])])
    box.entry, box.button, box.feedback = entry, button, feedback  # handles for tests
    return box


def _escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
