"""The pipeline's phases as units: each runs alone on small synthetic domains, with typed inputs
and outputs, and a test episode restarts from the state phase 1 left."""

import pytest
import torch

from mifomo_lite import fsl
from mifomo_lite.data import few_shot_split, synthetic_domain_pair
from mifomo_lite.peft import apply_adaptation
from mifomo_lite.train.presets import preset
from mifomo_lite.train.domains import prepare_domains
from mifomo_lite.train.episode import EpisodeContext, EpisodeOutcome, run_test_episode
from mifomo_lite.train.model import build_model, set_phase_trainables, trainable_state
from mifomo_lite.train.phases import adapt_on_support, train_source_phase

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = dict(model="micro", weights="random", progress=False, n_test_episodes=1, pca_components=8,
             source_n_way=5, max_query_pixels=None, baselines=False, target_ssl_steps=0)


@pytest.fixture(scope="module")
def setup():
    src, tgt = synthetic_domain_pair(seed=3, size=28, n_source_classes=8, n_target_classes=4)
    cfg = preset("smoke", **SMALL)
    target, sources = prepare_domains(cfg, tgt, [src])
    return cfg, target, sources


def _adapted_model(cfg):
    torch.manual_seed(0)
    model = build_model(cfg, torch.device("cpu"))
    apply_adaptation(model, cfg.adaptation, trainable_set=cfg.trainable_set, phase="source",
                     extra_trainable=("classifier",))
    set_phase_trainables(model, cfg, "target")
    return model


def test_source_phase_alone_trains_only_the_source_trainables(setup):
    cfg, target, sources = setup
    model = _adapted_model(cfg)
    set_phase_trainables(model, cfg, "source")
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    history: dict = {}
    train_source_phase(model, sources, cfg, torch.device("cpu"), history, log=lambda *a: None)
    assert len(history["source"]) == cfg.source_episodes
    moved = {k for k, v in model.named_parameters() if not torch.equal(v, before[k])}
    trainable = {k for k, v in model.named_parameters() if v.requires_grad}
    assert moved and moved <= trainable


def test_support_adaptation_alone_moves_the_target_trainables(setup):
    cfg, target, _ = setup
    model = _adapted_model(cfg)
    split = few_shot_split(target.scene, n_shot=cfg.n_shot, seed=0)
    before = trainable_state(model)
    history: dict = {}
    adapt_on_support(model, target, split, cfg, torch.device("cpu"), history)
    assert len(history["support"]) == cfg.support_steps
    assert any(not torch.equal(p, before[k]) for k, p in model.named_parameters() if k in before)


def test_a_test_episode_alone_restarts_from_phase_1_and_repeats(setup):
    cfg, target, sources = setup
    model = _adapted_model(cfg)
    initial = trainable_state(model)
    phase1 = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ctx = EpisodeContext(model, target, sources, cfg, torch.device("cpu"), initial, phase1)
    first = run_test_episode(ctx, 0)
    again = run_test_episode(ctx, 0)      # the first episode trained the model; the second restarts
    assert isinstance(first, EpisodeOutcome)
    assert fsl.to_jsonable(first.record) == fsl.to_jsonable(again.record)
    assert {"after_support", "final", "pseudo_labels"} <= set(first.record)
    assert set(first.seconds) == {"adaptation_s", "evaluation_s", "baselines_s", "drift_s"}
    assert first.trajectory and first.last["split"].n_query == first.record["n_query"]
