"""Every profile changes every notebook: each notebook's parameter cell is run under smoke, lite,
colab and paper, then every budget it picks (``nb.pick(...)``) and its run configuration
(``nb.run_config()``) are evaluated; the resulting budgets must differ from lite as documented."""

import ast
import dataclasses
from pathlib import Path

import pytest

from mifomo_lite.notebooks import PROFILE_OVERRIDES, PROFILES, setup
from mifomo_tools.nbrun import discover, read_py

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = discover(ROOT / "notebooks")


def _budget_calls(py: Path):
    """The parameter cell's source and every ``nb.pick(...)`` / ``nb.run_config(...)`` call."""
    nb = read_py(py)
    params = next(c.source for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", []))
    calls = []
    for cell in nb.cells:
        if cell.cell_type != "code" or "nb." not in cell.source:
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # IPython magics
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "nb"
                    and node.func.attr in ("pick", "run_config")):
                calls.append(ast.unparse(node))
    return params, calls


def budget(py: Path, profile: str):
    """What the notebook's budget is under ``profile``: the picked values and the run config."""
    params, calls = _budget_calls(py)
    scope = {}
    exec(params, scope)
    assert {"profile", "device", "seed"} <= set(scope), f"{py.stem}: parameter cell lacks profile/device/seed"
    scope.update(profile=profile, device="cpu")
    scope["nb"] = setup(scope["profile"], scope["device"], scope["seed"], quiet=True)
    out = []
    for call in calls:
        try:
            value = eval(call, {"dict": dict, "range": range, "list": list}, scope)
        except NameError:  # picks among the notebook's own objects: the literal picks decide
            continue
        out.append(dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value)
    assert out, f"{py.stem}: no budget could be evaluated"
    return out


def test_profiles_are_documented():
    readme = (ROOT / "notebooks" / "README.md").read_text(encoding="utf-8")
    for p in PROFILES:
        assert f"`{p}`" in readme, f"notebooks/README.md does not document the {p} profile"
    assert PROFILES == ("smoke", "lite", "colab", "paper")


@pytest.mark.parametrize("py", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_profile_changes_the_notebook(py):
    _, calls = _budget_calls(py)
    assert calls, f"{py.stem} picks nothing by profile (nb.pick / nb.run_config)"
    b = {p: budget(py, p) for p in PROFILES}
    for p in ("smoke", "colab", "paper"):
        assert b[p] != b["lite"], f"{py.stem}: profile {p} runs exactly what lite runs"


@pytest.mark.parametrize("profile", ["colab", "paper"])
def test_colab_and_paper_run_configs_carry_their_documented_budget(profile, capsys):
    nb = setup(profile, "cpu", 0, quiet=True)
    cfg = nb.run_config()
    if cfg.preset == "paper":  # the official weights and Chikusei are present
        assert profile == "paper"
        return
    for key, value in PROFILE_OVERRIDES[profile].items():
        assert getattr(cfg, key) == value, f"{profile}: {key} is {getattr(cfg, key)!r}, documented {value!r}"
    assert f"profile {profile}" in capsys.readouterr().out
    assert nb.pick(smoke=1, lite=2) == 2 and nb.pick(smoke=1, lite=2, paper=3) == 3
    assert nb.pick(smoke=1, lite=2, paper=3, colab=4) == (4 if profile == "colab" else 3)
