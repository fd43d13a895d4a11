"""Exercise checkers accept the reference solutions, reject typical mistakes, never crash on a
student's answer and never print the expected answer."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mifomo_lite.exercises import UnknownExercise, check, get, list_exercises, results, score
from mifomo_lite.exercises.core import Fail, MissingExpectation, expect_close, expect_equal, recording
from mifomo_tools.nbrun import discover, read_py

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the teacher folder sits beside the kit, not inside it
    sys.path.insert(0, str(ROOT))
from teacher.exercises import install  # noqa: E402
from teacher.exercises.record import record_all  # noqa: E402

install()
EXERCISES = list_exercises()
IDS = [e.id for e in EXERCISES]


def test_exercises_are_registered():
    assert len(EXERCISES) >= 3
    for e in EXERCISES:
        assert re.fullmatch(r"\d\d\.\d+", e.id)
        assert e.notebook[:2] == e.id[:2]
        assert e.hint and e.title


@pytest.mark.parametrize("ex_id", IDS)
def test_reference_is_accepted(ex_id, capsys):
    ex = get(ex_id)
    assert check(ex_id, ex.reference()) is True
    assert capsys.readouterr().out.startswith("✓")


@pytest.mark.parametrize("ex_id", IDS)
def test_wrong_answers_are_rejected_with_a_hint(ex_id, capsys):
    ex = get(ex_id)
    wrong = list(ex.wrong_answers())
    assert len(wrong) >= 2, f"exercise {ex_id} needs at least two typical mistakes to test"
    for answer in wrong:
        assert check(ex_id, answer) is False
        out = capsys.readouterr().out
        assert out.startswith("✗") and "Hint:" in out and ex.hint in out


@pytest.mark.parametrize("ex_id", IDS)
def test_stored_checks_alone_accept_the_reference_and_reject_the_mistakes(ex_id, capsys):
    """What a student's installation does: no reference solutions, only the stored checks."""
    ex = get(ex_id)
    with recording(stored_only=True):
        assert check(ex_id, ex.reference()) is True
        for answer in ex.wrong_answers():
            assert check(ex_id, answer) is False
    assert "✗" in capsys.readouterr().out


def test_stored_checks_are_fresh():
    from mifomo_lite.exercises.core import EXPECTED_DIR

    for nb, text in record_all().items():
        assert (EXPECTED_DIR / f"{nb}.json").read_text(encoding="utf-8") == text, (
            f"{nb}.json is stale; re-record with: python -m teacher.exercises.record")


def test_the_kit_alone_has_no_reference_solutions(tmp_path):
    """Without the teacher folder, no exercise can hand out its solution."""
    (tmp_path / "kit").mkdir()
    (tmp_path / "kit" / "mifomo_lite").symlink_to(ROOT / "mifomo_lite", target_is_directory=True)
    code = ("import importlib.util\n"
            "from mifomo_lite.exercises import list_exercises\n"
            "from mifomo_lite.exercises.core import MissingExpectation\n"
            "assert importlib.util.find_spec('teacher') is None, 'teacher importable'\n"
            "n = 0\n"
            "for ex in list_exercises():\n"
            "    try:\n"
            "        ex.reference()\n"
            "    except MissingExpectation:\n"
            "        n += 1\n"
            "print(n, len(list_exercises()))\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120, env={**env, "PYTHONPATH": str(tmp_path / "kit")})
    assert out.returncode == 0, out.stderr
    n, total = map(int, out.stdout.split())
    assert n == total >= 30
    for f in (ROOT / "mifomo_lite" / "exercises").glob("nb*.py"):
        assert not re.search(r"def _ref_|reference=", f.read_text(encoding="utf-8")), f"{f.name} holds a reference"


@pytest.mark.parametrize("ex_id", IDS)
def test_placeholders_and_crashes_are_wrong_not_errors(ex_id, capsys):
    ex = get(ex_id)

    def todo(*args, **kwargs):
        raise NotImplementedError

    def crash(*args, **kwargs):
        raise ZeroDivisionError("boom")

    for answer in (None, ..., todo, crash, "nonsense", 3):
        assert check(ex_id, answer) is False
    out = capsys.readouterr().out
    if ex.expects == "function":
        assert "not implemented yet" in out
        assert "ZeroDivisionError" in out


def test_feedback_never_prints_a_value_answer(capsys):
    for ex in EXERCISES:
        ref = ex.reference()
        if callable(ref) or not isinstance(ref, (int, float, str)):
            continue
        for answer in ex.wrong_answers():
            check(ex.id, answer)
        assert repr(ref) not in capsys.readouterr().out


def test_unknown_exercise_names_the_known_ones():
    with pytest.raises(UnknownExercise, match="00.1"):
        check("99.9", 1)


def test_results_and_score_follow_the_last_check(capsys):
    ex = EXERCISES[0]
    check(ex.id, None)
    assert results(ex.notebook)[ex.id] is False
    check(ex.id, ex.reference())
    assert results(ex.notebook)[ex.id] is True
    passed, total = score(ex.notebook)
    assert 1 <= passed <= total == len(list_exercises(ex.notebook))


def test_helpers_describe_without_revealing():
    with pytest.raises(Fail, match="too high") as e:
        expect_equal(12, 10)
    assert "10" not in str(e.value).replace("12", "")
    with pytest.raises(Fail, match="whole number"):
        expect_equal(2.5, 3)
    with pytest.raises(Fail, match=r"shape \(2,\), expected \(3,\)"):
        expect_close(np.zeros(2), np.zeros(3))
    with pytest.raises(Fail, match="NaN"):
        expect_close(np.array([np.nan, 1.0]), np.ones(2))
    expect_close(np.ones(3) + 1e-9, np.ones(3))


def test_every_notebook_exercise_is_registered_and_used():
    used = {}
    for py in discover(ROOT / "notebooks"):
        code = "\n".join(c.source for c in read_py(py).cells if c.cell_type == "code")
        used[py.stem] = set(re.findall(r"check\(\s*[\"'](\d\d\.\d+)[\"']", code))
    all_used = set().union(*used.values()) if used else set()
    assert all_used <= set(IDS), f"notebooks check unregistered exercises {sorted(all_used - set(IDS))}"
    for ex in EXERCISES:
        if ex.notebook in used:
            assert ex.id in used[ex.notebook], f"exercise {ex.id} is registered but {ex.notebook} never checks it"


def test_references_agree_with_the_library():
    """The private references teach what the kit actually does."""
    import torch

    from mifomo_lite.models.blocks import Attention
    from mifomo_lite.models.pretrain import random_masking
    from mifomo_lite.peft import CoalescentProjection, cp_param_count, lora_param_count

    attn_params, visible = get("01.4").reference(), get("01.3").reference()
    for d, bias in [(128, True), (96, False)]:
        assert attn_params(d, bias) == sum(p.numel() for p in Attention(d, 4, qkv_bias=bias).parameters())
    for n, r in [(81, 0.75), (25, 0.25), (10, 0.95)]:
        assert random_masking(torch.zeros(1, n, 2), r)[0].shape[1] == visible(n, r)
    cp_params, lora_params = get("02.2").reference(), get("02.3").reference()
    assert cp_params(24, 12, 64) == cp_param_count(24, 12, 64) == 1_179_648
    assert cp_params(24, 12, 64, True) == cp_param_count(24, 12, 64, shared=True)
    assert lora_params(16, 768, 768, 48) == lora_param_count(16, 768, 768, 48)

    # 02.1 and 02.4 against a real attention layer carrying a CP
    torch.manual_seed(0)
    layer = Attention(16, 2).double().eval()
    cp = CoalescentProjection(2, 8).double()
    with torch.no_grad():
        cp.weight.add_(0.3 * torch.randn_like(cp.weight))
    layer.query_adapter = cp
    x = torch.randn(3, 5, 16, dtype=torch.float64)
    qkv = layer.qkv(x).reshape(3, 5, 3, 2, 8).permute(2, 0, 3, 1, 4)
    out = get("02.1").reference()(qkv[0], qkv[1], qkv[2], cp.weight.detach())
    want = layer(x)
    assert torch.allclose(layer.merge_heads(out), want, atol=1e-10)
    merge = get("02.4").reference()
    W, b = layer.qkv.weight[:8].detach().numpy(), layer.qkv.bias[:8].detach().numpy()
    Wm, bm = merge(W, b, cp.weight[0].detach().numpy())
    xn = x[0].numpy()
    assert np.allclose(xn @ Wm.T + bm, (xn @ W.T + b) @ cp.weight[0].detach().numpy())
