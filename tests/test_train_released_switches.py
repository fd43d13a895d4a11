"""The paper-vs-code switches of the adapter, the reset, the intermediate domain and the ablations,
one at a time on small synthetic runs; the drift record; and the ``faithful`` preset."""

import json

import pytest
import torch

from mifomo_lite.data import synthetic_domain_pair, synthetic_scene
from mifomo_lite.errors import ConfigError
from mifomo_lite.train.config import ABLATIONS, ablation_overrides
from mifomo_lite.train.presets import preset
from mifomo_lite.train.pipeline import run_pipeline

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = dict(model="micro", weights="random", progress=False, n_test_episodes=1, pca_components=8,
             source_n_way=5, max_query_pixels=None, baselines=False)


@pytest.fixture(scope="module")
def domains():
    src, tgt = synthetic_domain_pair(seed=3, size=28, n_source_classes=8, n_target_classes=4)
    return src, tgt


def run(domains, sources=None, **kw):
    src, tgt = domains
    cfg = preset("smoke", **{**SMALL, **kw})
    return run_pipeline(cfg, target_scene=tgt, source_scenes=sources or [src], log=lambda *a, **k: None)


def _behaviour(res) -> str:
    """Everything a run did that a switch may change: metrics, λ trajectories and loss curves."""
    return json.dumps([res.metrics["episodes"], res.lambda_trajectories, res.history], sort_keys=True, default=str)


# Each switch alone, on a base where it is read: flipping it must change the run.
SWITCHES = {
    "lora_variant": ({"adaptation": "lora"}, {"adaptation": "lora", "lora_variant": "input"}),
    # the smoke preset runs phase 0 (target_ssl_steps=4), which trains the patch embedding
    "reset_capture": ({}, {"reset_capture": "before_phase0"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_each_switch_alone_changes_behaviour(domains, switch):
    base_kw, flipped_kw = SWITCHES[switch]
    base, flipped = run(domains, **base_kw), run(domains, **flipped_kw)
    assert getattr(flipped.config, switch) != getattr(base.config, switch)
    assert _behaviour(base) != _behaviour(flipped), f"{switch} changed nothing"


def test_lora_variant_reaches_the_adapter(domains):
    res = run(domains, adaptation="lora", lora_variant="input", use_intermediate_domain=False)
    from mifomo_lite.peft.lora import LoRALinear

    variants = {m.variant for m in res.model.modules() if isinstance(m, LoRALinear)}
    assert variants == {"input"}
    assert preset("smoke").lora_variant == "output"


@pytest.mark.slow
def test_reset_capture_is_moot_without_phase_0(domains):
    a = run(domains, target_ssl_steps=0, use_intermediate_domain=False)
    b = run(domains, target_ssl_steps=0, use_intermediate_domain=False, reset_capture="before_phase0")
    assert _behaviour(a) == _behaviour(b)


@pytest.mark.slow
def test_intermediate_sources_each_choice_changes_behaviour(domains):
    """Two source scenes: first, round-robin and all draw different source episodes; with one
    source every choice is the same run."""
    src, _ = domains
    other = synthetic_scene(28, 28, n_bands=src.cube.shape[2], n_classes=6, seed=11, name="second_source")
    runs = {c: _behaviour(run(domains, sources=[src, other], intermediate_sources=c, n_test_episodes=1,
                              source_episodes=2, target_ssl_steps=0))
            for c in ("first", "round_robin", "all")}
    assert len(set(runs.values())) == 3, "some intermediate_sources choices gave the same run"
    one = [_behaviour(run(domains, intermediate_sources=c, target_ssl_steps=0)) for c in ("first", "all")]
    assert one[0] == one[1]


def test_released_ablation_semantics():
    assert ablation_overrides("no_label_smoothing", "kit") == ABLATIONS["no_label_smoothing"]
    assert ablation_overrides("no_label_smoothing", "released")["report_with_lgc"] is False
    rel = ablation_overrides("all_off", "released")
    assert rel["support_steps"] == 0 and rel["report_with_lgc"] is False
    assert ablation_overrides("no_cp", "released") == ABLATIONS["no_cp"]
    with pytest.raises(ConfigError, match="unknown ablation"):
        ablation_overrides("nope")


@pytest.mark.slow
def test_released_all_off_skips_support_training_and_the_lgc(domains):
    kit = run(domains, **ablation_overrides("all_off", "kit"))
    rel = run(domains, **ablation_overrides("all_off", "released"))
    assert len(kit.history["support"]) == kit.config.support_steps > 0
    assert not rel.history.get("support")
    assert "final/propagated" in kit.metrics["summary"] and "final/propagated" not in rel.metrics["summary"]


@pytest.mark.slow
def test_drift_is_recorded_per_phase_and_changes_no_other_metric(domains):
    on = run(domains, n_test_episodes=2)
    off = run(domains, n_test_episodes=2, drift_probe_pixels=0)
    d = on.metrics["drift"]
    assert off.metrics["drift"] is None
    assert d["probe"]["n_pixels"] == on.config.drift_probe_pixels
    assert set(d["phases"]) == {"after_phase0", "after_phase1"}
    assert [set(e) for e in d["episodes"]] == [{"episode", "after_support", "after_intermediate"}] * 2
    for rec in [*d["phases"].values(), d["episodes"][1]["after_intermediate"]]:
        assert -1.0 <= rec["cosine"] < 1.0 and 0.0 <= rec["knn_overlap"] <= 1.0 and rec["k"] == 10
        assert rec["weights"]["groups"]
    # phase 1 trains the adapter: its weights moved from the identity
    assert d["phases"]["after_phase1"]["weights"]["adapter_rel_delta"] > 0
    assert set(d["episode_means"]) == {"after_support", "after_intermediate"}
    keep = [k for k in on.metrics if k not in ("drift", "timings", "environment", "config")]
    assert json.dumps({k: on.metrics[k] for k in keep}, sort_keys=True, default=str) == \
        json.dumps({k: off.metrics[k] for k in keep}, sort_keys=True, default=str)


def test_drift_probe_size_is_validated():
    with pytest.raises(ConfigError, match="drift_probe_pixels"):
        preset("smoke", drift_probe_pixels=5)


def test_faithful_preset_is_the_released_recipe():
    c = preset("faithful")
    assert (c.readout, c.feature_smoothing, c.target_ssl_steps, c.propagation_class_mass) == ("center", 1, 0, "none")
    assert (c.eval_propagation, c.pseudo_label_propagation, c.lgc_solver) == ("official", "official", "pinv_robust")
    assert (c.lgc_alpha, c.lgc_sigma, c.lgc_batch_size) == (0.9, 50.0, 80)
    assert (c.lora_variant, c.ablation_semantics, c.reset_capture) == ("output", "released", "before_phase0")
    assert c.trainable_set == "code" and c.recreate_optimizer_each_support_step is True


def test_cli_runs_the_faithful_preset_on_the_smoke_budget(tmp_path, capsys):
    """``run --preset faithful`` with the smoke preset's sizes."""
    from mifomo_lite.cli import main

    smoke = preset("smoke")
    sizes = {k: getattr(smoke, k) for k in ("pca_components", "n_test_episodes", "source_episodes", "source_n_way",
                                              "source_n_query", "source_mixups", "support_steps",
                                              "intermediate_steps", "top_k_confident", "max_query_pixels",
                                              "eval_batch_size", "inference_precision")}
    sets = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in sizes.items()]
    sets += ["model=micro", "sources=synthetic", "tsne=false", "classification_map=false", "baselines=false"]
    out = tmp_path / "faithful"
    args = ["run", "--preset", "faithful", "--device", "cpu", "--no-progress", "--out", str(out)]
    rc = main(args + [a for s in sets for a in ("--set", s)])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["preset"] == "faithful" and m["config"]["readout"] == "center"
    assert "final/propagated" in m["summary"] and m["drift"]["episodes"]
    assert "## Drift" in (out / "report.md").read_text() and (out / "drift.png").is_file()
