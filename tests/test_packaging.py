"""The kit installs, imports, exposes its console script, and keeps its declared contracts."""

import argparse
import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

import mifomo_lite
from mifomo_lite.cli import COMMAND_MODULES, build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def test_version_matches_pyproject():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["version"] == mifomo_lite.__version__


def test_torch_is_declared_unpinned():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_dep = [d for d in deps if re.match(r"torch\b", d)]
    assert torch_dep == ["torch>=2.1"]


def test_environment_yml_mirrors_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!]", d)[0].lower().replace("_", "-") for d in deps}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {re.split(r"[<>=!]", d)[0].lower().replace("_", "-") for d in env["dependencies"] if isinstance(d, str)}
    conda = {"torch" if n == "pytorch" else n for n in conda}
    missing = names - conda
    assert not missing, f"environment.yml lacks {sorted(missing)}"


def _handled_commands(parser: argparse.ArgumentParser, prefix: str = "") -> list:
    """Every leaf command below ``parser`` as (path, handler): a command either has a handler or
    sub-commands that all have one."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if parser.get_default("handler") is not None or not subs:
        return [(prefix, parser.get_default("handler"))]
    return [leaf for a in subs for name, p in a.choices.items() for leaf in _handled_commands(p, f"{prefix} {name}")]


@pytest.mark.parametrize("module", COMMAND_MODULES)
def test_every_command_module_registers(module):
    """Each module adds at least one command, and every command it adds reaches a handler."""
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    importlib.import_module(module).register(sub)
    assert sub.choices, f"{module} registered no command"
    leaves = [leaf for name, p in sub.choices.items() for leaf in _handled_commands(p, name)]
    missing = [path for path, handler in leaves if not callable(handler)]
    assert not missing, f"{module}: commands without a handler: {missing}"


def test_the_parser_holds_every_module_s_commands():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for module in COMMAND_MODULES:
        own = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(module).register(own)
        assert set(own.choices) <= set(sub.choices), module


def test_cli_without_command_prints_help(capsys):
    assert main([]) == 2
    assert "mifomo-lite" in capsys.readouterr().out


def test_console_script_runs():
    exe = Path(sys.executable).with_name("mifomo-lite")
    if not exe.exists():
        pytest.skip("console script not installed in this environment")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and mifomo_lite.__version__ in out.stdout


def test_readme_names_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make demo" in text and "make test" in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_importing_the_kit_loads_no_tooling():
    code = ("import sys, mifomo_lite, mifomo_lite.notebooks, mifomo_lite.exercises; "
            "bad = sorted(m for m in sys.modules if m.startswith('mifomo_tools') "
            "or m in ('papermill', 'jupytext')); print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"import mifomo_lite pulled in tooling: {out.stdout}{out.stderr}"


def test_cli_lists_the_notebook_tooling_by_its_new_home():
    assert "mifomo_tools.notebooks_cli" in COMMAND_MODULES
    assert not any(m.startswith("mifomo_lite.notebooks") for m in COMMAND_MODULES)
