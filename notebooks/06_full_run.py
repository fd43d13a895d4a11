# ---
# jupyter:
#   accelerator: GPU
#   colab:
#     gpuType: T4
#     provenance: []
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: accelerator,colab
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · The full MIFOMO run and the Table X ablation
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/mifomo-lite/mifomo_lite/blob/main/notebooks/06_full_run.ipynb)
#
# Notebooks 03–05 took MIFOMO apart. Here it runs end to end: source episodes, then for every
# seeded test episode the support-only adaptation, pseudo-labels, the intermediate domain and the
# evaluation — preceded, in the kit's presets, by a short self-supervised warm-up of the
# foundation model on the unlabelled target scene (phase 0, `target_ssl_steps`) — with the classical baselines on exactly the same splits. We look at the results the
# way the paper does (OA, AA, κ as mean ± std over test episodes), at a classification map and a
# t-SNE of the embeddings, run the **Table X ablation** (each component removed in turn), and end
# with an honest answer to one question: *does the kit beat the baselines?*

# %%
# Install the kit when it is missing (Colab). Idempotent: does nothing when mifomo_lite imports,
# and never reinstalls torch or ipywidgets (Colab's own builds are kept: --no-deps). The source is
# $MIFOMO_INSTALL_SOURCE when set (a wheel path or a git URL), else the kit's repository.
import os

try:
    import mifomo_lite
except ImportError:
    MIFOMO_INSTALL_SOURCE = os.environ.get("MIFOMO_INSTALL_SOURCE", "git+https://github.com/mifomo-lite/mifomo_lite")
    # %pip install --quiet --no-deps {MIFOMO_INSTALL_SOURCE}
    # %pip install --quiet einops POT safetensors tensorly spectral
    import mifomo_lite

# %% [markdown]
# ## Learning objectives
#
# After this notebook you can
#
# 1. configure a run with `preset(profile, ...)` and read how it differs from the paper's settings;
# 2. run the whole pipeline and write a resumable **run folder** (`run_to_folder`:
#    metrics, report, figures);
# 3. read OA, AA and κ as mean ± population std over seeded test episodes, stage by stage, with
#    and without label propagation;
# 4. draw a whole-scene **classification map** and a **t-SNE** of the query embeddings;
# 5. run and read the **Table X ablation** (`ablate`), and compare with the baselines honestly
#    (`verdict`).

# %% tags=["parameters"]
profile = "lite"   # smoke | lite | colab | paper — papermill overrides this
device = "auto"    # auto | cpu | cuda
seed = 0
out_dir = ""       # the run folder (empty: runs/06_full_run-<profile>-seed<seed>); a Drive path works on Colab

# %%
import logging
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display
from threadpoolctl import threadpool_limits

from mifomo_lite.data import synthetic_domain_pair
from mifomo_lite.exercises import check, score
from mifomo_lite.lessons import paired_verdict
from mifomo_lite.notebooks import record_metrics, setup
from mifomo_lite.train.claims import ablation_episode_oa, drift_differences, pool_gaps
from mifomo_lite.train.config import ABLATIONS
from mifomo_lite.train.presets import preset
from mifomo_lite.train.report import (plot_classification_map, plot_curves, plot_drift, plot_lambda, plot_tsne,
                                      results_table, save_figure)
from mifomo_lite.train.runner import ablate, pool_comparison, results_rows, run_to_folder, verdict, whole_scene_map

nb = setup(profile, device, seed)
# pseudo-label notes ("class k dropped: too few predictions") are kept in each episode's metrics;
# silence their log lines so that the outputs stay readable
logging.getLogger("mifomo_lite.fsl.pseudo_labels").setLevel(logging.ERROR)
cfg = nb.run_config()  # the profile's preset (paper falls back to lite without the official weights)

# %% [markdown]
# ## 1. The configuration
#
# One `RunConfig` holds every hyper-parameter and every paper-versus-code switch; `preset` fills it
# for a budget. This notebook trims the budget further so that it runs in seconds (`smoke`) or a
# few minutes on a CPU (`lite`): fewer source episodes and steps, fewer test episodes, and the
# queries evaluated on a seeded subset. The `lite` budget also turns off `feature_smoothing`, the
# lite preset's 5×5 mean of each embedding over the scene: on a random subset of queries every
# query needs its own 25 window pixels embedded, which costs up to 25 times the embedding work of
# the subset (the demo evaluates all labelled pixels, whose windows overlap, for ≈ 1.4 times). The
# table puts the run next to the paper's settings for Indian Pines (SPEC §8.8).

# %%
cfg = cfg.replace(**nb.pick(
    smoke=dict(n_test_episodes=2, source_episodes=2, source_n_way=5, source_n_query=5, source_mixups=10,
               support_steps=1, intermediate_steps=2, max_query_pixels=120),
    lite=dict(n_test_episodes=2, source_episodes=15, source_n_way=8, support_steps=10, intermediate_steps=15,
              max_query_pixels=1000, target_ssl_steps=100, feature_smoothing=1),
    paper={}))
paper = preset("paper", target="indian_pines")
keys = ["model", "weights", "sources", "pca_components", "source_episodes", "source_n_way", "support_steps",
        "intermediate_steps", "n_test_episodes", "top_k_confident", "lr_model", "lr_peft", "lr_scale",
        "pseudo_label_refiner", "recreate_optimizer_each_support_step", "eval_propagation",
        "pseudo_label_propagation", "propagation_class_mass", "readout", "target_ssl_steps", "feature_smoothing",
        "max_query_pixels"]
lines = ["| setting | this run | paper (IP) |", "|---|---|---|"]
for k in keys:
    a, b = getattr(cfg, k), getattr(paper, k)
    mark = "" if a == b else " ←"
    lines.append(f"| `{k}` | {a}{mark} | {b} |")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## 2. The run
#
# In the `smoke` profile the run uses a small synthetic domain pair, so that even the whole-scene
# map takes seconds; otherwise Indian Pines (offline) is the target and the preset's scene(s) the
# source. `run_to_folder` runs the whole pipeline (`run_pipeline`) and writes its **run folder**
# (`out_dir`); it returns a `RunResult` — `metrics` (everything `metrics.json` stores), `history`
# (losses per phase), `lambda_trajectories`, the `last_episode`'s split and embeddings, and the
# trained `model` — and the folder.
#
# The run is **resumable** (`resume=True`): every test episode is recorded in the folder as soon
# as it ends, and the model after the source phase is cached there. If the session dies (a Colab
# time-out), run the notebook again with the same `out_dir` — a Google Drive path such as
# `/content/drive/MyDrive/mifomo_runs/06` survives the session — and it continues where it
# stopped, with exactly the numbers of an uninterrupted run; only the last episode runs again (it
# provides the embeddings drawn below). A changed configuration is refused, naming the keys.

# %%
run_dir = Path(out_dir) if out_dir else Path("runs") / f"06_full_run-{profile}-seed{seed}"
scenes = {}
if profile == "smoke":
    src_scene, tgt_scene = synthetic_domain_pair(seed=seed, size=24, n_source_classes=8, n_target_classes=5)
    scenes = dict(target_scene=tgt_scene, source_scenes=[src_scene])
# the map and the t-SNE are drawn below, once
result, folder = run_to_folder(cfg.replace(classification_map=False, tsne=False), run_dir, resume=True,
                               log=lambda *a, **k: None, **scenes)
m = result.metrics
print(f"target {m['target']['name']} {tuple(m['target']['shape'])}, {m['target']['n_classes']} classes; "
      f"sources: {', '.join(s['name'] for s in m['sources'])}")
print(f"{len(m['episodes'])} test episodes (seeds {m['seeds']}), {m['episodes'][0]['n_query']} queries each; "
      "time per part: " + ", ".join(f"{k} {v:.1f}" for k, v in m["timings"].items()))
print(f"source phase {'loaded from the cache' if result.phase1_cached else 'trained (and cached)'}")

# %% [markdown]
# The results, stage by stage: after the support-only adaptation and at the end (after the
# intermediate domain), each with the prototype classifier alone and with label propagation over
# the queries, then the baselines computed on the very same splits. Numbers are OA, AA and κ in
# percent, mean ± population std over the test episodes.

# %%
summary = m["summary"]
display(Markdown(results_table(results_rows(summary))))
print(verdict(summary, m["paired"]))

# %% [markdown]
# Compare the two `final` rows: propagation is not automatically a gain. With the released code's
# graph (`eval_propagation="official"`: batches of 80 queries, σ = 50 — the `paper` preset) it can
# cost accuracy, as notebook 05 shows; the `smoke` and `lite` presets propagate over one k-NN graph
# of the support and all queries (`"full_graph"`) instead, read the embedding out as the mean
# over the patch window (`readout="mean"`) rather than MIFOMO's centre pixel, and rescale each
# class's propagated scores to an estimated class prior (`propagation_class_mass="estimated"`,
# class mass normalisation — for the transductive baselines too, so the comparison stays fair).
#
# The verdict's last sentences are *paired*: kit minus baseline on each episode, because both
# share the split and the split's difficulty dominates the spread over episodes. For reference,
# the full `mifomo-lite demo` (lite preset, all 10,169 queries, 10 episodes, 5×5 feature
# smoothing) measured 85.1 ± 3.1 % OA against 82.5 ± 4.2 % for the best baseline, the random
# encoder + propagation — a paired lead of +2.6 ± 1.9 points, in all 10 episodes, yet below one
# standard deviation of the baseline (4.2), so not the clear win the issue asked for. Ten other
# episodes (`--seed 10`) tell the same story: 85.5 against 83.6 %, +1.9 ± 1.7 points, ahead in 8
# (see `docs/results.md`). Phase 0 (`target_ssl_steps`: the foundation model's masked-autoencoder
# objective continued on the unlabelled target scene before any few-shot training, something the
# baselines cannot do) earns 1.7 points without feature smoothing but only 0.2–0.9 with it: both
# make the embeddings of neighbouring pixels agree.
#
# ## 3. The run folder
#
# `run_to_folder` wrote `config.json`, `metrics.json` (config, seeds, versions, timings,
# per-episode metrics, aggregates, baselines), `scene.json` (the scene's files and their sha256),
# `report.md` and the figures; `episodes/` holds one record per finished test episode and
# `phase1/` the cached model after the source phase — what a resumed run reads back. The folder
# appears only once the run is complete (it is written as `<folder>.part` until then).

# %%
print(f"run folder: {folder}/ →", ", ".join(sorted(p.name for p in folder.iterdir())))

# %% [markdown]
# ## 4. Both propagation pools
#
# Label propagation needs a graph, and the graph needs nodes. The paper's protocol makes them the
# scene's *labelled* pixels: the ground-truth mask decides which pixels take part, which a user of
# a new scene cannot do — an optimistic setting. The honest alternative makes every pixel of the
# scene a node (the *scene* pool). Every evaluation of the kit scores both pools from the same
# embeddings (`transductive_pool` only chooses which one the run's own pseudo-labels use), and the
# transductive baselines run in both, so each pool has its own paired comparison:

# %%
display(Markdown(pool_comparison(m)))
gaps = pool_gaps(m["episodes"])
if gaps.size:
    pool_claim, text = paired_verdict(gaps, "the labelled pool (ground-truth mask) scores higher than the scene pool")
else:
    pool_claim, text = False, "not supported at this budget: the run scored only one pool"
print(text)

# %% [markdown]
# The line above is computed from the paired episodes, not assumed. Where the labelled pool wins,
# the paper-style numbers overstate what propagation gives on a scene without ground truth; read
# the scene-pool column as the number a user can expect. Where it does not win (the `lite` profile
# runs 2 episodes and samples the scene pool down to `max_query_pixels`, so few unlabelled pixels
# join the graph), this notebook has no evidence either way: the lite demo's 10 episodes over the
# whole scene put the labelled pool ahead by about 9 points (README, "Both pools, measured").
#
# ## 5. Did the adaptation move the model?
#
# The run follows a fixed probe of scene pixels (drawn without the ground truth) from the frozen
# model through every phase: the cosine between its embeddings now and at the start, and how many
# of each pixel's 10 nearest neighbours are still neighbours (1 = unchanged).

# %%
drift_diffs = drift_differences(m.get("drift"))
if m.get("drift") and drift_diffs.size:
    plot_drift(m["drift"], "drift from the frozen model (episodes averaged)")
    plt.show()
    drift_claim, text = paired_verdict(drift_diffs, "phases 0 and 1 move the embedding more than a test episode's "
                                                    "own adaptation does")
else:
    drift_claim, text = False, "not supported at this budget: the run kept no drift record"
print(text)

# %% [markdown]
# ## 6. The classification map
#
# `whole_scene_map` predicts *every* pixel of the scene — labelled or not — with the prototypes of
# the last test episode (batched, no autograd), which is what a user of the method wants in the end.
# The ground truth only covers the labelled pixels; elsewhere the map shows what the model *thinks*.

# %%
pred, map_seconds = whole_scene_map(result)
gt = result.target.scene.labels
labelled = gt > 0
map_oa = float((pred[labelled] == gt[labelled]).mean() * 100)
fig_map = plot_classification_map(pred, gt, result.target.class_names,
                                  title=f"prediction, last episode (OA on labelled pixels {map_oa:.1f} %)")
plt.show()
save_figure(fig_map, folder / "classification_map.png")
print(f"{pred.size} pixels predicted in {map_seconds:.1f} s")

# %% [markdown]
# ## 7. t-SNE of the query embeddings
#
# t-SNE (van der Maaten & Hinton, 2008) squeezes the embedding space into two dimensions while
# keeping neighbours together. Well separated colour clusters mean the prototypes have an easy
# job; mixed clusters are the classes that get confused. (t-SNE distorts distances between
# clusters: read it for *neighbourhoods*, not for global geometry.) scikit-learn's t-SNE runs on
# one thread here: its OpenMP threads and PyTorch's would otherwise compete for the same cores,
# which makes it many times slower on a small machine.

# %%
last = result.last_episode
with threadpool_limits(limits=1):
    fig_tsne = plot_tsne(last["query_emb"].numpy(), last["split"].query_labels, result.target.class_names,
                         title="t-SNE of query embeddings (last test episode)", seed=seed,
                         max_points=nb.pick(smoke=300, lite=1500, paper=2000))
plt.show()
save_figure(fig_tsne, folder / "tsne.png")

# %% [markdown]
# The losses of each phase (all test episodes one after the other) and the λ scheduler of the last
# episode (notebook 04):

# %%
plot_curves({k: v for k, v in result.history.items() if v}, "training losses per phase")
plt.show()
if result.lambda_trajectories and result.lambda_trajectories[-1]:
    plot_lambda(result.lambda_trajectories[-1], "λ scheduler (last test episode)")
    plt.show()

# %% [markdown]
# ## 8. The Table X ablation
#
# The paper's Table X removes one component at a time on Indian Pines: the coalescent projection
# (head-only training), label smoothing (the LGC refinement), the intermediate domain, the mixup —
# and here also everything at once. `ABLATIONS` lists the overrides (the kit's own switches too);
# `ablate` runs each on the same seeds, writes one run folder per row plus `ablation.md` /
# `ablation.json`, and computes the baselines once. A difference between two rows means something
# only when it holds episode by episode, so beyond `smoke` the Table X rows run on **10 paired
# test episodes** (a trimmed budget per episode) and each row is compared with the full method by
# its paired per-episode differences and a sign-flip test. In the `smoke` profile every row runs one
# episode with a minimal budget, so that the runs take seconds — and the numbers mean nothing.

# %%
for name, overrides in ABLATIONS.items():
    print(f"{name:<20} {overrides or '(the full method)'}")

# %%
TABLE_X = ["full", "no_cp", "no_label_smoothing", "no_intermediate", "no_mixup", "all_off"]
cfg_ablation = cfg.replace(tsne=False, classification_map=False, **nb.pick(
    smoke=dict(n_test_episodes=1, source_episodes=0, support_steps=1, intermediate_steps=1, max_query_pixels=60,
               target_ssl_steps=1),
    lite=dict(n_test_episodes=10, source_episodes=5, support_steps=5, intermediate_steps=5, max_query_pixels=300,
              target_ssl_steps=30, feature_smoothing=1),
    paper=dict(n_test_episodes=20)))
ablation_names = nb.pick(smoke=list(ABLATIONS), lite=TABLE_X)
table, ablation_dir = ablate(cfg_ablation, names=ablation_names, out_dir=folder / "ablation", overwrite=True, log=lambda *a, **k: None)
rows = [{"name": f"{name} ({row['stage'].split('/')[1]})", **{k: row[k] for k in ("OA", "AA", "kappa")}}
        for name, row in table["ablations"].items()]
rows += [{"name": "baseline: " + n, **v} for n, v in table["baselines"].items()]
display(Markdown(results_table(rows)))
ablation_oa = {name: row["OA"]["mean"] for name, row in table["ablations"].items()}
print(f"written: {ablation_dir / 'ablation.md'}")

full_oa = ablation_episode_oa(table, "full")  # per episode, at the stage the table reports
ablation_effect = {}
for name in ablation_names:
    if name == "full":
        continue
    # full − ablated > 0 on the paired episodes: removing the component costs OA
    ablation_effect[name], text = paired_verdict(full_oa - ablation_episode_oa(table, name),
                                                 "removing it costs OA")
    print(f"{name:<22} {text}")

# %% [markdown]
# The paper reports, on Indian Pines with the full budget: full model 95.44 % OA, without CP
# 94.57 %, and a drop of about 17 points without label smoothing. The lines above say which of
# those removals the run here can confirm: "supported" when the paired differences make a change
# unlikely to be chance (p < 0.05 over the paired episodes), "not supported at this budget"
# otherwise — a trimmed CPU budget on the kit's small model is not the paper's setting, and a
# component whose effect does not show here is not thereby shown useless.
#
# ## 9. Does the kit beat the baselines?
#
# `verdict` compares the kit's final stage with the strongest baseline run on the same splits, and
# says "beats" only when the gap exceeds the baseline's standard deviation over episodes.

# %%
main_verdict = verdict(summary, m["paired"])
ablation_summary = {"final/propagated": table["ablations"]["full"]} if table["ablations"]["full"]["stage"].endswith(
    "propagated") else {"final/plain": table["ablations"]["full"]}
ablation_summary.update({f"baseline/{n}": v for n, v in table["baselines"].items()})
print("main run: ", main_verdict)
print("ablation: ", verdict(ablation_summary))
best_baseline = max((k for k in summary if k.startswith("baseline/")), key=lambda k: summary[k]["OA"]["mean"])
print(f"the strongest baseline of the main run is {best_baseline.split('/', 1)[1]!r} "
      f"({summary[best_baseline]['OA']['mean']:.2f} % OA)")

# %% [markdown]
# Take the sentence at face value, whichever way it goes, and read the last line: it names the
# baseline the kit is measured against — computed, not assumed. In the `smoke` profile nothing is
# trained long enough for any of this to mean anything. In `lite` it is a measurement of *this*
# setting — a CPU budget, the kit's small foundation model, a fraction of the paper's steps, a
# subset of the queries — against the strongest of the baselines run on the same splits. It is
# not a statement about the paper's full-size runs (notebook 07 is the place for those).

# %%
kit_key = next(k for k in ("final/propagated", "final/plain") if k in summary)
record_metrics(
    n_test_episodes=len(m["episodes"]), n_query=m["episodes"][0]["n_query"], target=m["target"]["name"],
    oa_final=summary[kit_key]["OA"]["mean"], aa_final=summary[kit_key]["AA"]["mean"],
    kappa_final=summary[kit_key]["kappa"]["mean"], oa_after_support=summary["after_support/plain"]["OA"]["mean"],
    oa_best_baseline=summary[best_baseline]["OA"]["mean"], kit_beats_baselines=" beats the strongest baseline" in main_verdict,
    map_pixels=int(pred.size), map_oa_labelled=map_oa,
    run_folder_files=sorted(p.name for p in folder.iterdir() if p.is_file()),
    ablation_names=list(table["ablations"]), **{f"ablation_oa_{k}": v for k, v in ablation_oa.items()},
    ablation_episodes=len(full_oa), best_baseline=best_baseline.split("/", 1)[1],
    **{f"ablation_supported_{k}": ok for k, ok in ablation_effect.items()},
    oa_labelled_pool=summary.get("final/propagated_labelled_pool", {}).get("OA", {}).get("mean"),
    oa_scene_pool=summary.get("final/propagated_scene_pool", {}).get("OA", {}).get("mean"),
    labelled_pool_higher_supported=pool_claim, phase_drift_larger_supported=drift_claim,
)

# %% [markdown]
# ## Summary
#
# * `preset(profile)` gives a complete `RunConfig`; `cfg.replace(...)` changes any field and
#   validates it. The paper's budget (1500 source episodes, 500 + 1000 target steps per episode,
#   20 episodes, HyperSIGMA-base) is far beyond a CPU; `smoke` and `lite` trim it.
# * `run_to_folder` runs every phase (`run_pipeline`) and saves all metrics, per episode and
#   aggregated, with a report and figures.
# * Results are OA, AA, κ (×100) as mean ± population std over seeded test episodes, after the
#   support-only stage and at the end, with and without propagation, next to baselines on the
#   same splits — no model selection on the test set. Propagation is scored over both node pools:
#   the labelled pixels (the paper's protocol, which uses the ground-truth mask) and the whole scene.
# * `run_to_folder(..., resume=True)` records every finished episode: a rerun into the same
#   `out_dir` continues an interrupted run with the same numbers.
# * `whole_scene_map` labels every pixel; t-SNE shows which classes the embedding separates.
# * `ablate` runs Table X (no CP, no label smoothing, no intermediate domain, no mixup, all off) and
#   the kit's own switches (centre readout, no class mass normalisation, no phase 0 target
#   self-supervision, random instead of pretrained weights) on the same seeds; `verdict` says
#   plainly whether the kit beats the strongest baseline, with the paired per-episode difference.
#
# ## Exercises
#
# **Exercise 06.1 — OA and AA.** Write `oa_aa(y_true, y_pred, n_classes)` returning the pair
# (OA, AA) in percent. AA averages the per-class accuracies (recalls) over the classes present in
# `y_true`.

# %% tags=["solution"]
def oa_aa(y_true, y_pred, n_classes):
    ### BEGIN SOLUTION
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    oa = (y_true == y_pred).mean() * 100
    recalls = [(y_pred[y_true == c] == c).mean() for c in range(n_classes) if (y_true == c).any()]
    return float(oa), float(np.mean(recalls) * 100)
    ### END SOLUTION


# %%
check("06.1", oa_aa)

# %% [markdown]
# **Exercise 06.2 — Cohen's κ.** Write `kappa(y_true, y_pred, n_classes)` returning Cohen's κ × 100
# (compare with `sklearn.metrics.cohen_kappa_score`, which the kit uses).

# %% tags=["solution"]
def kappa(y_true, y_pred, n_classes):
    ### BEGIN SOLUTION
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    cm = np.zeros((n_classes, n_classes))
    np.add.at(cm, (y_true, y_pred), 1)
    n = cm.sum()
    p_o = np.trace(cm) / n
    p_e = (cm.sum(0) * cm.sum(1)).sum() / n ** 2
    return float((p_o - p_e) / (1 - p_e) * 100)
    ### END SOLUTION


# %%
check("06.2", kappa)

# %% [markdown]
# **Exercise 06.3 — mean ± std.** Write `mean_std(values)` returning `(mean, std)` of per-episode
# numbers the way the paper's tables (and the kit) report them.

# %% tags=["solution"]
def mean_std(values):
    ### BEGIN SOLUTION
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std())
    ### END SOLUTION


# %%
check("06.3", mean_std)

# %% [markdown]
# **Exercise 06.4 — reading Table X.** Write `most_important(table)`: `table` maps ablation names
# (as in `ABLATIONS`) to OA; return the name of the single component whose removal costs the most
# OA. Then try it on your own ablation in a new cell: `most_important(ablation_oa)`.

# %% tags=["solution"]
def most_important(table):
    ### BEGIN SOLUTION
    drops = {name: table["full"] - oa for name, oa in table.items() if name not in ("full", "all_off")}
    return max(drops, key=drops.get)
    ### END SOLUTION


# %%
check("06.4", most_important)

# %%
passed, total = score("06")
record_metrics(exercises_passed=passed, exercises_total=total)

# %% [markdown]
# ## Concept quiz

# %%
from mifomo_lite import quiz

quiz.show("06")
