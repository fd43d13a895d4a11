"""Mutation check: break one core rule at a time and make sure the tests notice.

Each mutation replaces one exact line fragment of the package (it must occur exactly once) in a
scratch copy of the repository, runs the tests that guard that rule there, and expects them to
fail. A mutation the tests survive is a rule no test checks. Run from the repository root::

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python tests/mutation_check.py [NAME ...]

It prints one line per mutation (caught / SURVIVED) and exits 1 if any survived or if the
unmutated tests already fail. The last result is recorded in docs/mutation_check.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str           # relative to the repository root
    old: str
    new: str
    tests: tuple        # test files that must catch it


MUTATIONS = (
    Mutation("lgc_sign", "mifomo_lite/fsl/propagation.py",
             "m = torch.eye(x.shape[0], dtype=x.dtype, device=x.device) - alpha * a_hat",
             "m = torch.eye(x.shape[0], dtype=x.dtype, device=x.device) + alpha * a_hat",
             ("tests/test_fsl_propagation.py",)),
    Mutation("lgc_affinity_width", "mifomo_lite/fsl/propagation.py",
             "a = torch.exp(-(d * d) / (2.0 * float(sigma) ** 2))",
             "a = torch.exp(-(d * d) / (float(sigma) ** 2))",
             ("tests/test_fsl_propagation.py",)),
    Mutation("prototype_distance", "mifomo_lite/fsl/protonet.py",
             "return -self.scale * (1.0 - cos)",
             "return -self.scale * (1.0 + cos)",
             ("tests/test_fsl_protonet.py",)),
    Mutation("prototype_mean", "mifomo_lite/fsl/protonet.py",
             "return (onehot @ support_emb) / counts",
             "return (onehot @ support_emb) / counts.sum()",
             ("tests/test_fsl_protonet.py",)),
    Mutation("cp_merge", "mifomo_lite/peft/cp.py",
             "W_new = (C.transpose(-1, -2) @ W).reshape(H * dh, -1).to(attn.qkv.weight.dtype)",
             "W_new = (C @ W).reshape(H * dh, -1).to(attn.qkv.weight.dtype)",
             ("tests/test_peft_cp.py", "tests/test_peft_api.py")),
)


def check_applies(m: Mutation, root: Path = ROOT) -> str:
    """The mutated text of ``m.path``; a clear error if the fragment is not there exactly once."""
    text = (root / m.path).read_text()
    if text.count(m.old) != 1:
        raise SystemExit(f"mutation {m.name}: {m.path} holds {text.count(m.old)} copies of {m.old!r} (need 1)")
    return text.replace(m.old, m.new)


def _pytest(root: Path, tests: tuple) -> int:
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True).returncode


def _scratch_copy(dest: Path) -> None:
    for name in ("mifomo_lite", "tests"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "reference"))
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")


def main(names: list[str]) -> int:
    chosen = [m for m in MUTATIONS if not names or m.name in names]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _scratch_copy(root)
        every_test = tuple(sorted({t for m in chosen for t in m.tests}))
        if _pytest(root, every_test) != 0:
            print("the unmutated tests fail: fix them first")
            return 1
        survived = []
        for m in chosen:
            original = (root / m.path).read_text()
            (root / m.path).write_text(check_applies(m, root))
            caught = _pytest(root, m.tests) != 0
            (root / m.path).write_text(original)
            print(f"{m.name:22s} {'caught' if caught else 'SURVIVED'}  ({', '.join(m.tests)})", flush=True)
            survived += [] if caught else [m.name]
    print(f"{len(chosen) - len(survived)}/{len(chosen)} mutations caught")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
