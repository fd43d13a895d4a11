"""Transformer blocks: MHSA and SSA against the SPEC §5.1/§5.3 recipes, run_blocks semantics."""

import math

import pytest
import torch
import torch.nn.functional as F

from mifomo_lite.models.blocks import Attention, Block, DropPath, SparseSamplingAttention, run_blocks


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _reference_ssa(attn: SparseSamplingAttention, x: torch.Tensor, Hg: int, Wg: int) -> torch.Tensor:
    """SPEC §5.3 written out step by step, with the official tensor layouts."""
    B, N, C = x.shape
    H, P = attn.num_heads, attn.n_points
    c = C // H
    qkv = attn.qkv(x).reshape(B, N, 3, C).permute(2, 0, 1, 3)
    q, k, v = qkv[0], qkv[1], qkv[2]
    off = attn.sampling_offsets(q).reshape(B, N, H, P, 2).transpose(1, 2)  # B,H,N,P,2
    ref_y, ref_x = torch.meshgrid(torch.linspace(0.5, Hg - 0.5, Hg), torch.linspace(0.5, Wg - 0.5, Wg), indexing="ij")
    ref = torch.stack((ref_x.reshape(-1) / Wg, ref_y.reshape(-1) / Hg), -1)[None]  # 1,N,2
    loc = ref[:, None, :, None, :] + off / torch.tensor([Wg, Hg], dtype=x.dtype)
    loc = (2 * loc - 1).flatten(0, 1)  # B*H,N,P,2
    qh = q.reshape(B, N, H, c).transpose(1, 2)
    kh = k.reshape(B, N, H, c).transpose(1, 2).flatten(0, 1).transpose(1, 2).reshape(B * H, c, Hg, Wg)
    vh = v.reshape(B, N, H, c).transpose(1, 2).flatten(0, 1).transpose(1, 2).reshape(B * H, c, Hg, Wg)
    ks = F.grid_sample(kh, loc, mode="bilinear", padding_mode="zeros", align_corners=False)
    vs = F.grid_sample(vh, loc, mode="bilinear", padding_mode="zeros", align_corners=False)
    ks = ks.reshape(B, H, c, N, P).permute(0, 1, 3, 4, 2)
    vs = vs.reshape(B, H, c, N, P).permute(0, 1, 3, 4, 2)
    w = ((qh[:, :, :, None, :] * ks).sum(-1) * c ** -0.5).softmax(-1)[..., None]
    out = (w * vs).sum(-2).transpose(1, 2).reshape(B, N, C)
    return attn.proj(out)


def test_ssa_matches_reference_recipe():
    torch.manual_seed(0)
    attn = SparseSamplingAttention(32, 4, n_points=8)
    with torch.no_grad():
        attn.sampling_offsets.weight.normal_(0, 0.5)
        attn.sampling_offsets.bias.normal_(0, 1.0)
    x = torch.randn(2, 5 * 7, 32)
    assert torch.allclose(attn(x, (5, 7)), _reference_ssa(attn, x, 5, 7), atol=1e-5)


def test_ssa_with_zero_offsets_attends_to_itself():
    """Zero offsets put all P points on the query's own token: output = proj(v)."""
    torch.manual_seed(1)
    attn = SparseSamplingAttention(16, 2, n_points=4)
    with torch.no_grad():
        attn.sampling_offsets.weight.zero_()
        attn.sampling_offsets.bias.zero_()
    x = torch.randn(3, 16, 16)
    v = attn.qkv(x)[..., 32:]
    assert torch.allclose(attn(x, (4, 4)), attn.proj(v), atol=1e-5)


def test_ssa_needs_a_matching_grid():
    attn = SparseSamplingAttention(16, 2)
    with pytest.raises(ValueError, match="grid"):
        attn(torch.randn(1, 9, 16))
    with pytest.raises(ValueError, match="does not match"):
        attn(torch.randn(1, 9, 16), (2, 4))


def test_mhsa_matches_textbook_formula():
    torch.manual_seed(2)
    attn = Attention(24, 3)
    x = torch.randn(2, 10, 24)
    B, N, C = x.shape
    qkv = attn.qkv(x).reshape(B, N, 3, 3, 8).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    w = ((q * 8 ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
    ref = attn.proj((w @ v).transpose(1, 2).reshape(B, N, C))
    assert torch.allclose(attn(x), ref, atol=1e-5)


def test_query_adapter_hook_sees_scaled_queries():
    attn = Attention(16, 2)
    seen = {}

    class Spy(torch.nn.Module):
        def forward(self, q):
            seen["q"] = q
            return q

    attn.query_adapter = Spy()
    x = torch.randn(1, 4, 16)
    attn(x)
    raw = attn.qkv(x)[..., :16].reshape(1, 4, 2, 8).transpose(1, 2)
    assert torch.allclose(seen["q"], raw * 8 ** -0.5, atol=1e-6)


def test_drop_path_is_identity_in_eval_and_scales_in_train():
    dp = DropPath(0.5).eval()
    x = torch.ones(1000, 3)
    assert torch.equal(dp(x), x)
    dp.train()
    y = dp(x)
    assert set(torch.unique(y).tolist()) <= {0.0, 2.0}
    assert 0.35 < (y[:, 0] > 0).float().mean() < 0.65


def _blocks(n=4, dim=16):
    torch.manual_seed(3)
    return torch.nn.ModuleList(Block(dim, 2) for _ in range(n))


def test_run_blocks_stops_after_last_tap_and_returns_taps_in_order():
    blocks = _blocks(5)
    calls = []
    for i, b in enumerate(blocks):
        b.register_forward_hook(lambda m, a, o, i=i: calls.append(i))
    x = torch.randn(2, 6, 16)
    outs = run_blocks(blocks, x, [2, 0])
    assert calls == [0, 1, 2]
    ref = x
    full = []
    for b in blocks:
        ref = b(ref)
        full.append(ref)
    assert torch.allclose(outs[0], full[0]) and torch.allclose(outs[1], full[2])
    with pytest.raises(ValueError):
        run_blocks(blocks, x, [5])


def test_run_blocks_with_checkpointing_gives_the_same_values_and_grads():
    blocks = _blocks(3)
    x = torch.randn(2, 6, 16, requires_grad=True)
    a = run_blocks(blocks, x, [1, 2])
    ga = torch.autograd.grad(sum(t.sum() for t in a), [x, blocks[0].attn.qkv.weight])
    b = run_blocks(blocks, x, [1, 2], use_checkpoint=True)
    gb = torch.autograd.grad(sum(t.sum() for t in b), [x, blocks[0].attn.qkv.weight])
    for u, v in zip(a + list(ga), b + list(gb)):
        assert torch.allclose(u, v, atol=1e-6)


def test_deep_prompts_are_replaced_per_block_and_stripped_from_taps():
    blocks = _blocks(3)
    x = torch.randn(2, 6, 16)
    prompts = torch.randn(3, 4, 16)
    outs = run_blocks(blocks, x, [0, 2], prompts=prompts)
    assert all(o.shape == (2, 6, 16) for o in outs)
    # manual: prepend block-i prompts, drop the previous ones
    h = torch.cat([prompts[0].expand(2, -1, -1), x], 1)
    h = blocks[0](h)
    assert torch.allclose(outs[0], h[:, 4:], atol=1e-6)
    h = blocks[1](torch.cat([prompts[1].expand(2, -1, -1), h[:, 4:]], 1))
    h = blocks[2](torch.cat([prompts[2].expand(2, -1, -1), h[:, 4:]], 1))
    assert torch.allclose(outs[1], h[:, 4:], atol=1e-5)


def test_prompts_refused_with_ssa():
    blk = torch.nn.ModuleList([Block(16, 2, sparse=True, n_points=2)])
    with pytest.raises(ValueError, match="full attention"):
        run_blocks(blk, torch.randn(1, 4, 16), [0], grid=(2, 2), prompts=torch.randn(1, 2, 16))


def test_block_is_pre_norm_residual():
    torch.manual_seed(4)
    blk = Block(8, 2).eval()
    x = torch.randn(1, 3, 8)
    h = x + blk.attn(blk.norm1(x))
    ref = h + blk.mlp(blk.norm2(h))
    assert torch.allclose(blk(x), ref, atol=1e-6)
    assert blk.norm1.eps == 1e-6 and isinstance(blk.mlp.act, torch.nn.GELU) and blk.mlp.act.approximate == "none"
    assert math.isclose(blk.attn.scale, 4 ** -0.5)
