"""Parameter-efficient adaptation of the frozen HyperSIGMA backbone, behind one entry point.

>>> from mifomo_lite.peft import apply_adaptation, param_groups
>>> summary = apply_adaptation(model, "cp")            # or "lora", "prompt", "full", "head"
>>> print(summary)                                      # trainable parameters per part
>>> opt = torch.optim.AdamW(param_groups(model, lr_model=1e-4, lr_peft=1e-3, lr_scale=1e-3), eps=1e-4)

Methods: coalescent projection (:mod:`.cp`; Paeedeh et al., CPLSR arXiv 2507.15243 and MIFOMO
arXiv 2601.22581), LoRA (:mod:`.lora`; Hu et al. 2021), deep prompts (:mod:`.prompts`; VPT, Jia
et al. 2022), full fine-tuning and head-only training. What trains besides the adapter is the
protocol's named trainable set (:mod:`.protocol`, SPEC §7.4). Adapter-only files in safetensors
(:mod:`.io`); closed-form parameter counts and the size table (:mod:`.counts`).
"""

from .api import (
    METHODS,
    AdaptationSummary,
    CPOptions,
    LoRAOptions,
    PartCount,
    PromptOptions,
    adapter_parameters,
    apply_adaptation,
    current_adaptation,
    remove_adaptation,
    set_trainables,
    summarize,
)
from .counts import (
    closed_form_adapter_params,
    cp_param_count,
    lora_param_count,
    prompt_param_count,
)
from .cp import CP_INITS, CoalescentProjection, init_cp_, install_cp, remove_cp
from .errors import AdaptationError, AdapterFileError
from .io import load_adapter, read_adapter_metadata, save_adapter
from .merge import is_merged, merge_adapters, param_groups, unmerge_adapters
from .lora import LORA_VARIANTS, LoRALinear, unwrap_lora
from .prompts import find_prompt_encoders, install_prompts, remove_prompts
from .table import format_parameter_table, parameter_table
from .protocol import PHASES, TRAINABLE_SETS, protocol_trainables

__all__ = [
    "METHODS", "AdaptationSummary", "PartCount", "CPOptions", "LoRAOptions", "PromptOptions",
    "apply_adaptation", "set_trainables", "remove_adaptation", "current_adaptation", "adapter_parameters", "summarize",
    "param_groups", "merge_adapters", "unmerge_adapters", "is_merged",
    "cp_param_count", "lora_param_count", "prompt_param_count", "closed_form_adapter_params",
    "parameter_table", "format_parameter_table",
    "CP_INITS", "CoalescentProjection", "init_cp_", "install_cp", "remove_cp",
    "LORA_VARIANTS", "LoRALinear", "unwrap_lora",
    "find_prompt_encoders", "install_prompts", "remove_prompts",
    "TRAINABLE_SETS", "PHASES", "protocol_trainables",
    "save_adapter", "load_adapter", "read_adapter_metadata",
    "AdaptationError", "AdapterFileError",
]
