"""HyperSIGMA's two encoders: the spatial ViT (SpatViT) and the spectral ViT (SpecViT).

Both are plain pre-norm ViTs built from :mod:`mifomo_lite.models.blocks`; they differ in what a
*token* is:

* **Spatial encoder** — a token is a location. MIFOMO makes every pixel of the w×w window a token
  (its C PCA values go through one Linear(C→D)); HyperSIGMA cuts the window into p×p patches with a
  Conv2d. Four intermediate outputs ("taps") are reshaped to maps and go through a small
  feature-pyramid step.
* **Spectral encoder** — a token is a *group of bands*. Bands are average-pooled to T groups, and
  each group's whole w×w spatial map becomes one token through Linear(w²→D).

Parameter names follow the official code (``patch_embed.proj``, ``pos_embed``, ``blocks.{i}.…``,
``norm``, ``spat_map``, ``l1``, ``fpn1``…), so official checkpoints load by name and shape
(:mod:`mifomo_lite.models.official`).

Contract used by :mod:`mifomo_lite.peft`: each encoder owns ``blocks`` (``nn.ModuleList`` of
:class:`~mifomo_lite.models.blocks.Block`), ``pos_embed``, ``norm`` (loaded, never applied in
forward) and ``prompts`` (``None`` or a ``(depth, n, D)`` parameter for deep prompt tuning), which it
passes to :func:`~mifomo_lite.models.blocks.run_blocks`.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DataError
from .blocks import Block, run_blocks
from .config import HyperSIGMAConfig

__all__ = ["SpatialEncoder", "SpectralEncoder", "PixelEmbed", "ConvEmbed", "init_vit_weights", "check_input"]


# --------------------------------------------------------------------------- helpers
def init_vit_weights(module: nn.Module, blocks: Optional[nn.ModuleList] = None) -> None:
    """HyperSIGMA's initialisation (SPEC §5.1): every Linear gets trunc-normal(0.02) weights and a
    zero bias, LayerNorms ones/zeros (Conv layers keep PyTorch's default), then each block's
    ``attn.proj`` and ``mlp.fc2`` weights are divided by √(2·layer_id), layer_id counted from 1."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if blocks is not None:
        with torch.no_grad():
            for layer_id, blk in enumerate(blocks, start=1):
                blk.attn.proj.weight.div_(math.sqrt(2.0 * layer_id))
                blk.mlp.fc2.weight.div_(math.sqrt(2.0 * layer_id))


def check_input(x: torch.Tensor, cfg: HyperSIGMAConfig) -> None:
    """Raise :class:`DataError` unless ``x`` is a float ``(B, in_chans, w, w)`` batch for ``cfg``."""
    if not isinstance(x, torch.Tensor):
        raise DataError(f"expected a torch.Tensor batch (B, C, w, w), got {type(x).__name__}")
    if x.ndim != 4:
        raise DataError(f"expected a batch of patches (B, C, w, w), got a tensor of shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise DataError(f"expected a floating-point batch, got dtype {x.dtype}; convert with x.float()")
    _, c, h, w = x.shape
    if c != cfg.in_chans:
        raise DataError(
            f"the batch has {c} bands/components but the model expects in_chans={cfg.in_chans} "
            f"(size {cfg.size!r}); preprocess to {cfg.in_chans} PCA components or build the model with "
            f"in_chans={c}")
    if h != cfg.patch_size or w != cfg.patch_size:
        raise DataError(
            f"the batch holds {h}×{w} patches but the model was built for {cfg.patch_size}×{cfg.patch_size} "
            f"windows (its position embedding and spectral spat_map depend on it); cut patches of size "
            f"{cfg.patch_size} or build the model with patch_size={h}")


def _make_blocks(cfg: HyperSIGMAConfig, sparse: bool) -> nn.ModuleList:
    dpr = torch.linspace(0, cfg.drop_path_rate, cfg.depth, device="cpu").tolist()
    ssa = set(cfg.sparse_blocks()) if sparse else set()
    return nn.ModuleList(
        Block(cfg.embed_dim, cfg.num_heads, cfg.mlp_ratio, cfg.qkv_bias, dpr[i], sparse=i in ssa,
              n_points=cfg.n_points)
        for i in range(cfg.depth))


class PixelEmbed(nn.Module):
    """MIFOMO's tokeniser: each pixel's C-vector → Linear(C→D); w² tokens in row-major order."""

    def __init__(self, in_chans: int, embed_dim: int):
        super().__init__()
        self.proj = nn.Linear(in_chans, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x.flatten(2).transpose(1, 2))  # (B, C, H, W) → (B, H·W, D)


class ConvEmbed(nn.Module):
    """HyperSIGMA's tokeniser: Conv2d(C→D, kernel = stride = p); (H/p)·(W/p) tokens, row-major."""

    def __init__(self, in_chans: int, embed_dim: int, patch: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class _Norm2d(nn.Module):
    """LayerNorm over channels of a (B, D, H, W) map (HyperSIGMA's ``Norm2d``, eps 1e-6)."""

    def __init__(self, dim: int):
        super().__init__()
        self.ln = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def _fpn_ops(cfg: HyperSIGMAConfig) -> list[nn.Module]:
    """The per-tap operations, shallowest tap first (SPEC §5.4 and §5.9)."""
    D = cfg.embed_dim
    if cfg.spatial_tokenizer == "pixel":  # MIFOMO: id / MaxPool(1) / MaxPool2 / MaxPool2, then upsample
        return [nn.Identity(), nn.Sequential(nn.MaxPool2d(1, 1)), nn.Sequential(nn.MaxPool2d(2, 2)),
                nn.Sequential(nn.MaxPool2d(2, 2))]
    p = cfg.conv_patch
    if p in (1, 2):
        return [nn.Sequential(nn.ConvTranspose2d(D, D, 2, 2)), nn.Identity(),
                nn.Sequential(nn.MaxPool2d(2, 2)), nn.Sequential(nn.MaxPool2d(4, 4))]
    if p in (4, 8):
        return [nn.Identity(), nn.Sequential(nn.MaxPool2d(1, 1)), nn.Sequential(nn.MaxPool2d(2, 2)),
                nn.Sequential(nn.MaxPool2d(4, 4))]
    if p == 16:
        return [nn.Sequential(nn.ConvTranspose2d(D, D, 2, 2), _Norm2d(D), nn.GELU(), nn.ConvTranspose2d(D, D, 2, 2)),
                nn.Sequential(nn.ConvTranspose2d(D, D, 2, 2)), nn.Identity(), nn.MaxPool2d(2, 2)]
    return [nn.Identity(), nn.Identity(), nn.Identity(), nn.Identity()]  # p == 11


# --------------------------------------------------------------------------- spatial
class _Encoder(nn.Module):
    """What both encoders share: ViT initialisation of their blocks and position embedding."""

    def init_weights(self) -> None:
        init_vit_weights(self, self.blocks)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)


class SpatialEncoder(_Encoder):
    """The spatial branch of HyperSIGMA ("SpatViT"), in MIFOMO's or HyperSIGMA's tokenisation.

    HyperSIGMA (Wang et al., *HyperSIGMA: Hyperspectral Intelligence Comprehension Foundation
    Model*, IEEE TPAMI 2025) pairs two ViTs pretrained as masked autoencoders. This one looks at
    *where* things are: tokens are locations of the input window. With ``spatial_tokenizer="pixel"``
    (MIFOMO, Paeedeh et al., arXiv 2601.22581, ``model/HyperSIGMA.py``) each of the w×w pixels is a
    token made by Linear(C→D) from its C PCA values (81 tokens for 9×9); with ``"conv"``
    (HyperSIGMA's classification code) a Conv2d with kernel = stride = p makes one token per p×p
    patch. A learned absolute ``pos_embed`` is added, then the blocks run; with ``attention="ssa"``
    blocks whose ``(i+1) % interval != 0`` use sparse sampling attention. The outputs after the four
    ``out_indices`` blocks are reshaped to ``(B, D, Hg, Wg)`` maps and passed through the per-tap ops
    ``fpn1..fpn4``; in MIFOMO's tokenisation every map is then bilinearly upsampled
    (``align_corners=True``) back to w×w. The final ``norm`` exists so checkpoints load; it is never
    applied (HyperSIGMA applies it only during MAE pretraining).

    Methods: :meth:`forward_tokens` (the raw tapped tokens), :meth:`forward_features` (the four
    maps, shallowest first; also ``forward``).
    """

    def __init__(self, cfg: HyperSIGMAConfig, init: bool = True):
        super().__init__()
        self.cfg = cfg
        D = cfg.embed_dim
        if cfg.spatial_tokenizer == "pixel":
            self.patch_embed: nn.Module = PixelEmbed(cfg.in_chans, D)
        else:
            self.patch_embed = ConvEmbed(cfg.in_chans, D, cfg.conv_patch)
        self.grid = cfg.spatial_grid
        self.num_tokens = self.grid[0] * self.grid[1]
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_tokens, D))
        self.blocks = _make_blocks(cfg, sparse=True)
        self.norm = nn.LayerNorm(D, eps=1e-6)
        self.fpn1, self.fpn2, self.fpn3, self.fpn4 = _fpn_ops(cfg)
        self.out_indices = list(cfg.out_indices)
        self.upsample_to_input = cfg.spatial_tokenizer == "pixel"
        self.use_checkpoint = cfg.use_checkpoint
        self.prompts: Optional[nn.Parameter] = None
        if init:
            self.init_weights()

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens before the first block: tokeniser + position embedding, ``(B, N, D)``."""
        check_input(x, self.cfg)
        return self.patch_embed(x) + self.pos_embed

    def forward_tokens(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Token sequences ``(B, N, D)`` after each ``out_indices`` block, shallowest first."""
        return run_blocks(self.blocks, self.embed(x), self.out_indices, self.grid, self.prompts,
                          self.use_checkpoint)

    def tokens_to_maps(self, tokens: list[torch.Tensor]) -> list[torch.Tensor]:
        """Apply the per-tap ops to tapped tokens → four ``(B, D, h, w)`` maps, shallowest first."""
        Hg, Wg = self.grid
        size = (self.cfg.patch_size, self.cfg.patch_size)
        maps = []
        for t, op in zip(tokens, (self.fpn1, self.fpn2, self.fpn3, self.fpn4)):
            m = op(t.transpose(1, 2).reshape(t.shape[0], t.shape[2], Hg, Wg))
            if self.upsample_to_input:
                m = F.interpolate(m, size=size, mode="bilinear", align_corners=True)
            maps.append(m)
        return maps

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Four feature maps, **shallowest first**. MIFOMO tokenisation: each ``(B, D, w, w)``.
        HyperSIGMA conv tokenisation: native FPN sizes (e.g. base 33×33, p=2 → 32, 16, 8, 4)."""
        return self.tokens_to_maps(self.forward_tokens(x))

    forward = forward_features


# --------------------------------------------------------------------------- spectral
class SpectralEncoder(_Encoder):
    """The spectral branch of HyperSIGMA ("SpecViT"): tokens are groups of bands.

    HyperSIGMA's second ViT looks at *what* the spectrum says. The input ``(B, C, w, w)`` is read as
    w² spectra, each average-pooled over bands to T values (``AdaptiveAvgPool1d(T)``, T = 100 in
    HyperSIGMA; with C = 50 PCA components every component appears in two tokens, with fewer
    components than T the pooling *up*-samples). Transposed, this gives T tokens that each hold a
    w²-pixel map, which ``spat_map`` = Linear(w²→D) embeds; a ``pos_embed`` ``(1, T, D)`` is added
    (the one part of the official checkpoint's input layers MIFOMO loads). After the block
    ``spectral_tap`` the tokens go through ``l1`` = Linear(D→fusion_dim, no bias), giving
    ``(B, T, fusion_dim)``; the fusion averages this over its last axis into a T-vector that gates
    the spatial maps. ``norm`` is loaded, never applied.

    **Only the blocks up to ``spectral_tap`` run** (MIFOMO does the same; HyperSIGMA's classifier
    runs all of them and throws the rest away). This is exactly equivalent: a transformer block
    only sees the output of the block before it, so blocks after the tap cannot influence the tap's
    value, and no later output is used. The only observable difference is in training mode with
    drop path: the skipped blocks would have drawn random numbers, so the RNG stream afterwards
    differs — the tap's distribution is identical. The skipped blocks stay allocated, so
    checkpoints load (SPEC §5.5; it saves about 11.5 GFLOPs per sample for base).
    """

    def __init__(self, cfg: HyperSIGMAConfig, init: bool = True):
        super().__init__()
        self.cfg = cfg
        D = cfg.embed_dim
        self.num_tokens = cfg.spectral_tokens
        self.spec_embed = nn.AdaptiveAvgPool1d(cfg.spectral_tokens)
        self.spat_map = nn.Linear(cfg.patch_size * cfg.patch_size, D)
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.spectral_tokens, D))
        self.grid = cfg.spectral_grid if cfg.attention == "ssa" else None
        self.blocks = _make_blocks(cfg, sparse=True)
        self.norm = nn.LayerNorm(D, eps=1e-6)
        self.l1 = nn.Linear(D, cfg.fusion_dim, bias=False)
        self.tap = cfg.spectral_tap
        self.use_checkpoint = cfg.use_checkpoint
        self.prompts: Optional[nn.Parameter] = None
        if init:
            self.init_weights()

    @property
    def executed_blocks(self) -> int:
        """How many blocks a forward pass runs (``spectral_tap + 1``)."""
        return self.tap + 1

    def tokenize(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, w, w)`` → ``(B, T, w²)``: pool each pixel's spectrum to T values, transpose."""
        check_input(x, self.cfg)
        return self.spec_embed(x.flatten(2).transpose(1, 2)).transpose(1, 2)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens before the first block, ``(B, T, D)``."""
        return self.spat_map(self.tokenize(x)) + self.pos_embed

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Raw tokens ``(B, T, D)`` after block ``spectral_tap`` (later blocks are not run)."""
        return run_blocks(self.blocks, self.embed(x), [self.tap], self.grid, self.prompts,
                          self.use_checkpoint)[0]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``l1`` applied to the tap: ``(B, T, fusion_dim)``."""
        return self.l1(self.forward_tokens(x))

    forward = forward_features
