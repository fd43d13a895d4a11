"""The MIFOMO pipeline: configuration and presets (:mod:`.config`), the phases (:mod:`.pipeline`),
run folders and ablations (:mod:`.runner`), figures and tables (:mod:`.report`), CLI (:mod:`.cli`).
"""

from .config import ABLATIONS, CHOICES, RunConfig, parse_assignments
from .presets import preset
from .pipeline import RunResult, build_model, embed_pixels, prepare_domains, run_pipeline
from .runner import ablate, run_to_folder, whole_scene_map, write_run_folder

__all__ = ["ABLATIONS", "CHOICES", "RunConfig", "parse_assignments", "preset", "RunResult",
           "build_model", "embed_pixels", "prepare_domains", "run_pipeline", "ablate",
           "run_to_folder", "whole_scene_map", "write_run_folder"]
