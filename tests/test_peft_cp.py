"""Coalescent projection: init, exactness at identity, folding into qkv and back, SSA, counts.

Tolerances: an identity CP multiplies by exact ones and zeros, so outputs are compared with
``torch.equal`` (bit-exact). Merged vs unmerged differ only by float rounding of the folded
weights: float64 models are compared at atol 1e-10, float32 at atol 2e-5 (outputs are O(1)).
``unmerge(merge(W))`` restores stored copies and is compared with ``torch.equal``.
"""

import pytest
import torch

from mifomo_lite.models.blocks import Attention, Block, SparseSamplingAttention
from mifomo_lite.peft import (
    AdaptationError,
    CoalescentProjection,
    apply_adaptation,
    cp_param_count,
    init_cp_,
    install_cp,
    merge_adapters,
    remove_cp,
    unmerge_adapters,
)
from toy_models import ToyDualBranch, ToyEncoder


def _perturb(model, scale=0.3, seed=1):
    """Move every CP away from (almost) identity so that merge tests are meaningful."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, CoalescentProjection):
                m.weight.add_(scale * torch.randn(m.weight.shape, generator=g, dtype=m.weight.dtype))


def _qkv_state(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if "attn.qkv" in n}


# ------------------------------------------------------------------------------------ init
def test_almost_diagonal_init_matches_official_recipe():
    torch.manual_seed(0)
    w = init_cp_(torch.empty(12, 64, 64), "almost_diagonal", std=0.02)
    diag = w.diagonal(dim1=-2, dim2=-1)
    assert torch.equal(diag, torch.ones_like(diag))
    off = w - torch.diag_embed(diag)
    assert 0.015 < off[off != 0].std().item() < 0.025
    assert off.abs().max().item() < 0.15


def test_identity_and_other_inits():
    eye = torch.eye(8).expand(3, 8, 8)
    assert torch.equal(init_cp_(torch.empty(3, 8, 8), "identity"), eye)
    assert torch.equal(init_cp_(torch.empty(8, 8), "identity"), torch.eye(8))
    u = init_cp_(torch.empty(8, 8), "uniform")
    assert u.abs().max() <= 0.08
    with pytest.raises(AdaptationError, match="unknown CP init"):
        init_cp_(torch.empty(8, 8), "orthogonal")


def test_shapes_per_head_and_shared():
    assert CoalescentProjection(4, 8).weight.shape == (4, 8, 8)
    assert CoalescentProjection(4, 8, shared=True).weight.shape == (8, 8)


# ------------------------------------------------------------------------- forward exactness
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("shared", [False, True])
def test_identity_cp_leaves_block_output_unchanged(sparse, shared):
    torch.manual_seed(0)
    blk = Block(32, 4, sparse=sparse, n_points=4).eval()
    x = torch.randn(2, 16, 32)
    ref = blk(x, (4, 4))
    install_cp(blk.attn, shared=shared, init="identity", value_side=True)
    assert torch.equal(blk(x, (4, 4)), ref)  # exact: multiplication by I


def test_cp_changes_logits_as_bilinear_form():
    """(q·s)·C·kᵀ computed by the hook equals a hand-written attention with C."""
    torch.manual_seed(0)
    attn = Attention(16, 2).double()
    (cp,) = install_cp(attn)
    _perturb(attn, 0.5)
    x = torch.randn(1, 5, 16, dtype=torch.float64)
    q, k, v = attn.qkv(x).reshape(1, 5, 3, 2, 8).permute(2, 0, 3, 1, 4)
    logits = (q * attn.scale) @ cp.weight @ k.transpose(-1, -2)
    out = attn.merge_heads(logits.softmax(-1) @ v)
    torch.testing.assert_close(attn(x), out, atol=1e-12, rtol=0)


# ----------------------------------------------------------------------------------- merging
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("value_side", [False, True])
def test_merge_equals_unmerged_float64(shared, value_side):
    torch.manual_seed(0)
    model = ToyDualBranch().double().eval()
    apply_adaptation(model, "cp", shared_across_heads=shared, value_side=value_side)
    _perturb(model)
    x = torch.randn(3, 16, 8, dtype=torch.float64)
    before = model(x)
    w0 = _qkv_state(model)
    res = merge_adapters(model)
    assert res == {"merged": 6 * (2 if value_side else 1), "skipped": 0}  # 4 + 2 layers
    assert any(not torch.equal(w0[n], p) for n, p in model.named_parameters() if n in w0)
    torch.testing.assert_close(model(x), before, atol=1e-10, rtol=0)
    assert unmerge_adapters(model) == res["merged"]
    for n, p in model.named_parameters():
        if n in w0:
            assert torch.equal(p, w0[n]), n  # bit-exact restore
    torch.testing.assert_close(model(x), before, atol=0, rtol=0)


def test_merge_equals_unmerged_float32_and_zero_overhead_modules():
    torch.manual_seed(0)
    model = ToyDualBranch().eval()
    apply_adaptation(model, "cp")
    _perturb(model)
    x = torch.randn(3, 16, 8)
    before = model(x)
    merge_adapters(model)
    torch.testing.assert_close(model(x), before, atol=2e-5, rtol=1e-5)
    # merged CPs are pass-throughs
    cps = [m for m in model.modules() if isinstance(m, CoalescentProjection)]
    assert all(cp.merged for cp in cps)
    q = torch.randn(1, 4, 3, 8)
    assert cps[0](q) is q


def test_merge_twice_and_unmerge_unmerged_are_refused():
    attn = Attention(16, 2)
    (cp,) = install_cp(attn)
    with pytest.raises(AdaptationError, match="not merged"):
        cp.unmerge(attn)
    with pytest.raises(AdaptationError, match="not installed"):
        cp.merge(Attention(16, 2))
    cp.merge(attn)
    with pytest.raises(AdaptationError, match="already merged"):
        cp.merge(attn)


def test_safe_merge_rejects_non_finite():
    attn = Attention(16, 2)
    (cp,) = install_cp(attn)
    w0 = attn.qkv.weight.detach().clone()
    with torch.no_grad():
        cp.weight[0, 0, 0] = float("inf")
    with pytest.raises(AdaptationError, match="NaN/Inf"):
        cp.merge(attn, safe=True)
    assert not cp.merged and torch.equal(attn.qkv.weight, w0)


def test_ssa_query_cp_refuses_merge_value_cp_merges_exactly():
    torch.manual_seed(0)
    enc = ToyEncoder(sparse_blocks=(0, 1)).double().eval()
    apply_adaptation(enc, "cp", value_side=True, trainable_set="cp_only")
    _perturb(enc)
    x = torch.randn(2, 16, 8, dtype=torch.float64)
    before = enc(x)[0]
    w0 = _qkv_state(enc)
    with pytest.raises(AdaptationError, match="sparse sampling attention"):
        merge_adapters(enc)
    assert all(torch.equal(p, w0[n]) for n, p in enc.named_parameters() if n in w0)  # untouched
    res = merge_adapters(enc, strict=False)
    assert res == {"merged": 4, "skipped": 2}  # 3 value CPs + the MHSA block's query CP
    torch.testing.assert_close(enc(x)[0], before, atol=1e-10, rtol=0)
    unmerge_adapters(enc)
    assert all(torch.equal(p, w0[n]) for n, p in enc.named_parameters() if n in w0)


def test_cp_gets_gradient_inside_ssa():
    torch.manual_seed(0)
    blk = Block(32, 4, sparse=True, n_points=4)
    (cp,) = install_cp(blk.attn)
    blk(torch.randn(2, 16, 32), (4, 4)).square().sum().backward()
    assert cp.weight.grad is not None and cp.weight.grad.abs().sum() > 0


def test_remove_cp_unmerges_first():
    attn = SparseSamplingAttention(16, 2, n_points=2)
    w0 = attn.qkv.weight.detach().clone()
    install_cp(attn, value_side=True)
    attn.value_adapter.merge(attn)
    assert remove_cp(attn) == 2
    assert attn.query_adapter is None and attn.value_adapter is None
    assert torch.equal(attn.qkv.weight, w0)


# ------------------------------------------------------------------------------------ counts
@pytest.mark.parametrize("shared,value_side", [(False, False), (True, False), (False, True), (True, True)])
def test_cp_counts_match_closed_form(shared, value_side):
    model = ToyDualBranch(dim=48, heads=6)
    s = apply_adaptation(model, "cp", shared_across_heads=shared, value_side=value_side)
    layers, heads, dh = 4 + 2, 6, 8
    expect = cp_param_count(layers, heads, dh, shared, value_side)
    assert expect == layers * (dh * dh if shared else heads * dh * dh) * (2 if value_side else 1)
    assert s.adapter == s.closed_form == expect
