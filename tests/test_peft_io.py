"""Adapter-only save/load (safetensors): round trip, auto-apply, clear errors on mismatch."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from mifomo_lite.errors import CheckpointError, DataFileNotFound
from mifomo_lite.peft import (
    AdapterFileError,
    adapter_parameters,
    apply_adaptation,
    current_adaptation,
    load_adapter,
    merge_adapters,
    read_adapter_metadata,
    save_adapter,
)
from toy_models import ToyDualBranch


def _trained(method, seed=0, **opts):
    torch.manual_seed(seed)
    model = ToyDualBranch().eval()
    apply_adaptation(model, method, **opts)
    with torch.no_grad():
        for _, p in adapter_parameters(model).values():
            p.add_(0.1 * torch.randn_like(p))
        model.DR1.weight.add_(0.1)
    return model


@pytest.mark.parametrize("method,opts", [("cp", {}), ("cp", {"shared_across_heads": True, "value_side": True}),
                                         ("lora", {"rank": 3, "variant": "output"}), ("prompt", {"n_prompts": 3})])
def test_round_trip_into_fresh_model(tmp_path, method, opts):
    src = _trained(method, **opts)
    path = save_adapter(src, tmp_path / "a.safetensors")
    keys = set(load_file(str(path)))
    assert keys == set(adapter_parameters(src))  # adapter only
    meta = read_adapter_metadata(path)
    assert meta["method"] == method and meta["include_trainable"] is False
    torch.manual_seed(0)
    dst = ToyDualBranch().eval()  # same seed → same frozen weights as src before training
    load_adapter(dst, path)  # applies the method from the metadata
    assert current_adaptation(dst)["options"] == current_adaptation(src)["options"]
    for n, (_, p) in adapter_parameters(dst).items():
        assert torch.equal(p, adapter_parameters(src)[n][1])
    assert not torch.equal(dst.DR1.weight, src.DR1.weight)  # not in an adapter-only file


def test_include_trainable(tmp_path):
    src = _trained("cp", phase="target")
    path = save_adapter(src, tmp_path / "a.safetensors", include_trainable=True)
    assert "DR1.weight" in load_file(str(path)) and "merger.weight" not in load_file(str(path))
    torch.manual_seed(0)
    dst = ToyDualBranch().eval()
    load_adapter(dst, path)
    x = torch.randn(2, 16, 8)
    torch.testing.assert_close(dst(x), src(x), atol=0, rtol=0)


def test_mismatched_method_and_options(tmp_path):
    path = save_adapter(_trained("cp"), tmp_path / "cp.safetensors")
    other = ToyDualBranch()
    apply_adaptation(other, "lora")
    with pytest.raises(AdapterFileError, match="holds a 'cp' adapter but the model is adapted with 'lora'"):
        load_adapter(other, path)
    shared = ToyDualBranch()
    apply_adaptation(shared, "cp", shared_across_heads=True)
    with pytest.raises(AdapterFileError, match="shared_across_heads"):
        load_adapter(shared, path)
    bare = ToyDualBranch()
    with pytest.raises(AdapterFileError, match="apply=True"):
        load_adapter(bare, path, apply=False)
    assert isinstance(AdapterFileError("x"), CheckpointError)


def test_mismatched_shapes_and_keys(tmp_path):
    path = save_adapter(_trained("cp"), tmp_path / "cp.safetensors")
    meta = {k: v for k, v in __import__("safetensors").safe_open(str(path), "pt").metadata().items()}
    tensors = load_file(str(path))
    key = "spat_encoder.blocks.0.attn.query_adapter.weight"
    bad = dict(tensors)
    bad[key] = torch.zeros(4, 8, 7)
    save_file(bad, str(tmp_path / "shape.safetensors"), metadata=meta)
    with pytest.raises(AdapterFileError, match=r"'spat_encoder.blocks.0.attn.query_adapter.weight' has shape \(4, 8, 7\).*\(4, 8, 8\)"):
        load_adapter(ToyDualBranch(), tmp_path / "shape.safetensors")
    missing = dict(tensors)
    del missing[key]
    save_file(missing, str(tmp_path / "missing.safetensors"), metadata=meta)
    with pytest.raises(AdapterFileError, match="lacks adapter tensor"):
        load_adapter(ToyDualBranch(), tmp_path / "missing.safetensors")
    extra = dict(tensors, **{"nope.weight": torch.zeros(2)})
    save_file(extra, str(tmp_path / "extra.safetensors"), metadata=meta)
    with pytest.raises(AdapterFileError, match="nope.weight"):
        load_adapter(ToyDualBranch(), tmp_path / "extra.safetensors")


def test_bad_files(tmp_path):
    with pytest.raises(DataFileNotFound):
        load_adapter(ToyDualBranch(), tmp_path / "absent.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(AdapterFileError, match="not a readable safetensors"):
        load_adapter(ToyDualBranch(), tmp_path / "junk.safetensors")
    save_file({"a": torch.zeros(1)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(AdapterFileError, match="not a mifomo_lite adapter file"):
        load_adapter(ToyDualBranch(), tmp_path / "plain.safetensors")


def test_save_refusals_and_merged_load(tmp_path):
    with pytest.raises(AdapterFileError, match="no adaptation applied"):
        save_adapter(ToyDualBranch(), tmp_path / "x.safetensors")
    head = ToyDualBranch()
    apply_adaptation(head, "head")
    with pytest.raises(AdapterFileError, match="include_trainable=True"):
        save_adapter(head, tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()
    m = _trained("cp")
    path = save_adapter(m, tmp_path / "cp.safetensors")
    merge_adapters(m)
    save_adapter(m, tmp_path / "merged.safetensors")  # C is unchanged by merging: saving is fine
    a, b = load_file(str(path)), load_file(str(tmp_path / "merged.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(AdapterFileError, match="unmerge_adapters"):
        load_adapter(m, path)
