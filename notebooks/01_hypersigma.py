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
# # 01 · HyperSIGMA, the foundation model
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/mifomo-lite/mifomo_lite/blob/main/notebooks/01_hypersigma.ipynb)
#
# MIFOMO does not train a network from scratch: it borrows **HyperSIGMA**, a hyperspectral
# foundation model made of two vision transformers pretrained as masked autoencoders, and keeps it
# frozen. This notebook takes the model apart — its two branches, how each turns a patch into
# tokens, full versus sparse sampling attention — loads weights, runs a short pretraining and
# looks at what the attention heads attend to.

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
# 1. name HyperSIGMA's two branches and say what a **token** is in each;
# 2. count tokens and parameters of the published sizes and of the kit's `tiny` model;
# 3. contrast full multi-head attention (**MHSA**) with **sparse sampling attention** (SSA);
# 4. load the official weights safely (when you have them) and the kit's small pretrained model;
# 5. explain **masked-autoencoder** pretraining and run a few steps of it;
# 6. draw **attention maps** and read them.

# %% tags=["parameters"]
profile = "lite"   # smoke | lite | colab | paper — papermill overrides this
device = "auto"    # auto | cpu | cuda
seed = 0

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from mifomo_lite.data import load_scene, prepare_scene
from mifomo_lite.errors import DownloadError
from mifomo_lite.exercises import check, score
from mifomo_lite.models import (count_flops, count_parameters, create_model, evaluate_frozen_prototypes,
                                get_config, load_foundation_model, load_official_hypersigma)
from mifomo_lite.models.official import download_official_checkpoint
from mifomo_lite.models.pretrain import PretrainConfig, pretrain, random_masking
from mifomo_lite.notebooks import labelled_subset, record_metrics, setup

nb = setup(profile, device, seed)

# %% [markdown]
# ## 1. Two branches
#
# HyperSIGMA reads the same input twice. The **spatial** ViT asks *where*: its tokens are
# locations of the patch. The **spectral** ViT asks *what*: its tokens are groups of bands, each
# carrying a whole little image. MIFOMO feeds both a 9×9 window of 50 PCA channels, taps the
# spatial branch after four blocks, turns the spectral output into a gate that rescales those
# maps, and reads out one 768-dimensional vector for the centre pixel.
#
# The published sizes are big; the kit adds `micro`, `tiny` and `small` sizes with the same
# structure (`micro` is what the `smoke` and `lite` run presets use). Counting the
# base model's parameters needs no memory at all on PyTorch's `meta` device:

# %%
sizes = {name: count_parameters(create_model(name, device="meta")) for name in ("micro", "tiny", "small", "base")}
print(f"{'size':<6}{'D':>6}{'depth':>7}{'heads':>7}{'spatial':>13}{'spectral':>13}{'fusion':>10}{'total':>14}")
for name, c in sizes.items():
    cfg = get_config(name)
    print(f"{name:<6}{cfg.embed_dim:>6}{cfg.depth:>7}{cfg.num_heads:>7}{c['spatial']:>13,}{c['spectral']:>13,}"
          f"{c['fusion']:>10,}{c['total']:>14,}")
print(f"\nbase: {sizes['base']['spectral.blocks_unused']:,} spectral parameters sit in blocks that never run "
      "(the spectral branch stops after its tap).")

# %% [markdown]
# ## 2. Tokenisation
#
# *Spatial:* MIFOMO makes every pixel of the window a token, with one Linear layer from its
# C channels to D dimensions (81 tokens for 9×9); HyperSIGMA's own classifier uses a p×p
# convolution instead (p = 2 on a 33×33 window: 16×16 = 256 tokens).
#
# *Spectral:* each pixel's C values are average-pooled to T values, the result is transposed so
# that a token is one band group across all 81 pixels, and a Linear layer maps those 81 values to
# D. T is 100 in HyperSIGMA and 25 in the `tiny` model.

# %%
model = create_model("tiny")               # random weights are enough to look at shapes
x = torch.randn(2, 50, 9, 9)               # two 9×9 windows of 50 PCA channels
print("input                 ", tuple(x.shape))
print("spatial tokens        ", tuple(model.spat_encoder.embed(x).shape), "  (B, 81 pixels, D)")
print("spectral band groups  ", tuple(model.spec_encoder.tokenize(x).shape), "  (B, T, 81 pixel values)")
print("spectral tokens       ", tuple(model.spec_encoder.embed(x).shape), "  (B, T, D)")
print("embedding             ", tuple(model(x).shape), "  (B, D): the centre pixel")

# which channels does each spectral token average? (pool the identity matrix)
pool = model.spec_encoder.spec_embed(torch.eye(50)[None]).squeeze(0).T  # (T, C)
plt.figure(figsize=(8, 2.6))
plt.imshow(pool, aspect="auto", cmap="Blues")
plt.xlabel("PCA channel")
plt.ylabel("spectral token")
plt.title("AdaptiveAvgPool1d(T): each token averages two neighbouring channels (tiny, T = 25)")
plt.show()

# %% [markdown]
# ## 3. Full attention versus sparse sampling attention
#
# In full multi-head self-attention every token scores every other token: N² scores per head.
# HyperSIGMA's **sparse sampling attention** lets each query look at only P = 8 points, sampled
# bilinearly around its own position at offsets predicted from the query: N·P scores. HyperSIGMA
# fine-tunes with SSA in two of every three blocks; MIFOMO's released code uses full attention
# everywhere (see the *paper vs code* page). The offsets are **never pretrained**: they start at
# zero, so all 8 points of a query sit on the query itself.

# %%
n = np.array([25, 81, 256, 1024, 4096])
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.6))
ax1.loglog(n, n ** 2, "o-", label="MHSA: N² scores")
ax1.loglog(n, 8 * n, "s-", label="SSA: N·P scores (P = 8)")
ax1.set_xlabel("tokens N")
ax1.set_ylabel("attention scores per head")
ax1.legend()

ssa_model = create_model("tiny", attention="ssa")
print("SSA blocks of base:", get_config("base", attention="ssa").sparse_blocks())
flops = {"mhsa": count_flops(model)["total"], "ssa": count_flops(ssa_model)["total"]}
print(f"tiny, 81 tokens — FLOPs per sample: MHSA {flops['mhsa'] / 1e6:.0f} M, SSA {flops['ssa'] / 1e6:.0f} M "
      "(with few tokens the Linear layers dominate; SSA pays off for long sequences)")
offsets_params = sum(p.numel() for k, p in ssa_model.named_parameters() if "sampling_offsets" in k)
print(f"sampling-offset parameters in tiny SSA: {offsets_params:,} (never pretrained)")

# where does the centre query of the first SSA block sample? (one point per head and sampling step)
attn = ssa_model.spat_encoder.blocks[0].attn
tokens = ssa_model.spat_encoder.embed(x[:1])
with torch.no_grad():
    q = attn.qkv(ssa_model.spat_encoder.blocks[0].norm1(tokens))[..., :attn.dim]
    off = attn.sampling_offsets(q).reshape(81, attn.num_heads, attn.n_points, 2)[40]  # centre token
ax2.imshow(np.zeros((9, 9)), cmap="Greys", vmin=0, vmax=1)
ax2.scatter(4 + off[..., 0].flatten(), 4 + off[..., 1].flatten(), s=12, c="tab:red")
ax2.set_title("SSA sampling points of the centre query at initialisation")
ax2.set_xticks(range(9))
ax2.set_yticks(range(9))
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. The official weights (guarded)
#
# The official MAE checkpoints are 1.4 GB per branch for the base size. They are pickled
# `torch.save` files that hold an `argparse.Namespace`; the usual advice, `weights_only=False`,
# would let a malicious file run code. The kit loads them with `weights_only=True` and allows
# exactly that one class, then reports what loaded, what stays fresh and why.
#
# This cell runs only when the weights are available: set `HYPERSIGMA_SPATIAL` and
# `HYPERSIGMA_SPECTRAL` to the two `.pth` files, or use the `paper` profile (which downloads and
# caches them). Otherwise it shows the same loader on a checkpoint in the official format made
# from the `tiny` model.

# %%
official = {b: os.environ.get(f"HYPERSIGMA_{b.upper()}") for b in ("spatial", "spectral")}
if profile == "paper" and not all(official.values()):
    try:
        official = {b: str(download_official_checkpoint(b, "base")) for b in official}
    except DownloadError as exc:
        print(f"could not download the official weights: {exc}")
have_official = all(p and Path(p).is_file() for p in official.values())
if have_official:
    base = create_model("base", init=False)
    print(load_official_hypersigma(base, spatial=official["spatial"], spectral=official["spectral"]))
    del base
else:
    print("official weights not available — demonstrating the loader on a tiny checkpoint instead\n")
    import argparse

    tmp = Path(tempfile.mkdtemp())
    for branch, enc in (("spatial", model.spat_encoder), ("spectral", model.spec_encoder)):
        sd = {k: v for k, v in enc.state_dict().items()}
        torch.save({"model": sd, "epoch": 1599, "args": argparse.Namespace(model=f"tiny-{branch}")},
                   tmp / f"{branch}.pth")
    fresh = create_model("tiny")
    print(load_official_hypersigma(fresh, spatial=tmp / "spatial.pth", spectral=tmp / "spectral.pth"))

# %% [markdown]
# ## 5. The kit's small pretrained model
#
# Without a GPU, the official weights are impractical. The kit therefore ships its own small
# HyperSIGMAs, `tiny` (used here) and `micro` (the run presets' CPU budget), pretrained the same
# way (masked autoencoding) on synthetic scenes from simulated
# sensors — never on Indian Pines, which it is evaluated on. Does that pretraining help by
# itself? Classify Indian Pines pixels from 5 labelled pixels per class by cosine similarity to
# the class-mean embeddings, with the model frozen: pretrained versus random weights versus the
# raw PCA values. Expect a sobering answer: only the two encoders were pretrained (the fusion
# layers on top are still random), the model is tiny and its pretraining short, and a random
# transformer is already a fair feature extractor for 9×9 windows. The model card
# (`mifomo_lite/assets/foundation-tiny.md`) reports the same on all labelled pixels. What makes
# MIFOMO work is the *adaptation* on top — the next notebooks. (A run may also keep pretraining
# on the *unlabelled* target scene for a few hundred steps before any few-shot training: the
# pipeline's phase 0, `target_ssl_steps`, in notebook 06. That lives in one run's memory; the
# shipped weights stay Indian-Pines-free.)

# %%
pretrained = load_foundation_model("tiny", device=nb.device)
card = pretrained.foundation_card or {}
print({k: card[k] for k in ("name", "parameters", "sha256") if k in card})

scene = load_scene("indian_pines")
small = labelled_subset(scene, per_class=nb.pick(smoke=12, lite=150, paper=500), seed=seed)
prepared = prepare_scene(small, n_components=pretrained.cfg.in_chans, patch_size=pretrained.cfg.patch_size,
                         seed=seed)
seeds = range(nb.pick(smoke=2, lite=5, paper=20))
frozen = {}
for name, feats in (("pretrained tiny", pretrained), ("random tiny", create_model("tiny").eval()),
                    ("PCA values", "pca")):
    r = evaluate_frozen_prototypes(feats, prepared, n_shot=5, seeds=seeds, device=nb.device)
    frozen[name] = r["oa"]["mean"]
    print(f"{name:<16} OA {100 * r['oa']['mean']:5.1f} ± {100 * r['oa']['std']:.1f} %  "
          f"({r['n_query']} queries, {r['seconds']:.1f} s)")

# %% [markdown]
# ## 6. Masked-autoencoder pretraining, in miniature
#
# MAE hides most tokens — 75 % of the spatial ones, 25 % of the spectral ones — encodes only the
# visible ones, and trains a light decoder to rebuild the hidden ones. Below: one random mask of
# each kind, then a short pretraining run of a fresh `tiny` model on synthetic scenes. (The shipped
# model was made the same way with many more steps: `mifomo-lite pretrain`.)

# %%
gen = torch.Generator().manual_seed(seed)
_, spat_mask, _ = random_masking(torch.zeros(1, 81, 1), 0.75, gen)
_, spec_mask, _ = random_masking(torch.zeros(1, 25, 1), 0.25, gen)
fig, axes = plt.subplots(1, 2, figsize=(8, 3))
axes[0].imshow(spat_mask.reshape(9, 9), cmap="Greys")
axes[0].set_title(f"spatial: {int(spat_mask.sum())} of 81 pixels hidden")
axes[1].imshow(spec_mask.reshape(1, 25), cmap="Greys", aspect=3)
axes[1].set_title(f"spectral: {int(spec_mask.sum())} of 25 band groups hidden")
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()

# %%
mae_cfg = PretrainConfig(size="tiny", steps=nb.pick(smoke=2, lite=100, paper=1000), batch_size=nb.pick(smoke=8, lite=32),
                         warmup_steps=nb.pick(smoke=1, lite=10), synthetic_scenes=nb.pick(smoke=1, lite=2),
                         synthetic_size=nb.pick(smoke=16, lite=48), checkpoint_every=10**6, seed=seed)
run = pretrain(mae_cfg, tempfile.mkdtemp(), progress=False)
hist = run.history
plt.figure(figsize=(7, 3))
plt.plot([h["step"] for h in hist], [h["spatial"] for h in hist], label="spatial MAE loss")
plt.plot([h["step"] for h in hist], [h["spectral"] for h in hist], label="spectral MAE loss")
plt.xlabel("step")
plt.ylabel("masked MSE (normalised targets)")
plt.legend()
plt.show()
print(f"{run.step} steps in {run.wall_time_s:.1f} s; loss {hist[0]['loss']:.3f} → {hist[-1]['loss']:.3f}")

# %% [markdown]
# ## 7. Attention maps
#
# Where does the centre pixel look? For one Indian Pines window we run the pretrained spatial
# encoder block by block and, in each block, compute the attention weights
# A = softmax(q·kᵀ/√dh) of the centre pixel's query over all 81 pixels (averaged over heads).

# %%
rows, cols, _ = prepared.labelled_pixels()
i = len(rows) // 3
window = prepared.patches(rows[i:i + 1], cols[i:i + 1])   # (1, 50, 9, 9)

enc = pretrained.spat_encoder
tokens = enc.embed(window.to(nb.device))
centre_maps = []
with torch.no_grad():
    for blk in enc.blocks:
        q, k, v = blk.attn.split_heads(blk.norm1(tokens))   # q is already multiplied by dh^-1/2
        A = (q @ k.transpose(-2, -1)).softmax(dim=-1)       # (1, heads, 81, 81)
        centre_maps.append(A[0, :, 40].mean(0).reshape(9, 9).cpu())
        tokens = blk(tokens)

fig, axes = plt.subplots(1, len(centre_maps), figsize=(2.2 * len(centre_maps), 2.6))
for b, (ax, amap) in enumerate(zip(axes, centre_maps)):
    ax.imshow(amap, cmap="magma")
    ax.plot(4, 4, "c+", ms=10)
    ax.set_title(f"block {b}")
    ax.set_axis_off()
plt.suptitle("attention of the centre pixel over the 9×9 window (pretrained tiny)")
plt.show()
entropy = [float(-(m * m.clamp_min(1e-12).log()).sum()) for m in centre_maps]
print("attention entropy per block (uniform = %.2f):" % np.log(81), np.round(entropy, 2))

# %%
record_metrics(
    params_tiny=sizes["tiny"]["total"], params_base=sizes["base"]["total"],
    ssa_offset_params_tiny=offsets_params, flops_tiny_mhsa=int(flops["mhsa"]),
    oa_pretrained=frozen["pretrained tiny"], oa_random=frozen["random tiny"], oa_pca=frozen["PCA values"],
    mae_steps=run.step, mae_loss_first=hist[0]["loss"], mae_loss_last=hist[-1]["loss"],
    official_loaded=bool(have_official),
)

# %% [markdown]
# ## Summary
#
# * HyperSIGMA = a **spatial** ViT (tokens: pixels or p×p patches) + a **spectral** ViT (tokens:
#   band groups), fused by spectral gates; MIFOMO reads out the centre pixel (the kit's
#   `model.readout = "mean"` reads the window mean instead, at the same cost — the lite preset's choice).
# * Base has about 172 M parameters; the kit's `tiny` keeps the structure at 2.5 M.
# * Full attention costs N² scores per head, sparse sampling attention N·P; SSA's offsets are
#   never pretrained and start on the query itself. MIFOMO's code uses full attention.
# * Official checkpoints are loaded without unsafe unpickling; a report says what loaded.
# * MAE pretraining hides most tokens and learns to rebuild them. Frozen, the tiny pretrained
#   model's features are about as good as random ones (both beat raw PCA values): a little
#   pretraining on synthetic scenes buys little by itself; adaptation does the rest.
# * Attention maps show how the centre pixel spreads its attention over its neighbourhood.
#
# ## Exercises
#
# **Exercise 01.1 — counting tokens.** Write `token_counts(window, patch, n_channels,
# spectral_tokens)` returning `(spatial, spectral)`: how many tokens each branch makes for a
# `window`×`window` input with C = `n_channels`, a p×p tokeniser (`patch`; 1 = MIFOMO's pixel
# tokens) and T = `spectral_tokens`.

# %% tags=["solution"]
def token_counts(window, patch, n_channels, spectral_tokens):
    ### BEGIN SOLUTION
    return (window // patch) ** 2, spectral_tokens
    ### END SOLUTION


# %%
check("01.1", token_counts)

# %% [markdown]
# **Exercise 01.2 — attention weights.** Write `attention_weights(q, k)` for tensors of shape
# (..., N, dh) returning the (..., N, N) attention matrix softmax(q·kᵀ/√dh).

# %% tags=["solution"]
def attention_weights(q, k):
    ### BEGIN SOLUTION
    return torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, dim=-1)
    ### END SOLUTION


# %%
check("01.2", attention_weights)

# %% [markdown]
# **Exercise 01.3 — what the MAE encoder sees.** Write `n_visible(n_tokens, mask_ratio)`: the
# number of tokens the encoder receives (as the kit's `random_masking` computes it).

# %% tags=["solution"]
def n_visible(n_tokens, mask_ratio):
    ### BEGIN SOLUTION
    return max(1, int(n_tokens * (1 - mask_ratio)))
    ### END SOLUTION


# %%
check("01.3", n_visible)

# %% [markdown]
# **Exercise 01.4 — parameters of an attention layer.** Write `attention_params(dim, qkv_bias)`:
# the number of parameters of one attention layer of width D (fused qkv Linear plus output
# projection). Check your formula against `sum(p.numel() for p in blk.attn.parameters())`.

# %% tags=["solution"]
def attention_params(dim, qkv_bias=True):
    ### BEGIN SOLUTION
    return 3 * dim * dim + (3 * dim if qkv_bias else 0) + dim * dim + dim
    ### END SOLUTION


# %%
check("01.4", attention_params)

# %%
passed, total = score("01")
record_metrics(exercises_passed=passed, exercises_total=total)

# %% [markdown]
# ## Concept quiz

# %%
from mifomo_lite import quiz

quiz.show("01")
