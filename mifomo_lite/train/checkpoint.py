"""Resumable runs: per-episode checkpoints and a cache of the source phase.

Two stores, both optional and both written atomically:

* :class:`EpisodeStore` — ``<folder>/run.json`` (the run's configuration and a digest of the
  kit's code) and one ``<folder>/NN.json`` per finished test episode (its metrics record, λ
  trajectory, loss history, drift record, wall seconds, and the head's logit form it leaves for
  the next episode). A rerun of the same configuration skips every stored episode except the
  last one, which always runs again so that the returned model and ``last_episode`` (the
  embeddings the map and the t-SNE draw) are exactly those of an uninterrupted run. Episodes are
  independent — each restarts from the state phase 1 left and reseeds itself — so skipping the
  stored ones changes no number. A changed configuration is refused, naming the keys; episodes
  stored by other code of the kit are discarded and run again, so two versions never mix.
* :class:`Phase1Cache` — the model after phases 0 and 1 (``phase1-<key>.safetensors``, plus a
  ``.json`` with the losses, the phase-0 record and what ``code_reset`` restores), keyed by a
  hash of exactly what determines it: the model, adaptation, phase-0 and source-phase settings,
  the seed, the source scenes' pixels, the kit's code — and the target's pixels only when phase
  0 (which trains on the target) runs. Later runs of other targets, other episode settings or
  reruns load it and skip both phases, with identical results.

Records are stored with their NumPy types (arrays, float32 scalars, NaN) so that a loaded episode
aggregates to the very same numbers as a fresh one. No pickle is involved.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
from torch import nn

from ..errors import ConfigError, OutputError
from ..utils import atomic_path, write_json
from .config import GROUPS, RunConfig
from .episode import EpisodeContext, EpisodeOutcome, run_test_episode
from .embedding import progress_bar
from .outdir import EPISODES, resume_source

__all__ = ["EpisodeStore", "Phase1Cache", "run_episodes", "check_resumable", "RESUME_FREE_KEYS",
           "encode", "decode", "restore_phase1", "checkpoint_kwargs", "phase1_settings"]

#: Config keys that may change between a run and its resumption: they change no stored number.
RESUME_FREE_KEYS = ("progress", "n_test_episodes")
#: Config groups that determine the model after phases 0 and 1 (see :func:`Phase1Cache.key`).
PHASE1_GROUPS = ("model", "adaptation", "target_ssl", "source")
PHASE1_EXTRA_KEYS = ("sources", "mode", "pca_components", "patch_size", "seed", "reset_capture",
                     "trainable_set", "drift_probe_pixels", "eval_batch_size", "amp", "inference_precision",
                     "num_threads")


def encode(obj: Any) -> Any:
    """``obj`` as plain JSON values that :func:`decode` turns back into the same types: NumPy arrays
    and scalars keep their dtype, tuples stay tuples, NaN stays NaN."""
    if isinstance(obj, dict):
        return {"__dict__": [[encode(k), encode(v)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(v) for v in obj]}
    if isinstance(obj, list):
        return [encode(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return {"__array__": obj.tolist(), "dtype": str(obj.dtype), "shape": list(obj.shape)}
    if isinstance(obj, np.generic):
        return {"__scalar__": obj.item(), "dtype": str(obj.dtype)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise OutputError(f"cannot store a {type(obj).__name__} in an episode checkpoint")


def decode(obj: Any) -> Any:
    """The inverse of :func:`encode`."""
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__dict__" in obj:
        return {decode(k): decode(v) for k, v in obj["__dict__"]}
    if "__tuple__" in obj:
        return tuple(decode(v) for v in obj["__tuple__"])
    if "__array__" in obj:
        return np.array(obj["__array__"], dtype=obj["dtype"]).reshape(obj["shape"])
    if "__scalar__" in obj:
        return np.array(obj["__scalar__"], dtype=obj["dtype"])[()]
    raise OutputError(f"unknown entry in an episode checkpoint: {sorted(obj)}")


def _config_differences(stored: dict, now: dict) -> list[str]:
    keys = sorted((set(stored) | set(now)) - set(RESUME_FREE_KEYS))
    return [k for k in keys if stored.get(k, "<absent>") != now.get(k, "<absent>")]


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """A hash of the kit's source files: stored results of other code are never reused."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _stored_run(folder: Optional[Path]) -> Optional[dict]:
    path = Path(folder) / "run.json" if folder is not None else None
    return json.loads(path.read_text()) if path is not None and path.is_file() else None


def check_resumable(folder: Optional[Path], cfg: RunConfig) -> None:
    """Refuse, before any work, to resume the episodes stored in ``folder`` with a config that
    differs from theirs (``folder`` None or without ``run.json``: nothing to resume, fine; episodes
    of other code are discarded by :class:`EpisodeStore`, not refused)."""
    run = _stored_run(folder)
    if run is None or run.get("code") != code_digest():
        return
    stored = run["config"]
    now = json.loads(json.dumps(cfg.to_dict()))
    diff = _config_differences(stored, now)
    if diff:
        detail = "; ".join(f"{k}: {stored.get(k, '<absent>')!r} stored, {now.get(k, '<absent>')!r} now" for k in diff)
        raise ConfigError(f"cannot resume the run in {Path(folder).parent}: its config differs in {', '.join(diff)} "
                          f"({detail}); run into another folder, or drop --resume / resume=True")


class EpisodeStore:
    """Finished test episodes of one run, one JSON file each under ``folder``."""

    def __init__(self, folder: Path, cfg: RunConfig, log: Callable = print):
        self.folder = Path(folder)
        check_resumable(self.folder, cfg)
        run = _stored_run(self.folder)
        if run is not None and run.get("code") != code_digest():
            stale = sorted(self.folder.glob("[0-9]*.json"))
            for f in stale:
                f.unlink()
            log(f"{self.folder}: {len(stale)} stored episode(s) came from other code of the kit; they are run again")
            run = None
        if run is None:
            write_json(self.folder / "run.json", {"config": cfg.to_dict(), "code": code_digest()})
        self.loaded: list[int] = []

    def path(self, e: int) -> Path:
        return self.folder / f"{e:02d}.json"

    def load(self, e: int) -> Optional[tuple[EpisodeOutcome, dict]]:
        """Episode ``e`` and what it left behind (``drift``: its drift record; ``logit_form``: the
        head's logit form at its end, which the next episode starts with), or None when not stored."""
        if not self.path(e).is_file():
            return None
        d = decode(json.loads(self.path(e).read_text()))
        self.loaded.append(e)
        return (EpisodeOutcome(d["record"], d["trajectory"], d["history"], {}, d["seconds"]),
                {"drift": d["drift"], "logit_form": d["logit_form"]})

    def save(self, e: int, outcome: EpisodeOutcome, left: dict) -> None:
        """Store episode ``e`` (atomically) with what it left behind (see :meth:`load`)."""
        payload = {"record": outcome.record, "trajectory": outcome.trajectory, "history": outcome.history,
                   "seconds": outcome.seconds, **left}
        write_json(self.path(e), encode(payload), indent=None, sort_keys=False)


def _left_behind(ctx: EpisodeContext, e: int) -> dict:
    """What episode ``e`` leaves for the next one beyond the state every episode restores."""
    drift = ctx.drift.episodes[e] if ctx.drift is not None and len(ctx.drift.episodes) > e else None
    return {"drift": drift, "logit_form": getattr(ctx.model.classifier, "logit_form", None)}


def _take_back(ctx: EpisodeContext, e: int, left: dict) -> None:
    """Put back what stored episode ``e`` left behind, as if it had just run."""
    if ctx.drift is not None and left["drift"] is not None:
        while len(ctx.drift.episodes) <= e:
            ctx.drift.episodes.append({"episode": len(ctx.drift.episodes)})
        ctx.drift.episodes[e] = left["drift"]
    if left["logit_form"] is not None:
        ctx.model.classifier.logit_form = left["logit_form"]


def run_episodes(ctx: EpisodeContext, store: Optional[EpisodeStore] = None) -> list[EpisodeOutcome]:
    """Every test episode of the run, in order; with a ``store``, the stored ones (all but the last)
    are read back instead of run, and each one run is stored as soon as it finishes."""
    n = ctx.cfg.n_test_episodes
    outcomes = []
    for e in progress_bar(range(n), ctx.cfg.progress, desc="test episodes"):
        stored = store.load(e) if store is not None and e < n - 1 else None
        if stored is not None:
            outcome, left = stored
            _take_back(ctx, e, left)
        else:
            outcome = run_test_episode(ctx, e)
            if store is not None:
                store.save(e, outcome, _left_behind(ctx, e))
        outcomes.append(outcome)
    return outcomes


def _scene_digest(scene) -> str:
    h = hashlib.sha256()
    for a in (scene.cube, scene.labels):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def phase1_settings(cfg: RunConfig) -> dict:
    """The config values that determine the model after phases 0 and 1 (part of
    :meth:`Phase1Cache.key`): runs that agree on them share one source phase."""
    d = cfg.to_dict()
    parts = {k: d[k] for g in PHASE1_GROUPS for k in GROUPS[g]}
    parts.update({k: d[k] for k in PHASE1_EXTRA_KEYS})
    if not (cfg.target_ssl_steps > 0 and cfg.mode == "transductive"):
        parts["target_ssl_lr"] = parts["target_ssl_batch_size"] = None   # phase 0 off: its settings act on nothing
    return parts


class Phase1Cache:
    """The model after phases 0 and 1, stored under ``folder`` by :meth:`key`."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.hit: Optional[bool] = None   # whether the last :meth:`load` found an entry

    @staticmethod
    def key(cfg: RunConfig, target, sources, device=None) -> str:
        """A hash of what determines the state after phase 1: the settings of the model, adaptation,
        phase-0 and source groups, :data:`PHASE1_EXTRA_KEYS`, the kind of ``device`` (cpu, cuda …:
        float rounding differs), the source scenes' pixels and — when phase 0 runs (it trains on
        the target) — the target scene's pixels."""
        parts = phase1_settings(cfg)
        parts["device_type"] = str(device).split(":")[0] if device is not None else None
        parts["code"] = code_digest()
        parts["source_pixels"] = [_scene_digest(s.scene) for s in sources]
        if cfg.target_ssl_steps > 0 and cfg.mode == "transductive":
            parts["target_pixels"] = _scene_digest(target.scene)
        text = json.dumps(parts, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.folder / f"phase1-{key}.safetensors", self.folder / f"phase1-{key}.json"

    def load(self, key: str, device) -> Optional[dict]:
        """The stored entry (``state``, ``initial_state``, ``meta``), or None."""
        weights, meta = self._paths(key)
        self.hit = weights.is_file() and meta.is_file()
        if not self.hit:
            return None
        from safetensors.torch import load_file

        tensors = load_file(str(weights), device=str(device))
        split = {p: {k[len(p) + 1:]: v for k, v in tensors.items() if k.startswith(p + ".")} for p in ("state", "initial")}
        return {"state": split["state"], "initial_state": split["initial"],
                "meta": decode(json.loads(meta.read_text()))}

    def save(self, key: str, model: nn.Module, initial_state: dict, meta: dict) -> None:
        """Store the model's state, the ``code_reset`` state and ``meta`` (the JSON is written
        first, the weights last: an entry counts only when both are there)."""
        from safetensors.torch import save_file

        weights, meta_path = self._paths(key)
        write_json(meta_path, encode(meta), indent=None, sort_keys=False)
        tensors = {f"state.{k}": v.detach().contiguous().clone() for k, v in model.state_dict().items()}
        tensors.update({f"initial.{k}": v.detach().contiguous().clone() for k, v in initial_state.items()})
        with atomic_path(weights) as tmp:
            save_file(tensors, str(tmp))


def restore_phase1(model: nn.Module, entry: dict) -> None:
    """Put ``model`` in the stored state after phase 1 (weights, the head's logit form, train mode)."""
    model.load_state_dict(entry["state"])
    meta = entry["meta"]
    if meta.get("logit_form") is not None:
        model.classifier.logit_form = meta["logit_form"]
    model.train(bool(meta.get("training", model.training)))


def checkpoint_kwargs(part: Optional[Path], out: Path, cfg: RunConfig, resume: bool,
                      phase1_cache: Optional[Path] = None) -> dict:
    """The ``store`` / ``phase1_cache`` arguments of ``run_pipeline`` for a run folder being
    written in ``part`` (its final name ``out``). With ``resume`` the run records each finished
    test episode in ``episodes/`` and the model after phase 1 in ``phase1/`` (or in
    ``phase1_cache``, a folder several runs may share); rerun into the same folder it continues
    where an interrupted run stopped. Called with ``part=None`` before the run starts, it only
    refuses (naming the keys) a config that differs from the one of the episodes held for ``out``."""
    if part is None:
        held = resume_source(out) if resume else None
        check_resumable(held / EPISODES if held else None, cfg)
        return {}
    kw: dict = {}
    if resume:
        kw["store"] = EpisodeStore(Path(part) / EPISODES, cfg)
    if resume or phase1_cache:
        kw["phase1_cache"] = Phase1Cache(Path(phase1_cache) if phase1_cache else Path(part) / "phase1")
    return kw
