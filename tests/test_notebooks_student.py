"""The student edition states no answer: no key line of any solution (whitespace ignored) and
none of the known answer patterns appears anywhere in a student notebook, prose included."""

import json
import re
from pathlib import Path

import pytest

from mifomo_tools.nbrun import discover, read_py
from mifomo_tools.nbrun.student import BEGIN, END

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = discover(ROOT / "notebooks")
# lines too generic to give anything away
BOILERPLATE = [r"\w+ = np\.random\.default_rng\(seed\)", r"return \w+", r"\w+(, \w+)* = (np|torch)\.as\w*\([\w, .=]+\)"]
# answers once given away by prose or helper code outside the solutions (kept out for good)
ANSWER_PATTERNS = {
    "00": [r"argmin\(\s*np\.abs\(", r"argmin\(\s*scene\.class_counts"],
    "04": [r"\\frac\{t\}\{N\}\s*\(1\s*-\s*q\)\s*\+\s*q\s*\\lambda\$",
           # Eqs. 18–19 written out in the body (the answers to 04.1 and 04.2), or q_value's source
           r"\\frac\{t\}\{N\}\s*\\?,?\s*\(1\s*-\s*q\)\s*\+\s*q\s*\\?,?\s*\\lambda",
           r"\(W_\{SM\}\s*\+\s*W_\{TM\}\)\s*\\?,?\s*\\tau", r"W_\{SM\}\s*\+\s*\\tau\s*\\?,?\s*W_\{TM\}",
           r"getsource\(\s*fsl\.MixupScheduler\.q_value"],
    "05": [r"rng\.integers\(\s*1\s*,", r"rate\s*\*\s*\w+\.size"],
    "08": [r"propagation label the unlabelled queries", r"uses the unlabelled queries three times"],
    # 07.1 (classes × (shots + queries) + mixes) and 07.2 (labelled − shots × classes) in the budget cell
    "07": [r"\)\s*\*\s*(5|\(\s*\w*\.?intermediate_n_shot)[^\n]*intermediate_mixups", r"n_labelled\s*-\s*\w*\.?n_shot\s*\*"],
}


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


def solution_key_lines(py: Path):
    """The substantial code lines of a notebook's solutions."""
    keys = []
    for cell in read_py(py).cells:
        if "solution" not in cell.get("metadata", {}).get("tags", []) or cell.cell_type != "code":
            continue
        lines = cell.source.splitlines()
        inside = not any(line.strip() == BEGIN for line in lines)
        for line in lines:
            s = line.strip()
            if s in (BEGIN, END):
                inside = s == BEGIN
                continue
            if (inside and s and not s.startswith("#") and len(_norm(s)) >= 12
                    and not any(re.fullmatch(b, s) for b in BOILERPLATE)):
                keys.append(s)
    return keys


def _student_text(py: Path) -> str:
    nb = json.loads((ROOT / "notebooks" / "student" / f"{py.stem}.ipynb").read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in nb["cells"])


@pytest.mark.parametrize("py", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_notebook_contains_no_solution_line(py):
    keys = solution_key_lines(py)
    assert keys, f"{py.stem}: no solution lines found (is the solution tagging broken?)"
    text = _norm(_student_text(py))
    leaked = [k for k in keys if _norm(k) in text]
    assert not leaked, f"{py.stem}: the student edition shows solution lines: {leaked}"


@pytest.mark.parametrize("py", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_notebook_states_no_known_answer(py):
    text = _student_text(py)
    hits = [p for p in ANSWER_PATTERNS.get(py.stem[:2], []) if re.search(p, text)]
    assert not hits, f"{py.stem}: the student edition gives an answer away ({hits})"


def test_the_grep_catches_a_leak(tmp_path):
    """A solution line pasted into prose is found (the check can fail)."""
    py = NOTEBOOKS[0]
    key = solution_key_lines(py)[0]
    assert _norm(key) in _norm(_student_text(py) + "\n# as the answer: " + key)
    assert _norm(key) not in _norm(_student_text(py))
