"""Dual-branch fusion models: MIFOMO's embedding model and HyperSIGMA's own classifier.

Both combine the spatial encoder's four tapped maps with a *spectral gate* computed from the
spectral encoder, but they do it differently (SPEC §5.6 vs §5.9):

==================  ==========================================  =====================================
aspect              :class:`HyperSIGMAClassifier` (HyperSIGMA)  :class:`MifomoHyperSIGMA` (MIFOMO)
==================  ==========================================  =====================================
gate                fusion_dim wide, applied *after* DR         D wide, applied *before* DR
pairing             DR1 / fc_spec1 ↔ deepest tap                DR1 / mlp_spec1 ↔ shallowest tap
reduction           1×1 conv DR, global average pool per map    per-pixel Linear DR, concat, merger
readout             3 linear layers (no activation) → logits    the centre pixel's D-vector
==================  ==========================================  =====================================
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .config import HyperSIGMAConfig, get_config
from .encoders import SpatialEncoder, SpectralEncoder

__all__ = ["MifomoHyperSIGMA", "HyperSIGMAClassifier", "spectral_gate"]


def spectral_gate(T: int, hidden: int, out: int) -> nn.Sequential:
    """Linear(T→hidden, no bias) → ReLU → Linear(hidden→out, no bias) → Sigmoid (indices 0 and 2
    hold the weights, as in the official state dicts)."""
    return nn.Sequential(nn.Linear(T, hidden, bias=False), nn.ReLU(), nn.Linear(hidden, out, bias=False),
                         nn.Sigmoid())


def _init_linear(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class MifomoHyperSIGMA(nn.Module):
    """HyperSIGMA as MIFOMO uses it: one D-dimensional embedding per w×w patch.

    MIFOMO (Paeedeh et al., *Cross-Domain Few-Shot Learning for Hyperspectral Image
    Classification Based on Mixup Foundation Model*, arXiv 2601.22581) keeps HyperSIGMA's two
    pretrained ViTs (Wang et al., IEEE TPAMI 2025) frozen and adds a light fusion that turns a
    9×9×50 PCA patch into the vector a prototypical classifier compares. The spatial encoder
    (pixel tokens, full attention in every block by default) gives four maps from blocks 3, 5, 7
    and 11 (base), each brought back to w×w. The spectral encoder (blocks 0–3 only) gives
    ``(B, T, 128)``; its mean over the last axis is a T-vector ``s``. For k = 1..4 a gate
    ``w_k = Sigmoid(mlp_spec{k}(s))`` of width D rescales the k-th map, ``F_k ← F_k ⊙ (1 + w_k)``,
    pairing mlp_spec1 with the *shallowest* tap. Each gated map is reduced per pixel by
    ``DR{k}`` = Linear(D→128, no bias), the four are concatenated (512) and ``merger`` =
    Linear(512→D) mixes them per pixel. The embedding is the **centre pixel** of that map
    (``readout="center"``, MIFOMO's choice) or its **mean over the w×w window**
    (``readout="mean"``, a kit switch: the tokens of a randomly initialised transformer, mean-pooled,
    already separate Indian Pines classes far better than its centre token, because the window mean
    averages out the per-pixel noise of neighbouring same-class pixels). Gates, DR and merger are
    linear per pixel given the gates, so the window mean commutes with them and both readouts cost
    the same.

    Top-level parameter names match the MIFOMO repository: ``spat_encoder.*``, ``spec_encoder.*``,
    ``mlp_spec{1..4}.{0,2}``, ``DR{1..4}``, ``merger``.

    * :meth:`forward_embedding` / ``forward``: ``(B, C, w, w)`` → ``(B, D)``. Gates, DR and merger
      act per pixel and the readout is one pixel, so they are computed on the centre pixel only —
      exactly the same numbers as the full map, 81× less fusion work.
    * :meth:`forward_features`: every intermediate, as a dict (see its docstring).
    """

    READOUTS = ("center", "mean")

    def __init__(self, cfg: Optional[HyperSIGMAConfig] = None, init: bool = True, readout: str = "center"):
        super().__init__()
        self.readout = readout
        self.cfg = cfg = cfg if cfg is not None else get_config("base")
        D, Fd, T = cfg.embed_dim, cfg.fusion_dim, cfg.spectral_tokens
        self.spat_encoder = SpatialEncoder(cfg, init=init)
        self.spec_encoder = SpectralEncoder(cfg, init=init)
        for k in range(1, 5):
            setattr(self, f"mlp_spec{k}", spectral_gate(T, Fd, D))
        for k in range(1, 5):
            setattr(self, f"DR{k}", nn.Linear(D, Fd, bias=False))
        self.merger = nn.Linear(4 * Fd, D)
        self.embed_dim = D
        self.center = cfg.patch_size // 2
        if init:
            _init_linear(self.fusion_modules())

    @property
    def readout(self) -> str:
        return self._readout

    @readout.setter
    def readout(self, value: str) -> None:
        if value not in self.READOUTS:
            raise ValueError(f"readout={value!r} is not valid; choose one of {', '.join(self.READOUTS)}")
        self._readout = value

    def _read(self, m: torch.Tensor) -> torch.Tensor:
        """One tap map ``(B, D, w, w)`` → ``(B, D)`` at the readout: centre pixel or window mean."""
        if self._readout == "mean":
            return m.mean(dim=(2, 3))
        return m[:, :, self.center, self.center]

    # ----------------------------------------------------------------- parts
    def fusion_modules(self) -> nn.ModuleList:
        """The fresh layers on top of the encoders (gates, DR1–4, merger)."""
        return nn.ModuleList([getattr(self, f"mlp_spec{k}") for k in range(1, 5)]
                             + [getattr(self, f"DR{k}") for k in range(1, 5)] + [self.merger])

    def gates(self, spec: torch.Tensor) -> list[torch.Tensor]:
        """Spectral gates ``w_1..w_4`` (each ``(B, D)``) from the l1 output ``(B, T, fusion_dim)``."""
        s = spec.mean(dim=-1)  # (B, T)
        return [getattr(self, f"mlp_spec{k}")(s) for k in range(1, 5)]

    def fuse_pixels(self, pixels: list[torch.Tensor], gates: list[torch.Tensor]) -> torch.Tensor:
        """Gate, reduce, concatenate, merge. ``pixels[k]``: ``(..., D)`` features of tap k at some
        pixels (``...`` starts with B); ``gates[k]``: ``(B, D)``. Returns ``(..., D)``."""
        reduced = []
        for k, (f, g) in enumerate(zip(pixels, gates), start=1):
            g = g.reshape(g.shape[0], *([1] * (f.ndim - 2)), g.shape[1])
            reduced.append(getattr(self, f"DR{k}")(f * (1 + g)))
        return self.merger(torch.cat(reduced, dim=-1))

    # ----------------------------------------------------------------- forward
    def forward_features(self, x: torch.Tensor) -> dict:
        """All intermediates of one forward pass, as a dict:

        * ``"spatial"``: list of 4 maps ``(B, D, w, w)`` (taps shallowest first, after
          identity/identity/MaxPool2/MaxPool2 and bilinear upsampling), *before* gating;
        * ``"spectral"``: ``(B, T, fusion_dim)``, the spectral ``l1`` output;
        * ``"spectral_summary"``: ``(B, T)``, its mean over the last axis (the gates' input);
        * ``"gates"``: list of 4 ``(B, D)`` gate vectors ``w_k`` (each map is scaled by ``1 + w_k``);
        * ``"fused"``: ``(B, w, w, D)``, the merger output at every pixel;
        * ``"embedding"``: ``(B, D)``, the centre pixel of ``"fused"`` (or its window mean with
          ``readout="mean"``) (= :meth:`forward_embedding`).
        """
        maps = self.spat_encoder(x)
        spec = self.spec_encoder(x)
        gates = self.gates(spec)
        fused = self.fuse_pixels([m.permute(0, 2, 3, 1) for m in maps], gates)
        emb = self._read(fused.permute(0, 3, 1, 2))
        return {"spatial": maps, "spectral": spec, "spectral_summary": spec.mean(-1), "gates": gates,
                "fused": fused, "embedding": emb}

    def forward_embedding(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, w, w)`` → ``(B, D)``: the fused feature at the readout (centre pixel or window
        mean; see the class docstring)."""
        maps = self.spat_encoder(x)
        gates = self.gates(self.spec_encoder(x))
        return self.fuse_pixels([self._read(m) for m in maps], gates)

    forward = forward_embedding

    @torch.no_grad()
    def embed(self, x: torch.Tensor, batch_size: int = 256, device: Optional[torch.device] = None) -> torch.Tensor:
        """Embed a large ``(N, C, w, w)`` array/tensor in batches, without gradients; returns a CPU
        tensor ``(N, D)``. Leaves the train/eval mode untouched (call ``.eval()`` first)."""
        x = torch.as_tensor(x)
        device = device or next(self.parameters()).device
        out = [self.forward_embedding(x[i:i + batch_size].to(device, torch.float32)).cpu()
               for i in range(0, x.shape[0], batch_size)]
        return torch.cat(out) if out else torch.empty(0, self.embed_dim)


class HyperSIGMAClassifier(nn.Module):
    """HyperSIGMA's own spectral–spatial classification model (``SSFusionFramework``).

    HyperSIGMA (Wang et al., IEEE TPAMI 2025; ``ImageClassification/model/ss_fusion_cls.py``)
    classifies the centre of a 33×33 window of 30 PCA components: the spatial encoder tokenises it
    with a 2×2 conv (256 tokens), mixes SSA and full attention, and returns four maps — listed
    **deepest first** f1..f4 (32×32 from block 3 after a ConvTranspose, 16×16, 8×8, 4×4 from block
    11). The spectral encoder's first tap (``(B, T, 128)``) is averaged into a T-vector ``s``; for
    k = 1..4, ``fc_spec{k}`` turns it into a 128-wide gate, ``DR{k}`` (1×1 conv D→128, no bias)
    reduces map f_k (so DR1 pairs with the *deepest* map), the gate multiplies it as ``(1 + w_k)``,
    and each map is global-average-pooled. The 512 features go through ``classifier`` = Linear
    512→256, Dropout 0.4, Linear 256→128, Dropout 0.4, Linear 128→K — no non-linearities.

    Names match the official state dicts (``spat_encoder.``, ``spec_encoder.``, ``DR1..4``,
    ``fc_spec1..4.{0,2}``, ``classifier.{0,2,4}``), so the authors' fine-tuned files load. The
    official modules never used in forward (``conv_features``, ``conv``, the spatial encoder's
    ``classifier``/``cls``/``classifier1``) are left out; a loader reports them as ignored.

    Default configuration: :meth:`default_config` (base, 33×33, 30 PCA, p = 2, SSA).
    """

    def __init__(self, cfg: Optional[HyperSIGMAConfig] = None, num_classes: int = 17, init: bool = True):
        super().__init__()
        self.cfg = cfg = cfg if cfg is not None else self.default_config("base")
        D, Fd, T = cfg.embed_dim, cfg.fusion_dim, cfg.spectral_tokens
        self.spat_encoder = SpatialEncoder(cfg, init=init)
        self.spec_encoder = SpectralEncoder(cfg, init=init)
        for k in range(1, 5):
            setattr(self, f"DR{k}", nn.Conv2d(D, Fd, kernel_size=1, bias=False))
        for k in range(1, 5):
            setattr(self, f"fc_spec{k}", spectral_gate(T, Fd, Fd))
        self.classifier = nn.Sequential(nn.Linear(4 * Fd, 256), nn.Dropout(0.4), nn.Linear(256, 128),
                                        nn.Dropout(0.4), nn.Linear(128, num_classes))
        self.num_classes = num_classes

    @staticmethod
    def default_config(size: str = "base", **overrides) -> HyperSIGMAConfig:
        """HyperSIGMA's classification set-up: 33×33 windows of 30 PCA components, conv tokens with
        p = 2, SSA except every ``interval``-th block, T = 100 (for base/large/huge)."""
        base = dict(patch_size=33, in_chans=30, spatial_tokenizer="conv", conv_patch=2, attention="ssa")
        base.update(overrides)
        return get_config(size, **base)

    def forward_features(self, x: torch.Tensor) -> dict:
        """``"maps"``: f1..f4 **deepest first** (native sizes); ``"spectral"``: ``(B, T, fusion_dim)``;
        ``"gates"``: 4 × ``(B, fusion_dim)``; ``"pooled"``: ``(B, 4·fusion_dim)`` classifier input."""
        b = x.shape[0]
        maps = self.spat_encoder(x)[::-1]  # deepest first, as the official code
        spec = self.spec_encoder(x)
        s = spec.mean(dim=-1)
        gates, pooled = [], []
        for k, f in enumerate(maps, start=1):
            w = getattr(self, f"fc_spec{k}")(s)
            gates.append(w)
            g = getattr(self, f"DR{k}")(f) * (1 + w.view(b, -1, 1, 1))
            pooled.append(g.mean(dim=(2, 3)))
        return {"maps": maps, "spectral": spec, "gates": gates, "pooled": torch.cat(pooled, dim=1)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, w, w)`` → class logits ``(B, num_classes)``."""
        return self.classifier(self.forward_features(x)["pooled"])
