"""HyperSIGMA in mifomo_lite: encoders, fusion models, official checkpoints, MAE pretraining and
the kit's own tiny foundation model.

Quick tour::

    from mifomo_lite.models import create_model, load_foundation_model, count_parameters

    model = load_foundation_model("tiny")      # pretrained, CPU-friendly, ships with the package
    emb = model(x)                              # x: (B, 50, 9, 9) PCA patches → (B, 128)

    base = create_model("base")                 # MIFOMO's HyperSIGMA-B (random init, 172M params)
    report = load_official_hypersigma(base, spatial="spat-vit-base-ultra-checkpoint-1599.pth",
                                      spectral="spec-vit-base-ultra-checkpoint-1599.pth")
    print(report)                               # what loaded, what stays fresh, and why

Modules: :mod:`.blocks` (transformer blocks, MHSA and sparse sampling attention), :mod:`.config`
(sizes), :mod:`.encoders` (spatial and spectral ViTs), :mod:`.fusion` (MIFOMO's embedding model and
HyperSIGMA's classifier), :mod:`.factory` (build by name, count parameters and FLOPs),
:mod:`.official` (safe checkpoint reading and key mapping), :mod:`.official_load` (loading into a
model and its report), :mod:`.mae` (the masked autoencoder), :mod:`.pretrain` (MAE pretraining loop
and state), :mod:`.pretrain_pool` (the scenes it trains on), :mod:`.target_ssl` (per-run target
self-supervision), :mod:`.foundation` (the shipped model and frozen-feature evaluation),
:mod:`.cli` (``mifomo-lite model …``), :mod:`.pretrain_cli` (``mifomo-lite pretrain``).
"""

from .blocks import Attention, Block, DropPath, Mlp, SparseSamplingAttention, run_blocks
from .config import PRESETS, HyperSIGMAConfig, available_sizes, get_config
from .encoders import SpatialEncoder, SpectralEncoder
from .factory import count_flops, count_parameters, create_model
from .foundation import evaluate_frozen_prototypes, load_foundation_model, save_foundation_model, spatial_tap_features
from .fusion import HyperSIGMAClassifier, MifomoHyperSIGMA
from .official import checkpoint_filter_fn, convert_official_checkpoint, download_official_checkpoint, read_checkpoint
from .official_load import LoadReport, load_official_hypersigma, plan_official_load

__all__ = [
    "Attention", "Block", "DropPath", "Mlp", "SparseSamplingAttention", "run_blocks",
    "HyperSIGMAConfig", "PRESETS", "get_config", "available_sizes",
    "SpatialEncoder", "SpectralEncoder", "MifomoHyperSIGMA", "HyperSIGMAClassifier",
    "create_model", "count_parameters", "count_flops",
    "LoadReport", "load_official_hypersigma", "plan_official_load", "read_checkpoint", "checkpoint_filter_fn",
    "download_official_checkpoint", "convert_official_checkpoint",
    "load_foundation_model", "save_foundation_model", "evaluate_frozen_prototypes", "spatial_tap_features",
]
