"""The evaluation's node pools (``transductive_pool``) and the LGC solver switch (``lgc_solver``).

* In the ``scene`` pool the label mask may be read only to sample the support shots and to score
  the query pixels. The mask-read test runs the whole pipeline twice on the same image with two
  label maps that agree on the support and nowhere else that matters: every other pixel's label
  is scrambled (the scored query pixels by a class permutation, all the others at random, labelled
  or not). If nothing but scoring reads the mask, the training losses, the λ trajectory and the
  node embeddings are bit for bit the same (so the pseudo-labels were the same pixels), every
  prediction is the same, so each confusion matrix of the second run is the first one's with its
  rows permuted. Building the nodes, the pseudo-labels or a baseline's features from the mask
  breaks that.
* Each switch alone changes what it should, and nothing else.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mifomo_lite import data as D
from mifomo_lite import fsl
from mifomo_lite.data import few_shot_split, synthetic_domain_pair
from mifomo_lite.errors import ConfigError
from mifomo_lite.train.presets import preset
from mifomo_lite.train.domains import prepare_domains, subsample_queries
from mifomo_lite.train.evaluation import propagated_scores, scene_nodes
from mifomo_lite.train.model import build_model
from mifomo_lite.train.pipeline import run_pipeline

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = dict(model="micro", weights="random", progress=False, n_test_episodes=1, pca_components=8, source_n_way=5,
            source_episodes=3, support_steps=3, intermediate_steps=3, top_k_confident=3, min_class_count=1,
            max_query_pixels=60, device="cpu", inference_precision="float32")


@pytest.fixture(scope="module")
def domains():
    return synthetic_domain_pair(seed=3, size=28, n_source_classes=8, n_target_classes=4)


def _run(cfg, target, source, split, monkeypatch):
    """One pipeline run whose test episode uses exactly ``split`` (the support a user labelled)."""
    monkeypatch.setattr(D, "few_shot_split", lambda *a, **k: split)
    return run_pipeline(cfg, target_scene=target, source_scenes=[source], log=lambda *a, **k: None,
                        keep_model=False)


def _scrambled(scene, split, perm: np.ndarray, seed: int = 0):
    """``scene`` and ``split`` with every label outside the support changed: the query pixels'
    classes mapped by ``perm`` (0-based), every other pixel drawn at random from 0..C (0 =
    unlabelled)."""
    C = split.n_classes
    rng = np.random.default_rng(seed)
    labels = np.where(rng.random(scene.labels.shape) < 0.5, 0, rng.integers(1, C + 1, size=scene.labels.shape))
    labels = labels.astype(scene.labels.dtype)
    labels[split.support_rows, split.support_cols] = split.support_labels + 1
    q = perm[split.query_labels]
    labels[split.query_rows, split.query_cols] = q + 1
    return dataclasses.replace(scene, labels=labels), dataclasses.replace(split, query_labels=q)


def _confusions(metrics: dict) -> dict:
    """Every confusion matrix of the (one) episode record: each stage × prediction, each baseline."""
    ep = metrics["episodes"][0]
    out = {f"{st}/{k}": np.asarray(v["confusion_matrix"]) for st in ("after_support", "final")
           for k, v in ep[st].items()}
    for key in ("baselines", "baselines_labelled_pool", "baselines_scene_pool"):
        out.update({f"{key}/{n}": np.asarray(v["confusion_matrix"]) for n, v in ep[key].items()})
    return out


@pytest.mark.slow
def test_scene_pool_reads_the_label_mask_only_to_sample_the_support_and_score(domains, monkeypatch):
    source, target = domains
    cfg = preset("smoke", **TINY, transductive_pool="scene")
    split = subsample_queries(few_shot_split(target, n_shot=5, seed=cfg.seed), cfg.max_query_pixels, cfg.seed)
    perm = np.roll(np.arange(split.n_classes), 1)        # every query pixel gets another class
    scene_b, split_b = _scrambled(target, split, perm)
    assert (scene_b.labels != target.labels).mean() > 0.5  # most of the mask really changed
    res_a = _run(cfg, target, source, split, monkeypatch)
    res_b = _run(cfg, scene_b, source, split_b, monkeypatch)
    # what the model trained on (continuous: any other pseudo-labelled pixel changes a loss) ...
    assert res_a.history == res_b.history and res_a.lambda_trajectories == res_b.lambda_trajectories
    assert torch.equal(res_a.last_episode["nodes"]["emb"], res_b.last_episode["nodes"]["emb"])
    a, b = res_a.metrics, res_b.metrics
    ca, cb = _confusions(a), _confusions(b)   # ... and every prediction
    assert "final/propagated_scene_pool" in ca and len(ca) == len(cb) >= 14
    for key, m in ca.items():     # b's true class of a query is perm[a's]: rows move, predictions stay
        np.testing.assert_array_equal(cb[key][perm], m, err_msg=f"{key}: a prediction changed with the mask")
    pa, pb = a["episodes"][0]["pseudo_labels"], b["episodes"][0]["pseudo_labels"]
    assert pa["pool"] == "scene" and (pa["n_pseudo"], pa["kept_classes"]) == (pb["n_pseudo"], pb["kept_classes"])
    assert pa["n_pseudo"] > pa["n_pseudo_scored"]         # most pseudo-labels sit on unscored pixels
    # the scoring did see the scrambled truth: the scores themselves differ
    assert a["episodes"][0]["final"]["plain"]["oa"] != b["episodes"][0]["final"]["plain"]["oa"]


@pytest.mark.slow
def test_transductive_pool_alone_changes_the_pseudo_labels_and_reports_both_pools(domains, monkeypatch):
    source, target = domains
    cfg = preset("smoke", **TINY)
    split = subsample_queries(few_shot_split(target, n_shot=5, seed=cfg.seed), cfg.max_query_pixels, cfg.seed)
    res_l = _run(cfg, target, source, split, monkeypatch)
    res_s = _run(cfg.replace(transductive_pool="scene"), target, source, split, monkeypatch)
    lab, scn = res_l.metrics, res_s.metrics
    el, es = lab["episodes"][0], scn["episodes"][0]
    # before the pseudo-labels the two runs are the same model: both pools, bit for bit
    for k in ("plain", "propagated_labelled_pool", "propagated_scene_pool"):
        assert el["after_support"][k] == es["after_support"][k]
    assert el["after_support"]["propagated"] == el["after_support"]["propagated_labelled_pool"]
    assert es["after_support"]["propagated"] == es["after_support"]["propagated_scene_pool"]
    # the run's pool decides where the pseudo-labels come from, and so what the model trains on
    assert "pool" not in el["pseudo_labels"] and es["pseudo_labels"]["pool"] == "scene"
    assert res_l.history["support"] == res_s.history["support"]
    assert res_l.history["intermediate"] != res_s.history["intermediate"]
    # the baselines: the run's pool under "baselines", both by name; the SVMs are the same in both
    assert el["baselines"] == el["baselines_labelled_pool"] and es["baselines"] == es["baselines_scene_pool"]
    assert el["baselines_scene_pool"]["SVM (PCA)"] == el["baselines_labelled_pool"]["SVM (PCA)"]
    name = "PCA 9×9 mean + propagation"
    assert el["baselines_scene_pool"][name] != el["baselines_labelled_pool"][name]
    for m in (lab, scn):
        assert set(m["paired_by_pool"]) == {"labelled", "scene"}
        assert {"final/propagated_scene_pool", f"baseline_scene_pool/{name}"} <= set(m["summary"])


def test_scene_nodes_are_every_pixel_but_the_support(domains):
    _, target = domains
    split = few_shot_split(target, n_shot=5, seed=0)
    nodes = scene_nodes(*target.labels.shape, split)
    H, W = target.labels.shape
    assert len(nodes["rows"]) == H * W - split.n_support
    assert not set(zip(split.support_rows, split.support_cols)) & set(zip(nodes["rows"], nodes["cols"]))
    q = nodes["query_pos"]
    assert (nodes["rows"][q] == split.query_rows).all() and (nodes["cols"][q] == split.query_cols).all()


def test_lgc_solver_alone_changes_the_official_propagation_scores(domains, monkeypatch):
    source, target = domains
    cfg = preset("smoke", **TINY, eval_propagation="official", pseudo_label_propagation="official")
    dom, _ = prepare_domains(cfg, target_scene=target, source_scenes=[source])
    split = few_shot_split(dom.prepared, n_shot=5, seed=0)
    model = build_model(cfg, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    s_emb, q_emb = torch.randn(split.n_support, model.embed_dim, generator=g), torch.randn(50, model.embed_dim,
                                                                                            generator=g)
    args = (model, s_emb, split.support_labels, q_emb, split.n_classes)
    a = propagated_scores(*args, cfg, "official")
    b = propagated_scores(*args, cfg.replace(lgc_solver="pinv_robust"), "official")
    rel = float((a - b).abs().max() / a.abs().max())
    assert 1e-6 < rel < 1e-2          # the released ridge pseudo-inverse: a small, real difference
    assert torch.equal(a, propagated_scores(*args, cfg, "official"))   # and nothing else moved
    # the same switch reaches the pseudo-labels' propagation
    seen, real = [], fsl.label_propagation
    monkeypatch.setattr(fsl, "label_propagation", lambda *x, **k: seen.append(k["solver"]) or real(*x, **k))
    from mifomo_lite.train.phases import pseudo_label_pool

    pseudo_label_pool(model, dom, split, torch.randn(split.n_query, model.embed_dim, generator=g), s_emb,
                      cfg.replace(lgc_solver="pinv_robust"))
    assert seen == ["official"]       # label_propagation's name for the released pinv_robust
    with pytest.raises(ConfigError, match="lgc_solver"):
        cfg.replace(lgc_solver="lstsq")
    with pytest.raises(ConfigError, match="transductive_pool"):
        cfg.replace(transductive_pool="all")
