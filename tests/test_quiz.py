"""The notebooks' concept quizzes: grading against the stored digests, the teacher's key, hash
hygiene of the package data, text rendering in batch runs, widgets, and the notebooks' quiz cells."""

import json
import re
import sys
from pathlib import Path

import pytest

from mifomo_lite import quiz
from mifomo_lite.quiz import QuizDataError, QuizScore, UnknownQuestion
from mifomo_tools.nbrun import discover, read_ipynb, read_py

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the teacher folder sits beside the kit, not inside it
    sys.path.insert(0, str(ROOT))
from teacher.quizzes import key  # noqa: E402
from teacher.quizzes.record import KeyMismatch, digests_for, recorded  # noqa: E402

KEY = key()
ALL = [(nb, qid) for nb in sorted(KEY) for qid in KEY[nb]]


def _wrong_answers(q, right):
    if q.kind == "choice":
        return [k for k in q.options if k != right]
    return [right + 2.01 * q.tolerance, right - 2.01 * q.tolerance, right + 10 * q.tolerance, -right - 1]


@pytest.mark.parametrize("nb,qid", ALL)
def test_the_key_passes_and_wrong_answers_fail(nb, qid):
    q, right = quiz.questions(nb)[qid], KEY[nb][qid]
    assert quiz.grade(nb, qid, right) == (True, "correct.")
    if q.kind == "number":  # anywhere within the tolerance, and typed as text
        for x in (right + 0.99 * q.tolerance, right - 0.99 * q.tolerance, str(right)):
            assert quiz.grade(nb, qid, x)[0], f"quiz {nb} {qid}: {x!r} is within the tolerance"
    else:
        assert quiz.grade(nb, qid, f" {right.upper()} ")[0], "letters are case- and space-insensitive"
    for wrong in _wrong_answers(q, right):
        ok, feedback = quiz.grade(nb, qid, wrong)
        assert not ok, f"quiz {nb} {qid} accepts the wrong answer {wrong!r}"
        assert q.hint in feedback
        if q.kind == "choice":
            assert q.options[right] not in feedback, "the feedback gives the right option away"
        else:
            assert not re.search(rf"(?<![\d.]){re.escape(str(right))}(?![\d])", feedback)


def test_every_notebook_has_a_quiz_of_3_to_5_questions_and_the_key_covers_them():
    nbs = [p.stem[:2] for p in discover()]
    assert quiz.notebooks() == nbs == sorted(KEY)
    for nb in nbs:
        qs = quiz.load(nb)
        assert 3 <= len(qs) <= 5, f"quiz {nb} has {len(qs)} questions"
        assert sorted(q.id for q in qs) == sorted(KEY[nb])
        assert len({q.text for q in qs}) == len(qs), f"quiz {nb} repeats a question"
        data = json.loads((quiz.QUIZ_DIR / f"{nb}.json").read_text(encoding="utf-8"))
        assert data["notebook"] == next(p.stem for p in discover() if p.stem.startswith(nb))


def test_the_stored_digests_are_those_the_key_gives():
    texts = recorded()
    for nb, text in texts.items():
        stored = (quiz.QUIZ_DIR / f"{nb}.json").read_text(encoding="utf-8")
        assert stored == text, f"{nb}.json is stale; re-record with: python -m teacher.quizzes.record"


def test_the_record_script_refuses_an_answer_that_is_not_an_option():
    q = {"id": "q1", "kind": "choice", "options": {"a": "x", "b": "y"}}
    with pytest.raises(KeyMismatch, match="quiz 99 q1.*'e' is not an option"):
        digests_for("99", q, "e")
    with pytest.raises(KeyMismatch, match="not a number"):
        digests_for("99", {"id": "q2", "kind": "number", "tolerance": 0.1}, "7")


def test_no_answer_is_readable_from_the_package_data():
    """Only the allowed fields, digests that are hex, and no numeric answer in any text."""
    allowed = {"id", "kind", "text", "options", "hint", "tolerance", "digests"}
    for nb in KEY:
        raw = (quiz.QUIZ_DIR / f"{nb}.json").read_text(encoding="utf-8")
        data = json.loads(raw)
        assert set(data) == {"notebook", "questions"}
        for q in data["questions"]:
            assert set(q) <= allowed, f"quiz {nb} {q['id']} stores {set(q) - allowed}"
            assert q["digests"] and all(re.fullmatch(r"[0-9a-f]{16}", d) for d in q["digests"])
            prose = " ".join([q["text"], q["hint"], *q.get("options", {}).values()])
            right = KEY[nb][q["id"]]
            if q["kind"] == "number":
                assert not re.search(rf"(?<![\d.,]){re.escape(f'{right:g}')}(?![\d])", prose), \
                    f"quiz {nb} {q['id']}: the answer {right} appears in its text"
        assert not re.search(r'"(answer|answers|correct|key|solution)"', raw)


def test_equal_answers_of_different_questions_do_not_share_a_digest():
    digests = [d for nb in KEY for q in quiz.load(nb) for d in q.digests if q.kind == "choice"]
    assert len(digests) == len(set(digests))


def test_answer_returns_a_score_and_prints_ticks_and_hints(capsys):
    nb = "03"
    answers = dict(KEY[nb])
    first, second = list(answers)[:2]
    q2 = quiz.questions(nb)[second]
    answers[second] = _wrong_answers(q2, answers[second])[0]
    del answers[list(answers)[-1]]
    score = quiz.answer(nb, answers)
    assert isinstance(score, QuizScore)
    assert (score.correct, score.total) == (len(answers) - 1, len(KEY[nb]))
    assert score.results[first] is True and score.results[second] is False
    out = capsys.readouterr().out
    assert f"✓ {first}: correct." in out and f"✗ {second}: not quite. Hint: {q2.hint}" in out
    assert f"quiz 03: {score.correct}/{score.total} correct" in out
    assert quiz.answer("03_episodic_prototypes", {}, quiet=True).correct == 0
    assert capsys.readouterr().out == ""


def test_unknown_ids_raise_errors_that_name_them():
    with pytest.raises(UnknownQuestion, match=r"quiz 03 has no question 'q42'; its questions are q1, q2"):
        quiz.answer("03", {"q1": "a", "q42": "b"})
    with pytest.raises(UnknownQuestion, match=r"no quiz for notebook '99'; quizzes exist for: 00, 01"):
        quiz.answer("99", {"q1": "a"})
    with pytest.raises(UnknownQuestion, match="no quiz for notebook"):
        quiz.show("42_nothing")
    with pytest.raises(TypeError, match="answers must be a dict"):
        quiz.answer("03", ["a", "b"])


def test_unusable_answers_are_wrong_with_a_readable_message():
    choice = next(q for q in quiz.load("03") if q.kind == "choice")
    number = next(q for q in quiz.load("03") if q.kind == "number")
    assert quiz.grade("03", choice.id, "z") == (False, "'z' is not one of the options (a, b, c, d); answer with a letter.")
    assert quiz.grade("03", choice.id, None) == (False, "no answer yet.")
    assert quiz.grade("03", number.id, "  ") == (False, "no answer yet.")
    assert quiz.grade("03", number.id, "many") == (False, "'many' is not a number.")
    assert quiz.grade("03", number.id, float("nan"))[0] is False
    assert quiz.grade("03", number.id, True)[0] is False


def _write_quiz(tmp_path, monkeypatch, questions):
    monkeypatch.setattr(quiz, "QUIZ_DIR", tmp_path)
    monkeypatch.setattr(quiz, "_CACHE", {})
    (tmp_path / "77.json").write_text(json.dumps({"notebook": "77_x", "questions": questions}))


def test_a_numeric_question_is_graded_within_its_tolerance(tmp_path, monkeypatch):
    q = {"id": "q1", "kind": "number", "text": "t", "hint": "h", "tolerance": 0.05}
    q["digests"] = quiz.number_digests("quiz77.q1", 1.0, 0.05)
    _write_quiz(tmp_path, monkeypatch, [q])
    for x, ok in [(1.0, True), (1.049, True), (0.951, True), ("1,02", True), (1.11, False), (0.89, False),
                  (-1.0, False), (100.0, False)]:
        assert quiz.grade("77", "q1", x)[0] is ok, x


def test_malformed_or_unrecorded_quiz_files_are_named(tmp_path, monkeypatch):
    _write_quiz(tmp_path, monkeypatch, [{"id": "q1", "kind": "number", "text": "t", "hint": "h"}])
    with pytest.raises(QuizDataError, match=r"77.json.*q1.*needs a tolerance"):
        quiz.load("77")
    _write_quiz(tmp_path, monkeypatch, [{"id": "q1", "kind": "essay", "text": "t", "hint": "h"}])
    with pytest.raises(QuizDataError, match="kind 'essay'"):
        quiz.load("77")
    _write_quiz(tmp_path, monkeypatch, [{"id": "q1", "kind": "choice", "text": "t", "hint": "h",
                                         "options": {"a": "x", "b": "y"}}])
    with pytest.raises(QuizDataError, match="python -m teacher.quizzes.record"):
        quiz.grade("77", "q1", "a")
    (tmp_path / "77.json").write_text("{not json")
    monkeypatch.setattr(quiz, "_CACHE", {})
    with pytest.raises(QuizDataError, match="77.json cannot be read"):
        quiz.load("77")


def test_batch_mode_prints_the_questions_and_how_to_answer(monkeypatch, capsys):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(quiz, "_in_kernel", lambda: True)  # even inside a kernel
    assert quiz.show("05") is None
    out = capsys.readouterr().out
    for q in quiz.load("05"):
        assert f"{q.id}. {q.text}" in out
        for k, v in q.options.items():
            assert f"    {k}) {v}" in out
        if q.kind == "number":
            assert f"±{q.tolerance:g}" in out
    assert 'Answer in a code cell: quiz.answer("05", {"q1": ' in out
    assert "Hint" not in out


def test_widgets_check_answers_and_show_displays_them(monkeypatch):
    pytest.importorskip("ipywidgets")
    import IPython.display

    box = quiz.widget("04")
    rows = box.children[1:]
    assert len(rows) == len(KEY["04"])
    for row, q in zip(rows, quiz.load("04")):
        right = KEY["04"][q.id]
        assert row.feedback.value == ""
        row.entry.value = _wrong_answers(q, right)[0] if q.kind == "choice" else "abc"
        row.button.click()
        assert row.feedback.value.startswith("✗")
        row.entry.value = right if q.kind == "choice" else str(right)
        row.button.click()
        assert row.feedback.value == "✓ correct."
    shown = []
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("MIFOMO_NOTEBOOK_OUT", raising=False)
    monkeypatch.setattr(quiz, "_in_kernel", lambda: True)
    monkeypatch.setattr(IPython.display, "display", shown.append)
    from mifomo_lite.notebooks import batch_mode

    assert not batch_mode()
    assert quiz.show("04") is shown[0]


def test_outside_a_kernel_show_prints(monkeypatch, capsys):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("MIFOMO_NOTEBOOK_OUT", raising=False)
    assert quiz._in_kernel() is False  # pytest is no Jupyter kernel
    assert quiz.show("00") is None
    assert "Concept quiz 00" in capsys.readouterr().out


@pytest.mark.parametrize("path", discover(), ids=lambda p: p.stem)
def test_every_notebook_ends_with_its_quiz(path):
    nb = path.stem[:2]
    for cells in (read_py(path).cells, read_ipynb(path.with_suffix(".ipynb")).cells,
                  read_ipynb(path.parent / "student" / f"{path.stem}.ipynb").cells):
        head, cell = cells[-2], cells[-1]
        assert head.cell_type == "markdown" and head.source.strip() == "## Concept quiz"
        assert cell.cell_type == "code" and f'quiz.show("{nb}")' in cell.source
        assert "record_metrics" not in cell.source


def test_the_right_option_gives_itself_away_by_neither_length_nor_letter():
    """A student who always picks the longest option, or always the same letter, should not pass."""
    longest, letters, n = 0, {}, 0
    for nb in KEY:
        for q in quiz.load(nb):
            if q.kind != "choice":
                continue
            right, n = KEY[nb][q.id], n + 1
            others = [len(v) for k, v in q.options.items() if k != right]
            assert len(q.options[right]) <= 1.25 * sum(others) / len(others), \
                f"quiz {nb} {q.id}: the right option is much longer than the others"
            longest += max(q.options, key=lambda k: len(q.options[k])) == right
            letters[right] = letters.get(right, 0) + 1
    assert longest <= n / 2, f"the right option is the longest in {longest} of {n} questions"
    assert max(letters.values()) <= n / 3, f"the right letters are unbalanced: {letters}"
