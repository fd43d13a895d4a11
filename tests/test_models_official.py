"""Official HyperSIGMA checkpoints: manifest coverage for base/large/huge, the official container,
safe unpickling, wrong size/branch, corrupted files (SPEC §6)."""

import argparse
import json
import os
import pickle
from pathlib import Path

import pytest
import torch

from mifomo_lite.cli import main
from mifomo_lite.errors import CheckpointError, DataFileNotFound
from mifomo_lite.models import create_model, load_official_hypersigma, plan_official_load, read_checkpoint
from mifomo_lite.models.official import convert_official_checkpoint, inspect_state_dict
from mifomo_lite.models.official_load import LoadReport


pytestmark = pytest.mark.usefixtures("one_torch_thread")

MANIFEST = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "hypersigma_mae_checkpoint_keys.json"

FRESH_MIFOMO = {
    "spat_encoder.patch_embed.proj.weight", "spat_encoder.patch_embed.proj.bias", "spat_encoder.pos_embed",
    "spec_encoder.spat_map.weight", "spec_encoder.spat_map.bias", "spec_encoder.l1.weight",
    "merger.weight", "merger.bias",
    *[f"DR{k}.weight" for k in range(1, 5)],
    *[f"mlp_spec{k}.{i}.weight" for k in range(1, 5) for i in (0, 2)],
}


@pytest.fixture(scope="module")
def manifest():
    if not MANIFEST.is_file():
        pytest.skip(f"../shared reference manifest not available ({MANIFEST})")
    return json.loads(MANIFEST.read_text())


def _meta_sd(shapes: dict) -> dict:
    return {k: torch.empty(v, device="meta") for k, v in shapes.items()}


@pytest.mark.parametrize("size", ["base", "large", "huge"])
def test_manifest_checkpoints_load_every_block_and_norm(manifest, size):
    spat, spec = manifest[f"spat-vit-{size}"], manifest[f"spec-vit-{size}"]
    model = create_model(size, device="meta")
    to_load, report = plan_official_load(model, _meta_sd(spat), _meta_sd(spec))
    for branch, keys, prefix in (("spatial", spat, "spat_encoder."), ("spectral", spec, "spec_encoder.")):
        wanted = [k for k in keys if k.startswith(("blocks.", "norm."))]
        assert wanted and all(prefix + k in to_load for k in wanted), branch
        assert report.sources[branch]["size"] == size
    assert "spec_encoder.pos_embed" in to_load  # T = 100 matches: MIFOMO loads it
    assert set(report.missing) == FRESH_MIFOMO
    assert set(report.skipped) == {"spatial:patch_embed.proj.weight", "spatial:patch_embed.proj.bias",
                                   "spatial:pos_embed", "spectral:spat_map.weight", "spectral:spat_map.bias"}
    assert all("decoder" in k or "mask_token" in k for k in report.ignored)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert all(v.shape == shapes[k] for k, v in to_load.items())


def test_manifest_with_ssa_names_the_fresh_offsets(manifest):
    model = create_model("large", device="meta", attention="ssa")
    _, report = plan_official_load(model, _meta_sd(manifest["spat-vit-large"]), _meta_sd(manifest["spec-vit-large"]))
    offsets = {k for k in report.missing if "sampling_offsets" in k}
    assert len(offsets) == 2 * 2 * 20  # weight + bias, 20 SSA blocks, both encoders
    assert set(report.missing) - offsets == FRESH_MIFOMO
    assert "blocks.*.attn.sampling_offsets.weight (×20)" in str(report).replace("spat_encoder.", "")


def test_hypersigma_classifier_plan(manifest):
    model = create_model("base", kind="hypersigma", device="meta")
    _, report = plan_official_load(model, _meta_sd(manifest["spat-vit-base"]), _meta_sd(manifest["spec-vit-base"]))
    fresh = set(report.missing)
    assert {"spat_encoder.fpn1.0.weight", "classifier.4.weight", "fc_spec1.0.weight", "DR1.weight"} <= fresh
    # HyperSIGMA's 1089-pixel spat_map and pos_embed (T=100) — pos_embed loads, spat_map stays fresh
    assert "spec_encoder.pos_embed" not in fresh and "spec_encoder.spat_map.weight" in fresh


def _expanded_container(shapes: dict, first_value: float) -> tuple[dict, dict]:
    """An official-style container whose tensors are stride-0 views of one number each, so the file
    stays tiny; returns (container, value per key)."""
    values, sd = {}, {}
    for i, (k, shape) in enumerate(shapes.items()):
        values[k] = first_value + i
        sd[k] = torch.full((1,), values[k]).expand(*shape)
    ns = argparse.Namespace(model="mae_vit_base_patch8", mask_ratio=0.75, norm_pix_loss=True, blr=1.5e-4)
    return {"model": sd, "optimizer": {"state": {}, "param_groups": []}, "epoch": 1599, "scaler": {}, "args": ns}, values


def test_base_round_trip_in_the_official_container(manifest, tmp_path):
    spat_c, spat_v = _expanded_container(manifest["spat-vit-base"], 1.0)
    spec_c, spec_v = _expanded_container(manifest["spec-vit-base"], 1000.0)
    ps, pc = tmp_path / "spat-vit-base-ultra-checkpoint-1599.pth", tmp_path / "spec-vit-base-ultra-checkpoint-1599.pth"
    torch.save(spat_c, ps)
    torch.save(spec_c, pc)
    assert ps.stat().st_size < 5_000_000
    sd, meta = read_checkpoint(ps)
    assert meta["epoch"] == 1599 and meta["args"]["mask_ratio"] == 0.75
    model = create_model("base", device="meta", init=False).to_empty(device="cpu")
    with torch.no_grad():
        model.spat_encoder.pos_embed.fill_(-7.0)
    report = load_official_hypersigma(model, spatial=ps, spectral=pc)
    sdm = model.state_dict()
    for k in ("blocks.0.attn.qkv.weight", "blocks.11.mlp.fc2.bias", "norm.weight"):
        assert torch.all(sdm["spat_encoder." + k] == spat_v[k])
        assert torch.all(sdm["spec_encoder." + k] == spec_v[k])
    assert torch.all(sdm["spec_encoder.pos_embed"] == spec_v["pos_embed"])
    assert torch.all(sdm["spat_encoder.pos_embed"] == -7.0)  # left fresh
    assert set(report.missing) == FRESH_MIFOMO
    assert len(report.loaded) == 2 * (12 * 12 + 2) + 1
    data = json.loads(report.to_json())
    assert data["summary"]["loaded"] == len(report.loaded) and "spat-vit-base" in data["sources"]["spatial"]["path"]
    text = str(report)
    assert "fresh   : 20 model tensors" in text and "spat_encoder.patch_embed.proj.weight" in text


def _tiny_official_sd(D=128, depth=6, branch="spatial"):
    sd = {"mask_token": torch.zeros(1, 1, 64), "decoder_embed.weight": torch.zeros(64, D), "norm.weight": torch.ones(D),
          "norm.bias": torch.zeros(D), "pos_embed": torch.zeros(1, 25, D)}
    if branch == "spatial":
        sd["patch_embed.proj.weight"] = torch.zeros(D, 100, 8, 8)
    else:
        sd["spat_map.weight"] = torch.zeros(D, 4096)
    for i in range(depth):
        sd[f"blocks.{i}.norm1.weight"] = torch.full((D,), float(i))
        sd[f"blocks.{i}.attn.qkv.weight"] = torch.full((3 * D, D), float(i))
    return sd


def test_prefixes_are_stripped_and_shapes_filtered(tmp_path):
    sd = {"module.encoder." + k: v for k, v in _tiny_official_sd(branch="spectral").items()}
    torch.save({"state_dict": sd}, tmp_path / "c.pth")
    model = create_model("tiny")
    rep = load_official_hypersigma(model, spectral=tmp_path / "c.pth")
    assert torch.all(model.spec_encoder.blocks[5].attn.qkv.weight == 5.0)
    assert "spec_encoder.pos_embed" in rep.loaded  # tiny T = 25 matches this fake file
    assert rep.ignored["spectral:mask_token"].startswith("MAE")
    assert "spectral:spat_map.weight" in rep.skipped


def test_keep_input_layers_loads_fitting_input_layers():
    model = create_model("tiny", device="meta", spatial_tokenizer="conv", conv_patch=8, patch_size=64, in_chans=100)
    sd = _tiny_official_sd()
    sd["pos_embed"] = torch.zeros(1, 64, 128)
    _, rep = plan_official_load(model, spatial=sd)
    assert "spat_encoder.patch_embed.proj.weight" in rep.missing
    to_load, rep = plan_official_load(model, spatial=sd, keep_input_layers=True)
    assert "spat_encoder.patch_embed.proj.weight" in to_load and "spat_encoder.pos_embed" in to_load


def test_shape_mismatch_is_skipped_with_reason():
    model = create_model("tiny", device="meta")
    sd = _tiny_official_sd(branch="spectral")
    sd["pos_embed"] = torch.zeros(1, 100, 128)
    _, rep = plan_official_load(model, spectral=sd)
    assert rep.skipped["spectral:pos_embed"] == "shape mismatch: checkpoint [1, 100, 128] vs model [1, 25, 128]"


def test_wrong_size_and_wrong_branch_say_which(manifest):
    model = create_model("base", device="meta")
    with pytest.raises(CheckpointError, match=r"spectral checkpoint of size large \(D=1024.*spectral encoder is base \(D=768"):
        plan_official_load(model, spectral=_meta_sd(manifest["spec-vit-large"]))
    with pytest.raises(CheckpointError, match=r"looks like a spectral checkpoint of size base.*given as the spatial"):
        plan_official_load(model, spatial=_meta_sd(manifest["spec-vit-base"]))
    with pytest.raises(CheckpointError, match="no 'blocks"):
        plan_official_load(model, spatial={"foo": torch.zeros(2)})
    info = inspect_state_dict(_meta_sd(manifest["spat-vit-huge"]))
    assert (info.branch, info.size, info.embed_dim, info.depth) == ("spatial", "huge", 1280, 32)


class Payload:
    """Pickles to a call of os.system — what a malicious checkpoint would contain."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class CustomObject:
    pass


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_unsafe_pickles_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"model": {"norm.weight": torch.ones(3)}, "args": Payload(marker)}, evil)
    with pytest.raises(CheckpointError, match="refusing to load.*posix.system|refusing to load.*os.system"):
        read_checkpoint(evil)
    raw = tmp_path / "raw.pth"
    raw.write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(CheckpointError, match="refusing|not a readable"):
        read_checkpoint(raw)
    custom = tmp_path / "custom.pth"
    torch.save({"model": {"norm.weight": torch.ones(3)}, "extra": CustomObject()}, custom)
    with pytest.raises(CheckpointError, match="CustomObject"):
        read_checkpoint(custom)
    assert not marker.exists()


def test_missing_and_corrupted_files(tmp_path):
    with pytest.raises(DataFileNotFound, match="not found"):
        read_checkpoint(tmp_path / "nope.pth")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json" + os.urandom(64))
    with pytest.raises(CheckpointError, match="corrupted or not a safetensors"):
        read_checkpoint(bad)
    good = tmp_path / "ok.pth"
    torch.save({"model": {"norm.weight": torch.ones(300)}}, good)
    trunc = tmp_path / "trunc.pth"
    trunc.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        read_checkpoint(trunc)


def test_convert_to_safetensors_and_load(tmp_path):
    src = tmp_path / "spec.pth"
    torch.save({"model": _tiny_official_sd(branch="spectral"), "args": argparse.Namespace(a=1), "epoch": 3}, src)
    dst = convert_official_checkpoint(src, tmp_path / "spec.safetensors")
    sd, meta = read_checkpoint(dst)
    assert "mask_token" not in sd and meta["branch"] == "spectral"
    model = create_model("tiny")
    rep = load_official_hypersigma(model, spectral=dst)
    assert torch.all(model.spec_encoder.blocks[2].norm1.weight == 2.0) and isinstance(rep, LoadReport)


def test_cli_load_official_dry_run_json(tmp_path, capsys):
    p = tmp_path / "spat.pth"
    torch.save({"model": _tiny_official_sd()}, p)
    assert main(["model", "load-official", "--spatial", str(p), "--size", "base", "--dry-run"]) == 2
    assert "D=128" in capsys.readouterr().err
    # a custom-width file: no preset matches, so the size must be given — and must fit
    assert main(["model", "load-official", "--spatial", str(p), "--dry-run"]) == 2
    assert "pass --size" in capsys.readouterr().err
    assert main(["model", "load-official", "--spatial", str(p), "--size", "tiny", "--dry-run", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["summary"]["loaded"] == 6 * 2 + 2 and "spat_encoder.pos_embed" in rep["missing"]


def test_cli_model_info_json(capsys):
    assert main(["model", "info", "--size", "tiny", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["parameters"]["total"] == 2_466_944 and info["flops_per_sample"]["total"] > 2e8
