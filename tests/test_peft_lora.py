"""LoRA: zero-B start, slices of the fused qkv, both variants, merge/unmerge/safe merge, counts.

Tolerances: with B = 0 the adapter adds exact zeros, so outputs are compared with ``torch.equal``.
Merged vs unmerged: float64 at atol 1e-10, float32 at atol 2e-5. ``unmerge(merge(W))`` restores
stored copies (``torch.equal``).
"""

import pytest
import torch
from torch import nn

from mifomo_lite.models.blocks import Block
from mifomo_lite.peft import (
    AdaptationError,
    LoRALinear,
    apply_adaptation,
    lora_param_count,
    merge_adapters,
    remove_adaptation,
    unmerge_adapters,
    unwrap_lora,
)
from toy_models import ToyDualBranch, ToyEncoder


def _randomize_B(model, scale=0.2, seed=3):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LoRALinear):
                for p in m.lora_B.values():
                    p.copy_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


def test_wrapper_keeps_base_parameters_and_names():
    lin = nn.Linear(8, 24)
    w, b = lin.weight, lin.bias
    lora = LoRALinear(lin, {"q": (0, 8), "v": (16, 24)}, rank=2, alpha=4)
    assert lora.weight is w and lora.bias is b and not w.requires_grad and not b.requires_grad
    keys = set(dict(lora.named_parameters()))
    assert keys == {"weight", "bias", "lora_A.q", "lora_A.v", "lora_B.q", "lora_B.v"}
    assert lora.scaling == 2.0
    assert torch.equal(lora.lora_B["q"], torch.zeros(8, 2))
    assert lora.lora_A["q"].abs().sum() > 0
    back = unwrap_lora(lora)
    assert isinstance(back, nn.Linear) and back.weight is w and back.bias is b


def test_bad_slices_are_refused():
    lin = nn.Linear(8, 24)
    with pytest.raises(AdaptationError, match="overlap"):
        LoRALinear(lin, {"a": (0, 10), "b": (8, 16)}, rank=2)
    with pytest.raises(AdaptationError, match="outside"):
        LoRALinear(lin, {"a": (16, 30)}, rank=2)
    with pytest.raises(AdaptationError, match="variant"):
        LoRALinear(lin, {"a": (0, 8)}, rank=2, variant="sideways")


@pytest.mark.parametrize("variant", ["input", "output"])
@pytest.mark.parametrize("sparse", [False, True])
def test_zero_B_is_exactly_the_frozen_block(variant, sparse):
    torch.manual_seed(0)
    blk = Block(32, 4, sparse=sparse, n_points=4).eval()
    x = torch.randn(2, 16, 32)
    ref = blk(x, (4, 4))
    blk.attn.qkv = LoRALinear(blk.attn.qkv, {"q": (0, 32), "v": (64, 96)}, rank=3, variant=variant)
    assert torch.equal(blk(x, (4, 4)), ref)


def test_input_variant_is_W_plus_scaled_BA():
    torch.manual_seed(0)
    lin = nn.Linear(6, 12).double()
    W0 = lin.weight.detach().clone()
    lora = LoRALinear(lin, {"k": (4, 8)}, rank=2, alpha=6)
    _randomize_B(lora)
    x = torch.randn(5, 6, dtype=torch.float64)
    W = W0.clone()
    W[4:8] += 3.0 * lora.lora_B["k"] @ lora.lora_A["k"]
    torch.testing.assert_close(lora(x), x @ W.T + lin.bias, atol=1e-12, rtol=0)


def test_output_variant_adapts_the_projected_slice():
    """MIFOMO's code: q ← q + W_up·W_down·q on the projected q, no scaling."""
    torch.manual_seed(0)
    lin = nn.Linear(6, 18).double()
    lora = LoRALinear(lin, {"q": (0, 6)}, rank=3, alpha=None, variant="output")
    _randomize_B(lora)
    x = torch.randn(4, 6, dtype=torch.float64)
    y = lin(x)
    q = y[:, :6]
    expect = torch.cat([q + (q @ lora.lora_A["q"].T) @ lora.lora_B["q"].T, y[:, 6:]], -1)
    torch.testing.assert_close(lora(x), expect, atol=1e-12, rtol=0)
    assert lora.lora_A["q"].shape == (3, 6)


@pytest.mark.parametrize("variant", ["input", "output"])
@pytest.mark.parametrize("targets", [("q", "v"), ("q", "k", "v", "proj", "fc1", "fc2")])
def test_merge_equals_unmerged_and_unmerge_is_exact(variant, targets):
    torch.manual_seed(0)
    model = ToyDualBranch().double().eval()
    apply_adaptation(model, "lora", rank=4, alpha=8, targets=targets, variant=variant)
    _randomize_B(model)
    x = torch.randn(2, 16, 8, dtype=torch.float64)
    before = model(x)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}
    res = merge_adapters(model, safe=True)
    n_wrapped = 6 * ((1 if {"q", "k", "v"} & set(targets) else 0) + len(set(targets) & {"proj", "fc1", "fc2"}))
    assert res == {"merged": n_wrapped, "skipped": 0}
    torch.testing.assert_close(model(x), before, atol=1e-10, rtol=0)
    unmerge_adapters(model)
    for n, p in model.named_parameters():
        if n in frozen:
            assert torch.equal(p, frozen[n]), n
    torch.testing.assert_close(model(x), before, atol=0, rtol=0)


def test_merge_float32_and_ssa():
    torch.manual_seed(0)
    enc = ToyEncoder(sparse_blocks=(0, 2)).eval()
    apply_adaptation(enc, "lora", rank=4, trainable_set="cp_only")
    _randomize_B(enc)
    x = torch.randn(2, 16, 8)
    before = enc(x)[0]
    assert merge_adapters(enc) == {"merged": 3, "skipped": 0}  # LoRA merges in SSA too
    torch.testing.assert_close(enc(x)[0], before, atol=2e-5, rtol=1e-5)


def test_safe_merge_leaves_weights_untouched_on_nan():
    lin = nn.Linear(8, 24)
    w0 = lin.weight.detach().clone()
    lora = LoRALinear(lin, {"q": (0, 8), "v": (16, 24)}, rank=2)
    with torch.no_grad():
        lora.lora_B["v"][0, 0] = float("nan")
    with pytest.raises(AdaptationError, match="NaN/Inf"):
        lora.merge(safe=True)
    assert not lora.merged and torch.equal(lora.weight, w0)
    lora.merge()  # an unsafe merge commits (and the NaN shows up)
    assert torch.isnan(lora.weight).any()
    lora.unmerge()
    assert torch.equal(lora.weight, w0)


def test_model_level_safe_merge_rolls_back():
    model = ToyDualBranch()
    apply_adaptation(model, "lora")
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}
    last = [m for m in model.modules() if isinstance(m, LoRALinear)][-1]
    with torch.no_grad():
        last.lora_B["q"].fill_(float("inf"))
    with pytest.raises(AdaptationError):
        merge_adapters(model, safe=True)
    assert not any(m.merged for m in model.modules() if isinstance(m, LoRALinear))
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)


def test_remove_adaptation_restores_plain_linear_after_merge():
    model = ToyDualBranch()
    w0 = {n: p.detach().clone() for n, p in model.named_parameters()}
    apply_adaptation(model, "lora", targets=("q", "v", "fc1"))
    _randomize_B(model)
    merge_adapters(model)
    remove_adaptation(model)
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    assert set(dict(model.named_parameters())) == set(w0)
    assert all(torch.equal(p, w0[n]) for n, p in model.named_parameters())


@pytest.mark.parametrize("variant", ["input", "output"])
def test_lora_counts_match_closed_form(variant):
    model = ToyDualBranch(dim=32)
    targets = ("q", "v", "fc1")
    s = apply_adaptation(model, "lora", rank=5, targets=targets, variant=variant)
    D, hidden, layers = 32, 128, 6
    per_layer = 2 * lora_param_count(5, D, D)  # q and v: r·(D + D) each
    per_layer += lora_param_count(5, D if variant == "input" else hidden, hidden)
    assert s.adapter == s.closed_form == layers * per_layer
