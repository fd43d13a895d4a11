"""The answer key of the notebooks' concept quizzes. Not part of the installed kit.

``key.json`` maps notebook numbers to ``{question id: answer}`` (a letter for multiple choice, a
number for numeric questions). ``python -m teacher.quizzes.record`` writes the salted digests of
these answers into ``mifomo_lite/exercises/quizzes/NN.json``; the kit grades with those alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

KEY_PATH = Path(__file__).with_name("key.json")


def key() -> Dict[str, Dict[str, Any]]:
    """``{notebook number: {question id: answer}}``."""
    return json.loads(KEY_PATH.read_text(encoding="utf-8"))
