"""The Python route for your own scene: ``mifomo_lite.run(scene, cfg)``.

It does what ``mifomo-lite run`` does — validate the config and the scene, run in an owned,
atomic folder, print the results table — and records the scene that was really used (its name,
files and their sha256 in ``scene.json``; ``config.json`` names it as the target)::

    import mifomo_lite
    from mifomo_lite.data import load_scene

    scene = load_scene("my_field.mat", labels="my_field_gt.mat", class_names=["soil", "corn", "water"])
    result, folder = mifomo_lite.run(scene, "smoke", n_test_episodes=2)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Union

__all__ = ["run", "print_result"]


def run(scene: Any, cfg: Union[str, Any] = "lite", out: Optional[Union[str, Path]] = None, *,
        overwrite: bool = False, drop_small_classes: bool = False, quiet: bool = False,
        log: Optional[Callable] = None, **overrides: Any):
    """Run MIFOMO-lite on ``scene`` and return ``(result, folder)``.

    ``scene``: a :class:`~mifomo_lite.data.Scene`, a registry name or a file path. ``cfg``: a
    :class:`~mifomo_lite.train.config.RunConfig` or a preset name (``smoke``, ``lite``, ``paper``);
    ``overrides`` change its fields (validated like ``--set``). ``out``: the run folder (default
    ``runs/<stamp>-<preset>-<scene>-<adaptation>``); an existing non-empty one is refused unless
    ``overwrite``. ``drop_small_classes``: leave out classes with fewer than ``n_shot + 1`` pixels.
    Prints the results table, the verdict and the folder unless ``quiet``."""
    from .data import Scene, load_scene
    from .train.config import RunConfig
    from .train.presets import preset
    from .train.runner import run_to_folder

    if isinstance(cfg, str):
        cfg = preset(cfg, **overrides)
    elif isinstance(cfg, RunConfig):
        cfg = cfg.replace(**overrides) if overrides else cfg.validate()
    else:
        from .errors import ConfigError

        raise ConfigError(f"cfg must be a RunConfig or a preset name, got {type(cfg).__name__}")
    if not isinstance(scene, Scene):
        scene = load_scene(scene, root=cfg.data_root, progress=cfg.progress)
    silent = (lambda *a, **k: None)
    result, folder = run_to_folder(cfg, out, log=log or (silent if quiet else print), overwrite=overwrite,
                                   drop_small_classes=drop_small_classes, target_scene=scene)
    if not quiet:
        print_result(result, folder)
    return result, folder


def print_result(result: Any, out: Path) -> None:
    """The results table, the verdict, the folder and the wall time — as the CLI prints them."""
    from .train import report as R
    from .train.runner import pool_comparison, results_rows, verdict

    s = result.metrics["summary"]
    print()
    print(R.results_table(results_rows(s, result.config.transductive_pool)))
    print()
    print(verdict(s, result.metrics.get("paired")))
    both = pool_comparison(result.metrics)
    if both:
        print("\n" + both)
    print(f"\nrun folder: {out}  (metrics.json, report.md, scene.json, figures)")
    print(f"wall time: {result.metrics['timings']['total_s']:.1f} s")
