"""The model of a run: the foundation model plus its prototypical head, which parameters train in
each phase, the optimiser, and the states a test episode restarts from."""

from __future__ import annotations

import torch
from torch import nn

from .. import fsl
from ..errors import ChecksumError, ConfigError
from ..models import create_model, load_foundation_model
from ..peft import param_groups, set_trainables
from .config import RunConfig

__all__ = ["build_model", "set_phase_trainables", "adaptation_options", "make_optimizer", "trainable_state",
           "backbone_is_frozen", "restore_episode_start"]


def build_model(cfg: RunConfig, device: torch.device) -> nn.Module:
    """The foundation model with the run's input size, plus the prototypical head as
    ``model.classifier`` (so its ``scale`` trains in the protocol's ``scale`` group)."""
    overrides = dict(in_chans=cfg.pca_components, patch_size=cfg.patch_size,
                     attention=cfg.attention, drop_path_rate=cfg.drop_path_rate)
    if cfg.weights == "pretrained":
        try:
            model = load_foundation_model(cfg.model, **overrides)
        except ChecksumError:
            raise  # integrity: the run stops, no fallback ever reads a file that failed verification
        except Exception:
            # in_chans / patch_size change the shapes of patch_embed / pos_embed / spat_map: load
            # what fits and keep those fresh (they are trained by the protocol anyway).
            model = _load_pretrained_partial(cfg, overrides)
    elif cfg.weights == "random":
        model = create_model(cfg.model, **overrides)
    else:  # official HyperSIGMA weights
        from ..models import load_official_hypersigma

        model = create_model(cfg.model, **overrides)
        if not (cfg.official_spatial and cfg.official_spectral):
            raise ConfigError("weights='official' needs official_spatial=PATH and official_spectral=PATH "
                              "(see `mifomo-lite model load-official --help`)")
        load_official_hypersigma(model, spatial=cfg.official_spatial, spectral=cfg.official_spectral)
    model.readout = cfg.readout
    model.classifier = fsl.PrototypicalHead(init_scale=20.0)
    return model.to(device)


def _load_pretrained_partial(cfg: RunConfig, overrides: dict) -> nn.Module:
    """The shipped weights that fit the run's shapes; the file is verified (sha256, dtype, finite
    values) by :func:`load_foundation_partial` before any tensor is read into the model."""
    from ..models.foundation import load_foundation_partial

    return load_foundation_partial(cfg.model, **overrides)


def set_phase_trainables(model: nn.Module, cfg: RunConfig, phase: str) -> None:
    """Make the run's trainables of ``phase`` the only ones that train (adapter, protocol set,
    and the prototypical head's scale): :func:`mifomo_lite.peft.set_trainables`."""
    set_trainables(model, cfg.adaptation, cfg.trainable_set, phase, ("classifier",))


def adaptation_options(cfg: RunConfig) -> dict:
    if cfg.adaptation == "cp":
        return {"shared_across_heads": cfg.cp_shared_across_heads}
    if cfg.adaptation == "lora":
        return {"rank": cfg.lora_rank, "variant": cfg.lora_variant}
    if cfg.adaptation == "prompt":
        return {"n_prompts": cfg.n_prompts}
    return {}


def make_optimizer(model: nn.Module, cfg: RunConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, lr_model=cfg.lr_model, lr_peft=cfg.lr_peft, lr_scale=cfg.lr_scale,
                          weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(groups, betas=(0.9, 0.999), eps=cfg.adam_eps)


def trainable_state(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}


def backbone_is_frozen(model: nn.Module) -> bool:
    """True when no parameter outside the prototypical head trains."""
    return not any(p.requires_grad for n, p in model.named_parameters() if not n.startswith("classifier."))


def restore_episode_start(model: nn.Module, cfg: RunConfig, phase1_state: dict, initial_state: dict) -> None:
    """Put ``model`` back where every test episode starts: the state after phase 1, with — under
    ``reset_phase1_trainables="code_reset"`` — the target-phase trainables of before phase 1
    (the released code re-initialises them per episode; SPEC §9 note A); then unfreeze them."""
    model.load_state_dict(phase1_state)
    if cfg.reset_phase1_trainables == "code_reset":
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name in initial_state:
                    p.copy_(initial_state[name])
    set_phase_trainables(model, cfg, "target")
