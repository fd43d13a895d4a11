"""Model configurations: the published HyperSIGMA sizes and two small sizes for CPU work.

A :class:`HyperSIGMAConfig` describes *both* encoders of a dual-branch HyperSIGMA model and the
fusion on top. The three published sizes (SPEC §5.2) are reproduced exactly:

=====  =====  =====  =====  ========  ==================  ==============
size   D      depth  heads  interval  spatial taps        spectral tap
=====  =====  =====  =====  ========  ==================  ==============
base   768    12     12     3         3, 5, 7, 11         3
large  1024   24     16     6         7, 11, 15, 23       7
huge   1280   32     16     8         10, 15, 20, 31      10
=====  =====  =====  =====  ========  ==================  ==============

HyperSIGMA defines no smaller ("lite") configuration and releases no smaller checkpoints. The kit
adds two, with the same structure (4 spatial taps at roughly the same relative depths, the spectral
tap equal to the first spatial tap, heads of width 32):

=====  =====  =====  =====  ========  ==============  =====  ======  ==========
size   D      depth  heads  interval  spatial taps    spec.  tokens  fusion dim
=====  =====  =====  =====  ========  ==============  =====  ======  ==========
micro  64     4      4      2         0, 1, 2, 3      0      25      16
tiny   128    6      4      3         1, 2, 3, 5      1      25      32
small  192    8      6      4         2, 3, 5, 7      2      49      48
=====  =====  =====  =====  ========  ==============  =====  ======  ==========

``tiny`` is the size of the foundation model this kit pretrains and ships
(:func:`mifomo_lite.models.load_foundation_model`). Its spectral branch uses T = 25 tokens (a 5×5
grid, so SSA stays possible): with 50 PCA components every token averages two neighbouring
components, with no token shared between two windows, which keeps the spectral masked-autoencoder
task honest (a masked token cannot be copied from an overlapping neighbour).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import ConfigError

__all__ = ["HyperSIGMAConfig", "PRESETS", "get_config", "available_sizes"]

ATTENTIONS = ("mhsa", "ssa")
TOKENIZERS = ("pixel", "conv")
# conv patch p → smallest token grid its FPN accepts (it max-pools by 4, 4, 2 or not at all)
FPN_PATCHES = {1: 4, 2: 4, 4: 4, 8: 4, 11: 1, 16: 2}


@dataclass
class HyperSIGMAConfig:
    """Everything needed to build the encoders and a fusion model.

    Attributes
    ----------
    size:
        Preset name (``base``/``large``/``huge``/``tiny``/``small``) or ``custom``.
    embed_dim, depth, num_heads:
        Transformer width D, number of blocks, attention heads (head width D/heads).
    interval:
        SSA placement (HyperSIGMA): block *i* uses full MHSA when ``(i+1) % interval == 0`` and
        sparse sampling attention otherwise. Only used when ``attention == "ssa"``.
    out_indices:
        The four spatial blocks whose outputs are tapped, shallowest first.
    spectral_tap:
        The spectral block whose output feeds ``l1`` (HyperSIGMA's classifiers use only the first
        spectral tap). Spectral blocks after it are allocated (so checkpoints load) but never run.
    spectral_tokens:
        T, the number of spectral tokens (bands are average-pooled to T groups). 100 in HyperSIGMA.
        Must be a perfect square when the spectral branch uses SSA (√T×√T grid).
    in_chans:
        Input channels C (PCA components in MIFOMO: 50).
    patch_size:
        Side w of the square input window (MIFOMO: 9). The spatial ``pos_embed`` and the spectral
        ``spat_map`` (Linear(w²→D)) depend on it.
    attention:
        ``"mhsa"`` (MIFOMO's released code: full attention in every block, the default) or
        ``"ssa"`` (HyperSIGMA fine-tuning: SSA except every ``interval``-th block).
    spatial_tokenizer:
        ``"pixel"`` — MIFOMO: every pixel of the w×w window is a token, Linear(C→D), taps upsampled
        back to w×w; or ``"conv"`` — HyperSIGMA: Conv2d(C→D, kernel = stride = ``conv_patch``).
    conv_patch:
        p for the conv tokeniser (HyperSIGMA classification uses 2, segmentation 8).
    fusion_dim:
        Width of the reduced features: spectral ``l1`` output, gate hidden layer, ``DR1..4``
        output (128 in HyperSIGMA/MIFOMO).
    n_points, mlp_ratio, qkv_bias, drop_path_rate:
        SSA sampling points (8), MLP expansion (4), qkv bias (True), stochastic depth max (0.1).
    use_checkpoint:
        Gradient checkpointing around every block (MIFOMO turns it on to save GPU memory; it costs
        one extra forward pass in backward, so the kit leaves it off by default on CPU).
    extra:
        Free-form, JSON-serialisable notes stored with the config (ignored by the models).
    """

    size: str = "custom"
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    interval: int = 3
    out_indices: tuple = (3, 5, 7, 11)
    spectral_tap: int = 3
    spectral_tokens: int = 100
    in_chans: int = 50
    patch_size: int = 9
    attention: str = "mhsa"
    spatial_tokenizer: str = "pixel"
    conv_patch: int = 2
    fusion_dim: int = 128
    n_points: int = 8
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    drop_path_rate: float = 0.1
    use_checkpoint: bool = False
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.out_indices = tuple(int(i) for i in self.out_indices)
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the offending field when the config is inconsistent."""
        if self.embed_dim <= 0 or self.depth <= 0 or self.num_heads <= 0:
            raise ConfigError(f"embed_dim/depth/num_heads must be positive, got "
                              f"{self.embed_dim}/{self.depth}/{self.num_heads}")
        if self.embed_dim % self.num_heads:
            raise ConfigError(f"embed_dim={self.embed_dim} is not divisible by num_heads={self.num_heads}")
        if self.attention not in ATTENTIONS:
            raise ConfigError(f"attention={self.attention!r}; choose one of {ATTENTIONS}")
        if self.spatial_tokenizer not in TOKENIZERS:
            raise ConfigError(f"spatial_tokenizer={self.spatial_tokenizer!r}; choose one of {TOKENIZERS}")
        if len(self.out_indices) != 4:
            raise ConfigError(f"out_indices needs exactly 4 spatial taps for the fusion, got {self.out_indices}")
        if list(self.out_indices) != sorted(set(self.out_indices)):
            raise ConfigError(f"out_indices must be strictly increasing, got {self.out_indices}")
        for name, idx in [("out_indices", max(self.out_indices)), ("spectral_tap", self.spectral_tap)]:
            if not 0 <= idx < self.depth:
                raise ConfigError(f"{name} refers to block {idx}, but depth={self.depth}")
        if min(self.out_indices) < 0:
            raise ConfigError(f"out_indices must be ≥ 0, got {self.out_indices}")
        if self.interval < 1:
            raise ConfigError(f"interval must be ≥ 1, got {self.interval}")
        if self.in_chans < 1 or self.patch_size < 1 or self.spectral_tokens < 1:
            raise ConfigError("in_chans, patch_size and spectral_tokens must be ≥ 1")
        if self.attention == "ssa" and math.isqrt(self.spectral_tokens) ** 2 != self.spectral_tokens:
            raise ConfigError(
                f"attention='ssa' folds the spectral tokens into a square grid, but spectral_tokens="
                f"{self.spectral_tokens} is not a perfect square (HyperSIGMA uses 100 = 10×10)")
        if self.spatial_tokenizer == "conv":
            p = self.conv_patch
            if p not in FPN_PATCHES:
                raise ConfigError(f"conv_patch={p}: HyperSIGMA defines its FPN only for p in {FPN_PATCHES}")
            grid = self.patch_size // p  # Conv2d(stride p) floors: 33×33 with p = 2 → 16×16 tokens
            need = FPN_PATCHES[p]
            if grid < need:
                raise ConfigError(
                    f"conv tokeniser with p={p} on a {self.patch_size}×{self.patch_size} window gives a "
                    f"{grid}×{grid} token grid; HyperSIGMA's FPN for this p needs a grid of at least "
                    f"{need}×{need}")
        if self.fusion_dim < 1:
            raise ConfigError(f"fusion_dim must be ≥ 1, got {self.fusion_dim}")

    # ------------------------------------------------------------------ helpers
    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    @property
    def spatial_grid(self) -> tuple[int, int]:
        """Token grid (Hg, Wg) of the spatial encoder."""
        if self.spatial_tokenizer == "pixel":
            return (self.patch_size, self.patch_size)
        g = self.patch_size // self.conv_patch
        return (g, g)

    @property
    def spectral_grid(self) -> Optional[tuple[int, int]]:
        """√T×√T grid used by spectral SSA, or None when T is not a perfect square."""
        r = math.isqrt(self.spectral_tokens)
        return (r, r) if r * r == self.spectral_tokens else None

    def sparse_blocks(self) -> list[int]:
        """Indices of the blocks that use SSA (empty for ``attention="mhsa"``)."""
        if self.attention != "ssa":
            return []
        return [i for i in range(self.depth) if (i + 1) % self.interval != 0]

    def replace(self, **changes: Any) -> "HyperSIGMAConfig":
        """A copy with some fields changed (validated). Unknown field names raise ConfigError."""
        known = {f.name for f in dataclasses.fields(self)}
        bad = sorted(set(changes) - known)
        if bad:
            raise ConfigError(f"unknown config field(s) {bad}; known: {sorted(known)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["out_indices"] = list(self.out_indices)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "HyperSIGMAConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(d) - known)
        if bad:
            raise ConfigError(f"unknown config field(s) {bad}; known: {sorted(known)}")
        return cls(**d)


_COMMON = dict(in_chans=50, patch_size=9, attention="mhsa", n_points=8, mlp_ratio=4.0, qkv_bias=True,
               drop_path_rate=0.1)

PRESETS: dict[str, dict] = {
    "base": dict(embed_dim=768, depth=12, num_heads=12, interval=3, out_indices=(3, 5, 7, 11),
                 spectral_tap=3, spectral_tokens=100, fusion_dim=128),
    "large": dict(embed_dim=1024, depth=24, num_heads=16, interval=6, out_indices=(7, 11, 15, 23),
                  spectral_tap=7, spectral_tokens=100, fusion_dim=128),
    "huge": dict(embed_dim=1280, depth=32, num_heads=16, interval=8, out_indices=(10, 15, 20, 31),
                 spectral_tap=10, spectral_tokens=100, fusion_dim=128),
    "tiny": dict(embed_dim=128, depth=6, num_heads=4, interval=3, out_indices=(1, 2, 3, 5),
                 spectral_tap=1, spectral_tokens=25, fusion_dim=32),
    # micro: the CPU-budget model of the lite preset (≈ 5× cheaper than tiny per patch), so
    # that a 10-episode run and a whole-scene map fit a laptop's minutes (see train/config.py).
    "micro": dict(embed_dim=64, depth=4, num_heads=4, interval=2, out_indices=(0, 1, 2, 3),
                  spectral_tap=0, spectral_tokens=25, fusion_dim=16),
    "small": dict(embed_dim=192, depth=8, num_heads=6, interval=4, out_indices=(2, 3, 5, 7),
                  spectral_tap=2, spectral_tokens=49, fusion_dim=48),
}


def available_sizes() -> list[str]:
    return list(PRESETS)


def get_config(size: str = "base", **overrides: Any) -> HyperSIGMAConfig:
    """The preset ``size`` with optional field overrides, e.g.
    ``get_config("base", attention="ssa", in_chans=30, patch_size=33, spatial_tokenizer="conv")``."""
    if isinstance(size, HyperSIGMAConfig):
        return size.replace(**overrides) if overrides else size
    key = str(size).lower()
    if key not in PRESETS:
        raise ConfigError(f"unknown model size {size!r}; choose one of {available_sizes()}")
    fields = {**_COMMON, **PRESETS[key], "size": key}
    known = {f.name for f in dataclasses.fields(HyperSIGMAConfig)}
    bad = sorted(set(overrides) - known)
    if bad:
        raise ConfigError(f"unknown config field(s) {bad}; known: {sorted(known)}")
    fields.update(overrides)
    return HyperSIGMAConfig(**fields)
