"""Regenerate ``docs/bad_inputs.md`` from the bad-input matrix in ``tests/test_bad_inputs.py``.

    python tests/bad_inputs_doc.py            # run every row, write the page from their messages

The page is generated, never edited by hand: each row's message is the one its test produced, so
the documented messages are the tested ones (``test_bad_inputs.py`` fails when they drift apart).
The generator lives beside the tests because the installed package must never read ``tests/``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def load_matrix():
    """Import ``tests/test_bad_inputs.py`` as a module (the tests folder is not a package)."""
    spec = importlib.util.spec_from_file_location("bad_inputs_matrix", HERE / "test_bad_inputs.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def main() -> int:
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("MPLBACKEND", "Agg")
    mod = load_matrix()
    text = mod.render_doc(mod.collect_all())
    out = REPO / "docs" / "bad_inputs.md"
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    print(f"wrote {out} ({len(mod.CASES)} bad inputs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
