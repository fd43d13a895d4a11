"""Re-record the stored checks (``mifomo_lite/exercises/expected/NN.json``): run every checker
on its reference answer and on each typical mistake with the references loaded, and store every
expected value the checkers asked for. Run after changing a checker or a reference::

    python -m teacher.exercises.record            # write
    python -m teacher.exercises.record --check    # fail when the stored checks are stale
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Dict

from mifomo_lite.exercises.core import EXPECTED_DIR, check, list_exercises, recording

from . import install


def record_all() -> Dict[str, str]:
    """``{notebook number: JSON text}`` of the stored checks as the references give them now."""
    install()
    with recording() as table:
        for ex in list_exercises():
            check(ex.id, ex.reference(), quiet=True)
            for wrong in ex.wrong_answers():
                check(ex.id, wrong, quiet=True)
    by_nb: Dict[str, Dict[str, dict]] = {}
    for ex_id in sorted(table, key=lambda i: [int(p) for p in i.split(".")]):
        by_nb.setdefault(ex_id.split(".")[0], {})[ex_id] = dict(sorted(table[ex_id].items()))
    return {nb: json.dumps(v, indent=1, sort_keys=True) + "\n" for nb, v in by_nb.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the stored checks are stale")
    args = parser.parse_args(argv)
    texts = record_all()
    stale = [nb for nb, text in texts.items()
             if not (EXPECTED_DIR / f"{nb}.json").exists() or (EXPECTED_DIR / f"{nb}.json").read_text() != text]
    if args.check:
        for nb in stale:
            print(f"stale: {EXPECTED_DIR / f'{nb}.json'}")
        return 1 if stale else 0
    EXPECTED_DIR.mkdir(exist_ok=True)
    for nb, text in texts.items():
        (EXPECTED_DIR / f"{nb}.json").write_text(text, encoding="utf-8")
        print(f"wrote {EXPECTED_DIR / f'{nb}.json'} ({len(text) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
