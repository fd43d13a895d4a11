"""Embedding and weight drift measures (mifomo_lite.fsl.drift)."""

import math

import pytest
import torch

from mifomo_lite.errors import ConfigError, DataError
from mifomo_lite.fsl import drift
from mifomo_lite.peft import apply_adaptation, merge_adapters, unmerge_adapters
from toy_models import ToyDualBranch


def _rand(n=200, d=16, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ------------------------------------------------------------------------------- embeddings
def test_identical_embeddings_give_cosine_1_and_overlap_1():
    a = _rand()
    assert drift.embedding_cosine(a, a.clone()) == pytest.approx(1.0, abs=1e-12)
    assert drift.knn_overlap(a, a.clone()) == 1.0
    assert drift.knn_overlap(a, a.clone(), metric="euclidean") == 1.0
    # a positive rescaling changes no direction and no cosine neighbourhood
    s = torch.rand(200, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64) + 0.5
    assert drift.embedding_cosine(a, 3.0 * a) == pytest.approx(1.0, abs=1e-12)
    assert drift.knn_overlap(a, s * a, metric="cosine") == 1.0


def test_known_rotation_gives_known_cosine():
    a = _rand()
    g = torch.Generator().manual_seed(2)
    u = torch.randn(200, 16, generator=g, dtype=torch.float64)
    an = a / a.norm(dim=1, keepdim=True)
    u = u - (u * an).sum(1, keepdim=True) * an          # orthogonal to each row
    u = u / u.norm(dim=1, keepdim=True)
    theta = 0.3
    b = math.cos(theta) * an + math.sin(theta) * u
    assert drift.embedding_cosine(a, b) == pytest.approx(math.cos(theta), abs=1e-12)
    assert drift.embedding_cosine(a, -a) == pytest.approx(-1.0, abs=1e-12)


def test_swapping_two_points_between_clusters_gives_the_counted_overlap():
    """Two tight, distant clusters of k + 1 = 11 points: each point's 10 neighbours are its cluster
    mates. Swapping point 0 (cluster A) with point 11 (cluster B): those two keep 0 of 10 neighbours,
    the 20 others keep 9 of 10 → overlap 18/22."""
    g = torch.Generator().manual_seed(3)
    centres = torch.tensor([[10.0, 0.0, 0.0], [0.0, 10.0, 0.0]], dtype=torch.float64)
    a = centres.repeat_interleave(11, 0) + 0.1 * torch.randn(22, 3, generator=g, dtype=torch.float64)
    b = a.clone()
    b[0], b[11] = a[11], a[0]
    for metric in ("euclidean", "cosine"):
        assert drift.knn_overlap(a, b, k=10, metric=metric) == pytest.approx(18 / 22, abs=1e-12)


def test_unrelated_embeddings_overlap_near_chance_and_subsampling():
    a, b = _rand(300, seed=4), _rand(300, seed=5)
    assert drift.knn_overlap(a, b) < 0.1            # chance level is 10/299 ≈ 0.033
    # permuting the rows scrambles who is whose neighbour
    perm = torch.randperm(300, generator=torch.Generator().manual_seed(6))
    assert drift.knn_overlap(a, a[perm]) < 0.1
    # subsampling uses the same pixels in both embeddings: identical stays exactly 1
    assert drift.knn_overlap(a, a.clone(), max_points=50, seed=3) == 1.0
    assert drift.knn_overlap(a, b, chunk=7) == drift.knn_overlap(a, b)


def test_embedding_inputs_are_checked():
    a = _rand(20)
    with pytest.raises(DataError, match="same pixels"):
        drift.embedding_cosine(a, a[:10])
    with pytest.raises(ConfigError, match="k=20"):
        drift.knn_overlap(a, a, k=20)
    with pytest.raises(ConfigError, match="metric='l1'"):
        drift.knn_overlap(a, a, metric="l1")


# ---------------------------------------------------------------------------------- weights
def _adapted(method, **opts):
    torch.manual_seed(0)
    m = ToyDualBranch()
    apply_adaptation(m, method, extra_trainable=("merger",), **opts)
    return m


def test_untouched_model_has_zero_drift_and_zero_init_lora_has_zero_delta_w():
    m = _adapted("lora", rank=4)
    before = drift.snapshot(m)
    rec = drift.model_drift(m, before)
    assert rec["max_rel_delta"] == 0.0 and rec["adapter_rel_delta"] == 0.0
    assert set(rec["groups"]) >= {"spat_encoder.lora", "spec_encoder.lora", "merger"}
    # training A alone leaves ΔW = s·B·A = 0 because B is still zero; A itself moved
    with torch.no_grad():
        for name, p in m.named_parameters():
            if ".lora_A." in name:
                p.add_(1.0)
    g = drift.weight_drift(m, before)["spat_encoder.lora"]
    assert g["rel_delta"] == 0.0 and g["param_rel_delta"] > 0.1
    assert g["kind"] == "lora" and g["n_layers"] == 8  # 4 blocks × (q, v)


def test_lora_delta_w_is_the_low_rank_update_against_the_base_weight():
    for variant in ("input", "output"):
        m = _adapted("lora", rank=2, variant=variant)
        before = drift.snapshot(m)
        qkv = m.spat_encoder.blocks[0].attn.qkv
        with torch.no_grad():
            qkv.lora_B["q"].fill_(0.01)
        A, B = qkv.lora_A["q"].detach().double(), qkv.lora_B["q"].detach().double()
        W = qkv.weight[0:32].detach().double()
        upd = B @ A if variant == "input" else B @ (A @ W)
        want = float(upd.norm() / W.norm())
        g = drift.weight_drift(m, before)["spat_encoder.lora"]
        # the other 7 slices are unchanged, so the pooled ratio is ‖ΔW_q‖ / ‖W of all 8 slices‖
        W_all = torch.cat([m.spat_encoder.blocks[i].attn.qkv.weight[s].detach().double()
                           for i in range(4) for s in (slice(0, 32), slice(64, 96))])
        assert g["max_layer_rel"] == pytest.approx(want, rel=1e-9)
        assert g["rel_delta"] == pytest.approx(float(upd.norm() / W_all.norm()), rel=1e-9)


def test_cp_delta_w_uses_the_folded_query_rows():
    m = _adapted("cp", init="identity")
    before = drift.snapshot(m)
    eps = 0.05
    with torch.no_grad():
        for mod in m.spat_encoder.modules():
            if type(mod).__name__ == "CoalescentProjection":
                mod.weight.mul_(1.0 + eps)   # C = (1 + ε)·I → W' = (1 + ε)·W
    rec = drift.weight_drift(m, before)
    assert rec["spat_encoder.cp"]["rel_delta"] == pytest.approx(eps, rel=1e-6)  # float32 C
    assert rec["spat_encoder.cp"]["param_rel_delta"] == pytest.approx(eps, rel=1e-6)
    assert rec["spec_encoder.cp"]["rel_delta"] == 0.0
    # a change of C that is small against I can still be a large relative change of W: here equal
    assert rec["spat_encoder.cp"]["n_params"] == 4 * 4 * 8 * 8


def test_full_fine_tuning_counts_every_changed_parameter():
    torch.manual_seed(0)
    m = ToyDualBranch()
    apply_adaptation(m, "full")
    before = drift.snapshot(m)
    w = m.spat_encoder.blocks[1].mlp.fc1.weight
    with torch.no_grad():
        w.add_(0.1 * w)
    rec = drift.model_drift(m, before)
    g = rec["groups"]["spat_encoder.blocks"]
    assert g["max_layer_rel"] == pytest.approx(0.1, rel=1e-6)
    assert 0 < g["rel_delta"] < 0.1 and rec["max_rel_delta"] == g["rel_delta"]  # the largest group ratio
    assert rec["groups"]["merger"]["rel_delta"] == 0.0


def test_prompts_and_summarise_after_real_training_steps():
    m = _adapted("prompt", n_prompts=2)
    before = drift.snapshot(m)
    x = torch.randn(40, 16, 8, generator=torch.Generator().manual_seed(0))
    e0 = m(x).detach()
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.5)
    for _ in range(3):
        loss = m(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    rec = drift.summarise(e0, m(x).detach(), m, before, k=5)
    assert 0.0 < rec["cosine"] < 1.0 and 0.0 < rec["knn_overlap"] <= 1.0 and rec["n_pixels"] == 40
    groups = rec["weights"]["groups"]
    assert groups["spat_encoder.prompts"]["kind"] == "prompt" and groups["spat_encoder.prompts"]["rel_delta"] > 0
    assert rec["weights"]["other_rel_delta"] > 0
    assert drift.summarise(e0, e0)["cosine"] == pytest.approx(1.0) and "weights" not in drift.summarise(e0, e0)


def test_snapshot_refuses_merged_adapters_and_foreign_snapshots():
    m = _adapted("cp")
    merge_adapters(m)
    with pytest.raises(ConfigError, match="unmerge_adapters"):
        drift.snapshot(m)
    unmerge_adapters(m)
    plain = ToyDualBranch()
    with pytest.raises(DataError, match="after apply_adaptation"):
        drift.weight_drift(m, drift.snapshot(plain))
    with pytest.raises(ConfigError, match="both model and before"):
        drift.summarise(_rand(5), _rand(5), model=m, k=2)


def test_a_snapshot_before_the_adapters_measures_against_the_frozen_model():
    torch.manual_seed(0)
    m = ToyDualBranch()
    built = drift.snapshot(m)                   # no adapters yet: "the frozen model"
    apply_adaptation(m, "cp", init="identity", extra_trainable=("merger",))
    with pytest.raises(DataError, match="after apply_adaptation"):
        drift.weight_drift(m, built)
    rec = drift.weight_drift(m, built, missing="frozen")
    assert rec["spat_encoder.cp"]["rel_delta"] == 0.0      # C = I is the frozen model
    with torch.no_grad():
        m.spat_encoder.blocks[0].attn.query_adapter.weight.mul_(1.1)
        m.merger.weight.mul_(1.2)
    rec = drift.model_drift(m, built, missing="frozen")
    assert rec["groups"]["spat_encoder.cp"]["max_layer_rel"] == pytest.approx(0.1, rel=1e-6)
    assert rec["groups"]["merger"]["max_layer_rel"] == pytest.approx(0.2, rel=1e-6)
    # the default almost-diagonal CP init already differs from the frozen model (std 0.02 noise)
    torch.manual_seed(0)
    m2 = ToyDualBranch()
    built2 = drift.snapshot(m2)
    apply_adaptation(m2, "cp", extra_trainable=("merger",))
    assert 0.0 < drift.weight_drift(m2, built2, missing="frozen")["spat_encoder.cp"]["rel_delta"] < 0.5


def test_frozen_reference_for_lora_and_prompts_and_json_ready_values():
    import json

    torch.manual_seed(0)
    m = ToyDualBranch()
    built = drift.snapshot(m)
    apply_adaptation(m, "lora", rank=2, extra_trainable=("merger",))
    assert drift.model_drift(m, built, missing="frozen")["adapter_rel_delta"] == 0.0   # B = 0
    torch.manual_seed(0)
    p = ToyDualBranch()
    built_p = drift.snapshot(p)
    apply_adaptation(p, "prompt", n_prompts=2, extra_trainable=("merger",))
    rec = drift.model_drift(p, built_p, missing="frozen")
    g = rec["groups"]["spat_encoder.prompts"]
    assert g["rel_delta"] is None and g["delta_norm"] > 0   # prompts grew from nothing
    json.dumps(rec, allow_nan=False)                          # no NaN/Inf anywhere
    with pytest.raises(ConfigError, match="missing='maybe'"):
        drift.weight_drift(p, built_p, missing="maybe")


def test_probe_pixels_are_seeded_distinct_and_inside_the_scene():
    r, c = drift.probe_pixels(30, 40, n=500, seed=1)
    assert len(r) == 500 and r.max() < 30 and c.max() < 40 and r.min() >= 0 and c.min() >= 0
    assert len(set(zip(r.tolist(), c.tolist()))) == 500
    r2, c2 = drift.probe_pixels(30, 40, n=500, seed=1)
    assert (r == r2).all() and (c == c2).all()
    assert not (r == drift.probe_pixels(30, 40, n=500, seed=2)[0]).all()
    assert len(drift.probe_pixels(5, 5, n=100)[0]) == 25
    with pytest.raises(DataError, match="empty"):
        drift.probe_pixels(0, 5)


def test_a_backbone_change_is_counted_in_the_backbone_not_in_the_adapter():
    m = _adapted("cp")
    before = drift.snapshot(m)
    qkv = m.spat_encoder.blocks[0].attn.qkv.weight
    with torch.no_grad():
        qkv.mul_(1.5)                                   # as if phase 0 had trained the block
    rec = drift.weight_drift(m, before)
    assert rec["spat_encoder.cp"]["rel_delta"] == 0.0
    assert rec["spat_encoder.blocks"]["max_layer_rel"] == pytest.approx(0.5, rel=1e-6)
