"""The computations notebooks 03, 05 and 08 call: PCA picture, accuracies, refiners with the run's
settings, graded pseudo-label selection, per-episode metrics, transductive propagation."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mifomo_lite import fsl
from mifomo_lite import lessons_fsl as L
from mifomo_lite.errors import ConfigError, DataError
from mifomo_lite.train.presets import preset


def clusters(n=(12, 15, 10), dim=8, spread=0.2, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(n), dim))
    y = np.repeat(np.arange(len(n)), n)
    return torch.as_tensor(centres[y] + spread * rng.normal(size=(len(y), dim)), dtype=torch.float32), y


def test_pca2_projects_on_the_common_top_axes():
    x, _ = clusters()
    a, b = L.pca2(x[:20], x[20:])
    assert a.shape == (20, 2) and b.shape == (len(x) - 20, 2)
    both = np.concatenate([a, b])
    assert np.allclose(both.mean(0), 0, atol=1e-5)                     # centred on all arrays together
    var = both.var(0)
    assert var[0] >= var[1] > 0
    centred = x.numpy() - x.numpy().mean(0)
    top = np.linalg.svd(centred, compute_uv=False)[0] ** 2 / len(x)
    assert var[0] == pytest.approx(top, rel=1e-4)                      # the first axis holds the top variance
    with pytest.raises(DataError, match="one width"):
        L.pca2(x, x[:, :3])


def test_refine_scores_uses_the_run_settings_and_overrides():
    x, y = clusters()
    s_idx = np.concatenate([np.flatnonzero(y == c)[:3] for c in range(3)])
    q_idx = np.setdiff1d(np.arange(len(y)), s_idx)
    s, q, ys = x[s_idx], x[q_idx], torch.as_tensor(y[s_idx])
    Ys = F.one_hot(ys, 3).float()
    probs = torch.softmax(20 * F.normalize(q, dim=1) @ F.normalize(fsl.prototypes(s, ys, 3), dim=1).T, dim=1)
    cfg = preset("smoke")
    kw = dict(cfg=cfg, support_emb=s, support_y_onehot=Ys, query_emb=q)
    direct = fsl.refine_pseudo_labels(probs, "lgc", support_emb=s, support_y_onehot=Ys, query_emb=q,
                                      alpha=cfg.lgc_alpha, sigma=0.3, batch_size=None)
    assert torch.allclose(L.refine_scores("lgc", probs, sigma=0.3, batch_size=None, **kw), direct)
    eps = L.refine_scores("eps_smoothing", probs, **kw)
    assert torch.allclose(eps.max(1).values, torch.full((len(q),), 1 - cfg.eps_smoothing + cfg.eps_smoothing / 3))
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['sgima'\]"):
        L.refine_scores("lgc", probs, sgima=1.0, **kw)
    y_true = y[q_idx]
    assert L.argmax_accuracy(probs, y_true) == pytest.approx(float((probs.argmax(1).numpy() == y_true).mean()))
    assert L.argmax_accuracy(F.one_hot(torch.as_tensor(y_true), 3), y_true) == 1.0
    with pytest.raises(DataError, match="n = 3 labels"):
        L.argmax_accuracy(probs, y_true[:3])


def test_graded_selection_grades_the_kept_labels():
    y_true = np.array([0, 0, 1, 1, 2, 2, 0, 1])
    confidence = torch.tensor([1.0, 2.0, 1.0, 9.0, 1.0, 2.0, 3.0, 4.0])        # row 3: confident and wrong
    scores = F.one_hot(torch.as_tensor([0, 0, 1, 2, 2, 2, 0, 1]), 3).float() * confidence[:, None]
    cfg = preset("smoke").replace(min_class_count=1)
    sel, n, acc = L.graded_selection(scores, None, y_true, cfg, top_k=2)
    assert n == 6 and len(sel.query_indices) == 6                      # two per predicted class
    kept = sel.query_indices.numpy()
    pred = scores.argmax(1).numpy()[kept]
    assert sorted(kept.tolist()) == [1, 2, 3, 5, 6, 7]
    assert acc == pytest.approx(float((pred == y_true[kept]).mean()))
    assert acc == pytest.approx(5 / 6)
    _, n0, acc0 = L.graded_selection(scores, None, y_true, cfg.replace(min_class_count=50), top_k=2)
    assert n0 == 0 and math.isnan(acc0)


def _episodes():
    def ep(oa_plain, oa_prop, pcs):
        final = {"plain": {"oa": oa_plain, "per_class_accuracy": pcs}}
        if oa_prop is not None:
            final["propagated"] = {"oa": oa_prop, "per_class_accuracy": pcs}
        return {"final": final, "after_support": {"plain": {"oa": oa_plain - 1, "per_class_accuracy": pcs}}}
    return [ep(70.0, 75.0, [50.0, None, 90.0]), ep(80.0, None, [70.0, 40.0, 100.0])]


def test_episode_oa_and_mean_per_class_read_a_runs_metrics():
    eps = _episodes()
    assert L.episode_oa(eps, "final", "plain").tolist() == [70.0, 80.0]
    assert L.episode_oa(eps, "final", "propagated").tolist() == [75.0]   # only episodes that have it
    assert L.episode_oa(eps, "after_support", "plain").tolist() == [69.0, 79.0]
    assert L.mean_per_class(eps).tolist() == [60.0, 40.0, 95.0]         # None ignored
    with pytest.raises(DataError, match="no stage 'middle'"):
        L.episode_oa(eps, "middle", "plain")


def test_propagated_scores_depend_on_the_other_queries():
    x, y = clusters(spread=1.0)
    s_idx = np.concatenate([np.flatnonzero(y == c)[:2] for c in range(3)])
    q = x[np.setdiff1d(np.arange(len(y)), s_idx)]
    ys = torch.as_tensor(y[s_idx])
    head = fsl.PrototypicalHead(20.0)
    protos = fsl.prototypes(x[s_idx], ys, 3)
    full = L.propagated_scores(head, protos, x[s_idx], ys, q, sigma=0.5)
    alone = L.propagated_scores(head, protos, x[s_idx], ys, q[:5], sigma=0.5)
    assert full.shape == (len(q), 3)
    assert not torch.allclose(full[:5], alone)                        # transductive: the graph matters
    ref = fsl.label_propagation(x[s_idx], F.one_hot(ys, 3).float(), q, head.probabilities(q, protos).float(),
                                batch_size=None, sigma=0.5)
    assert torch.allclose(full, ref)


def test_episode_and_target_accuracy_on_a_smoke_model():
    from mifomo_lite.data import EpisodeSampler, few_shot_split, synthetic_domain_pair
    from mifomo_lite.train.pipeline import build_model, prepare_domains, subsample_queries

    cfg = preset("smoke", device="cpu", seed=0)
    src, tgt = synthetic_domain_pair(seed=0, size=16, n_source_classes=6, n_target_classes=4)
    target, sources = prepare_domains(cfg, tgt, [src])
    model = build_model(cfg, torch.device("cpu"))
    sampler = EpisodeSampler(sources[0].scene, n_way=4, n_shot=2, n_query=3, seed=5)
    split = subsample_queries(few_shot_split(target.scene, n_shot=3, seed=0), 30, 0)
    a = L.episode_and_target_accuracy(model, sampler, 2, sources[0], target, split, torch.device("cpu"))
    b = L.episode_and_target_accuracy(model, sampler, 2, sources[0], target, split, torch.device("cpu"))
    assert a == b and all(0.0 <= v <= 1.0 for v in a)
    # 2 episodes × 12 queries and 30 target queries: the accuracies are multiples of 1/24 and 1/30
    assert round(a[0] * 24, 6).is_integer() and round(a[1] * 30, 6).is_integer()
    with pytest.raises(ConfigError, match="n_eval must be ≥ 1"):
        L.episode_and_target_accuracy(model, sampler, 0, sources[0], target, split, torch.device("cpu"))
