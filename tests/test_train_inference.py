"""Readout switch, CPU bf16 inference, full-graph pseudo-labels, given pseudo-label scores, the
verdict's wording and ablate() on ready scenes."""

import numpy as np
import pytest
import torch

from mifomo_lite.data import few_shot_split, prepare_scene, synthetic_domain_pair
from mifomo_lite.errors import ConfigError, DataError
from mifomo_lite.models import create_model
from mifomo_lite.train.presets import preset
from mifomo_lite import fsl
from mifomo_lite.train.pipeline import (FeatureCache, build_model, embed_pixels, full_graph_scores, inference_dtype,
                                        predict, prepare_domains, pseudo_label_pool, run_baselines)
from mifomo_lite.train.runner import ablate, verdict

SMALL = dict(model="micro", weights="random", progress=False, n_test_episodes=1, pca_components=8,
             source_n_way=5, max_query_pixels=None)


@pytest.fixture(scope="module")
def domains():
    return synthetic_domain_pair(seed=3, size=28, n_source_classes=8, n_target_classes=4)


def test_mean_readout_is_the_window_mean_of_the_fused_map():
    torch.manual_seed(0)
    model = create_model("micro", in_chans=8, patch_size=9).eval()
    x = torch.randn(3, 8, 9, 9)
    with torch.no_grad():
        feats = model.forward_features(x)
        centre = model.forward_embedding(x)
        model.readout = "mean"
        mean = model.forward_embedding(x)
        feats_mean = model.forward_features(x)
    torch.testing.assert_close(centre, feats["fused"][:, 4, 4], rtol=1e-5, atol=1e-5)
    # gates, DR and merger are linear per pixel: the window mean commutes with them
    torch.testing.assert_close(mean, feats["fused"].mean(dim=(1, 2)), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(feats_mean["embedding"], mean, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(mean, centre)
    with pytest.raises(ValueError, match="readout='corner' is not valid"):
        model.readout = "corner"


def test_build_model_applies_the_configured_readout():
    cfg = preset("smoke", **SMALL, readout="mean")
    assert build_model(cfg, torch.device("cpu")).readout == "mean"
    assert build_model(cfg.replace(readout="center"), torch.device("cpu")).readout == "center"
    with pytest.raises(ConfigError, match="readout='middle' is not valid"):
        cfg.replace(readout="middle")


def test_inference_precision_switch_and_bf16_accuracy(domains):
    cpu = torch.device("cpu")
    cfg = preset("smoke", **SMALL)
    assert inference_dtype(cpu, cfg.replace(inference_precision="float32")) == torch.float32
    assert inference_dtype(cpu, cfg.replace(inference_precision="bfloat16")) == torch.bfloat16
    _, tgt = domains
    prep = prepare_scene(tgt, n_components=8, patch_size=9)
    rows, cols, _ = prep.labelled_pixels()
    torch.manual_seed(0)
    model = create_model("micro", in_chans=8, patch_size=9)
    model.readout = "mean"
    model.train()
    fp32 = embed_pixels(model, prep, rows[:64], cols[:64], batch_size=32, dtype=torch.float32)
    bf16 = embed_pixels(model, prep, rows[:64], cols[:64], batch_size=32, dtype=torch.bfloat16)
    assert model.training, "embed_pixels must restore the train mode"
    assert fp32.dtype == bf16.dtype == torch.float32 and fp32.shape == (64, model.embed_dim)
    cos = torch.nn.functional.cosine_similarity(fp32, bf16)
    assert cos.min() > 0.995, float(cos.min())


def test_full_graph_scores_are_row_normalised_and_recover_separable_classes():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    y = np.repeat(np.arange(3), 40)
    x = torch.as_tensor(centres[y] + rng.normal(size=(120, 2)), dtype=torch.float32)
    support = np.concatenate([np.flatnonzero(y == c)[:2] for c in range(3)])
    query = np.setdiff1d(np.arange(120), support)
    scores = full_graph_scores(x[support], y[support], x[query], 3)
    assert scores.shape == (len(query), 3)
    torch.testing.assert_close(scores.sum(1), torch.ones(len(query)), rtol=1e-5, atol=1e-5)
    assert (scores.argmax(1).numpy() == y[query]).mean() > 0.95


@pytest.mark.parametrize("mass", ["none", "estimated"])
def test_kit_and_transductive_baselines_propagate_with_the_same_class_mass(domains, monkeypatch, mass):
    src, tgt = domains
    cfg = preset("smoke", **SMALL, propagation_class_mass=mass)
    target, _ = prepare_domains(cfg, target_scene=tgt, source_scenes=[src])
    split = few_shot_split(target.prepared, n_shot=5, seed=0)
    seen, real = [], fsl.propagation_baseline

    def spy(*args, **kwargs):
        seen.append(kwargs.get("class_mass"))
        return real(*args, **kwargs)

    monkeypatch.setattr(fsl, "propagation_baseline", spy)
    res = run_baselines(FeatureCache(target, cfg, torch.device("cpu")), split)
    assert seen == [mass] * 4  # PCA-mean and random-encoder propagation, in each of the two pools
    model = build_model(cfg, torch.device("cpu"))
    s_emb = torch.randn(len(split.support_labels), model.embed_dim)
    q_emb = torch.randn(split.n_query, model.embed_dim)
    pred = predict(model, s_emb, split.support_labels, q_emb, split.n_classes, cfg, propagate=True)
    assert seen[-1] == mass and pred.shape == (split.n_query,)
    assert res["baselines"]["PCA 9×9 mean + propagation"]["oa"] > 0


def test_pseudo_label_pool_uses_given_scores_and_checks_their_shape(domains):
    src, tgt = domains
    cfg = preset("smoke", **SMALL, top_k_confident=3, min_class_count=1)
    target, _ = prepare_domains(cfg, target_scene=tgt, source_scenes=[src])
    split = few_shot_split(target.prepared, n_shot=5, seed=0)
    model = build_model(cfg, torch.device("cpu"))
    q_emb = torch.randn(split.n_query, model.embed_dim)
    s_emb = torch.randn(len(split.support_labels), model.embed_dim)
    # scores that name every query's true class: the kept pseudo-labels must all be right
    truth = torch.nn.functional.one_hot(torch.as_tensor(split.query_labels), split.n_classes).float()
    pool = pseudo_label_pool(model, target, split, q_emb, s_emb, cfg, scores=truth * 0.9 + 0.01)
    assert pool["n_pseudo"] == 3 * split.n_classes
    assert pool["pseudo_accuracy"] == 100.0
    wrong = torch.roll(truth, 1, dims=1)
    assert pseudo_label_pool(model, target, split, q_emb, s_emb, cfg, scores=wrong)["pseudo_accuracy"] == 0.0
    with pytest.raises(DataError, match=r"scores has shape \(5, 2\)"):
        pseudo_label_pool(model, target, split, q_emb, s_emb, cfg, scores=torch.zeros(5, 2))


def _summary(kit_plain, kit_prop, base_mean, base_std):
    pm = lambda m, s=0.5: {"OA": {"mean": m, "std": s}, "AA": {"mean": m, "std": s}, "kappa": {"mean": m, "std": s}}
    return {"final/plain": pm(kit_plain), "final/propagated": pm(kit_prop),
            "baseline/PCA 9×9 mean + propagation": pm(base_mean, base_std)}


def test_verdict_measures_propagation_instead_of_assuming_it_helps():
    text = verdict(_summary(70.0, 65.0, 60.0, 1.0))
    assert "beats the strongest baseline" in text and "propagation cost 5.00 points" in text
    text = verdict(_summary(50.0, 61.0, 60.5, 1.0))
    assert "less than one standard deviation" in text and "propagation added 11.00 points" in text
    assert "does NOT beat" in verdict(_summary(50.0, 55.0, 60.0, 1.0))


def test_ablate_accepts_ready_scenes(domains, tmp_path):
    src, tgt = domains
    cfg = preset("smoke", **SMALL, baselines=False)
    payload, out = ablate(cfg, names=["full", "no_mixup"], out_dir=tmp_path / "abl", log=lambda *a: None,
                          target_scene=tgt, source_scenes=[src])
    assert set(payload["ablations"]) == {"full", "no_mixup"}
    assert (out / "ablation.md").is_file() and (out / "full" / "metrics.json").is_file()
    assert payload["config"]["target"] == cfg.target


@pytest.mark.slow
def test_ablate_with_two_jobs_gives_the_serial_results_and_folders(domains, tmp_path):
    import json

    src, tgt = domains
    # the same thread count in both: a worker process runs one thread, and the thread count
    # changes float rounding (e.g. the phase-0 loss in its 7th digit)
    cfg = preset("smoke", num_threads=1, **SMALL)
    kw = dict(names=["full", "no_mixup"], log=lambda *a: None, target_scene=tgt, source_scenes=[src])
    serial, out1 = ablate(cfg, out_dir=tmp_path / "serial", **kw)
    parallel, out2 = ablate(cfg, out_dir=tmp_path / "jobs2", jobs=2, **kw)

    def comparable(payload):
        return {k: {kk: vv for kk, vv in v.items() if kk != "time_s"} for k, v in payload["ablations"].items()}

    assert comparable(serial) == comparable(parallel) and serial["baselines"] == parallel["baselines"]
    assert serial["baselines"]         # the first row ran the baselines
    files = sorted(p.relative_to(out1) for p in out1.rglob("*"))
    assert files == sorted(p.relative_to(out2) for p in out2.rglob("*"))
    for name in ("full", "no_mixup"):
        a, b = (json.loads((o / name / "metrics.json").read_text()) for o in (out1, out2))
        assert {k: v for k, v in a.items() if k not in ("timings", "environment")} == \
            {k: v for k, v in b.items() if k not in ("timings", "environment")}


def test_sweep_rejects_bad_jobs_and_executors():
    from mifomo_lite.sweep import run_tasks

    assert run_tasks(pow, [(2, 3), (3, 2)], jobs=2) == [8, 9]   # in task order
    with pytest.raises(ConfigError, match="jobs must be"):
        run_tasks(pow, [(2, 3)], jobs=0)
    with pytest.raises(ConfigError, match="executor='dask'"):
        run_tasks(pow, [(2, 3)], executor="dask")


def test_paired_differences_and_their_sentence():
    from mifomo_lite.train.pipeline import paired_differences

    eps = [{"final": {"propagated": {"oa": k}}, "baselines": {"B": {"oa": b}}}
           for k, b in [(80.0, 78.0), (70.0, 71.0), (90.0, 86.0)]]
    p = paired_differences(eps)["B"]
    assert p["n"] == 3 and p["wins"] == 2
    assert p["mean"] == pytest.approx((2 - 1 + 4) / 3) and p["std"] == pytest.approx(np.std([2, -1, 4]))
    # paired t-test by hand: t = mean / (sample std / √n), two-sided, n − 1 degrees of freedom
    from scipy.stats import t as student_t

    d = np.array([2.0, -1.0, 4.0])
    t_stat = d.mean() / (d.std(ddof=1) / np.sqrt(3))
    assert p["p"] == pytest.approx(2 * student_t.sf(t_stat, df=2)) and 0.3 < p["p"] < 0.45
    text = verdict(_summary(50.0, 61.0, 60.5, 1.0), {"PCA 9×9 mean + propagation": p})
    assert "kit − baseline = +1.67 ± 2.05 points, kit ahead in 2/3; paired t-test p = 0.37" in text
    assert paired_differences([]) == {}
    same = [{"final": {"propagated": {"oa": 80.0}}, "baselines": {"B": {"oa": 79.0}}}] * 3
    assert paired_differences(same)["B"]["p"] is None  # identical differences: no test
    assert "t-test" not in verdict(_summary(50.0, 61.0, 60.5, 1.0), {"PCA 9×9 mean + propagation": paired_differences(same)["B"]})


def test_scene_map_reuses_the_last_episode_embeddings(domains):
    from mifomo_lite.train.pipeline import run_pipeline
    from mifomo_lite.train.runner import whole_scene_map

    src, tgt = domains
    res = run_pipeline(preset("smoke", **{**SMALL, "baselines": False, "max_query_pixels": 60}),
                       target_scene=tgt, source_scenes=[src], log=lambda *a: None)
    reused, _ = whole_scene_map(res)
    fresh, _ = whole_scene_map(res, reuse_episode_embeddings=False)
    assert reused.shape == fresh.shape == tgt.labels.shape
    assert reused.min() >= 1 and reused.max() <= res.last_episode["split"].n_classes
    # the same model and precision: the reused embeddings give the same map
    assert (reused == fresh).mean() > 0.995


def test_pixel_index_finds_pool_positions_and_names_a_missing_pixel(domains):
    src, tgt = domains
    target, _ = prepare_domains(preset("smoke", **SMALL), target_scene=tgt, source_scenes=[src])
    pick = np.array([5, 0, len(target.rows) - 1])
    assert (target.pixel_index(target.rows[pick], target.cols[pick]) == pick).all()
    r, c = np.argwhere(tgt.labels == 0)[0]
    with pytest.raises(DataError, match=rf"pixel \(row {r}, col {c}\) is not a labelled pixel"):
        target.pixel_index([r], [c])


def test_class_mass_on_the_official_batch_lgc_keeps_row_sums(domains):
    """With eval/pseudo-label propagation "official", the switch rescales the batch-80 LGC scores:
    the argmax may change, each row's sum (the scale of "lgc_raw" targets) does not."""
    from mifomo_lite.train.pipeline import _class_mass

    cfg = preset("smoke", **SMALL, eval_propagation="official", pseudo_label_propagation="official",
                 propagation_class_mass="estimated")
    f = torch.tensor([[0.0, 0.0, 1.0], [0.0, 5.0, 1.0], [5.0, 0.0, 4.0], [5.0, 0.0, 0.0]])
    g = _class_mass(f, cfg)
    torch.testing.assert_close(g.sum(1), f.sum(1))
    # class 0 holds mass 10 in two rows, class 2 mass 6 in three: rescaled, row 2 goes to class 2
    assert f.argmax(1).tolist() == [2, 1, 0, 0] and g.argmax(1).tolist() == [2, 1, 2, 0]
    assert _class_mass(f, cfg.replace(propagation_class_mass="none")) is f
    src, tgt = domains
    target, _ = prepare_domains(cfg, target_scene=tgt, source_scenes=[src])
    split = few_shot_split(target.prepared, n_shot=5, seed=0)
    model = build_model(cfg, torch.device("cpu"))
    s_emb = torch.randn(len(split.support_labels), model.embed_dim)
    q_emb = torch.randn(split.n_query, model.embed_dim)
    pool = pseudo_label_pool(model, target, split, q_emb, s_emb, cfg.replace(min_class_count=1))
    assert pool["n_pseudo"] > 0 and pool["y"].shape[1] == len(pool["kept_classes"])
    assert predict(model, s_emb, split.support_labels, q_emb, split.n_classes, cfg, propagate=True).shape == (split.n_query,)


def _window_mean_of_raw(model, prepared, cfg, r, c, size):
    rad = size // 2
    rr, cc = np.meshgrid(np.arange(max(r - rad, 0), min(r + rad + 1, prepared.height)),
                         np.arange(max(c - rad, 0), min(c + rad + 1, prepared.width)), indexing="ij")
    raw = embed_pixels(model, prepared, rr.ravel(), cc.ravel(), dtype=inference_dtype(torch.device("cpu"), cfg))
    return raw.mean(0)


def test_feature_smoothing_reads_window_means_for_the_kit_and_the_transductive_baselines(domains):
    from mifomo_lite.train.pipeline import run_pipeline
    from mifomo_lite.train.runner import whole_scene_map

    src, tgt = domains
    cfg = preset("smoke", **{**SMALL, "feature_smoothing": 3, "max_query_pixels": 60})
    res = run_pipeline(cfg, target_scene=tgt, source_scenes=[src], log=lambda *a: None)
    last, prep = res.last_episode, res.target.prepared
    split, fmap = last["split"], last["feature_map"]
    assert fmap is not None and fmap.size == 3
    # the evaluation's embeddings are 3×3 means of the final model's raw window embeddings ...
    for i in (0, split.n_support - 1):
        want = _window_mean_of_raw(res.model, prep, cfg, split.support_rows[i], split.support_cols[i], 3)
        torch.testing.assert_close(last["support_emb"][i], want, atol=1e-5, rtol=1e-4)
    want = _window_mean_of_raw(res.model, prep, cfg, split.query_rows[0], split.query_cols[0], 3)
    torch.testing.assert_close(last["query_emb"][0], want, atol=1e-5, rtol=1e-4)
    # ... and only the pixels those windows and the scene pool's nodes' windows touch were embedded
    # (labelled or not), each once: the same map served the scene pool
    nodes = last["nodes"]
    need = fsl.window_neighbourhood(np.concatenate([split.support_rows, split.query_rows, nodes["rows"]]),
                                    np.concatenate([split.support_cols, split.query_cols, nodes["cols"]]),
                                    prep.height, prep.width, 3)
    assert fmap.n_computed == need.sum() == int(fmap.have.sum()) < prep.height * prep.width
    # the whole-scene map reads every pixel the same way, reusing what the episode embedded
    reused, _ = whole_scene_map(res)
    fresh, _ = whole_scene_map(res, reuse_episode_embeddings=False)
    assert (reused == fresh).mean() > 0.995 and reused.min() >= 1
    # the pixel SVMs are untouched by the switch; the propagation baselines read smoothed features
    plain = run_pipeline(cfg.replace(feature_smoothing=1), target_scene=tgt, source_scenes=[src],
                         log=lambda *a: None)
    for name in ("SVM (PCA)", "SVM (PCA + 9×9 mean)"):
        assert res.metrics["summary"][f"baseline/{name}"] == plain.metrics["summary"][f"baseline/{name}"]
    assert plain.last_episode["feature_map"] is None


def test_baseline_features_are_smoothed_like_the_kit(domains):
    src, tgt = domains
    cfg = preset("smoke", **{**SMALL, "feature_smoothing": 5})
    target, _ = prepare_domains(cfg, target_scene=tgt, source_scenes=[src])
    cache = FeatureCache(target, cfg, torch.device("cpu"))
    prep = target.prepared
    rows, cols = np.nonzero(np.ones((prep.height, prep.width), dtype=bool))
    dense = torch.cat([x.mean(dim=(2, 3)) for _, x in prep.iter_batches(rows, cols, 4096)])
    dense = fsl.smooth_feature_map(dense.reshape(prep.height, prep.width, -1), 5)
    np.testing.assert_allclose(cache.spatial_mean(smoothed=True), dense[target.rows, target.cols].numpy(),
                               rtol=1e-5, atol=1e-6)
    raw = cache.spatial_mean()
    assert raw.shape == cache.spatial_mean(smoothed=True).shape and not np.allclose(raw, dense[target.rows, target.cols])
    # the random-encoder control: its 5×5 mean, like the kit's embedding
    idx = np.array([0, 7])
    emb = cache.random_encoder(idx)
    want = _window_mean_of_raw(cache._rnd_model, prep, cfg, target.rows[7], target.cols[7], 5)
    np.testing.assert_allclose(emb[1], want.numpy(), rtol=1e-4, atol=1e-5)


def test_frozen_backbone_cache_smooths_reads_but_trains_on_raw_embeddings(domains):
    from mifomo_lite.train.pipeline import EmbeddingCache, run_pipeline
    from mifomo_lite.train.runner import whole_scene_map

    src, tgt = domains
    cfg = preset("smoke", **{**SMALL, "feature_smoothing": 3, "adaptation": "head", "trainable_set": "cp_only",
                             "use_intermediate_domain": False, "baselines": False})
    res = run_pipeline(cfg, target_scene=tgt, source_scenes=[src], log=lambda *a: None)
    assert res.metrics["embedding_cache"] is True
    fmap = res.last_episode["feature_map"]
    assert fmap is not None and fmap.size == 3
    pred, _ = whole_scene_map(res)
    assert pred.shape == tgt.labels.shape and pred.min() >= 1
    cache = EmbeddingCache(res.model, res.target, cfg, torch.device("cpu"))
    t = res.target
    raw = embed_pixels(res.model, t.prepared, t.rows[:3], t.cols[:3], dtype=inference_dtype(torch.device("cpu"), cfg))
    torch.testing.assert_close(cache.raw(t.rows[:3], t.cols[:3]), raw, atol=1e-5, rtol=1e-4)
    want = _window_mean_of_raw(res.model, t.prepared, cfg, t.rows[0], t.cols[0], 3)
    torch.testing.assert_close(cache(t.rows[:1], t.cols[:1])[0], want, atol=1e-5, rtol=1e-4)


def test_cluster_executors_without_their_package_say_how_to_install():
    import importlib.util

    from mifomo_lite.sweep import run_tasks

    for name in ("ray", "submitit"):
        if importlib.util.find_spec(name) is None:
            with pytest.raises(ConfigError, match=r"mifomo-lite\[cluster\]"):
                run_tasks(pow, [(2, 3)], executor=name)


def test_cluster_executors_keep_task_order(monkeypatch, tmp_path):
    """The Ray and submitit paths, on stand-ins with their APIs: results come back in task order and
    at most ``jobs`` Ray tasks are in flight."""
    import sys
    import types

    from mifomo_lite.sweep import run_tasks

    class Job:
        def __init__(self, value):
            self.value = value

        def result(self):
            return self.value

    class Executor:
        def __init__(self, folder):
            self.folder = folder

        def update_parameters(self, **kw):
            assert kw == {"slurm_array_parallelism": 2}

        def map_array(self, fn, *columns):
            return [Job(fn(*args)) for args in zip(*columns)]

    monkeypatch.setitem(sys.modules, "submitit", types.SimpleNamespace(AutoExecutor=Executor))
    assert run_tasks(pow, [(2, 3), (3, 2), (2, 0)], jobs=2, executor="submitit", log_dir=tmp_path) == [8, 9, 1]

    in_flight = []

    class Ref:
        def __init__(self, value):
            self.value = value
            in_flight.append(self)

    def wait(refs):
        return [refs[-1]], refs[:-1]       # finish the newest first: order must not depend on it

    def get(ref):
        in_flight.remove(ref)
        return ref.value

    def remote(fn):
        return types.SimpleNamespace(remote=lambda *a: Ref(fn(*a)) if len(in_flight) < 2 else pytest.fail("> jobs"))

    fake_ray = types.SimpleNamespace(init=lambda **kw: None, remote=remote, wait=wait, get=get)
    monkeypatch.setitem(sys.modules, "ray", fake_ray)
    assert run_tasks(pow, [(2, k) for k in range(6)], jobs=2, executor="ray") == [1, 2, 4, 8, 16, 32]
