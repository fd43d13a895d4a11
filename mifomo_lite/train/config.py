"""Run configuration: every MIFOMO hyper-parameter, ablation and paper-vs-code switch in one place.

A run is described by one :class:`RunConfig`. Presets (:mod:`mifomo_lite.train.presets`) fill it:

* ``smoke`` — seconds; for tests and notebook CI.
* ``lite``  — the default: the kit's small pretrained foundation model on a laptop CPU, with the
  kit's enhancements (window-mean readout, phase 0, feature smoothing, k-NN graph, class mass).
* ``faithful`` — MIFOMO as released on the lite budget: every enhancement off, every paper-vs-code
  switch at the released code's behaviour.
* ``paper`` — HyperSIGMA base with the official weights, Chikusei source, per-target learning rates
  and episode counts of the released code (SPEC §8.8); for a GPU.

Switches that differ between the paper and the released code (SPEC §9) default to the released
code's behaviour unless the preset says otherwise; each field's comment says why.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
from dataclasses import dataclass, fields
from typing import Any, Optional, Union

from ..errors import ConfigError
from ..fsl.propagation import CLASS_MASS
from ..fsl.spatial import check_window

# Allowed values of the enumerated switches (checked by ``RunConfig.validate``).
CHOICES: dict[str, tuple] = {
    "adaptation": ("cp", "lora", "prompt", "full", "head"),
    "attention": ("mhsa", "ssa"),
    "trainable_set": ("code", "cp_only"),
    "pseudo_label_refiner": ("lgc", "eps_smoothing", "none"),
    "pseudo_label_target": ("lgc_raw", "lgc_normalised", "onehot"),
    "reset_phase1_trainables": ("code_reset", "transfer"),
    "mixup_temperature_form": ("active", "commented"),
    "mode": ("transductive", "inductive"),
    "weights": ("pretrained", "random", "official"),
    "eval_propagation": ("official", "full_graph"),
    "pseudo_label_propagation": ("official", "full_graph"),
    "readout": ("center", "mean"),
    "propagation_class_mass": CLASS_MASS,
    "inference_precision": ("auto", "float32", "bfloat16"),
    "transductive_pool": ("labelled", "scene"),
    "lgc_solver": ("solve", "pinv_robust"),
}
# The paper-vs-code switches of the adapter, the episode reset, the intermediate domain and the
# ablations (kept together; see the field comments).
CHOICES.update({
    "lora_variant": ("input", "output"),
    "reset_capture": ("before_phase0", "after_phase0"),
    "intermediate_sources": ("first", "all", "round_robin"),
    "ablation_semantics": ("kit", "released"),
})

# Table X of the paper (plus "all off"): each ablation is a set of overrides.
ABLATIONS: dict[str, dict[str, Any]] = {
    "full": {},
    "no_label_smoothing": {"pseudo_label_refiner": "none"},
    "no_intermediate": {"use_intermediate_domain": False},
    "no_cp": {"adaptation": "head"},
    "no_mixup": {"use_mixup": False},
    "all_off": {"pseudo_label_refiner": "none", "use_intermediate_domain": False,
                "adaptation": "head", "use_mixup": False},
    # beyond Table X: the kit's own readout switch, back to MIFOMO's centre pixel
    "center_readout": {"readout": "center"},
    # and without class mass normalisation of the propagated scores (kit and baselines alike)
    "no_class_mass": {"propagation_class_mass": "none"},
    # without the phase-0 MAE on the unlabelled target scene
    "no_target_ssl": {"target_ssl_steps": 0},
    # the same pipeline from a randomly initialised foundation model: what pretraining earns
    "no_pretraining": {"weights": "random"},
    # without the 5×5 mean of the embeddings over the scene (kit and baselines alike)
    "no_feature_smoothing": {"feature_smoothing": 1},
}


@dataclass
class RunConfig:
    """Every setting of a run, under the flat names ``--set key=value`` uses. The fields are
    declared phase by phase (:data:`GROUPS`); :meth:`group` gives one phase's settings as a
    read-only typed view."""

    # --- data: the scenes and the episodes -------------------------------------------------------
    target: str = "indian_pines"
    # Source scenes: "synthetic" is a seeded many-class synthetic scene; real names load from the
    # data cache. "auto" = synthetic plus any real source scene already in the cache.
    sources: tuple = ("synthetic",)
    data_root: Optional[str] = None
    mode: str = "transductive"  # the paper's setting; "inductive" never sees unlabelled target pixels
    pca_components: int = 50
    patch_size: int = 9
    n_shot: int = 5
    n_test_episodes: int = 20          # SPEC §2.1: 20 seeded test episodes (seed = seed + e)
    seed: int = 0

    # --- model: the foundation model and how an embedding is read out ------------------------------
    model: str = "tiny"                # foundation model config name (tiny | small | base | ...)
    weights: str = "pretrained"        # pretrained (shipped tiny) | random | official (HyperSIGMA)
    official_spatial: Optional[str] = None
    official_spectral: Optional[str] = None
    attention: str = "mhsa"            # released code: MHSA everywhere (SPEC §9)
    drop_path_rate: float = 0.1        # active in train mode, as in the released code
    # Embedding readout: "center" = the centre pixel of the fused map (MIFOMO); "mean" = its mean
    # over the patch window (a kit switch; same cost, better few-shot features on the small CPU
    # models — see MifomoHyperSIGMA).
    readout: str = "center"
    # Spatial smoothing of the embeddings at evaluation (a kit switch; 1 = off): each pixel's
    # embedding is replaced by the mean over a w×w window of the scene image, for the kit's
    # prototypes, propagation and pseudo-labels and for the transductive baselines alike
    # (mifomo_lite.fsl.spatial). Training always sees the raw window embeddings.
    feature_smoothing: int = 1

    # --- adaptation: the adapter, what trains, and the optimiser ------------------------------------
    adaptation: str = "cp"
    cp_shared_across_heads: bool = False
    lora_rank: int = 3                 # released code default (ablation configs: 16)
    # Where LoRA acts (mifomo_lite.peft.lora): "output" = on the projected q/v, q ← q + B·A·q, as the
    # released code does; "input" = standard LoRA on the layer's input (as peft).
    lora_variant: str = "output"
    n_prompts: int = 8
    trainable_set: str = "code"        # released code: CP + embedding/fusion layers + scale
    lr_model: float = 1e-4
    lr_peft: float = 1e-3
    lr_scale: float = 1e-3
    weight_decay: float = 1e-5
    adam_eps: float = 1e-4
    use_mixup: bool = True             # L_mx in phase 1 and the support phase, mixup in the intermediate domain

    # --- target_ssl: phase 0, self-supervision on the target scene (a kit extension) ------------------
    # MAE steps on windows around every pixel of the unlabelled target scene, before phase 1
    # (mifomo_lite.models.target_ssl); transductive mode only. 0 = off, as in MIFOMO.
    target_ssl_steps: int = 0
    target_ssl_lr: float = 5e-4
    target_ssl_batch_size: int = 64

    # --- source: phase 1, episodic training on the source scene(s) ------------------------------------
    source_episodes: int = 1500
    source_n_way: Union[int, str] = "all"
    source_n_shot: int = 5
    source_n_query: int = 15
    source_mixups: int = 100

    # --- support: each test episode starts here (reset, then support-only adaptation) -------------------
    reset_phase1_trainables: str = "code_reset"
    # When the state "code_reset" restores is captured: "before_phase0" = at model build, before
    # any training (the released code, which has no phase 0: SPEC §9 note A); "after_phase0" = after
    # the kit's target self-supervision, so its MAE steps survive the reset. Identical without phase 0.
    reset_capture: str = "after_phase0"
    support_steps: int = 500           # "num_episodes_target1"
    target_mixups: int = 10
    recreate_optimizer_each_support_step: bool = True
    support_split_fixed: bool = True

    # --- intermediate: pseudo-labels and the intermediate domain ---------------------------------------
    use_intermediate_domain: bool = True
    pseudo_label_refiner: str = "lgc"
    pseudo_label_target: str = "lgc_raw"
    eps_smoothing: float = 0.1
    # How the "lgc" refiner propagates before pseudo-labels are picked: "official" = the batch-of-80
    # cosine LGC (lgc_* below); "full_graph" = the same k-NN graph over support + all queries as
    # eval_propagation="full_graph" (scores row-normalised).
    pseudo_label_propagation: str = "official"
    top_k_confident: int = 10          # IP: 10; PU/SA/Houston: 100
    min_class_count: int = 5
    intermediate_steps: int = 1000     # IP: 1000
    intermediate_mixups: int = 10
    intermediate_n_shot: int = 2
    intermediate_n_query: int = 3
    perturbation_range: float = 0.2
    mixup_temperature: float = 0.05
    mixup_temperature_form: str = "active"
    intermediate_fsl_term: bool = False
    # Which source scene(s) the intermediate domain draws its source episodes from: "first" =
    # sources[0] only; "round_robin" = step t from sources[t mod n], as phase 1 does; "all" = one
    # episode of every source per step, their classes side by side. One source: all three agree.
    intermediate_sources: str = "first"

    # --- eval: predictions, propagation, metrics and what a run reports ---------------------------------
    report_with_lgc: bool = True
    # How the final "with propagation" prediction is made: "official" = LGC per batch of
    # lgc_batch_size queries with the cosine graph (lgc_alpha, lgc_sigma); "full_graph" = one kNN graph
    # over the support and *all* query pixels (transductive), which is what the strong baselines do.
    eval_propagation: str = "official"
    lgc_alpha: float = 0.9
    lgc_sigma: float = 50.0
    lgc_batch_size: Optional[int] = 80   # None = full graph
    # How the "official" LGC solves its system, at evaluation and for the pseudo-labels alike
    # (mifomo_lite.fsl.lgc_solvers): "solve" (LU, exact) or "pinv_robust" (the released code's ridge
    # pseudo-inverse). The "full_graph" k-NN propagation always uses one sparse LU.
    lgc_solver: str = "solve"
    # The nodes of every propagation (the kit's prediction, its pseudo-labels, the transductive
    # baselines): "labelled" = the scene's ground-truth-labelled pixels (the paper's protocol; it uses
    # the GT mask — optimistic) or "scene" = every pixel of the scene except the support shots (what a
    # user without ground truth has; the mask only samples the support and scores). Both pools are
    # reported; this one is the run's own (the pseudo-labels come from it).
    transductive_pool: str = "labelled"
    # Class mass normalisation (Zhu et al. 2003) of every propagation's scores — the final
    # prediction, the LGC pseudo-labels (either graph) and the transductive baselines alike: "none"
    # (MIFOMO) or "estimated" (each class rescaled to its estimated prior; see
    # mifomo_lite.fsl.class_mass_normalisation).
    propagation_class_mass: str = "none"
    # The "full_graph" k-NN propagation (the final prediction, its pseudo-labels and the transductive
    # baselines alike): neighbours per node, the LGC α, and σ as a multiple of the median k-NN
    # distance (mifomo_lite.fsl.knn_affinity). How they were chosen: docs/results.md.
    graph_k: int = 10
    graph_alpha: float = 0.99
    graph_sigma_scale: float = 1.0
    baselines: bool = True
    classification_map: bool = True
    tsne: bool = True
    eval_batch_size: int = 256
    # Evaluate on a seeded random subset of at most this many query pixels (None = all of them,
    # the protocol). Only the smoke preset sets it, to keep tests to seconds.
    max_query_pixels: Optional[int] = None
    # Drift record (mifomo_lite.train.drift_record): the embedding cosine to the frozen model, the
    # 10-NN overlap and ‖ΔW‖/‖W‖ per phase, on this many scene pixels drawn without the ground
    # truth (0 = off; otherwise at least 12).
    drift_probe_pixels: int = 300

    # --- runtime: where and how it runs ------------------------------------------------------------------
    preset: str = "lite"
    # What the named ablations (ABLATIONS) switch off: "kit" = exactly their overrides; "released"
    # = as the released code's flags do: no_label_smoothing (and all_off) also drop the evaluation-time
    # LGC, and all_off skips the support-only adaptation too (see ablation_overrides).
    ablation_semantics: str = "kit"
    device: str = "auto"
    allow_cpu_fallback: bool = False
    amp: bool = True                   # mixed precision on GPU only
    # Inference (no-grad embedding: evaluation, pseudo-labels, the scene map) on CPU: "auto" = bf16
    # autocast where the CPU has native bf16 (AVX512-BF16/AMX; faster, cosine ≥ 0.9999 to fp32),
    # else float32. GPU inference follows ``amp``.
    inference_precision: str = "auto"
    num_threads: Optional[int] = None
    progress: bool = True

    # ------------------------------------------------------------------------------------------
    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def group(self, name: str):
        """The settings of one phase (a key of :data:`GROUPS`) as a frozen dataclass with the same
        field names and types — what a phase function needs to read, and nothing else."""
        if name not in GROUPS:
            raise ConfigError(f"unknown config group {name!r}; choose one of {', '.join(GROUPS)}")
        view = _group_class(name)
        return view(**{k: getattr(self, k) for k in GROUPS[name]})

    def replace(self, **overrides: Any) -> "RunConfig":
        check_keys(overrides)
        return dataclasses.replace(self, **overrides).validate()

    def set(self, assignments: list[str]) -> "RunConfig":
        """Apply ``key=value`` strings (values parsed as JSON when possible)."""
        return self.replace(**parse_assignments(assignments, self))

    def validate(self) -> "RunConfig":
        from ..validation import validate_run_config  # types, ranges, finiteness: one validator

        validate_run_config(self)
        for key, allowed in CHOICES.items():
            value = getattr(self, key)
            if value not in allowed:
                raise ConfigError(f"{key}={value!r} is not valid; choose one of {', '.join(allowed)}")
        for key in ("pca_components", "patch_size", "n_shot", "n_test_episodes", "target_ssl_batch_size"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"{key} must be ≥ 1, got {getattr(self, key)!r}")
        check_window(self.feature_smoothing, "feature_smoothing")
        if not 0.0 <= self.graph_alpha < 1.0:
            raise ConfigError(f"graph_alpha must lie in [0, 1) (α = 1 makes I − αÂ singular), "
                              f"got {self.graph_alpha!r}")
        if int(self.drift_probe_pixels) != 0 and int(self.drift_probe_pixels) < 12:
            raise ConfigError(f"drift_probe_pixels must be 0 (off) or ≥ 12 (10 neighbours per pixel), "
                              f"got {self.drift_probe_pixels!r}")
        if int(self.target_ssl_steps) < 0:
            raise ConfigError(f"target_ssl_steps must be ≥ 0 (0 = off), got {self.target_ssl_steps!r}")
        if not self.target_ssl_lr > 0:
            raise ConfigError(f"target_ssl_lr must be > 0, got {self.target_ssl_lr!r}")
        if self.patch_size % 2 == 0:
            raise ConfigError(f"patch_size must be odd so the labelled pixel is the centre, got {self.patch_size}")
        if isinstance(self.sources, str):
            object.__setattr__(self, "sources", (self.sources,))
        else:
            object.__setattr__(self, "sources", tuple(self.sources))
        return self

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["sources"] = list(self.sources)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


# What the released code's ablation flags switch off beyond the kit's overrides: its label-smoothing
# flag gates the evaluation-time LGC too, and "all disabled" skips the support-only phase.
RELEASED_ABLATION_EXTRAS: dict[str, dict[str, Any]] = {
    "no_label_smoothing": {"report_with_lgc": False},
    "all_off": {"report_with_lgc": False, "support_steps": 0},
}


def ablation_overrides(name: str, semantics: str = "kit") -> dict[str, Any]:
    """The config overrides of ablation ``name`` under ``semantics`` ("kit" or "released")."""
    if name not in ABLATIONS:
        raise ConfigError(f"unknown ablation {name!r}; choose from {', '.join(ABLATIONS)}")
    if semantics not in CHOICES["ablation_semantics"]:
        raise ConfigError(f"ablation_semantics={semantics!r} is not valid; choose kit or released")
    extra = RELEASED_ABLATION_EXTRAS.get(name, {}) if semantics == "released" else {}
    return {**ABLATIONS[name], **extra}


# The phases the fields belong to, in declaration order (every field is in exactly one group).
GROUPS: dict[str, tuple[str, ...]] = {}
_GROUP_MARK = "    # --- "


def _collect_groups() -> None:
    """Fill :data:`GROUPS` from the ``# --- name:`` section comments of :class:`RunConfig`."""
    import inspect

    current = None
    for line in inspect.getsource(RunConfig).splitlines():
        if line.startswith(_GROUP_MARK):
            current = line[len(_GROUP_MARK):].split(":")[0].strip()
            GROUPS[current] = ()
        elif current and ":" in line and not line.strip().startswith("#"):
            name = line.strip().split(":")[0]
            if name in RunConfig.__dataclass_fields__:
                GROUPS[current] += (name,)


@functools.lru_cache(maxsize=None)
def _group_class(name: str):
    types = {f.name: f.type for f in fields(RunConfig)}
    return dataclasses.make_dataclass(f"{name.title().replace('_', '')}Config",
                                      [(k, types[k]) for k in GROUPS[name]], frozen=True)


_collect_groups()


def check_keys(overrides: dict) -> None:
    valid = RunConfig.keys()
    for key in overrides:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=3)
            hint = f" — did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"unknown config key {key!r}{hint} Valid keys: {', '.join(valid)}")


def _coerce(key: str, raw: str, current: Any) -> Any:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    if value == "full" and key == "lgc_batch_size":
        return None
    if isinstance(current, bool) and isinstance(value, str):
        low = value.lower()
        if low in ("true", "yes", "on"):
            return True
        if low in ("false", "no", "off"):
            return False
    if isinstance(current, bool) and not isinstance(value, bool):
        raise ConfigError(f"{key} expects true/false, got {raw!r}")
    if isinstance(current, (int, float)) and not isinstance(current, bool):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} expects a number, got {raw!r}")
        return type(current)(value) if isinstance(current, float) else value
    if isinstance(current, tuple):
        return tuple(value) if isinstance(value, list) else tuple(str(value).split(","))
    return value


def parse_assignments(assignments: list[str], base: Optional[RunConfig] = None) -> dict:
    base = base or RunConfig()
    out: dict[str, Any] = {}
    for item in assignments:
        if "=" not in item:
            raise ConfigError(f"expected key=value, got {item!r}")
        key, raw = item.split("=", 1)
        key = key.strip()
        check_keys({key: None})
        out[key] = _coerce(key, raw.strip(), getattr(base, key))
    return out
