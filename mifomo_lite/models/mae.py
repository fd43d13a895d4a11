"""The masked autoencoder of HyperSIGMA's pretraining: random masking, the light decoders, the
masked reconstruction loss, and :class:`MaskedAutoencoder` around both encoders of a
:class:`~mifomo_lite.models.fusion.MifomoHyperSIGMA`. The training loop is in :mod:`.pretrain`."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..errors import ConfigError
from .blocks import Block, run_blocks
from .fusion import MifomoHyperSIGMA

__all__ = ["sincos_pos_embed", "random_masking", "MAEDecoder", "masked_mse", "MaskedAutoencoder"]


def sincos_pos_embed(num_tokens: int, dim: int, grid: Optional[tuple] = None) -> torch.Tensor:
    """Fixed sine–cosine position embedding ``(1, N, dim)``: 2-D (half the channels per axis)
    when ``grid`` is given, else 1-D — the MAE decoder's choice."""
    def one_d(pos: torch.Tensor, d: int) -> torch.Tensor:
        omega = 1.0 / 10000 ** (torch.arange(d // 2, dtype=torch.float64) / (d / 2))
        out = pos.double()[:, None] * omega[None]
        return torch.cat([out.sin(), out.cos()], dim=1)

    if grid is not None:
        h, w = grid
        rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        emb = torch.cat([one_d(rows.reshape(-1), dim // 2), one_d(cols.reshape(-1), dim // 2)], dim=1)
    else:
        emb = one_d(torch.arange(num_tokens), dim)
    return emb.float().unsqueeze(0)


def random_masking(x: torch.Tensor, ratio: float, generator: Optional[torch.Generator] = None):
    """MAE's per-sample random masking by sorting noise.

    Returns ``(visible, mask, ids_restore)``: ``visible`` ``(B, N_keep, D)``; ``mask`` ``(B, N)`` with
    1 for hidden tokens; ``ids_restore`` the permutation that puts shuffled tokens back in order.
    """
    B, N, D = x.shape
    keep = max(1, int(N * (1 - ratio)))
    noise = torch.rand(B, N, generator=generator, device="cpu").to(x.device)
    ids_shuffle = noise.argsort(dim=1)
    ids_restore = ids_shuffle.argsort(dim=1)
    ids_keep = ids_shuffle[:, :keep]
    visible = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, D))
    mask = torch.ones(B, N, device=x.device)
    mask[:, :keep] = 0
    mask = torch.gather(mask, 1, ids_restore)
    return visible, mask, ids_restore


class MAEDecoder(nn.Module):
    """Light MAE decoder: embed visible latents, insert mask tokens, add fixed sin-cos positions,
    run a few transformer blocks, predict each token's target values. Names follow the official
    MAE (``decoder_embed``, ``mask_token``, ``decoder_pos_embed``, ``decoder_blocks``,
    ``decoder_norm``, ``decoder_pred``)."""

    def __init__(self, embed_dim: int, num_tokens: int, out_dim: int, dim: int = 64, depth: int = 2,
                 heads: int = 4, grid: Optional[tuple] = None):
        super().__init__()
        self.decoder_embed = nn.Linear(embed_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.register_buffer("decoder_pos_embed", sincos_pos_embed(num_tokens, dim, grid))
        self.decoder_blocks = nn.ModuleList(Block(dim, heads, 4.0, True, 0.0) for _ in range(depth))
        self.decoder_norm = nn.LayerNorm(dim, eps=1e-6)
        self.decoder_pred = nn.Linear(dim, out_dim)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        x = self.decoder_embed(latent)
        B, n_vis, d = x.shape
        N = ids_restore.shape[1]
        x = torch.cat([x, self.mask_token.expand(B, N - n_vis, d)], dim=1)
        x = torch.gather(x, 1, ids_restore.unsqueeze(-1).expand(-1, -1, d)) + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        return self.decoder_pred(self.decoder_norm(x))


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, norm_pix: bool = True) -> torch.Tensor:
    """Mean over hidden tokens of the per-token MSE; targets standardised per token if ``norm_pix``."""
    if norm_pix:
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)
        target = (target - mean) / (var + 1e-6).sqrt()
    per_token = (pred - target).pow(2).mean(dim=-1)
    return (per_token * mask).sum() / mask.sum().clamp_min(1.0)


class MaskedAutoencoder(nn.Module):
    """Both MAEs around one :class:`MifomoHyperSIGMA` (its ``model.*`` names are the shipped ones).

    ``forward(x)`` returns ``{"loss", "spatial", "spectral"}`` for a batch of PCA windows
    ``(B, C, w, w)``. Only the encoders (and their final ``norm``) learn; the MIFOMO fusion layers on
    top are untouched by pretraining.
    """

    def __init__(self, model: MifomoHyperSIGMA, cfg):  # cfg: a pretrain.PretrainConfig
        super().__init__()
        mcfg = model.cfg
        if mcfg.attention != "mhsa":
            raise ConfigError("MAE pretraining needs attention='mhsa': sparse sampling attention needs the full "
                              "token grid, and HyperSIGMA itself pretrained without SSA (its offsets are never "
                              "pretrained). Pretrain with 'mhsa'; the qkv/proj weights transfer to an SSA model.")
        if mcfg.spatial_tokenizer != "pixel":
            raise ConfigError("this MAE pretrains MIFOMO's pixel tokenisation (spatial_tokenizer='pixel')")
        self.model = model
        self.cfg = cfg
        w2 = mcfg.patch_size ** 2
        self.spat_decoder = MAEDecoder(mcfg.embed_dim, w2, mcfg.in_chans, cfg.decoder_dim, cfg.decoder_depth,
                                       cfg.decoder_heads, grid=(mcfg.patch_size, mcfg.patch_size))
        self.spec_decoder = MAEDecoder(mcfg.embed_dim, mcfg.spectral_tokens, w2, cfg.decoder_dim,
                                       cfg.decoder_depth, cfg.decoder_heads)

    def spatial_loss(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        enc = self.model.spat_encoder
        visible, mask, ids_restore = random_masking(enc.embed(x), self.cfg.spatial_mask_ratio, generator)
        h = run_blocks(enc.blocks, visible, [len(enc.blocks) - 1], None, None, enc.use_checkpoint)[0]
        pred = self.spat_decoder(enc.norm(h), ids_restore)
        return masked_mse(pred, x.flatten(2).transpose(1, 2), mask, self.cfg.norm_pix_loss)

    def spectral_loss(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        enc = self.model.spec_encoder
        target = enc.tokenize(x)  # (B, T, w²)
        tokens = enc.spat_map(target) + enc.pos_embed
        visible, mask, ids_restore = random_masking(tokens, self.cfg.spectral_mask_ratio, generator)
        last = len(enc.blocks) - 1 if self.cfg.spectral_blocks == "all" else enc.tap
        h = run_blocks(enc.blocks, visible, [last], None, None, enc.use_checkpoint)[0]
        pred = self.spec_decoder(enc.norm(h), ids_restore)
        return masked_mse(pred, target, mask, self.cfg.norm_pix_loss)

    def forward(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> dict:
        ls, lc = self.spatial_loss(x, generator), self.spectral_loss(x, generator)
        return {"loss": ls + lc, "spatial": ls, "spectral": lc}
