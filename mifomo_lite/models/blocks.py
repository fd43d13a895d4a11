"""Transformer building blocks shared by both HyperSIGMA encoders.

Parameter names follow HyperSIGMA (``norm1``, ``attn.qkv``, ``attn.proj``,
``attn.sampling_offsets``, ``norm2``, ``mlp.fc1``, ``mlp.fc2``) so that the official MAE
checkpoints load by name and shape (SPEC §5.1, §6.3).

Extension points used by :mod:`mifomo_lite.peft` (nothing here knows about a particular method):

* ``Attention.query_adapter`` — a module applied to the *scaled* per-head queries
  ``(B, heads, N, dh)`` before the logits are formed. The coalescent projection plugs in here:
  ``logits = (q·scale)·C·kᵀ``.
* ``Attention.value_adapter`` — applied to per-head values (value-side CP, off by default).
* ``Attention.qkv`` may be replaced by any module with the same call signature (LoRA wraps it).
* :func:`run_blocks` takes optional deep prompts ``(depth, n_prompts, D)``: prepended before each
  block, replaced at every block, stripped from every tapped output.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint as _checkpoint

__all__ = ["DropPath", "Mlp", "Attention", "SparseSamplingAttention", "Block", "run_blocks"]


class DropPath(nn.Module):
    """Stochastic depth per sample (timm semantics): drop the residual branch with prob ``p``."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = float(drop_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:.3f}"


class Mlp(nn.Module):
    """fc1 (D→4D) → exact GELU → fc2 (4D→D); no dropout (HyperSIGMA uses 0)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    """Full multi-head self-attention (MHSA) with a fused ``qkv`` projection and bias.

    ``scale = dh**-0.5``. Logits are ``(q·scale)·kᵀ`` — or ``(q·scale)·C·kᵀ`` once a coalescent
    projection is installed as ``query_adapter``.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embedding width {dim} is not divisible by num_heads={num_heads}")
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.query_adapter: Optional[nn.Module] = None
        self.value_adapter: Optional[nn.Module] = None

    def split_heads(self, x: torch.Tensor, qkv: Optional[torch.Tensor] = None):
        """``(B, N, D) → q, k, v`` each ``(B, heads, N, dh)``; q already multiplied by ``scale``
        and passed through ``query_adapter``; v through ``value_adapter``.

        ``qkv`` may carry an already computed ``self.qkv(x)`` (``(B, N, 3D)``) so that a caller that
        also needs the raw projection (SSA) does not run the projection twice."""
        B, N, _ = x.shape
        if qkv is None:
            qkv = self.qkv(x)
        qkv = qkv.reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q = q * self.scale
        if self.query_adapter is not None:
            q = self.query_adapter(q)
        if self.value_adapter is not None:
            v = self.value_adapter(v)
        return q, k, v

    def merge_heads(self, out: torch.Tensor) -> torch.Tensor:
        B, H, N, dh = out.shape
        return self.proj(out.transpose(1, 2).reshape(B, N, H * dh))

    def forward(self, x: torch.Tensor, grid: Optional[tuple[int, int]] = None) -> torch.Tensor:
        q, k, v = self.split_heads(x)
        # q is pre-scaled (and possibly adapted), so the kernel must not scale again.
        out = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        return self.merge_heads(out)


class SparseSamplingAttention(Attention):
    """HyperSIGMA's sparse sampling attention (SSA), SPEC §5.3.

    Each query attends to ``n_points`` keys/values bilinearly sampled around its own grid
    position; offsets (in token units) come from ``sampling_offsets`` applied to the projected
    query. Softmax runs over the sampled points only. ``qkv``/``proj`` have the same layout as
    MHSA, so pretrained MHSA weights transfer. Offsets are never pretrained: weights trunc-normal
    0.02, zero bias, so all points start on the query's own location.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, n_points: int = 8):
        super().__init__(dim, num_heads, qkv_bias)
        self.n_points = n_points
        self.sampling_offsets = nn.Linear(dim, num_heads * n_points * 2)

    def forward(self, x: torch.Tensor, grid: Optional[tuple[int, int]] = None) -> torch.Tensor:
        if grid is None:
            raise ValueError("SparseSamplingAttention needs the token grid (Hg, Wg)")
        B, N, D = x.shape
        Hg, Wg = grid
        if Hg * Wg != N:
            raise ValueError(f"token grid {Hg}x{Wg} does not match {N} tokens")
        H, P, dh = self.num_heads, self.n_points, self.head_dim
        qkv = self.qkv(x)  # (B, N, 3D), computed once
        q, k, v = self.split_heads(x, qkv=qkv)  # (B, H, N, dh), q scaled/adapted
        # Offsets come from the *unscaled* projected query (HyperSIGMA applies them to q).
        offsets = self.sampling_offsets(qkv[..., :D]).reshape(B, N, H, P, 2)
        rows = (torch.arange(Hg, device=x.device, dtype=x.dtype) + 0.5) / Hg
        cols = (torch.arange(Wg, device=x.device, dtype=x.dtype) + 0.5) / Wg
        ref = torch.stack(torch.meshgrid(cols, rows, indexing="xy"), dim=-1).reshape(1, N, 1, 1, 2)
        norm = torch.tensor([Wg, Hg], device=x.device, dtype=x.dtype)
        loc = ref + offsets / norm  # (B, N, H, P, 2) as (x, y) in [0, 1]
        grid_xy = (2 * loc - 1).permute(0, 2, 1, 3, 4).reshape(B * H, N, P, 2)
        k_img = k.reshape(B * H, Hg, Wg, dh).permute(0, 3, 1, 2)
        v_img = v.reshape(B * H, Hg, Wg, dh).permute(0, 3, 1, 2)
        k_s = F.grid_sample(k_img, grid_xy, mode="bilinear", padding_mode="zeros", align_corners=False)
        v_s = F.grid_sample(v_img, grid_xy, mode="bilinear", padding_mode="zeros", align_corners=False)
        # (B*H, dh, N, P) → (B, H, N, P, dh)
        k_s = k_s.reshape(B, H, dh, N, P).permute(0, 1, 3, 4, 2)
        v_s = v_s.reshape(B, H, dh, N, P).permute(0, 1, 3, 4, 2)
        attn = torch.einsum("bhnd,bhnpd->bhnp", q, k_s).softmax(dim=-1)
        out = torch.einsum("bhnp,bhnpd->bhnd", attn, v_s)
        return self.merge_heads(out)


class Block(nn.Module):
    """Pre-norm transformer block: x + DropPath(Attn(LN1 x)); x + DropPath(MLP(LN2 x))."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path: float = 0.0,
        sparse: bool = False,
        n_points: int = 8,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        if sparse:
            self.attn: Attention = SparseSamplingAttention(dim, num_heads, qkv_bias, n_points)
        else:
            self.attn = Attention(dim, num_heads, qkv_bias)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, grid: Optional[tuple[int, int]] = None) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), grid))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def run_blocks(
    blocks: Sequence[Block],
    x: torch.Tensor,
    taps: Sequence[int],
    grid: Optional[tuple[int, int]] = None,
    prompts: Optional[torch.Tensor] = None,
    use_checkpoint: bool = False,
) -> list[torch.Tensor]:
    """Run ``blocks`` on tokens ``x`` and return the outputs after each block index in ``taps``.

    Blocks after the last tap are **not** run: their output could not influence any tap.
    ``prompts`` (``(depth, n, D)``, deep prompt tuning) are prepended before every block, each block
    replacing the previous block's prompts; taps never contain prompt tokens. Prompts are only
    meaningful for full attention: SSA samples keys from the token grid, so it refuses them.
    """
    taps = sorted(set(int(t) for t in taps))
    if not taps:
        raise ValueError("run_blocks needs at least one tap index")
    if taps[-1] >= len(blocks):
        raise ValueError(f"tap index {taps[-1]} is beyond the {len(blocks)} blocks")
    n_prompt = 0 if prompts is None else prompts.shape[1]
    outs: list[torch.Tensor] = []
    for i in range(taps[-1] + 1):
        blk = blocks[i]
        if n_prompt:
            if isinstance(blk.attn, SparseSamplingAttention):
                raise ValueError("deep prompts need full attention; this block uses SSA")
            body = x[:, n_prompt:] if i > 0 else x
            x = torch.cat([prompts[i].unsqueeze(0).expand(x.shape[0], -1, -1).to(x.dtype), body], dim=1)
        if use_checkpoint and torch.is_grad_enabled():
            x = _checkpoint(blk, x, grid, use_reentrant=False)
        else:
            x = blk(x, grid)
        if i in taps:
            outs.append(x[:, n_prompt:] if n_prompt else x)
    return outs
