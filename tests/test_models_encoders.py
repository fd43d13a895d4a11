"""Encoders, fusion models, configs, parameter and FLOP counts (SPEC §5, §10)."""

import pytest
import torch

from mifomo_lite.errors import ConfigError, DataError
from mifomo_lite.models import (HyperSIGMAClassifier, SparseSamplingAttention, count_flops,
                                count_parameters, create_model, get_config)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return create_model("tiny").eval()


def test_published_presets_are_exact():
    expect = {"base": (768, 12, 12, 3, (3, 5, 7, 11), 3), "large": (1024, 24, 16, 6, (7, 11, 15, 23), 7),
              "huge": (1280, 32, 16, 8, (10, 15, 20, 31), 10)}
    for size, (D, depth, heads, interval, taps, spec) in expect.items():
        c = get_config(size)
        assert (c.embed_dim, c.depth, c.num_heads, c.interval, c.out_indices, c.spectral_tap) == (
            D, depth, heads, interval, taps, spec)
        assert (c.spectral_tokens, c.n_points, c.mlp_ratio, c.qkv_bias, c.drop_path_rate, c.fusion_dim) == (
            100, 8, 4.0, True, 0.1, 128)
        assert c.attention == "mhsa" and c.in_chans == 50 and c.patch_size == 9  # MIFOMO defaults
    assert get_config("base", attention="ssa").sparse_blocks() == [0, 1, 3, 4, 6, 7, 9, 10]
    assert get_config("huge").head_dim == 80 and get_config("large").head_dim == 64


def test_small_presets_have_four_taps_and_fit_depth():
    for size in ("tiny", "small"):
        c = get_config(size)
        assert len(c.out_indices) == 4 and c.out_indices[-1] == c.depth - 1
        assert c.spectral_tap == c.out_indices[0]


@pytest.mark.parametrize("kwargs, match", [
    (dict(attention="ssa", spectral_tokens=50), "perfect square"),
    (dict(out_indices=(1, 2, 3)), "exactly 4"),
    (dict(out_indices=(1, 2, 3, 9)), "depth"),
    (dict(num_heads=5), "divisible"),
    (dict(spatial_tokenizer="conv", conv_patch=8), "grid"),
    (dict(spatial_tokenizer="conv", conv_patch=3), "FPN"),
    (dict(attention="flash"), "attention"),
])
def test_bad_configs_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        get_config("tiny", **kwargs)
    with pytest.raises(ConfigError, match="unknown model size"):
        get_config("gigantic")
    with pytest.raises(ConfigError, match="unknown config field"):
        get_config("tiny", depht=3)


def test_tiny_shapes_and_feature_dict(tiny):
    x = torch.randn(3, 50, 9, 9)
    with torch.no_grad():
        f = tiny.forward_features(x)
        emb = tiny(x)
    assert [m.shape for m in f["spatial"]] == [(3, 128, 9, 9)] * 4
    assert f["spectral"].shape == (3, 25, 32) and f["spectral_summary"].shape == (3, 25)
    assert [g.shape for g in f["gates"]] == [(3, 128)] * 4
    assert f["fused"].shape == (3, 9, 9, 128) and emb.shape == (3, 128)
    # centre-pixel-only fusion is exactly the centre of the full fused map
    assert torch.allclose(emb, f["fused"][:, 4, 4], atol=1e-5)
    assert torch.allclose(f["embedding"], emb, atol=1e-5)


def test_spatial_taps_follow_mifomo_ops(tiny):
    """Taps 1/2 are identity, taps 3/4 MaxPool(2) → 4×4 then bilinear (align_corners) back to 9×9."""
    enc = tiny.spat_encoder
    x = torch.randn(2, 50, 9, 9)
    with torch.no_grad():
        tokens = enc.forward_tokens(x)
        maps = enc(x)
    grid = [t.transpose(1, 2).reshape(2, 128, 9, 9) for t in tokens]
    assert torch.allclose(maps[0], grid[0]) and torch.allclose(maps[1], grid[1])
    pooled = torch.nn.functional.max_pool2d(grid[3], 2)
    up = torch.nn.UpsamplingBilinear2d(size=(9, 9))(pooled)
    assert torch.allclose(maps[3], up, atol=1e-6)


def test_gate_is_applied_before_dr_and_pairs_shallowest_first(tiny):
    x = torch.randn(2, 50, 9, 9)
    with torch.no_grad():
        f = tiny.forward_features(x)
        c = f["spatial"][0][:, :, 4, 4] * (1 + f["gates"][0])
        red = [tiny.DR1(c)] + [getattr(tiny, f"DR{k}")(f["spatial"][k - 1][:, :, 4, 4] * (1 + f["gates"][k - 1]))
                               for k in range(2, 5)]
        ref = tiny.merger(torch.cat(red, -1))
    assert torch.allclose(ref, f["embedding"], atol=1e-5)
    s = f["spectral"].mean(-1)
    assert torch.allclose(f["gates"][0], torch.sigmoid(tiny.mlp_spec1[2](torch.relu(tiny.mlp_spec1[0](s)))))


def test_spectral_encoder_runs_only_to_its_tap_and_matches_running_all(tiny):
    enc = tiny.spec_encoder
    ran = []
    hooks = [b.register_forward_hook(lambda m, a, o, i=i: ran.append(i)) for i, b in enumerate(enc.blocks)]
    x = torch.randn(2, 50, 9, 9)
    with torch.no_grad():
        out = enc.forward_tokens(x)
        assert ran == [0, 1]
        h = enc.embed(x)
        outs = []
        for b in enc.blocks:  # all 6 blocks
            h = b(h)
            outs.append(h)
    for hk in hooks:
        hk.remove()
    assert torch.allclose(out, outs[enc.tap], atol=1e-6)


def test_spectral_tokenisation_pools_bands():
    m = create_model("tiny")
    x = torch.arange(50, dtype=torch.float32).view(1, 50, 1, 1).expand(1, 50, 9, 9).contiguous()
    tok = m.spec_encoder.tokenize(x)  # 50 → 25 tokens: pairs (0,1), (2,3) ...
    assert tok.shape == (1, 25, 81)
    assert torch.allclose(tok[0, :, 0], torch.arange(25) * 2 + 0.5)


def test_ssa_variant_places_attention_by_interval():
    m = create_model("tiny", attention="ssa")
    kinds = [isinstance(b.attn, SparseSamplingAttention) for b in m.spat_encoder.blocks]
    assert kinds == [True, True, False, True, True, False]
    with torch.no_grad():
        assert m(torch.randn(2, 50, 9, 9)).shape == (2, 128)
    names = [n for n, _ in m.named_parameters() if "sampling_offsets" in n]
    assert "spat_encoder.blocks.0.attn.sampling_offsets.weight" in names


def test_deep_prompts_attribute_is_honoured(tiny):
    x = torch.randn(2, 50, 9, 9)
    with torch.no_grad():
        base = tiny(x)
        tiny.spat_encoder.prompts = torch.nn.Parameter(torch.randn(6, 3, 128))
        try:
            prompted = tiny(x)
        finally:
            tiny.spat_encoder.prompts = None
    assert prompted.shape == base.shape and not torch.allclose(prompted, base)


def test_hypersigma_classifier_conv_tokens_and_official_names():
    torch.manual_seed(0)
    cfg = HyperSIGMAClassifier.default_config("tiny", patch_size=17, spectral_tokens=25)
    m = HyperSIGMAClassifier(cfg, num_classes=7).eval()
    x = torch.randn(2, 30, 17, 17)
    with torch.no_grad():
        f = m.forward_features(x)
        logits = m(x)
    assert [t.shape[-1] for t in f["maps"]] == [2, 4, 8, 16]  # deepest first: MaxPool4, MaxPool2, id, ConvT
    assert logits.shape == (2, 7) and f["pooled"].shape == (2, 128)
    names = set(n for n, _ in m.named_parameters())
    for n in ("spat_encoder.fpn1.0.weight", "DR1.weight", "fc_spec4.2.weight", "classifier.4.bias",
              "spat_encoder.patch_embed.proj.weight", "spec_encoder.l1.weight"):
        assert n in names
    assert m.DR1.weight.shape == (32, 128, 1, 1)


def test_conv_tokeniser_p8():
    m = create_model("tiny", spatial_tokenizer="conv", conv_patch=8, patch_size=32, in_chans=100)
    with torch.no_grad():
        maps = m.spat_encoder(torch.randn(1, 100, 32, 32))
    assert [t.shape[-1] for t in maps] == [4, 4, 2, 1]


@pytest.mark.parametrize("x, match", [
    (torch.randn(2, 30, 9, 9), "30 bands"),
    (torch.randn(2, 50, 11, 11), "11×11 patches"),
    (torch.randn(50, 9, 9), "batch of patches"),
    (torch.ones(2, 50, 9, 9, dtype=torch.int64), "floating-point"),
])
def test_bad_input_names_the_problem(tiny, x, match):
    with pytest.raises(DataError, match=match):
        tiny(x)


def test_base_parameter_counts_match_spec():
    """SPEC §10.3: 172,862,721 allocated incl. 1,179,648 CP parameters and the scale (1);
    115,766,529 used in forward incl. 786,432 used CP parameters and the scale."""
    p = count_parameters(create_model("base", device="meta"))
    assert p["spatial"] == 85_157_376 and p["spectral"] == 85_294_080 and p["fusion"] == 1_231_616
    assert p["spatial.patch_embed"] == 39_168 and p["spatial.pos_embed"] == 62_208
    assert p["spectral.spat_map"] == 62_976 and p["spectral.l1"] == 98_304
    assert p["fusion.DR"] == 393_216 and p["fusion.gates"] == 444_416 and p["fusion.merger"] == 393_984
    assert p["total"] + 1_179_648 + 1 == 172_862_721
    assert p["used_in_forward"] + 786_432 + 1 == 115_766_529
    assert p["spectral.blocks_executed"] == 4 * 7_087_872


def test_hypersigma_classifier_counts_match_spec():
    """SPEC §10.1: minimal base classifier (unused modules dropped, spectral cut) ≈ 119.4M; SSA offsets 1.18M."""
    p = count_parameters(create_model("base", kind="hypersigma", device="meta"))
    assert abs(p["used_in_forward"] - 119.4e6) < 0.1e6
    assert p["spatial.ssa_offsets"] == 8 * 147_648
    assert p["spatial.fpn"] == 768 * 768 * 4 + 768


def test_base_flops_match_spec():
    """SPEC §10.3: ≈ 20.1 GFLOPs per 9×9×50 sample including CPs (≈ 0.13); spatial 14.10, spectral 5.86."""
    f = count_flops(create_model("base", device="meta"))
    assert 19.6e9 < f["total"] < 20.1e9
    assert abs(f["spatial"] - 14.0e9) < 0.15e9 and abs(f["spectral"] - 5.83e9) < 0.1e9


@pytest.mark.slow
def test_base_forward_on_a_9x9x50_batch():
    torch.manual_seed(0)
    m = create_model("base").eval()
    with torch.no_grad():
        emb = m(torch.randn(2, 50, 9, 9))
    assert emb.shape == (2, 768) and torch.isfinite(emb).all()
