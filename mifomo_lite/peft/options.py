"""The options of each adaptation method, checked before anything is installed."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from .cp import CP_INITS
from .errors import AdaptationError
from .lora import LORA_VARIANTS

__all__ = ["CPOptions", "LoRAOptions", "PromptOptions", "LORA_TARGETS", "parse_options"]

LORA_TARGETS = ("q", "k", "v", "proj", "fc1", "fc2")


@dataclass
class CPOptions:
    """Options of ``method="cp"`` (see :mod:`mifomo_lite.peft.cp`)."""

    shared_across_heads: bool = False
    init: str = "almost_diagonal"
    std: float = 0.02
    value_side: bool = False

    def validate(self) -> None:
        if self.init not in CP_INITS:
            raise AdaptationError(f"unknown CP init {self.init!r}; choose one of {CP_INITS}")
        if not self.std > 0:
            raise AdaptationError(f"CP std must be > 0, got {self.std}")


@dataclass
class LoRAOptions:
    """Options of ``method="lora"`` (see :mod:`mifomo_lite.peft.lora`)."""

    rank: int = 16
    alpha: Optional[float] = None
    targets: tuple = ("q", "v")
    variant: str = "input"

    def validate(self) -> None:
        if isinstance(self.targets, str):
            self.targets = (self.targets,)
        self.targets = tuple(self.targets)
        bad = [t for t in self.targets if t not in LORA_TARGETS]
        if bad or not self.targets or len(set(self.targets)) != len(self.targets):
            raise AdaptationError(f"LoRA targets {self.targets!r}: choose distinct names from {LORA_TARGETS}")
        if self.variant not in LORA_VARIANTS:
            raise AdaptationError(f"unknown LoRA variant {self.variant!r}; choose one of {LORA_VARIANTS}")
        if int(self.rank) < 1:
            raise AdaptationError(f"LoRA rank must be ≥ 1, got {self.rank}")
        self.rank = int(self.rank)


@dataclass
class PromptOptions:
    """Options of ``method="prompt"`` (see :mod:`mifomo_lite.peft.prompts`)."""

    n_prompts: int = 8
    std: Optional[float] = None

    def validate(self) -> None:
        if int(self.n_prompts) < 1:
            raise AdaptationError(f"n_prompts must be ≥ 1, got {self.n_prompts}")
        self.n_prompts = int(self.n_prompts)


_OPTIONS = {"cp": CPOptions, "lora": LoRAOptions, "prompt": PromptOptions}


def parse_options(method: str, options: dict):
    """The checked options dataclass of ``method`` (None for methods without options)."""
    cls = _OPTIONS.get(method)
    if cls is None:
        if options:
            raise AdaptationError(f"method {method!r} takes no options, got {sorted(options)}")
        return None
    known = {f.name for f in dataclasses.fields(cls)}
    bad = sorted(set(options) - known)
    if bad:
        raise AdaptationError(f"unknown option(s) {bad} for method {method!r}; known: {sorted(known)}")
    opts = cls(**options)
    opts.validate()
    return opts
