"""All five methods on the real HyperSIGMA models (MIFOMO variant), tiny/small on CPU; base counts on
the meta device (instant) and base numerics marked slow.

Tolerances as in test_peft_cp/test_peft_lora: identity CP and zero-B LoRA are bit-exact
(``torch.equal``); merged vs unmerged at atol 1e-9 in float64 (tiny/small) and atol 1e-4 relative
1e-4 in float32 (base); ``unmerge(merge(W))`` bit-exact.
"""

import pytest
import torch

from mifomo_lite.models.blocks import SparseSamplingAttention
from mifomo_lite.models.factory import create_model
from mifomo_lite.peft import (
    AdaptationError,
    CoalescentProjection,
    LoRALinear,
    adapter_parameters,
    apply_adaptation,
    format_parameter_table,
    merge_adapters,
    parameter_table,
    remove_adaptation,
    unmerge_adapters,
)


def _x(b=2, dtype=torch.float32, seed=0):
    return torch.randn(b, 50, 9, 9, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _perturb_adapters(model, scale=0.2, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in adapter_parameters(model).values():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return create_model("tiny").eval()


@pytest.mark.parametrize("method", ["cp", "lora", "prompt", "full", "head"])
def test_every_method_trains_on_tiny(tiny, method):
    s = apply_adaptation(tiny, method, replace=True, phase="target")
    assert s.trainable > 0 and s.adapter == s.closed_form
    tiny.zero_grad(set_to_none=True)
    tiny(_x()).square().mean().backward()
    adapters = set(adapter_parameters(tiny))
    tap = tiny.spec_encoder.tap
    for n, p in tiny.named_parameters():
        if not p.requires_grad:
            assert p.grad is None, n
        elif method == "lora" and "lora_A" in n:
            assert p.grad is None or p.grad.abs().sum() == 0, n  # B = 0 at step 0
        elif n.startswith("spec_encoder.blocks.") and int(n.split(".")[2]) > tap:
            assert p.grad is None, n  # spectral blocks after the tap never run
        elif n.endswith("norm.weight") or n.endswith("norm.bias"):
            pass  # the encoders' final norm is loaded but never applied
        else:
            assert p.grad is not None, n
    if method in ("cp", "lora", "prompt"):
        assert {n for n, p in tiny.named_parameters() if p.requires_grad} >= adapters
    remove_adaptation(tiny)


@pytest.mark.parametrize("attention", ["mhsa", "ssa"])
def test_identity_cp_and_zero_lora_are_exact_on_tiny(attention):
    torch.manual_seed(0)
    model = create_model("tiny", attention=attention).eval()
    x = _x()
    ref = model(x)
    apply_adaptation(model, "cp", init="identity", value_side=True)
    assert torch.equal(model(x), ref)
    apply_adaptation(model, "lora", replace=True, targets=("q", "k", "v", "proj", "fc1", "fc2"))
    assert torch.equal(model(x), ref)
    apply_adaptation(model, "lora", replace=True, variant="output", rank=3)
    assert torch.equal(model(x), ref)


@pytest.mark.parametrize("size,method,opts", [
    ("tiny", "cp", {}),
    ("tiny", "cp", {"shared_across_heads": True, "value_side": True}),
    ("tiny", "lora", {"rank": 4}),
    ("tiny", "lora", {"rank": 3, "variant": "output"}),
    ("small", "cp", {}),
    ("small", "lora", {"rank": 3, "variant": "output"}),
])
def test_merge_equals_unmerged_on_real_models(size, method, opts):
    torch.manual_seed(0)
    model = create_model(size).double().eval()
    apply_adaptation(model, method, **opts)
    _perturb_adapters(model)
    x = _x(1, dtype=torch.float64)
    before = model(x)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if n not in adapter_parameters(model)}
    res = merge_adapters(model, safe=True)
    assert res["skipped"] == 0 and res["merged"] > 0
    torch.testing.assert_close(model(x), before, atol=1e-9, rtol=0)
    unmerge_adapters(model)
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)


def test_cp_inside_real_ssa_encoders():
    torch.manual_seed(0)
    model = create_model("tiny", attention="ssa").double().eval()
    n_ssa = sum(isinstance(m, SparseSamplingAttention) for m in model.modules())
    assert n_ssa == 8  # 4 of 6 blocks in each encoder
    apply_adaptation(model, "cp")
    _perturb_adapters(model)
    x = _x(dtype=torch.float64)
    before = model(x)
    with pytest.raises(AdaptationError, match="sparse sampling attention"):
        merge_adapters(model)
    assert merge_adapters(model, strict=False) == {"merged": 4, "skipped": 8}
    torch.testing.assert_close(model(x), before, atol=1e-9, rtol=0)
    unmerge_adapters(model)
    model.zero_grad(set_to_none=True)
    model(x).sum().backward()
    ssa_cp = model.spat_encoder.blocks[0].attn.query_adapter
    assert isinstance(ssa_cp, CoalescentProjection) and ssa_cp.weight.grad.abs().sum() > 0
    with pytest.raises(AdaptationError, match="full attention"):
        apply_adaptation(model, "prompt", replace=True)


def test_lora_keeps_checkpoint_keys(tiny):
    keys = set(tiny.state_dict())
    apply_adaptation(tiny, "lora", replace=True)
    new = set(tiny.state_dict())
    assert keys <= new and all("lora_" in k for k in new - keys)
    assert isinstance(tiny.spat_encoder.blocks[0].attn.qkv, LoRALinear)
    remove_adaptation(tiny)
    assert set(tiny.state_dict()) == keys


# ----------------------------------------------------------------------------- base (meta)
@pytest.fixture(scope="module")
def base_meta():
    return create_model("base", device="meta")


def test_base_counts_match_spec(base_meta):
    """SPEC §7.1 / §7.4 numbers (the prototypical scale, 1 parameter, lives outside the model)."""
    s = apply_adaptation(base_meta, "cp", replace=True, phase="source")
    assert s.adapter == s.closed_form == 2 * 12 * 12 * 64 ** 2 == 1_179_648
    assert s.trainable == 2_673_921 - 1 and s.effective_trainable == 2_280_705 - 1
    assert s.backbone + s.adapter == 172_862_721 - 1
    s = apply_adaptation(base_meta, "cp", replace=True, phase="target")
    assert s.trainable == 2_056_449 - 1 and s.effective_trainable == 1_663_233 - 1
    cp_used = sum(p.total for p in s.parts if p.kind == "adapter") - 8 * 12 * 64 ** 2
    assert cp_used == 786_432
    s = apply_adaptation(base_meta, "cp", replace=True, shared_across_heads=True, trainable_set="cp_only")
    assert s.trainable == s.adapter == 98_304 and s.effective_trainable == 65_536
    s = apply_adaptation(base_meta, "lora", replace=True, rank=3, variant="output", trainable_set="cp_only")
    assert s.adapter == 2 * 12 * 2 * 3 * (768 + 768)
    s = apply_adaptation(base_meta, "prompt", replace=True, trainable_set="cp_only")
    assert s.adapter == 2 * 12 * 8 * 768
    remove_adaptation(base_meta)


def test_parameter_table_tiny_base():
    rows = parameter_table(("tiny", "base"))
    assert len(rows) == 16 and all(r["adapter"] == r["adapter_closed_form"] for r in rows)
    base_cp = next(r for r in rows if r["size"] == "base" and r["label"] == "CP (per head)")
    assert base_cp["adapter"] == 1_179_648 and base_cp["backbone"] == 171_683_072
    text = format_parameter_table(rows)
    assert "| base | CP (per head) | 1,179,648 |" in text


# ---------------------------------------------------------------------------- base (numbers)
@pytest.fixture(scope="module")
def base_model():
    torch.manual_seed(0)
    return create_model("base")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["cp", "lora", "prompt", "full", "head"])
def test_base_all_methods_forward_backward(base_model, method):
    model = base_model
    s = apply_adaptation(model, method, phase="target", replace=True)
    assert s.adapter == s.closed_form
    model.zero_grad(set_to_none=True)
    model(_x(1)).square().mean().backward()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert all(p.grad is None for n, p in model.named_parameters() if n not in trainable)
    assert all(p.grad is not None for n, p in model.named_parameters()
               if n in trainable and (n.startswith(("DR", "mlp_spec")) or ".blocks.0." in n))


@pytest.mark.slow
def test_base_cp_merge_float32(base_model):
    torch.manual_seed(0)
    model = base_model.eval()
    apply_adaptation(model, "cp", replace=True)
    _perturb_adapters(model, 0.05)
    x = _x(2)
    with torch.no_grad():
        before = model(x)
        frozen = {n: p.detach().clone() for n, p in model.named_parameters() if "attn.qkv" in n}
        merge_adapters(model, safe=True)
        torch.testing.assert_close(model(x), before, atol=1e-4, rtol=1e-4)
        unmerge_adapters(model)
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)
    with torch.no_grad():
        assert torch.equal(model(x), before)
