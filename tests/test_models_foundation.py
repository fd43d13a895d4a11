"""The shipped tiny foundation model, its model card, and frozen-prototype evaluation."""

import json
import shutil

import numpy as np
import pytest
import torch

from mifomo_lite.errors import ChecksumError, CheckpointError
from mifomo_lite.models import MifomoHyperSIGMA, create_model, evaluate_frozen_prototypes, load_foundation_model
from mifomo_lite.models.foundation import foundation_paths, prototype_metrics
from mifomo_lite.utils import sha256_file


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def card():
    paths = foundation_paths("tiny")
    assert paths["weights"].is_file(), f"the shipped model is missing: {paths['weights']}"
    return json.loads(paths["card_json"].read_text())


def test_shipped_model_is_small_and_matches_its_card(card):
    paths = foundation_paths("tiny")
    assert paths["weights"].stat().st_size <= 20 * 1024 * 1024
    assert sha256_file(paths["weights"]) == card["sha256"]
    for key in ("config", "command", "pretraining", "evaluation", "sha256", "created"):
        assert key in card
    pre = card["pretraining"]
    for key in ("data", "steps", "wall_time_s", "final_loss"):
        assert key in pre
    assert not any("indian" in d["name"].lower() for d in pre["data"])
    assert paths["card_md"].is_file() and card["sha256"] in paths["card_md"].read_text()


def test_card_reports_the_three_way_comparison(card):
    rows = card["evaluation"]["results"]
    assert len(rows) == 3
    for row in rows:
        assert row["n_seeds"] == 10 and row["n_shot"] == 5
        for m in ("oa", "aa", "kappa"):
            assert 0 <= row[m]["mean"] <= 1


def test_load_foundation_model_ready_to_use():
    model = load_foundation_model("tiny")
    assert isinstance(model, MifomoHyperSIGMA) and not model.training
    assert model.foundation_card["name"] == "tiny"
    x = torch.randn(2, 50, 9, 9)
    with torch.no_grad():
        a, b = model(x), model(x)
    assert a.shape == (2, 128) and torch.equal(a, b) and torch.isfinite(a).all()


def test_tampered_or_corrupted_weights_are_refused(tmp_path):
    paths = foundation_paths("tiny")
    w = tmp_path / "m.safetensors"
    shutil.copy(paths["weights"], w)
    shutil.copy(paths["card_json"], tmp_path / "m.json")
    data = bytearray(w.read_bytes())
    data[-5] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="sha256"):
        load_foundation_model(path=w)
    (tmp_path / "m.json").unlink()
    w.write_bytes(b"garbage" * 10)
    with pytest.raises(CheckpointError, match="corrupted"):
        load_foundation_model(path=w)


def test_prototype_metrics_agree_with_sklearn():
    from sklearn.metrics import balanced_accuracy_score, cohen_kappa_score

    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    p[:150] = y[:150]
    m = prototype_metrics(y, p, 5)
    assert m["oa"] == pytest.approx((y == p).mean())
    assert m["aa"] == pytest.approx(balanced_accuracy_score(y, p))
    assert m["kappa"] == pytest.approx(cohen_kappa_score(y, p))


def test_evaluate_frozen_prototypes_on_a_synthetic_scene():
    from mifomo_lite.data import prepare_scene, synthetic_scene

    scene = prepare_scene(synthetic_scene(16, 16, 80, n_classes=4, seed=3), n_components=50)
    res = evaluate_frozen_prototypes("pca", scene, n_shot=3, seeds=range(3))
    assert res["n_seeds"] == 3 and len(res["per_seed"]) == 3 and res["feature_dim"] == 50
    assert 0.25 < res["oa"]["mean"] <= 1.0
    torch.manual_seed(0)  # a very small model of the same family keeps this fast
    model = create_model("tiny", embed_dim=32, num_heads=2, depth=4, out_indices=(0, 1, 2, 3), spectral_tap=0).train()
    res2 = evaluate_frozen_prototypes(model, scene, n_shot=3, seeds=range(2))
    assert model.training  # mode restored
    assert res2["feature_dim"] == 32 and res2["per_seed"][0]["seed"] == 0
    again = evaluate_frozen_prototypes(model, scene, n_shot=3, seeds=range(2))
    assert again["oa"] == res2["oa"]  # eval mode during feature extraction: no drop path
