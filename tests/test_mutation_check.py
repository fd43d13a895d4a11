"""The mutation check (tests/mutation_check.py) stays applicable: every mutation's fragment is in
the package exactly once, and mutating it really changes the file. Running the whole check takes a
minute; its last result is in docs/mutation_check.md."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from mutation_check import MUTATIONS, ROOT, check_applies  # noqa: E402


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_mutation_applies(mutation):
    mutated = check_applies(mutation)
    assert mutated != (ROOT / mutation.path).read_text()
    assert all((ROOT / t).is_file() for t in mutation.tests)


def test_the_three_core_rules_are_covered():
    paths = {m.path for m in MUTATIONS}
    assert {"mifomo_lite/fsl/propagation.py", "mifomo_lite/fsl/protonet.py", "mifomo_lite/peft/cp.py"} <= paths
