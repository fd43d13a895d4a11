"""The MIFOMO pipeline end to end on small synthetic domains (seconds), plus its switches."""

import json

import numpy as np
import pytest
import torch

from mifomo_lite.data import synthetic_domain_pair, synthetic_scene
from mifomo_lite.errors import DataError, DeviceError
from mifomo_lite.train.config import ABLATIONS
from mifomo_lite.train.presets import preset
from mifomo_lite.train.pipeline import run_pipeline, set_phase_trainables, build_model
from mifomo_lite.train.runner import write_run_folder, results_rows, verdict

SMALL = dict(model="micro", weights="random", progress=False, n_test_episodes=2, pca_components=8,
             source_n_way=5, max_query_pixels=None)


@pytest.fixture(scope="module")
def domains():
    src, tgt = synthetic_domain_pair(seed=3, size=28, n_source_classes=8, n_target_classes=4)
    return src, tgt


def run(domains, **kw):
    src, tgt = domains
    cfg = preset("smoke", **{**SMALL, **kw})
    return run_pipeline(cfg, target_scene=tgt, source_scenes=[src])


def test_smoke_run_records_everything(domains):
    res = run(domains)
    m = res.metrics
    assert m["seeds"] == [0, 1] and len(m["episodes"]) == 2
    s = m["summary"]
    for key in ("after_support/plain", "after_support/propagated", "final/plain", "final/propagated"):
        assert 0.0 <= s[key]["OA"]["mean"] <= 100.0, key
    assert {"baseline/SVM (PCA)", "baseline/PCA 9×9 mean + propagation",
            "baseline/random encoder + propagation"} <= set(s)
    ep = m["episodes"][0]
    assert ep["n_support"] == 4 * 5 and ep["pseudo_labels"]["n_pseudo"] >= 0
    assert m["environment"]["torch"] == torch.__version__
    assert set(m["timings"]) >= {"total_s", "source_phase_s", "adaptation_s", "evaluation_s"}
    json.dumps(m)  # JSON-serialisable as written
    assert len(res.history["source"]) == preset("smoke").source_episodes
    assert res.lambda_trajectories and 0.0 <= res.lambda_trajectories[-1][-1]["lambda"] <= 1.0


def test_training_changes_the_embedding(domains):
    """Phase 1 + adaptation must actually move trainable weights (a pipeline that trains nothing
    would still produce numbers)."""
    src, tgt = domains
    cfg = preset("smoke", **SMALL)
    torch.manual_seed(0)
    model = build_model(cfg, torch.device("cpu"))
    before = model.spat_encoder.patch_embed.proj.weight.detach().clone()
    res = run_pipeline(cfg, target_scene=tgt, source_scenes=[src])
    # the returned model was built with the same seed: its patch embedding has been trained
    after = res.model.spat_encoder.patch_embed.proj.weight.detach()
    assert before.shape == after.shape and not torch.allclose(before, after)
    assert all(np.isfinite(res.history["support"])) and all(np.isfinite(res.history["intermediate"]))


def test_same_seed_same_metrics(domains):
    a = run(domains, n_test_episodes=1, baselines=False)
    b = run(domains, n_test_episodes=1, baselines=False)
    assert a.metrics["episodes"] == b.metrics["episodes"]


def test_inductive_mode_never_propagates_over_queries(domains):
    res = run(domains, mode="inductive", n_test_episodes=1, baselines=False)
    ep = res.metrics["episodes"][0]
    assert "propagated" not in ep["final"] and ep["pseudo_labels"]["n_pseudo"] == 0


def test_target_ssl_phase_runs_before_phase_1_and_only_when_transductive(domains):
    logs = []
    src, tgt = domains
    cfg = preset("smoke", **{**SMALL, "n_test_episodes": 1, "baselines": False, "target_ssl_steps": 4})
    res = run_pipeline(cfg, target_scene=tgt, source_scenes=[src], log=logs.append)
    rec = res.metrics["target_ssl"]
    assert rec["steps"] == 4 and rec["last_loss"] > 0 and len(res.history["target_ssl"]) == 4
    assert res.metrics["timings"]["target_ssl_s"] > 0
    off = run(domains, n_test_episodes=1, baselines=False, target_ssl_steps=0)
    assert off.metrics["target_ssl"] is None and "target_ssl" not in off.history
    assert off.metrics["episodes"] != res.metrics["episodes"]  # the encoders moved
    logs.clear()
    ind = run_pipeline(cfg.replace(mode="inductive"), target_scene=tgt, source_scenes=[src], log=logs.append)
    assert ind.metrics["target_ssl"] is None and any("skipped" in line for line in logs)


@pytest.mark.parametrize("name", sorted(ABLATIONS))
def test_every_ablation_runs(domains, name):
    res = run(domains, n_test_episodes=1, baselines=False, **ABLATIONS[name])
    s = res.metrics["summary"]
    assert "final/plain" in s
    if not ABLATIONS[name].get("use_intermediate_domain", True):
        assert "pseudo_labels" not in res.metrics["episodes"][0]
        assert "intermediate" not in res.history


@pytest.fixture(scope="module")
def head_only(domains):
    return run(domains, n_test_episodes=1, baselines=False, adaptation="head")


@pytest.mark.parametrize("method", ["lora", "prompt", "full"])
def test_other_adaptation_methods_run(domains, head_only, method):
    """Each method installs what it names, trains it, and so changes the result of head-only."""
    res = run(domains, n_test_episodes=1, baselines=False, adaptation=method)
    summary = res.metrics["adaptation"]
    assert summary["method"] == method
    if method == "full":
        assert summary["adapter"] == 0 and summary["trainable"] == summary["total"]
    else:
        assert summary["adapter"] == summary["closed_form"] > 0
        assert any(method in n or "prompts" in n for n in summary["trainable_names"])
    assert res.metrics["episodes"] != head_only.metrics["episodes"]


# Each switch alone, on a base where the switch is read: flipping it must change the run.
SWITCHES = {
    "pseudo_label_refiner": ({}, {"pseudo_label_refiner": "none"}),
    "pseudo_label_target": ({}, {"pseudo_label_target": "onehot"}),
    "reset_phase1_trainables": ({}, {"reset_phase1_trainables": "transfer"}),
    "recreate_optimizer_each_support_step": ({}, {"recreate_optimizer_each_support_step": False}),
    "mixup_temperature_form": ({}, {"mixup_temperature_form": "commented"}),
    "eval_propagation": ({"eval_propagation": "full_graph"}, {"eval_propagation": "official"}),
    "pseudo_label_propagation": ({"pseudo_label_propagation": "full_graph"},
                                 {"pseudo_label_propagation": "official"}),
    # the batch size of the official LGC, at evaluation and for the pseudo-labels
    "lgc_batch_size": ({"eval_propagation": "official", "pseudo_label_propagation": "official"},
                       {"eval_propagation": "official", "pseudo_label_propagation": "official",
                        "lgc_batch_size": None}),
    # the official LGC's solver, at evaluation and for the pseudo-labels
    "lgc_solver": ({"eval_propagation": "official", "pseudo_label_propagation": "official"},
                   {"eval_propagation": "official", "pseudo_label_propagation": "official",
                    "lgc_solver": "pinv_robust"}),
    # the nodes of the run's propagation: the pseudo-labels come from the whole scene
    "transductive_pool": ({}, {"transductive_pool": "scene"}),
}


def _behaviour(res) -> tuple:
    return res.metrics["episodes"], res.lambda_trajectories


@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_each_switch_alone_changes_behaviour(domains, switch):
    base_kw, flipped_kw = SWITCHES[switch]
    base = run(domains, n_test_episodes=1, baselines=False, **base_kw)
    flipped = run(domains, n_test_episodes=1, baselines=False, **flipped_kw)
    assert getattr(flipped.config, switch) != getattr(base.config, switch)
    assert _behaviour(base) != _behaviour(flipped), f"{switch} changed nothing"


def test_code_reset_restores_target_trainables():
    """Every test episode starts from the state after phase 1, except that ``code_reset`` puts the
    target-phase trainables back to their values before phase 1; ``transfer`` keeps phase 1's."""
    from mifomo_lite.peft import apply_adaptation
    from mifomo_lite.train.model import restore_episode_start, trainable_state

    cfg = preset("smoke", **SMALL)
    torch.manual_seed(0)
    model = build_model(cfg, torch.device("cpu"))
    apply_adaptation(model, cfg.adaptation, trainable_set=cfg.trainable_set, phase="source",
                     extra_trainable=("classifier",))
    set_phase_trainables(model, cfg, "target")
    initial = trainable_state(model)
    with torch.no_grad():                        # "phase 1": every parameter moves
        for p in model.parameters():
            p.add_(1.0)
    phase1 = {k: v.detach().clone() for k, v in model.state_dict().items()}
    with torch.no_grad():                        # "episode 0" moves them again
        for p in model.parameters():
            p.mul_(3.0)
    assert initial and len(initial) < len(phase1)
    for mode, expect_initial in (("code_reset", True), ("transfer", False)):
        restore_episode_start(model, cfg.replace(reset_phase1_trainables=mode), phase1, initial)
        for name, value in model.state_dict().items():
            want = initial[name] if (expect_initial and name in initial) else phase1[name]
            assert torch.equal(value, want), f"{mode}: {name}"
        assert {n for n, p in model.named_parameters() if p.requires_grad} == set(initial), mode


def test_channel_mismatch_between_domains_is_explained():
    src = synthetic_scene(24, 24, n_bands=6, n_classes=5, seed=1)   # 6 bands < pca 8 → 6 channels
    tgt = synthetic_scene(24, 24, n_bands=40, n_classes=4, seed=2)
    cfg = preset("smoke", **SMALL)
    with pytest.raises(DataError, match="channels after preprocessing"):
        run_pipeline(cfg, target_scene=tgt, source_scenes=[src])


def test_cuda_without_gpu_is_a_clear_error(domains):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(DeviceError, match="CUDA is not available"):
        run(domains, device="cuda")


def test_run_folder_has_metrics_report_and_figures(domains, tmp_path):
    res = run(domains, n_test_episodes=1, classification_map=True, tsne=True)
    out = write_run_folder(res, tmp_path / "run")
    names = {p.name for p in out.iterdir()}
    assert {"metrics.json", "config.json", "report.md", "classification_map.png", "tsne.png",
            "curves.png", "lambda.png"} <= names
    assert not [n for n in names if n.endswith(".part")]
    m = json.loads((out / "metrics.json").read_text())
    assert m["timings"]["classification_map_s"] > 0
    report = (out / "report.md").read_text()
    assert "| method | OA (%)" in report and ("beats" in report or "NOT beat" in report or "ahead" in report)
    # both propagation pools side by side, the labelled one marked as using the GT mask
    assert "## Both propagation pools" in report and "scene pool" in report
    assert "[labelled pool: uses the GT mask — optimistic]" in report and set(m["paired_by_pool"]) <= {"labelled", "scene"}
    assert results_rows(m["summary"])[0]["name"].startswith("MIFOMO-lite")
    assert verdict(m["summary"])


def test_frozen_backbone_embeds_each_pixel_once(domains):
    """Head-only with the paper's trainable set freezes the whole backbone: embeddings are cached."""
    res = run(domains, adaptation="head", trainable_set="cp_only", n_test_episodes=2, baselines=False,
              use_intermediate_domain=False)
    assert res.metrics["embedding_cache"] is True
    assert res.metrics["timings"]["embedding_cache_s"] > 0
    assert run(domains, n_test_episodes=1, baselines=False).metrics["embedding_cache"] is False
