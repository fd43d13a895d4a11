"""The package's shape: no import cycles inside mifomo_lite, no tooling or test code pulled in by
``import mifomo_lite``, no reading of tests/, and every module kept small."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "mifomo_lite"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(importer: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_pkg else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """Module → the mifomo_lite modules it imports, anywhere in its body (function-level too)."""
    files = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_pkg = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(name, is_pkg, node)
                subs = {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in files}
                # ``from . import sub`` names a submodule: the edge goes to it, not to the package
                edges |= subs if len(subs) == len(node.names) else subs | {target}
        # a module's own ancestor packages are always initialised before it: not a cycle
        graph[name] = {e for e in edges if e in files and e != name and not name.startswith(e + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]):
    """One import cycle as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    return next((c for n in sorted(graph) if n not in state and (c := visit(n))), None)


def test_the_graph_sees_imports_and_the_cycle_finder_finds_cycles():
    graph = import_graph()
    assert "mifomo_lite.train.phases" in graph["mifomo_lite.train.episode"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_in_the_package():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_import_pulls_no_tooling_or_test_code():
    code = ("import sys, mifomo_lite, mifomo_lite.train, mifomo_lite.peft, mifomo_lite.fsl; "
            "print('\\n'.join(sorted(sys.modules)))")
    mods = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    bad = [m for m in mods if m.startswith(("mifomo_tools", "tests", "conftest", "toy_models", "benchmarks"))
           or m in ("mifomo_lite.bench", "mifomo_lite.notebooks") or m.startswith("mifomo_lite.nbrun")]
    assert not bad, f"import mifomo_lite pulled in tooling/test modules: {bad}"


def test_every_module_is_small():
    """No module of the package over 400 lines: a larger one is split by role."""
    sizes = {path.relative_to(PKG.parent).as_posix(): len(path.read_text().splitlines()) for path in PKG.rglob("*.py")}
    assert len(sizes) > 50 and "mifomo_lite/train/runner.py" in sizes  # the walk does see the package
    big = {name: n for name, n in sorted(sizes.items()) if n > 400}
    assert not big, f"modules over 400 lines (limit 400): {big}"
