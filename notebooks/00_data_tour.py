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
# # 00 · A tour of hyperspectral data
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/mifomo-lite/mifomo_lite/blob/main/notebooks/00_data_tour.ipynb)
#
# A hyperspectral image records, for every pixel, a whole *spectrum*: hundreds of narrow bands
# instead of three colours. This notebook opens such an image, looks at it band by band and pixel
# by pixel, and meets the benchmark scenes that MIFOMO is evaluated on. Everything runs offline:
# the default scene, Indian Pines, ships inside the `tensorly` wheel.

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
# 1. describe a hyperspectral scene as an (H, W, B) **cube** with a label map, and load one;
# 2. show single **bands** and a **false-colour** composite, and explain the percentile stretch;
# 3. compare **spectra** of pixels within and between classes;
# 4. list the five **benchmark scenes** of cross-domain few-shot HSI classification and say which
#    one works offline;
# 5. describe MIFOMO's **preprocessing** (PCA-50, z-score, 9×9 patches) and a **5-shot split**.

# %% tags=["parameters"]
profile = "lite"   # smoke | lite | colab | paper — papermill overrides this
device = "auto"    # auto | cpu | cuda
seed = 0

# %%
import matplotlib.pyplot as plt
import numpy as np

from mifomo_lite.data import (few_shot_split, list_scenes, load_scene, prepare_scene,
                              synthetic_domain_pair)
from mifomo_lite.data.loaders import available_locally
from mifomo_lite.data.plots import false_colour, pick_rgb_bands, plot_label_map
from mifomo_lite.exercises import check, score
from mifomo_lite.notebooks import band_explorer, band_near, record_metrics, setup

nb = setup(profile, device, seed)

# %% [markdown]
# ## 1. A scene is a cube plus a label map
#
# `load_scene("indian_pines")` returns a `Scene`: `cube` is (height, width, bands) with raw sensor
# values, `labels` is (height, width) with 0 for *unlabelled* and 1..C for the classes.

# %%
scene = load_scene("indian_pines")
print(scene.summary())

# %%
print("cube   ", scene.cube.shape, scene.cube.dtype)
print("labels ", scene.labels.shape, scene.labels.dtype, "values", np.unique(scene.labels)[:5], "...")
print("one pixel's spectrum has", scene.cube[70, 70].size, "values")

# %% [markdown]
# ## 2. Bands
#
# Each band is an ordinary grey-level image taken at one wavelength. Vegetation is dark in the
# visible bands and bright in the near infrared (the "red edge" near 700 nm); water absorption
# makes bands near 1400 nm and 1900 nm noisy — those were already removed from this copy, which
# is why it has 200 of AVIRIS's 224 bands.

# %%
wl = scene.wavelengths
show_nm = [480, 650, 850, 1650]
fig, axes = plt.subplots(1, len(show_nm), figsize=(12, 3.4))
for ax, nm in zip(axes, show_nm):
    b = band_near(wl, nm)
    ax.imshow(scene.cube[:, :, b], cmap="gray")
    ax.set_title(f"band {b} ≈ {wl[b]:.0f} nm")
    ax.set_axis_off()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3. False colour and the ground truth
#
# Three bands shown as red, green and blue make a *false-colour* picture. Each channel is
# stretched between its 2nd and 98th percentile, so that a handful of very bright pixels does
# not wash the picture out. Beside it: the label map (black = unlabelled).

# %%
rgb_bands = pick_rgb_bands(scene.n_bands, scene.wavelengths)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5))
ax1.imshow(false_colour(scene, rgb_bands))
ax1.set_title(f"false colour, bands {rgb_bands}")
ax1.set_axis_off()
plot_label_map(scene, ax=ax2, title="ground truth (16 classes)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Spectra per class
#
# The point of hyperspectral classification: a material has a characteristic spectrum. Below, a
# few random pixels of four classes. Note the variability *within* a class and how similar the
# crop classes are to each other — corn and soybean fields at an early growth stage mostly show
# soil, which is what makes Indian Pines hard.

# %%
rng = np.random.default_rng(seed)
n_lines = nb.pick(smoke=5, lite=25, paper=60)
show = ["Corn-notill", "Soybean-notill", "Woods", "Hay-windrowed"]
fig, ax = plt.subplots(figsize=(9, 4))
for i, name in enumerate(show):
    k = scene.class_names.index(name) + 1
    rows, cols = np.nonzero(scene.labels == k)
    pick = rng.choice(rows.size, size=min(n_lines, rows.size), replace=False)
    spectra = scene.cube[rows[pick], cols[pick]]
    ax.plot(wl, spectra.T, color=f"C{i}", alpha=0.35, lw=0.8)
    ax.plot([], [], color=f"C{i}", label=f"{name} ({rows.size} px)")
ax.set_xlabel("wavelength (nm)")
ax.set_ylabel("radiance (sensor units)")
ax.legend()
plt.show()

# %% [markdown]
# ## 5. The benchmark scenes, and the offline default
#
# Cross-domain few-shot HSI classification meta-trains on a *source* scene (Chikusei) and tests on
# four *targets* with 5 labelled pixels per class. Only Indian Pines is available without a
# download: the kit reads the copy inside the `tensorly` wheel. The others are fetched on request
# with `mifomo-lite data fetch NAME` (checksummed) — `mifomo-lite data list` prints this table.

# %%
rows = []
for info in list_scenes():
    ok, where = available_locally(info.name)
    rows.append((info.name, info.sensor, f"{info.height}×{info.width}", info.n_bands,
                 info.n_classes, info.role, where))
print(f"{'scene':<18}{'sensor':<28}{'size':>11}{'bands':>7}{'classes':>9}  {'role':<8} available")
for r in rows:
    print(f"{r[0]:<18}{r[1]:<28}{r[2]:>11}{r[3]:>7}{r[4]:>9}  {r[5]:<8} {r[6]}")
n_offline = sum(available_locally(i.name)[0] for i in list_scenes())

# %% [markdown]
# Source and target differ in *sensor* (bands, wavelength range) and in *classes*. The kit's
# `lite` runs use a seeded **synthetic** source with the same kind of gap, so everything works
# without downloads:

# %%
source, target = synthetic_domain_pair(seed=seed, size=nb.pick(smoke=24, lite=48, paper=96))
fig, axes = plt.subplots(1, 2, figsize=(12, 3.5), sharey=False)
for ax, s in zip(axes, (source, target)):
    for k in range(1, min(s.n_classes, 6) + 1):
        ax.plot(s.wavelengths, s.cube[s.labels == k].mean(0), lw=1)
    ax.set_title(f"{s.name}: {s.n_bands} bands, {s.n_classes} classes ({s.sensor})")
    ax.set_xlabel("wavelength (nm)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 6. What MIFOMO feeds the model
#
# MIFOMO reduces every scene to `pca_components` channels (50 in the paper; fewer in the `smoke`
# profile) with whitened PCA fitted on all pixels, z-scores each channel, and cuts a 9×9 patch
# around each pixel. A few-shot **split** then draws 5 labelled pixels per class as the *support*
# set; every other labelled pixel is a *query* to classify.

# %%
prepared = prepare_scene(scene, n_components=nb.config.pca_components,
                         patch_size=nb.config.patch_size, seed=seed)
ev = np.asarray(prepared.meta["preprocessing"].get("explained_variance_ratio", []))
print(f"{prepared.n_channels} channels; PCA keeps {ev.sum():.1%} of the variance "
      f"(first 3 components: {', '.join(f'{v:.1%}' for v in ev[:3])})")
split = few_shot_split(scene, n_shot=nb.config.n_shot, seed=seed)
sx, sy = split.support_tensors(prepared)
print(f"support: {split.n_support} pixels → tensor {tuple(sx.shape)}; queries: {split.n_query}")

fig, ax = plt.subplots(figsize=(5, 5))
plot_label_map(scene, ax=ax, legend=False, title=f"{nb.config.n_shot}-shot support pixels (white)")
ax.scatter(split.support_cols, split.support_rows, s=18, facecolors="none", edgecolors="white")
plt.show()

# %% [markdown]
# ## 7. Explore it yourself
#
# Move the band slider, and choose a pixel with the row/column sliders: the spectrum on the right
# is that pixel's, the dashed line the band on the left. (When the notebook is executed in batch
# — papermill, the book — you see one static view instead.)

# %%
band_explorer(scene)

# %%
record_metrics(
    n_bands=scene.n_bands, n_classes=scene.n_classes, n_labelled=scene.n_labelled,
    n_scenes=len(rows), n_offline=n_offline,
    pca_channels=prepared.n_channels, pca_variance=float(ev.sum()),
    n_support=split.n_support, n_query=split.n_query,
)

# %% [markdown]
# ## Summary
#
# * A hyperspectral scene is an (H, W, B) cube plus an (H, W) label map (0 = unlabelled).
#   Indian Pines: 145 × 145 pixels, 200 bands, 16 classes, 10,249 labelled pixels — offline.
# * Single bands are grey images; false colour maps three bands to RGB with a per-channel
#   percentile stretch.
# * Classes differ by their spectra, but within-class variability is large and some classes
#   (corn / soybean) are nearly indistinguishable pixel by pixel.
# * The benchmark: meta-train on a source scene, test on four targets with 5 labels per class;
#   source and target differ in sensor and classes — the *cross-domain* gap.
# * MIFOMO's input: PCA-50 + z-score, 9×9 patches, a 5-shot support set and the rest as queries.
#
# ## Exercises
#
# Each exercise is checked by `check("00.k", your_function)`: ✓ when right, otherwise a hint.
#
# **Exercise 00.1 — nearest band.** Write `nearest_band(wavelengths, nm)` returning the index of
# the band whose centre wavelength is closest to `nm`.

# %% tags=["solution"]
def nearest_band(wavelengths, nm):
    ### BEGIN SOLUTION
    return int(np.argmin(np.abs(np.asarray(wavelengths) - nm)))
    ### END SOLUTION


# %%
check("00.1", nearest_band)

# %% [markdown]
# **Exercise 00.2 — false colour.** Write `false_colour_image(cube, bands)` returning an
# (H, W, 3) image in [0, 1]: channel i is band `bands[i]`, stretched so that its 2nd percentile
# maps to 0 and its 98th to 1, then clipped.

# %% tags=["solution"]
def false_colour_image(cube, bands):
    ### BEGIN SOLUTION
    out = np.zeros(cube.shape[:2] + (3,))
    for i, b in enumerate(bands):
        ch = cube[:, :, b].astype(float)
        lo, hi = np.percentile(ch, [2, 98])
        out[:, :, i] = np.clip((ch - lo) / (hi - lo), 0, 1)
    return out
    ### END SOLUTION


# %%
check("00.2", false_colour_image)

# %% [markdown]
# **Exercise 00.3 — mean spectrum per class.** Write `class_mean_spectra(cube, labels)` returning
# a (C, B) array whose row k−1 is the mean spectrum of class k (C = `labels.max()`; label 0 is
# unlabelled and ignored).

# %% tags=["solution"]
def class_mean_spectra(cube, labels):
    ### BEGIN SOLUTION
    return np.stack([cube[labels == k].mean(axis=0) for k in range(1, labels.max() + 1)])
    ### END SOLUTION


# %%
check("00.3", class_mean_spectra)

# %% [markdown]
# **Exercise 00.4 — the rarest class.** Write `rarest_class(scene)` returning the *name* of the
# class with the fewest labelled pixels. Which one is it for Indian Pines, and what does that mean
# for a 5-shot split?

# %% tags=["solution"]
def rarest_class(scene):
    ### BEGIN SOLUTION
    return scene.class_names[int(np.argmin(scene.class_counts()))]
    ### END SOLUTION


# %%
check("00.4", rarest_class)

# %%
passed, total = score("00")
record_metrics(exercises_passed=passed, exercises_total=total)

# %% [markdown]
# ## Concept quiz

# %%
from mifomo_lite import quiz

quiz.show("00")
