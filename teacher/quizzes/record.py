"""Write the digests of the quiz answers (``mifomo_lite/exercises/quizzes/NN.json``) from the answer
key (``teacher/quizzes/key.json``). Run after changing an answer, a tolerance or a question id::

    python -m teacher.quizzes.record            # write
    python -m teacher.quizzes.record --check    # fail when the stored digests are stale
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List

from mifomo_lite.errors import MifomoError
from mifomo_lite.quiz import QUIZ_DIR, choice_digest, number_digests
from mifomo_lite.utils import atomic_path

from . import key


class KeyMismatch(MifomoError, ValueError):
    """The answer key and a quiz file do not name the same questions, or an answer is unusable."""


def digests_for(nb: str, q: Dict[str, Any], answer: Any) -> List[str]:
    """The digests a quiz file stores for ``answer`` to question ``q`` of notebook ``nb``."""
    salt = f"quiz{nb}.{q['id']}"
    if q["kind"] == "choice":
        if str(answer) not in q["options"]:
            raise KeyMismatch(f"quiz {nb} {q['id']}: the key's answer {answer!r} is not an option "
                              f"({', '.join(q['options'])})")
        return [choice_digest(salt, answer)]
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        raise KeyMismatch(f"quiz {nb} {q['id']}: the key's answer {answer!r} is not a number")
    return number_digests(salt, float(answer), float(q["tolerance"]))


def recorded() -> Dict[str, str]:
    """``{notebook number: JSON text}`` of every quiz file with the digests the key gives now."""
    answers, texts = key(), {}
    for path in sorted(QUIZ_DIR.glob("*.json")):
        nb, data = path.stem, json.loads(path.read_text(encoding="utf-8"))
        ids, keyed = [q["id"] for q in data["questions"]], answers.get(path.stem, {})
        if sorted(ids) != sorted(keyed):
            raise KeyMismatch(f"{path} has questions {ids} but the key for {nb} has {sorted(keyed)}")
        for q in data["questions"]:
            q["digests"] = digests_for(nb, q, keyed[q["id"]])
        texts[nb] = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    missing = sorted(set(answers) - set(texts))
    if missing:
        raise KeyMismatch(f"the key has answers for notebooks {missing} that have no quiz file in {QUIZ_DIR}")
    return texts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the stored digests are stale")
    args = parser.parse_args(argv)
    texts = recorded()
    stale = [nb for nb, text in texts.items() if (QUIZ_DIR / f"{nb}.json").read_text(encoding="utf-8") != text]
    if args.check:
        for nb in stale:
            print(f"stale: {QUIZ_DIR / f'{nb}.json'}")
        return 1 if stale else 0
    for nb in stale:
        with atomic_path(QUIZ_DIR / f"{nb}.json") as tmp:
            tmp.write_text(texts[nb], encoding="utf-8")
        print(f"wrote {QUIZ_DIR / f'{nb}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
