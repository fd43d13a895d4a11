"""MAE pretraining: masking, losses, the never-Indian-Pines rule, exact resume, the CLI (SPEC §5.8)."""

import json

import numpy as np
import pytest
import torch

from mifomo_lite.cli import main
from mifomo_lite.errors import ConfigError, DataError
from mifomo_lite.models import create_model, load_foundation_model
from mifomo_lite.models.pretrain import MaskedAutoencoder, PretrainConfig, lr_at, masked_mse, pretrain, random_masking
from mifomo_lite.models.pretrain_pool import PatchPool, load_unlabelled_cube


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pool():
    from mifomo_lite.data import prepare_scene, synthetic_scene

    scenes = [prepare_scene(synthetic_scene(16, 16, 64, seed=i, name=f"synthetic-{i}"), n_components=50)
              for i in range(2)]
    return PatchPool(scenes)


def test_random_masking_keeps_the_right_tokens():
    x = torch.arange(3 * 10, dtype=torch.float32).view(3, 10, 1).expand(3, 10, 4)
    vis, mask, restore = random_masking(x, 0.75, torch.Generator().manual_seed(0))
    assert vis.shape == (3, 2, 4) and torch.all(mask.sum(1) == 8)
    for b in range(3):
        kept = x[b, mask[b] == 0, 0]
        assert sorted(vis[b, :, 0].tolist()) == sorted(kept.tolist())
    # ids_restore undoes the shuffle: shuffled positions of the kept tokens are 0, 1
    assert torch.all(torch.gather(restore, 1, torch.nonzero(mask == 0)[:, 1].view(3, 2)).sort(1).values
                     == torch.tensor([0, 1]))


def test_norm_pix_loss_is_zero_for_the_normalised_target():
    t = torch.randn(2, 5, 7)
    norm = (t - t.mean(-1, keepdim=True)) / (t.var(-1, keepdim=True) + 1e-6).sqrt()
    mask = torch.tensor([[1, 0, 1, 0, 0], [0, 0, 0, 0, 1.0]])
    assert masked_mse(norm, t, mask).item() < 1e-10
    assert masked_mse(torch.zeros_like(t), t, mask).item() > 0.5


def test_mae_trains_the_encoders_only(pool):
    torch.manual_seed(0)
    mae = MaskedAutoencoder(create_model("tiny", drop_path_rate=0.0), PretrainConfig())
    losses = mae(pool.sample(4, np.random.default_rng(0)))
    assert set(losses) == {"loss", "spatial", "spectral"} and torch.isfinite(losses["loss"])
    losses["loss"].backward()
    m = mae.model
    assert m.spat_encoder.blocks[5].mlp.fc2.weight.grad is not None
    assert m.spat_encoder.norm.weight.grad is not None
    assert m.spec_encoder.blocks[1].attn.qkv.weight.grad is not None  # up to the spectral tap
    assert m.spec_encoder.blocks[2].attn.qkv.weight.grad is None      # after it: not used by MIFOMO
    assert m.DR1.weight.grad is None and m.merger.weight.grad is None


def test_mae_refuses_ssa():
    with pytest.raises(ConfigError, match="mhsa"):
        MaskedAutoencoder(create_model("tiny", attention="ssa"), PretrainConfig())


def test_indian_pines_is_never_pretrained_on(pool):
    class Fake:
        name, height, width, n_channels = "Indian_Pines", 4, 4, 50

    with pytest.raises(DataError, match="Indian Pines"):
        PatchPool([pool.scenes[0], Fake()])
    for name in ("data/Indian_pines_corrected.mat", "indian_pines", "ip"):
        with pytest.raises(DataError, match="Indian Pines"):
            load_unlabelled_cube(name)


def test_pool_samples_augmented_windows(pool):
    x = pool.sample(32, np.random.default_rng(1))
    assert x.shape == (32, 50, 9, 9) and x.dtype == torch.float32 and torch.isfinite(x).all()


def test_warmup_cosine_schedule():
    cfg = PretrainConfig(steps=100, warmup_steps=10, lr=1e-3, min_lr=1e-5)
    assert lr_at(0, cfg) == pytest.approx(1e-4) and lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(10, cfg) == pytest.approx(1e-3) and lr_at(100, cfg) == pytest.approx(1e-5)
    assert lr_at(55, cfg) == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5))


def test_resume_reproduces_an_uninterrupted_run(pool, tmp_path):
    cfg = PretrainConfig(steps=3, batch_size=4, warmup_steps=1, checkpoint_every=10, synthetic_scenes=0)
    full = pretrain(cfg, tmp_path / "a", progress=False, pool=pool, log=lambda s: None)
    part = pretrain(cfg, tmp_path / "b", progress=False, pool=pool, time_budget_s=0.0, log=lambda s: None)
    assert part.step == 1
    state = json.loads((tmp_path / "b" / "pretrain_state.json").read_text())
    assert state["step"] == 1 and state["config"]["steps"] == 3 and len(state["history"]) == 1
    done = pretrain(cfg, tmp_path / "b", progress=False, pool=pool, log=lambda s: None)
    assert done.step == 3
    a, b = full.model.state_dict(), done.model.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert [h["loss"] for h in full.history] == pytest.approx([h["loss"] for h in done.history], abs=1e-6)


def test_pretrain_cli_exports_a_loadable_model_with_card(tmp_path, capsys):
    out, exp = tmp_path / "run", tmp_path / "export"
    rc = main(["pretrain", "--steps", "2", "--batch-size", "4", "--synthetic-scenes", "1", "--synthetic-size", "16",
               "--warmup-steps", "1", "--out", str(out), "--export", str(exp), "--no-progress"])
    assert rc == 0 and "wrote" in capsys.readouterr().out
    card = json.loads((exp / "foundation-tiny.json").read_text())
    assert card["pretraining"]["steps"] == 2 and card["command"].startswith("mifomo-lite pretrain --size tiny")
    assert card["sha256"] and card["config"]["drop_path_rate"] == 0.1
    assert "## Pretraining" in (exp / "foundation-tiny.md").read_text()
    model = load_foundation_model(path=exp / "foundation-tiny.safetensors")
    assert model(torch.randn(2, 50, 9, 9)).shape == (2, 128)


def _named_target(name="indian_pines"):
    from mifomo_lite.data import prepare_scene, synthetic_scene

    return prepare_scene(synthetic_scene(20, 20, 64, seed=7, name=name), n_components=50)


def test_target_self_supervision_adapts_only_the_encoders_and_restores_flags():
    from mifomo_lite.models.target_ssl import target_self_supervision

    torch.manual_seed(0)
    model = create_model("micro", drop_path_rate=0.0)
    model.requires_grad_(False)
    model.DR1.weight.requires_grad_(True)           # a flag the caller set must survive
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # the target may be Indian Pines: only the shipped pretraining refuses it, not a run's adaptation
    rec = target_self_supervision(model, _named_target(), steps=40, lr=1e-3, batch_size=16, warmup_steps=5,
                                  seed=0, log=lambda _: None)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("spat_encoder.") for k in changed) and any(k.startswith("spec_encoder.") for k in changed)
    assert all(k.startswith(("spat_encoder.", "spec_encoder.")) for k in changed), changed
    assert not any(k.startswith(("DR1", "merger", "mlp_spec")) for k in changed)
    grads = {n for n, p in model.named_parameters() if p.requires_grad}
    assert grads == {"DR1.weight"} and not model.training
    losses = [h["loss"] for h in rec["history"]]
    assert rec["steps"] == 40 and len(losses) == 40 and np.mean(losses[-5:]) < np.mean(losses[:5])


def test_target_self_supervision_is_seeded():
    from mifomo_lite.models.target_ssl import target_self_supervision

    out = []
    for _ in range(2):
        torch.manual_seed(1)
        model = create_model("micro", drop_path_rate=0.0)
        target_self_supervision(model, _named_target("t"), steps=3, batch_size=8, seed=5, log=lambda _: None)
        out.append(model.spat_encoder.patch_embed.proj.weight.detach().clone())
    assert torch.equal(out[0], out[1])
    with pytest.raises(ConfigError, match="steps"):
        target_self_supervision(create_model("micro"), _named_target("t"), steps=0)
