"""What trains besides the adapter: the protocol's named trainable sets (SPEC §7.4, §9).

MIFOMO's paper says only the coalescent projections train. Its released code (which produced
the published numbers) also trains the freshly initialised embedding and fusion layers and the
prototypical classifier's scale — a different set in the source phase (phase 1) and in the
target phases. :func:`protocol_trainables` names these sets by parameter-name prefix so that the
pipeline can ask for them:

=================================  ============  ===========  ==========
prefix                             ``source``    ``target``   ``cp_only``
=================================  ============  ===========  ==========
``spat_encoder.patch_embed``       train         train        frozen
``spat_encoder.pos_embed``         train         frozen       frozen
``spec_encoder.spat_map``          train         frozen       frozen
``spec_encoder.l1``                train         frozen       frozen
``DR1``–``DR4``                    train         train        frozen
``mlp_spec1``–``mlp_spec4``        train         train        frozen
``merger``                         train         frozen       frozen
``classifier`` (optional head)     train         train        frozen
``scale`` (prototypical scale)     train         train        frozen
=================================  ============  ===========  ==========

``trainable_set="code"`` (default) is the released-code behaviour; ``"cp_only"`` is the paper's
description (only the adapter trains — for methods ``"head"``/``"full"`` it is meaningless).
A prefix ``p`` matches a parameter named ``p`` or ``p.<anything>``; ``scale`` also matches any
parameter whose last name component is ``scale`` (e.g. ``classifier.scale``).
"""

from __future__ import annotations

from typing import Iterable

from .errors import AdaptationError

__all__ = ["TRAINABLE_SETS", "PHASES", "TARGET_PHASE_TRAINABLES", "SOURCE_PHASE_EXTRA",
           "protocol_trainables", "matches_any"]

TRAINABLE_SETS = ("code", "cp_only")
PHASES = ("source", "target")

#: Trained in every phase by the released code (SPEC §7.4, "target phases" column).
TARGET_PHASE_TRAINABLES: tuple[str, ...] = (
    "spat_encoder.patch_embed",
    "DR1", "DR2", "DR3", "DR4",
    "mlp_spec1", "mlp_spec2", "mlp_spec3", "mlp_spec4",
    "classifier",
    "scale",
)
#: Additionally trained in phase 1 (source) only; frozen in the target phases.
SOURCE_PHASE_EXTRA: tuple[str, ...] = (
    "spat_encoder.pos_embed",
    "spec_encoder.spat_map",
    "spec_encoder.l1",
    "merger",
)


def protocol_trainables(trainable_set: str = "code", phase: str = "source") -> tuple[str, ...]:
    """Name prefixes of the non-adapter parameters the protocol trains (see module docstring)."""
    if trainable_set not in TRAINABLE_SETS:
        raise AdaptationError(f"unknown trainable_set {trainable_set!r}; choose one of {TRAINABLE_SETS}")
    if phase not in PHASES:
        raise AdaptationError(f"unknown phase {phase!r}; choose one of {PHASES}")
    if trainable_set == "cp_only":
        return ()
    return TARGET_PHASE_TRAINABLES + (SOURCE_PHASE_EXTRA if phase == "source" else ())


def matches_any(name: str, prefixes: Iterable[str]) -> bool:
    """Whether parameter ``name`` is ``p`` or under ``p.`` for some prefix ``p`` (and the special
    ``scale`` rule of the module docstring)."""
    for p in prefixes:
        if name == p or name.startswith(p + "."):
            return True
        if p == "scale" and name.rsplit(".", 1)[-1] == "scale":
            return True
    return False
