"""Run configuration: presets, overrides, clear errors for unknown keys and bad values."""

import pytest

from mifomo_lite.errors import ConfigError
from mifomo_lite.train.config import ABLATIONS, CHOICES, RunConfig, parse_assignments
from mifomo_lite.train.presets import PAPER_TARGETS, preset


def test_presets_exist_and_validate():
    for name in ("smoke", "lite", "faithful", "paper"):
        cfg = preset(name)
        assert cfg.preset == name
        for key, allowed in CHOICES.items():
            assert getattr(cfg, key) in allowed


def test_defaults_follow_the_released_code():
    cfg = RunConfig()
    assert cfg.pseudo_label_refiner == "lgc" and cfg.pseudo_label_target == "lgc_raw"
    assert cfg.attention == "mhsa" and cfg.trainable_set == "code"
    assert cfg.reset_phase1_trainables == "code_reset"
    assert cfg.recreate_optimizer_each_support_step is True and cfg.support_split_fixed is True
    assert (cfg.lgc_alpha, cfg.lgc_sigma, cfg.lgc_batch_size) == (0.9, 50.0, 80)
    assert (cfg.perturbation_range, cfg.mixup_temperature) == (0.2, 0.05)
    assert cfg.n_test_episodes == 20 and cfg.n_shot == 5 and cfg.pca_components == 50


def test_paper_preset_uses_per_target_settings():
    pu = preset("paper", target="pavia_university")
    assert (pu.lr_peft, pu.lr_model, pu.top_k_confident) == (5e-3, 3e-5, 100)
    ip = preset("paper", target="indian_pines")
    assert (ip.intermediate_steps, ip.top_k_confident) == (1000, 10)
    assert set(PAPER_TARGETS) == {"indian_pines", "pavia_university", "salinas", "houston2013"}


def test_unknown_key_lists_valid_keys_and_suggests():
    with pytest.raises(ConfigError) as err:
        preset("lite").set(["lgc_sgima=3"])
    msg = str(err.value)
    assert "lgc_sgima" in msg and "did you mean lgc_sigma" in msg and "pca_components" in msg


def test_values_are_parsed_and_type_checked():
    cfg = preset("lite").set(["lgc_batch_size=full", "use_mixup=false", "n_shot=3",
                              "sources=synthetic,salinas_a", "lgc_alpha=0.5"])
    assert cfg.lgc_batch_size is None and cfg.use_mixup is False and cfg.n_shot == 3
    assert cfg.sources == ("synthetic", "salinas_a") and cfg.lgc_alpha == 0.5
    with pytest.raises(ConfigError, match="n_shot expects a number"):
        preset("lite").set(["n_shot=abc"])
    with pytest.raises(ConfigError, match="use_mixup expects true/false"):
        preset("lite").set(["use_mixup=3"])
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_assignments(["n_shot"])


def test_invalid_choice_and_even_patch_are_refused():
    with pytest.raises(ConfigError, match="adaptation='dora' is not valid"):
        preset("lite", adaptation="dora")
    with pytest.raises(ConfigError, match="patch_size must be odd"):
        preset("lite", patch_size=8)
    with pytest.raises(ConfigError, match="unknown preset"):
        preset("huge")
    with pytest.raises(ConfigError, match="target_ssl_steps must be ≥ 0"):
        preset("lite", target_ssl_steps=-1)
    with pytest.raises(ConfigError, match="target_ssl_lr must be > 0"):
        preset("lite", target_ssl_lr=0.0)
    with pytest.raises(ConfigError, match="target_ssl_batch_size must be ≥ 1"):
        preset("lite", target_ssl_batch_size=0)
    for bad in (0, 4, -3, True, 2.5):
        with pytest.raises(ConfigError, match="feature_smoothing must be an odd integer"):
            preset("lite", feature_smoothing=bad)


def test_ablations_are_valid_configs():
    base = preset("smoke")
    for name, overrides in ABLATIONS.items():
        cfg = base.replace(**overrides)
        assert all(getattr(cfg, k) == v for k, v in overrides.items()), name
    assert ABLATIONS["no_cp"] == {"adaptation": "head"}
    # the kit's own additions to Table X undo one lite choice each
    lite = preset("lite")
    assert lite.readout == "mean" and ABLATIONS["center_readout"] == {"readout": "center"}
    assert lite.propagation_class_mass == "estimated" and ABLATIONS["no_class_mass"] == {"propagation_class_mass": "none"}
    assert RunConfig().propagation_class_mass == "none"  # the released code has no class mass normalisation
    assert RunConfig().target_ssl_steps == 0 and ABLATIONS["no_target_ssl"] == {"target_ssl_steps": 0}
    assert ABLATIONS["no_pretraining"] == {"weights": "random"}
    assert lite.feature_smoothing == 5 and RunConfig().feature_smoothing == 1
    assert ABLATIONS["no_feature_smoothing"] == {"feature_smoothing": 1}


def test_config_round_trips_through_json():
    import json

    cfg = preset("lite", sources=("synthetic", "salinas_a"))
    again = RunConfig(**{**json.loads(cfg.to_json()), "sources": tuple(json.loads(cfg.to_json())["sources"])})
    assert again == cfg


def test_every_key_belongs_to_exactly_one_phase_group():
    import itertools

    from mifomo_lite.train.config import GROUPS, RunConfig

    assert list(GROUPS) == ["data", "model", "adaptation", "target_ssl", "source", "support", "intermediate",
                            "eval", "runtime"]
    keys = list(itertools.chain(*GROUPS.values()))
    assert sorted(keys) == sorted(RunConfig.keys()) and len(keys) == len(set(keys))


def test_a_group_is_a_frozen_typed_view_of_the_flat_keys():
    import dataclasses

    from mifomo_lite.errors import ConfigError
    from mifomo_lite.train.presets import preset

    cfg = preset("smoke").set(["lgc_batch_size=full", "support_steps=7"])
    ev, sup = cfg.group("eval"), cfg.group("support")
    assert ev.lgc_batch_size is None and sup.support_steps == 7 and type(sup).__name__ == "SupportConfig"
    assert not hasattr(sup, "lgc_batch_size")
    with pytest.raises(dataclasses.FrozenInstanceError):
        sup.support_steps = 3
    with pytest.raises(ConfigError, match="unknown config group"):
        cfg.group("optimiser")
