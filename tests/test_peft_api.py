"""apply_adaptation: freezing, trainable sets, gradients, summaries, switching, optimiser groups,
deep prompts (toy models; the real encoders are in test_peft_real.py)."""

import json

import pytest
import torch

from mifomo_lite.errors import ConfigError, MifomoError
from mifomo_lite.peft import (
    METHODS,
    AdaptationError,
    AdaptationSummary,
    adapter_parameters,
    apply_adaptation,
    current_adaptation,
    param_groups,
    prompt_param_count,
    protocol_trainables,
    remove_adaptation,
)
from toy_models import ToyDualBranch, ToyEncoder

PROTO_SOURCE = ("spat_encoder.patch_embed", "spat_encoder.pos_embed", "spec_encoder.spat_map",
                "spec_encoder.l1", "DR", "mlp_spec", "merger")
PROTO_TARGET = ("spat_encoder.patch_embed", "DR", "mlp_spec")


def _backward(model, x):
    model.zero_grad(set_to_none=True)
    model(x).square().mean().backward()
    return {n: p.grad for n, p in model.named_parameters()}


@pytest.mark.parametrize("method", ["cp", "lora", "prompt"])
@pytest.mark.parametrize("phase", ["source", "target"])
def test_only_adapter_and_protocol_params_get_gradients(method, phase):
    torch.manual_seed(0)
    model = ToyDualBranch()
    apply_adaptation(model, method, phase=phase, **({"rank": 2} if method == "lora" else {}))
    if method == "lora":  # make B non-zero so that A receives gradient too
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "lora_B" in n:
                    p.normal_(0, 0.1)
    adapters = set(adapter_parameters(model))
    proto = PROTO_SOURCE if phase == "source" else PROTO_TARGET
    grads = _backward(model, torch.randn(2, 16, 8))
    for n, g in grads.items():
        should = n in adapters or n.startswith(proto)
        if should:
            # the spectral toy encoder runs both of its blocks; every adapter is used
            assert g is not None and g.abs().sum() > 0, n
        else:
            assert g is None, n
            assert not dict(model.named_parameters())[n].requires_grad


def test_cp_only_trains_just_the_cps():
    model = ToyDualBranch()
    s = apply_adaptation(model, "cp", trainable_set="cp_only")
    assert s.trainable == s.adapter == s.closed_form
    assert set(s.trainable_names) == set(adapter_parameters(model))


def test_full_and_head():
    model = ToyDualBranch()
    total = sum(p.numel() for p in model.parameters())
    s = apply_adaptation(model, "full")
    assert s.trainable == s.backbone == total and s.adapter == 0
    s = apply_adaptation(model, "head", phase="target", replace=True)
    assert s.adapter == 0
    assert all(n.startswith(PROTO_TARGET) for n in s.trainable_names)
    grads = _backward(model, torch.randn(2, 16, 8))
    assert all(grads[n] is None for n in grads if ".blocks." in n)
    with pytest.raises(AdaptationError, match="leaves nothing trainable"):
        apply_adaptation(model, "head", trainable_set="cp_only", replace=True)
    assert current_adaptation(model) is None  # failed apply leaves no half-adapted model


def test_extra_trainable_for_a_bare_encoder():
    enc = ToyEncoder()
    with pytest.raises(AdaptationError, match="extra_trainable"):
        apply_adaptation(enc, "head")
    s = apply_adaptation(enc, "head", extra_trainable=("patch_embed",))
    assert s.trainable_names == ["patch_embed.weight", "patch_embed.bias"]


def test_protocol_sets():
    assert protocol_trainables("cp_only", "source") == ()
    src, tgt = protocol_trainables("code", "source"), protocol_trainables("code", "target")
    assert set(tgt) < set(src)
    assert set(src) - set(tgt) == {"spat_encoder.pos_embed", "spec_encoder.spat_map", "spec_encoder.l1", "merger"}
    with pytest.raises(ConfigError, match="trainable_set"):
        protocol_trainables("everything")
    with pytest.raises(ConfigError, match="phase"):
        protocol_trainables("code", "middle")


def test_summary_table_and_dict():
    model = ToyDualBranch()
    s = apply_adaptation(model, "cp", phase="target")
    assert isinstance(s, AdaptationSummary)
    d = s.to_dict()
    json.dumps(d)  # serialisable
    assert d["method"] == "cp" and d["adapter"] == 1536 and d["trainable"] == s.trainable
    parts = {p["name"]: p for p in d["parts"]}
    assert parts["spat_encoder.cp"]["trainable"] == 4 * 4 * 8 * 8
    assert parts["spec_encoder.cp"]["trainable"] == 2 * 4 * 8 * 8
    assert parts["spat_encoder.blocks"]["trainable"] == 0
    assert sum(p["total"] for p in d["parts"]) == s.total == s.backbone + s.adapter
    text = str(s)
    assert "spat_encoder.cp" in text and "backbone" in text and "1,536" in text


def test_unknown_method_and_options_are_refused():
    model = ToyDualBranch()
    with pytest.raises(AdaptationError, match="unknown adaptation method"):
        apply_adaptation(model, "adapterfusion")
    with pytest.raises(AdaptationError, match=r"unknown option\(s\) \['rank'\]"):
        apply_adaptation(model, "cp", rank=4)
    with pytest.raises(AdaptationError, match="takes no options"):
        apply_adaptation(model, "full", rank=4)
    with pytest.raises(AdaptationError, match="targets"):
        apply_adaptation(model, "lora", targets=("q", "x"))
    assert isinstance(AdaptationError("x"), MifomoError) and isinstance(AdaptationError("x"), ValueError)


# ------------------------------------------------------------------------------- switching
def test_switching_requires_replace_and_then_is_clean():
    torch.manual_seed(0)
    model = ToyDualBranch().eval()
    x = torch.randn(2, 16, 8)
    names0 = set(dict(model.named_parameters()))
    ref = model(x)
    apply_adaptation(model, "cp", init="identity")
    with pytest.raises(AdaptationError, match="already carries method 'cp'.*replace=True"):
        apply_adaptation(model, "lora")
    assert current_adaptation(model)["method"] == "cp"  # refused call changed nothing
    for method in ["lora", "prompt", "cp", "head", "full", "lora"]:
        s = apply_adaptation(model, method, replace=True)
        assert current_adaptation(model)["method"] == method
        kinds = {k for k, _ in adapter_parameters(model).values()}
        assert kinds == ({method} if method in ("cp", "lora", "prompt") else set())
        assert s.backbone == sum(p.numel() for n, p in model.named_parameters() if n in names0)
    remove_adaptation(model)
    assert set(dict(model.named_parameters())) == names0
    assert all(p.requires_grad for p in model.parameters())
    torch.testing.assert_close(model(x), ref, atol=0, rtol=0)  # nothing trained: same model


def test_remove_adaptation_unmerges():
    from mifomo_lite.peft import merge_adapters

    model = ToyDualBranch()
    w0 = {n: p.detach().clone() for n, p in model.named_parameters()}
    apply_adaptation(model, "cp")
    with torch.no_grad():
        for n, p in adapter_parameters(model).items():
            p[1].mul_(1.5)
    merge_adapters(model)
    apply_adaptation(model, "lora", replace=True)  # switching from a merged CP
    remove_adaptation(model)
    assert all(torch.equal(p, w0[n]) for n, p in model.named_parameters())


# ------------------------------------------------------------------------------ optimiser
def test_param_groups_give_peft_its_own_lr_and_no_decay():
    model = ToyDualBranch()
    model.scale = torch.nn.Parameter(torch.tensor(20.0))  # the prototypical temperature
    apply_adaptation(model, "cp", phase="source")
    groups = param_groups(model, lr_model=1e-4, lr_peft=1e-3, lr_scale=5e-3, weight_decay=1e-5)
    by = {g["name"]: g for g in groups}
    assert set(by) == {"peft", "scale", "model_decay", "model_no_decay"}
    ids = lambda g: {id(p) for p in g["params"]}  # noqa: E731
    assert ids(by["peft"]) == {id(p) for _, p in adapter_parameters(model).values()}
    assert by["peft"]["lr"] == 1e-3 and by["peft"]["weight_decay"] == 0.0
    assert ids(by["scale"]) == {id(model.scale)} and by["scale"]["lr"] == 5e-3 and by["scale"]["weight_decay"] == 0
    assert by["model_decay"]["lr"] == 1e-4 and by["model_decay"]["weight_decay"] == 1e-5
    assert all(p.ndim >= 2 for p in by["model_decay"]["params"])
    assert by["model_no_decay"]["weight_decay"] == 0.0
    assert all(p.ndim <= 1 for p in by["model_no_decay"]["params"])
    assert any(p is model.merger.bias for p in by["model_no_decay"]["params"])
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert set().union(*(ids(g) for g in groups)) == trainable
    assert sum(len(g["params"]) for g in groups) == len(trainable)  # no duplicates
    opt = torch.optim.AdamW(groups, eps=1e-4)
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in groups]
    # without lr_scale the scale joins the no-decay model group
    names = {g["name"] for g in param_groups(model, 1e-4, 1e-3)}
    assert "scale" not in names


def test_one_adamw_step_moves_only_trainables():
    torch.manual_seed(0)
    model = ToyDualBranch()
    apply_adaptation(model, "lora", rank=2, phase="target")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.AdamW(param_groups(model, 1e-2, 1e-2), eps=1e-4)
    model(torch.randn(2, 16, 8)).square().mean().backward()
    opt.step()
    for n, p in model.named_parameters():
        moved = not torch.equal(p, before[n])
        # lora_A gets no gradient while B = 0 (dL/dA = Bᵀ·… = 0), AdamW decay is off for it
        assert moved == (p.requires_grad and "lora_A" not in n), n


# --------------------------------------------------------------------------------- prompts
def test_prompts_shape_init_count_and_effect():
    torch.manual_seed(0)
    model = ToyDualBranch(dim=32).eval()
    x = torch.randn(2, 16, 8)
    ref = model(x)
    s = apply_adaptation(model, "prompt", n_prompts=5)
    p = model.spat_encoder.prompts
    assert p.shape == (4, 5, 32) and model.spec_encoder.prompts.shape == (2, 5, 32)
    assert 0.1 < p.std().item() * 32 ** 0.5 < 1.9  # D^-½·N(0, 1)
    assert s.adapter == s.closed_form == prompt_param_count(4, 5, 32) + prompt_param_count(2, 5, 32)
    assert model(x).shape == ref.shape and not torch.allclose(model(x), ref)
    remove_adaptation(model)
    assert model.spat_encoder.prompts is None
    torch.testing.assert_close(model(x), ref, atol=0, rtol=0)


def test_prompts_refused_with_ssa():
    model = ToyDualBranch(spat_sparse=(0, 1))
    with pytest.raises(AdaptationError, match="sparse sampling attention in blocks \\[0, 1\\]"):
        apply_adaptation(model, "prompt")
    assert model.spec_encoder.prompts is None and model.spat_encoder.prompts is None


def test_methods_constant():
    assert METHODS == ("cp", "lora", "prompt", "full", "head")


def test_cli_table(capsys):
    import argparse

    from mifomo_lite.peft import cli

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["peft", "table", "--sizes", "tiny", "--json"])
    assert args.handler(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 8 and {r["size"] for r in rows} == {"tiny"}


def test_param_groups_with_an_outside_classifier():
    model = ToyDualBranch()
    apply_adaptation(model, "cp", phase="target")
    clf = torch.nn.Module()
    clf.scale = torch.nn.Parameter(torch.tensor(20.0))
    both = torch.nn.ModuleDict({"model": model, "classifier": clf})
    by = {g["name"]: g for g in param_groups(both, 1e-4, 1e-3, lr_scale=1e-3)}
    assert by["scale"]["params"] == [clf.scale]
    assert len(by["peft"]["params"]) == 6 and by["peft"]["weight_decay"] == 0.0
