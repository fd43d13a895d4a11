"""Small stand-in models with the structure :func:`~mifomo_lite.peft.apply_adaptation` relies on.

They are made of the real :class:`~mifomo_lite.models.blocks.Block` and follow the real models'
naming (an encoder owns ``blocks``, ``pos_embed``, ``norm`` and a ``prompts`` slot; the dual-branch
model owns ``spat_encoder``/``spec_encoder``, ``mlp_spec1..4``, ``DR1..4`` and ``merger``), so the
adapters can be shown and tested in milliseconds. They are not HyperSIGMA: use
:mod:`mifomo_lite.models` for real work.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn

from mifomo_lite.models.blocks import Block, run_blocks

__all__ = ["ToyEncoder", "ToyDualBranch"]


class ToyEncoder(nn.Module):
    """``Linear(in_dim→D)`` token embedding + position embedding + ``depth`` blocks, with SSA in
    the blocks listed in ``sparse_blocks``. ``forward(x: (B, N, in_dim)) → list of taps``."""

    def __init__(
        self,
        in_dim: int = 8,
        dim: int = 32,
        depth: int = 3,
        heads: int = 4,
        n_tokens: int = 16,
        sparse_blocks: Sequence[int] = (),
        taps: Optional[Sequence[int]] = None,
        embed_name: str = "patch_embed",
    ):
        super().__init__()
        self.embed_name = embed_name
        setattr(self, embed_name, nn.Linear(in_dim, dim))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, n_tokens, dim))
        self.blocks = nn.ModuleList(
            Block(dim, heads, sparse=i in set(sparse_blocks), n_points=4) for i in range(depth)
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.prompts: Optional[nn.Parameter] = None
        self.taps = tuple(taps) if taps is not None else (depth - 1,)
        g = math.isqrt(n_tokens)
        self.grid = (g, g) if g * g == n_tokens else None

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = getattr(self, self.embed_name)(x) + self.pos_embed
        return run_blocks(self.blocks, x, self.taps, grid=self.grid, prompts=self.prompts)


class ToyDualBranch(nn.Module):
    """A miniature of the MIFOMO model's layout: spatial and spectral encoders, gates
    ``mlp_spec1..4``, per-tap ``DR1..4``, ``merger``; ``forward(x: (B, N, C)) → (B, D)``."""

    def __init__(self, in_dim: int = 8, dim: int = 32, heads: int = 4, n_tokens: int = 16,
                 fusion: int = 8, spat_sparse: Sequence[int] = ()):
        super().__init__()
        self.spat_encoder = ToyEncoder(in_dim, dim, 4, heads, n_tokens, spat_sparse, taps=(0, 1, 2, 3))
        self.spec_encoder = ToyEncoder(n_tokens, dim, 2, heads, in_dim, taps=(1,), embed_name="spat_map")
        self.spec_encoder.l1 = nn.Linear(dim, fusion, bias=False)
        for k in range(1, 5):
            setattr(self, f"mlp_spec{k}", nn.Sequential(nn.Linear(in_dim, fusion, bias=False), nn.ReLU(),
                                                       nn.Linear(fusion, dim, bias=False), nn.Sigmoid()))
            setattr(self, f"DR{k}", nn.Linear(dim, fusion, bias=False))
        self.merger = nn.Linear(4 * fusion, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        taps = self.spat_encoder(x)
        s = self.spec_encoder.l1(self.spec_encoder(x.transpose(1, 2))[0]).mean(-1)  # (B, in_dim)
        z = []
        for k, f in enumerate(taps, start=1):
            w = getattr(self, f"mlp_spec{k}")(s).unsqueeze(1)
            z.append(getattr(self, f"DR{k}")(f * (1 + w)))
        return self.merger(torch.cat(z, -1)).mean(1)
