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
# # 03 · Episodic prototypical training
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/mifomo-lite/mifomo_lite/blob/main/notebooks/03_episodic_prototypes.ipynb)
#
# At test time MIFOMO sees five labelled pixels per class and has to label everything else. It is
# trained the way it is tested: in **episodes**, small N-way K-shot classification problems drawn
# from the labelled *source* scene. Each episode is solved by a **prototypical network**: one
# prototype per class (the mean of its support embeddings), and every query goes to the prototype
# it is most similar to — by a *scaled cosine*. MIFOMO adds **embedding mixup** to every episode.
# This notebook takes these pieces apart, one library call at a time, and then trains with them.

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
# 1. draw reproducible **N-way K-shot episodes** with `EpisodeSampler`, and tell a training
#    episode from a test **few-shot split**;
# 2. compute **prototypes** and classify queries by the nearest prototype;
# 3. explain what the **cosine scale** *s* does to the softmax and the loss, and why MIFOMO learns
#    it starting from 20;
# 4. build **embedding mixup** pairs with λ ~ Beta(2, 2) and their soft labels;
# 5. run MIFOMO's **source phase** (`L_fsl + L_mx`) and read its loss curve and accuracies.

# %% tags=["parameters"]
profile = "lite"   # smoke | lite | colab | paper — papermill overrides this
device = "auto"    # auto | cpu | cuda
seed = 0

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from mifomo_lite import fsl
from mifomo_lite.data import EpisodeSampler, few_shot_split, synthetic_domain_pair
from mifomo_lite.data.plots import plot_label_map
from mifomo_lite.exercises import check, score
from mifomo_lite.explore import lr_explorer, shots_explorer
from mifomo_lite.lessons_fsl import episode_and_target_accuracy, pca2
from mifomo_lite.notebooks import record_metrics, setup
from mifomo_lite.peft import apply_adaptation
from mifomo_lite.train.pipeline import (adaptation_options, build_model, embed_pixels, prepare_domains,
                                        subsample_queries, train_source_phase)

nb = setup(profile, device, seed)
cfg = nb.run_config()  # the profile's preset (paper falls back to lite without the official weights)
# budgets for this notebook: smoke = seconds, lite = a few minutes on a CPU
cfg = cfg.replace(**nb.pick(
    smoke=dict(source_episodes=3, source_n_way=5, source_n_query=5, source_mixups=10),
    lite=dict(source_episodes=40, source_n_way=8, source_n_query=10, source_mixups=50),
    paper={}))
print(f"model {cfg.model} ({cfg.weights} weights), PCA {cfg.pca_components}, "
      f"{cfg.source_episodes} source episodes")

# %% [markdown]
# ## 1. Episodes
#
# The data: in the `smoke` profile a small seeded synthetic pair (a many-class *source* scene and a
# *target* scene from another "sensor"); otherwise Indian Pines as the target and the preset's
# source scene(s). `prepare_domains` applies MIFOMO's preprocessing (PCA, z-score, 9×9 patches)
# to each scene.

# %%
if profile == "smoke":
    src_scene, tgt_scene = synthetic_domain_pair(seed=seed, size=24, n_source_classes=8, n_target_classes=5)
    target, sources = prepare_domains(cfg, tgt_scene, [src_scene])
else:
    target, sources = prepare_domains(cfg)
source = sources[0]
print(f"source: {source.name}, {source.n_classes} classes, {len(source.labels)} labelled pixels")
print(f"target: {target.name}, {target.n_classes} classes, {len(target.labels)} labelled pixels")

# %% [markdown]
# An `EpisodeSampler` draws N-way K-shot episodes: `n_way` classes, `n_shot` support and `n_query`
# query pixels of each. Episode *i* is a pure function of `(seed, i)`, so any episode can be drawn
# again — in any order — and labels are **re-indexed** 0..N−1 inside the episode.

# %%
sampler = EpisodeSampler(source.scene, n_way=cfg.source_n_way, n_shot=cfg.source_n_shot,
                         n_query=cfg.source_n_query, seed=seed)
ep = sampler.episode(0)
print(sampler)
print("episode 0 classes (pool ids):", ep.classes.tolist(), "→ episode labels", list(range(ep.n_way)))
print("support labels:", ep.support_labels.tolist())
same = all(np.array_equal(a, b) for a, b in zip(
    (ep.support_index, ep.query_index), (sampler.episode(0).support_index, sampler.episode(0).query_index)))
differs = not np.array_equal(ep.support_index, sampler.episode(1).support_index)
print(f"episode 0 drawn twice is identical: {same}; episode 1 is a different draw: {differs}")

fig, ax = plt.subplots(figsize=(5, 5))
plot_label_map(source.scene, ax=ax, legend=False, title="episode 0: support (○) and query (×) pixels")
ax.scatter(ep.support_cols, ep.support_rows, s=30, facecolors="none", edgecolors="white")
ax.scatter(ep.query_cols, ep.query_rows, s=14, marker="x", color="white")
plt.show()

# %% [markdown]
# The **target** side is different: one *few-shot split* per test episode, with `n_shot` = 5
# support pixels per class and *all* remaining labelled pixels as queries (MIFOMO's protocol).

# %%
split = few_shot_split(target.scene, n_shot=cfg.n_shot, seed=seed)
print(f"target split: {split.n_classes}-way {split.n_shot}-shot, {split.n_support} support pixels, "
      f"{split.n_query} queries")

# %% [markdown]
# ## 2. Prototypes
#
# We build the model exactly as the pipeline does (`build_model`: the pretrained foundation model
# of the preset plus a `PrototypicalHead` as `model.classifier`; then the coalescent projection),
# embed one episode, and average the support embeddings of each class:
#
# $$p_c = \frac{1}{|S_c|} \sum_{i \in S_c} e_i .$$

# %%
model = build_model(cfg, nb.device)
apply_adaptation(model, cfg.adaptation, trainable_set=cfg.trainable_set, phase="source",
                 extra_trainable=("classifier",), **adaptation_options(cfg))
model.eval()
sx, sy, qx, qy = ep.to_tensors(source.prepared, device=nb.device)
with torch.no_grad():
    es, eq = model(sx).float().cpu(), model(qx).float().cpu()
sy, qy = sy.cpu(), qy.cpu()
protos = fsl.prototypes(es, sy, ep.n_way)
acc_episode0 = float((model.classifier.predict(eq.to(nb.device), protos.to(nb.device)).cpu() == qy).float().mean())
print(f"embeddings {tuple(es.shape)}, prototypes {tuple(protos.shape)}; "
      f"nearest-prototype accuracy on episode 0 (before any training): {acc_episode0:.1%}")

# %% [markdown]
# A 2-D picture: project support (○), query (·) and prototypes (★) on the first two principal
# axes of the episode's embeddings (`pca2` from the kit: one projection for all three, so they
# share the axes). The prototype sits in the middle of its support points.

# %%
ps, pq, pp = pca2(es, eq, protos)
fig, ax = plt.subplots(figsize=(6, 5))
for k in range(ep.n_way):
    c = f"C{k % 10}"
    ax.scatter(*pq[qy.numpy() == k].T, s=10, color=c, alpha=0.5)
    ax.scatter(*ps[sy.numpy() == k].T, s=40, facecolors="none", edgecolors=c)
    ax.scatter(*pp[k], s=250, marker="*", color=c, edgecolors="k")
ax.set_title("one episode in embedding space (PCA): support ○, query ·, prototype ★")
plt.show()

# %% [markdown]
# ## 3. The cosine scale
#
# MIFOMO's head scores a query against each prototype with $s \cdot \cos(e, p_c)$. A cosine lies
# in [−1, 1], so without the scale the softmax over 5 or 16 classes could never be confident, and
# the cross-entropy could never get small. The scale $s$ is a *learnable temperature*, initialised
# to 20. Below: the same cosines, different $s$.

# %%
scales = [1, 2, 5, 10, 20, 50]
conf, loss_s = [], []
for s in scales:
    head = fsl.PrototypicalHead(init_scale=s)
    with torch.no_grad():
        logits = head(eq, protos)
    conf.append(float(torch.softmax(logits, 1).max(1).values.mean()))
    loss_s.append(float(fsl.fsl_loss(logits, qy)))
fig, ax = plt.subplots(figsize=(6.5, 3.5))
ax.plot(scales, conf, "o-", label="mean max softmax probability")
ax.set_xscale("log")
ax.set_xlabel("scale s")
ax.set_ylabel("mean max probability")
ax2 = ax.twinx()
ax2.plot(scales, loss_s, "s--", color="tab:red", label="cross-entropy on the queries")
ax2.set_ylabel("cross-entropy")
ax.legend(loc="upper left", fontsize=8)
ax2.legend(loc="lower right", fontsize=8)
ax.set_title("the same cosines through different scales")
plt.show()

# the target phases use -s·(1 - cos): a constant shift per row, hence the same softmax
h_sim, h_dist = fsl.PrototypicalHead(20.0), fsl.PrototypicalHead(20.0, logit_form="cosine_distance")
with torch.no_grad():
    form_gap = float((torch.softmax(h_sim(eq, protos), 1) - torch.softmax(h_dist(eq, protos), 1)).abs().max())
print(f"softmax of s·cos vs -s·(1-cos): max difference {form_gap:.1e}")

# %% [markdown]
# Too small a scale and every prediction is timid (high loss even when the argmax is right); too
# large and the loss punishes every mistake with huge gradients. Learning $s$ lets training find
# the balance.
#
# ## 4. Embedding mixup
#
# MIFOMO's second loss term mixes pairs of query *embeddings* of the same episode,
# $\tilde e = \lambda e_i + (1-\lambda) e_j$, with the same mix of their one-hot labels, and scores
# the mixed points against the same prototypes (soft-label cross-entropy, `L_mx`). Pairs are drawn
# with replacement and $\lambda \sim \mathrm{Beta}(2, 2)$, a bell around 0.5.

# %%
gen = torch.Generator().manual_seed(seed)
mb = fsl.embedding_mixup(eq, F.one_hot(qy, ep.n_way).float(), n_pairs=2000, generator=gen)
lam = mb.lam.numpy()
exact = torch.allclose(mb.emb, mb.lam[:, None] * eq[mb.index_a] + (1 - mb.lam[:, None]) * eq[mb.index_b])
with torch.no_grad():
    l_mx = float(fsl.soft_cross_entropy(model.classifier(mb.emb.to(nb.device), protos.to(nb.device)),
                                        mb.y.to(nb.device)))
print(f"λ: mean {lam.mean():.3f}, std {lam.std():.3f} (Beta(2, 2): 0.5, {np.sqrt(1 / 20):.3f}); "
      f"mixed = λ·e_i + (1−λ)·e_j: {exact}; soft labels sum to 1: "
      f"{bool(torch.allclose(mb.y.sum(1), torch.ones(len(mb.y))))}; L_mx = {l_mx:.3f}")

fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
a1.hist(lam, bins=30, density=True, alpha=0.7)
grid = np.linspace(0, 1, 101)
a1.plot(grid, 6 * grid * (1 - grid), "k--", label="Beta(2, 2) density")
a1.set_xlabel("λ")
a1.legend()
pm, = pca2(torch.cat([es, eq, protos, mb.emb[:12]]))[:1]
pq_all, pmix = pm[len(es):len(es) + len(eq)], pm[-12:]
for k in range(ep.n_way):
    a2.scatter(*pq_all[qy.numpy() == k].T, s=10, color=f"C{k % 10}", alpha=0.5)
for m in range(12):
    i, j = int(mb.index_a[m]), int(mb.index_b[m])
    a2.plot(*np.stack([pq_all[i], pq_all[j]]).T, color="grey", lw=0.7)
    a2.scatter(*pmix[m], s=40, marker="D", color="k")
a2.set_title("12 mixed embeddings (◆) on the segments between their pairs")
plt.show()

# %% [markdown]
# ## 5. Training the source phase
#
# Everything above, in a loop: `train_source_phase` draws one episode per step, embeds support and
# query, builds prototypes, adds `L_fsl` (cross-entropy) and `L_mx` (mixup), and takes one AdamW
# step. This is the library's code, unchanged:

# %%
print(inspect.getsource(train_source_phase))

# %% [markdown]
# Before and after training we measure two accuracies, both with prototypes from the support only:
# on a few **held-out source episodes** (new draws, seed + 999) and on the **target** few-shot split
# (a seeded subset of its queries, to keep it quick). Source training should help on the source;
# whether it helps on a target with *other* classes and another sensor is the cross-domain
# question the rest of MIFOMO addresses.

# %%
eval_sampler = EpisodeSampler(source.scene, n_way=cfg.source_n_way, n_shot=cfg.source_n_shot,
                              n_query=cfg.source_n_query, seed=seed + 999)
n_eval = nb.pick(smoke=2, lite=5)
target_split = subsample_queries(split, nb.pick(smoke=150, lite=1500), seed)
# (source accuracy on n_eval held-out episodes, target accuracy on the split), prototypes from the support
before = episode_and_target_accuracy(model, eval_sampler, n_eval, source, target, target_split, nb.device)
history = {}
train_source_phase(model, sources, cfg, nb.device, history)
after = episode_and_target_accuracy(model, eval_sampler, n_eval, source, target, target_split, nb.device)
losses = np.array(history["source"])
print(f"source episodes: {before[0]:.1%} → {after[0]:.1%}; target split: {before[1]:.1%} → {after[1]:.1%}")
print(f"learned scale s = {float(model.classifier.scale.detach()):.3f} (started at 20)")

fig, ax = plt.subplots(figsize=(6.5, 3.5))
ax.plot(losses, lw=1, label="L_fsl + L_mx per episode")
if len(losses) >= 10:
    k = max(2, len(losses) // 10)
    ax.plot(np.arange(k - 1, len(losses)), np.convolve(losses, np.ones(k) / k, "valid"), lw=2,
            label=f"moving average ({k})")
ax.set_xlabel("source episode")
ax.set_ylabel("loss")
ax.legend()
plt.show()

# %%
record_metrics(
    n_way=ep.n_way, episode_support=int(len(ep.support_index)), episode_query=int(len(ep.query_index)),
    episode_reproducible=bool(same and differs), target_support=split.n_support, target_query=split.n_query,
    acc_episode0_untrained=acc_episode0, max_prob_s1=conf[0], max_prob_s20=conf[scales.index(20)],
    logit_form_gap=form_gap, mixup_lambda_mean=float(lam.mean()), mixup_exact=bool(exact),
    source_episodes=len(losses), loss_first=float(losses[0]), loss_last=float(losses[-1]),
    source_acc_before=before[0], source_acc_after=after[0],
    target_acc_before=before[1], target_acc_after=after[1],
)

# %% [markdown]
# With the `smoke` budget a handful of episodes changes little. With `lite`, compare how much each
# accuracy moves: the episodes train on the *source* classes, so a gain on the target — other
# classes, another sensor — is transfer, and it is exactly what the rest of MIFOMO tries to
# increase.
#
# ## 6. Explore
#
# Two explorers on target embeddings computed once by the trained model: moving a slider
# recomputes from those embeddings only, so it redraws in well under a second on a CPU. (In a batch
# run — papermill, the book — each draws one static figure instead.)
#
# **Learning rate.** A linear head trained with AdamW on the five shots of each class, starting
# from zero (loss log C). Move the learning rate by factors of ten: too small and nothing moves in
# 40 steps; larger and the support is fitted within a few steps — and the query accuracy, which
# the five shots never see, tells whether that fit generalises.

# %%
t_support = embed_pixels(model, target.prepared, target_split.support_rows, target_split.support_cols)
t_query = embed_pixels(model, target.prepared, target_split.query_rows, target_split.query_cols)
lr_explorer(t_support, target_split.support_labels, t_query, target_split.query_labels, lr=1e-2, steps=40)

# %% [markdown]
# **Shots.** How much is one more labelled pixel per class worth? A pool of at most
# `per_class` labelled target pixels per class is embedded once; each of five seeded draws takes
# the first *k* pixels of every class as the support and scores the prototypes on the pixels
# outside the largest support. The curve is the mean ± std over the draws; the star adds label
# propagation (σ = the median cosine distance) at the chosen *k*, the per-class bars show which
# classes are still hard at *k* shots.

# %%
per_class = nb.pick(smoke=30, lite=80)
pool_rng = np.random.default_rng(seed)
pool = np.concatenate([pool_rng.permutation(np.flatnonzero(target.labels == c))[:per_class]
                       for c in range(target.n_classes)])
pool_emb = embed_pixels(model, target.prepared, target.rows[pool], target.cols[pool])
shots_explorer(pool_emb, target.labels[pool], shots=cfg.n_shot, seed=seed)

# %% [markdown]
# ## Summary
#
# * An **episode** is a tiny classification problem: N classes, K support and Q query pixels each,
#   labels re-indexed 0..N−1. `EpisodeSampler` draws episode *i* from `(seed, i)`, so training is
#   reproducible episode by episode. A test **few-shot split** has 5 support pixels per class and
#   all other labelled pixels as queries.
# * A **prototype** is the mean support embedding of a class; a query goes to the most similar
#   prototype.
# * The head scores $s \cdot \cos(e, p_c)$. The scale $s$ (learnable, from 20) sets how sharp the
#   softmax can be; `cosine_similarity` and `cosine_distance` logits give the same softmax.
# * **Embedding mixup** mixes random query pairs with λ ~ Beta(2, 2) and mixes their labels the
#   same way; `L_mx` scores them with a soft-label cross-entropy against the same prototypes.
# * The source phase minimises `L_fsl + L_mx`, one AdamW step per episode.
#
# ## Exercises
#
# Each exercise is checked by `check("03.k", your_function)`: ✓ when right, otherwise a hint.
#
# **Exercise 03.1 — prototypes.** Write `class_prototypes(emb, y, n_classes)`: `emb` is an
# (n, D) array or tensor of support embeddings, `y` their class ids 0..C−1; return the (C, D)
# class means.

# %% tags=["solution"]
def class_prototypes(emb, y, n_classes):
    ### BEGIN SOLUTION
    emb, y = torch.as_tensor(emb, dtype=torch.float64), torch.as_tensor(y)
    return torch.stack([emb[y == c].mean(0) for c in range(n_classes)])
    ### END SOLUTION


# %%
check("03.1", class_prototypes)

# %% [markdown]
# **Exercise 03.2 — scaled cosine logits.** Write `cosine_logits(query, protos, scale)` returning
# the (n_query, C) matrix $s \cdot \cos(q_i, p_c)$.

# %% tags=["solution"]
def cosine_logits(query, protos, scale):
    ### BEGIN SOLUTION
    q = F.normalize(torch.as_tensor(query, dtype=torch.float64), dim=1)
    p = F.normalize(torch.as_tensor(protos, dtype=torch.float64), dim=1)
    return scale * q @ p.T
    ### END SOLUTION


# %%
check("03.2", cosine_logits)

# %% [markdown]
# **Exercise 03.3 — an episode by hand.** Write `sample_episode(labels, n_way, n_shot, n_query,
# seed)`. `labels` holds the class id of every pixel of a pool. With
# `rng = np.random.default_rng(seed)`, choose `n_way` distinct classes at random and, for each,
# `n_shot + n_query` distinct pixels; return `(support_idx, query_idx, support_y, query_y)` —
# indices into `labels` and episode labels 0..n_way−1, where label *k* is the *k*-th chosen class
# in increasing class-id order.

# %% tags=["solution"]
def sample_episode(labels, n_way, n_shot, n_query, seed):
    ### BEGIN SOLUTION
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes = np.sort(rng.choice(np.unique(labels), size=n_way, replace=False))
    s_idx, q_idx = [], []
    for c in classes:
        pick = rng.choice(np.flatnonzero(labels == c), size=n_shot + n_query, replace=False)
        s_idx.append(pick[:n_shot])
        q_idx.append(pick[n_shot:])
    way = np.arange(n_way)
    return np.concatenate(s_idx), np.concatenate(q_idx), np.repeat(way, n_shot), np.repeat(way, n_query)
    ### END SOLUTION


# %%
check("03.3", sample_episode)

# %% [markdown]
# **Exercise 03.4 — why the scale matters.** Write `max_confidence(scale, n_way)`: the largest
# softmax probability a cosine head with scale `scale` can give one class of an `n_way` episode.
# Compare `max_confidence(1, 5)` with the curve of section 3.

# %% tags=["solution"]
def max_confidence(scale, n_way):
    ### BEGIN SOLUTION
    return float(np.exp(scale) / (np.exp(scale) + (n_way - 1) * np.exp(-scale)))
    ### END SOLUTION


# %%
check("03.4", max_confidence)

# %%
passed, total = score("03")
record_metrics(exercises_passed=passed, exercises_total=total)

# %% [markdown]
# ## Concept quiz

# %%
from mifomo_lite import quiz

quiz.show("03")
