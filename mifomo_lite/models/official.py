"""Safe loading of the official HyperSIGMA MAE checkpoints (SPEC §6).

The official files (``spat-vit-{base,large,huge}-ultra-checkpoint-1599.pth`` and
``spec-vit-…``, 1.4–8 GB on huggingface.co/WHU-Sigma/HyperSIGMA) are ``torch.save`` dicts::

    {"model": MAE state dict, "optimizer": AdamW state, "epoch": 1599, "scaler": ..., "args": argparse.Namespace}

Because of the pickled ``argparse.Namespace``, PyTorch ≥ 2.6 refuses them under its default
``weights_only=True``, and the usual advice is ``weights_only=False`` — which lets a malicious file
run arbitrary code. This module never does that: it loads with ``weights_only=True`` and allow-lists
exactly one extra class, ``argparse.Namespace``. Anything else that would need unpickling is refused
with a :class:`~mifomo_lite.errors.CheckpointError` that names the offending global.

Loading then follows the MIFOMO recipe, but filters by name **and** shape:

1. strip known prefixes (``module.``, ``encoder.``);
2. ignore MAE-only tensors (``decoder_*``, ``mask_token``) and anything the model does not have;
3. drop the input layers the official recipes re-initialise (``patch_embed.proj``, the spatial
   ``pos_embed``, ``spat_map``) unless asked to keep them and their shapes fit;
4. load every remaining tensor whose shape matches, skip the rest with the reason.

Applying this to a model, and the :class:`~mifomo_lite.models.official_load.LoadReport` of what
loaded, what was skipped (and why), what stays freshly initialised and which checkpoint tensors
were ignored, is :mod:`.official_load`'s job. This module reads, filters and converts the files.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import torch
from torch import nn

from ..errors import CheckpointError, DataFileNotFound, DownloadError
from ..utils import user_cache_dir

__all__ = [
    "OFFICIAL_REPO", "OFFICIAL_FILES", "CheckpointInfo", "read_checkpoint", "inspect_state_dict",
    "checkpoint_filter_fn", "download_official_checkpoint", "convert_official_checkpoint",
]

OFFICIAL_REPO = "WHU-Sigma/HyperSIGMA"
OFFICIAL_FILES = {
    (branch, size): f"{branch[:4]}-vit-{size}-ultra-checkpoint-1599.pth"
    for branch in ("spatial", "spectral") for size in ("base", "large", "huge")
}
KNOWN_PREFIXES = ("module.", "encoder.")
MAE_ONLY = ("decoder_", "mask_token")
SIZES_BY_SHAPE = {(768, 12): "base", (1024, 24): "large", (1280, 32): "huge"}
BRANCH_PREFIX = {"spatial": "spat_encoder.", "spectral": "spec_encoder."}

PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class CheckpointInfo:
    """What a state dict looks like: its branch, width D, number of blocks and preset name."""

    branch: str  # "spatial", "spectral" or "unknown"
    embed_dim: Optional[int]
    depth: int
    size: Optional[str]  # "base"/"large"/"huge" or None
    n_tensors: int
    path: Optional[str] = None

    def describe(self) -> str:
        size = self.size or "custom"
        return f"a {self.branch} checkpoint of size {size} (D={self.embed_dim}, {self.depth} blocks)"


# --------------------------------------------------------------------------- reading
def _safe_globals_context():
    ser = torch.serialization
    if hasattr(ser, "safe_globals"):
        return ser.safe_globals([argparse.Namespace])
    if hasattr(ser, "add_safe_globals"):  # torch 2.4: no context manager, a global allow-list
        ser.add_safe_globals([argparse.Namespace])
    import contextlib

    return contextlib.nullcontext()


def _refusal(path: Path, exc: Exception) -> CheckpointError:
    text = str(exc)
    m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text) or re.search(r"GLOBAL ([\w.]+)", text)
    what = f"the Python object {m.group(1)!r}" if m else "a Python object that is not a tensor"
    return CheckpointError(
        f"{path}: refusing to load — unpickling it would need {what}, which is not on the allow-list "
        "(tensors, plain containers and argparse.Namespace). Unpickling arbitrary objects can execute "
        "code on your machine, so mifomo_lite never loads with weights_only=False. If you trust the "
        "file's origin, convert it once in a separate, trusted step into safetensors.")


def read_checkpoint(path: PathLike, mmap: bool = True) -> tuple[dict, dict]:
    """Read a checkpoint **safely** and return ``(state_dict, meta)``.

    Accepts ``.safetensors`` files and ``torch.save`` files (``weights_only=True`` with only
    ``argparse.Namespace`` allow-listed). In a dict container the state dict is taken from
    ``"model"`` (official MAE files) or ``"state_dict"``; a flat dict of tensors is used as is.
    ``meta`` holds the container's other top-level keys (``epoch``, and ``args`` as a plain dict).
    ``mmap=True`` memory-maps zip-format files, so an 8 GB file does not need 8 GB of RAM at once.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileNotFound(
            f"checkpoint file not found: {path}. Official files: download_official_checkpoint(branch, size) "
            f"or huggingface.co/{OFFICIAL_REPO} ({', '.join(sorted(set(OFFICIAL_FILES.values())))[:80]}…)")
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = dict(fh.metadata() or {})
                sd = {k: fh.get_tensor(k) for k in fh.keys()}
        except Exception as exc:  # SafetensorError, OSError, ValueError ...
            raise CheckpointError(f"{path}: corrupted or not a safetensors file ({exc})") from None
        return sd, meta
    use_mmap = mmap and zipfile.is_zipfile(path)
    try:
        with _safe_globals_context():
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=use_mmap)
    except pickle.UnpicklingError as exc:
        raise _refusal(path, exc) from None
    except Exception as exc:  # truncated zip, random bytes, wrong format ...
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise _refusal(path, exc) from None
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupted?): "
                              f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    return _unwrap(obj, path)


def _unwrap(obj: Any, path: Path) -> tuple[dict, dict]:
    meta: dict = {}
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict"):
            if key in obj and isinstance(obj[key], Mapping):
                for k, v in obj.items():
                    if k == key or k in ("optimizer", "scaler"):
                        continue
                    meta[k] = vars(v) if isinstance(v, argparse.Namespace) else v
                sd = {k: v for k, v in obj[key].items() if isinstance(v, torch.Tensor)}
                return sd, meta
        sd = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if sd:
            return sd, meta
    raise CheckpointError(f"{path}: no state dict found (expected a dict with a 'model' or 'state_dict' entry "
                          f"or a flat dict of tensors; got {type(obj).__name__}"
                          f"{' with keys ' + str(list(obj)[:8]) if isinstance(obj, Mapping) else ''})")


def strip_prefixes(sd: Mapping[str, torch.Tensor]) -> dict:
    """Remove the wrapper prefixes ``module.`` (DataParallel) and ``encoder.`` from every key."""
    out = {}
    for k, v in sd.items():
        changed = True
        while changed:
            changed = False
            for p in KNOWN_PREFIXES:
                if k.startswith(p):
                    k, changed = k[len(p):], True
        out[k] = v
    return out


def inspect_state_dict(sd: Mapping[str, torch.Tensor], path: Optional[PathLike] = None) -> CheckpointInfo:
    """Guess a checkpoint's branch (spectral: has ``spat_map``; spatial: has ``patch_embed``), its
    width D (from ``blocks.0.norm1``/``norm``), its depth and the matching preset name."""
    sd = strip_prefixes(sd)
    if any(k.startswith("spat_map.") for k in sd):
        branch = "spectral"
    elif any(k.startswith("patch_embed.") for k in sd):
        branch = "spatial"
    else:
        branch = "unknown"
    D = None
    for key in ("blocks.0.norm1.weight", "norm.weight", "blocks.0.attn.proj.bias"):
        if key in sd:
            D = int(sd[key].shape[0])
            break
    idx = [int(m.group(1)) for k in sd for m in [re.match(r"blocks\.(\d+)\.", k)] if m]
    depth = max(idx) + 1 if idx else 0
    return CheckpointInfo(branch, D, depth, SIZES_BY_SHAPE.get((D, depth)), len(sd),
                          str(path) if path is not None else None)


# --------------------------------------------------------------------------- filtering
def _drop_reason(key: str, branch: str) -> Optional[str]:
    """Reason the official recipes drop an input layer, or None."""
    if branch == "spatial":
        if key.startswith("patch_embed.proj"):
            return ("input layer re-initialised by the official recipes (the MAE tokeniser is an 8×8 conv "
                    "over 100 raw bands; fine-tuning uses another band count/tokeniser)")
        if key == "pos_embed":
            return ("spatial pos_embed dropped by the official recipes (token grid differs; the released MAE "
                    "code never adds pos_embed, so it is untrained)")
    if branch == "spectral" and key.startswith("spat_map"):
        return "input layer re-initialised by the official recipes (it maps a 64×64 = 4096-pixel map)"
    return None


def checkpoint_filter_fn(
    state_dict: Mapping[str, torch.Tensor],
    encoder: nn.Module,
    branch: str,
    keep_input_layers: bool = False,
    model_shapes: Optional[Mapping[str, tuple]] = None,
) -> tuple[dict, dict, dict]:
    """Map an official MAE state dict onto ``encoder`` (timm's ``checkpoint_filter_fn`` idea).

    Returns ``(loadable, skipped, ignored)``: ``loadable`` maps encoder-relative names to tensors of
    exactly the encoder's shape; ``skipped`` and ``ignored`` map checkpoint keys to reasons.
    ``model_shapes`` (name → shape) can replace ``encoder.state_dict()`` (for planning on ``meta``).
    """
    if branch not in BRANCH_PREFIX:
        raise ValueError(f"branch must be 'spatial' or 'spectral', got {branch!r}")
    shapes = dict(model_shapes) if model_shapes is not None else {
        k: tuple(v.shape) for k, v in encoder.state_dict().items()}
    loadable, skipped, ignored = {}, {}, {}
    for key, tensor in strip_prefixes(state_dict).items():
        if key.startswith(MAE_ONLY):
            ignored[key] = "MAE decoder / mask token (pretraining only)"
            continue
        if key not in shapes:
            if branch == "spatial" and key.startswith(("spat_map", "spat_output_maps")):
                ignored[key] = "spectral-branch layer found in a spatial file (the notebooks delete it)"
            else:
                ignored[key] = "not in this model"
            continue
        reason = _drop_reason(key, branch)
        ck_shape, m_shape = tuple(tensor.shape), tuple(shapes[key])
        if reason and not (keep_input_layers and ck_shape == m_shape):
            skipped[key] = reason
            continue
        if ck_shape != m_shape:
            skipped[key] = f"shape mismatch: checkpoint {list(ck_shape)} vs model {list(m_shape)}"
            continue
        loadable[key] = tensor
    return loadable, skipped, ignored


# --------------------------------------------------------------------------- files
def download_official_checkpoint(branch: str = "spatial", size: str = "base",
                                 cache_dir: Optional[PathLike] = None, revision: Optional[str] = None) -> Path:
    """Download an official MAE checkpoint from huggingface.co/WHU-Sigma/HyperSIGMA into the user
    cache (``$MIFOMO_CACHE_DIR/hypersigma``) and return its path; a cached file is reused.

    Sizes: base ≈ 1.4 GB, large ≈ 4 GB, huge ≈ 8 GB per branch (most of it is optimizer state: see
    :func:`convert_official_checkpoint`). With ``MIFOMO_OFFLINE``/``HF_HUB_OFFLINE`` set only the
    cache is consulted. Never called by the tests or CI.
    """
    branch = {"spat": "spatial", "spec": "spectral"}.get(branch, branch)
    key = (branch, size)
    if key not in OFFICIAL_FILES:
        raise CheckpointError(f"no official checkpoint for branch={branch!r}, size={size!r}; "
                              f"choose branch in ('spatial', 'spectral') and size in ('base', 'large', 'huge')")
    offline = bool(os.environ.get("MIFOMO_OFFLINE")) or bool(os.environ.get("HF_HUB_OFFLINE"))
    try:
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(OFFICIAL_REPO, OFFICIAL_FILES[key], revision=revision,
                               cache_dir=str(cache_dir or user_cache_dir("hypersigma")), local_files_only=offline)
    except Exception as exc:
        raise DownloadError(
            f"could not fetch {OFFICIAL_FILES[key]} from huggingface.co/{OFFICIAL_REPO}"
            f"{' (offline mode: only the cache was searched)' if offline else ''}: {type(exc).__name__}: {exc}. "
            "Download it by hand and pass the local path instead.") from None
    verify_cached(Path(path), Path(cache_dir or user_cache_dir("hypersigma")) / CACHE_RECORD)
    return Path(path)


CACHE_RECORD = "sha256.json"


def verify_cached(path: Path, record: Path) -> str:
    """Check a cached download against the sha256 recorded when it was first fetched (no checksum
    is published for the official files, so the first download is the reference); record it the
    first time. A changed file raises a :class:`ChecksumError` naming it — it is never loaded."""
    from ..errors import ChecksumError
    from ..utils import atomic_path, sha256_file

    known = json.loads(record.read_text()) if record.is_file() else {}
    digest = sha256_file(path)
    expected = known.get(path.name)
    if expected is None:
        known[path.name] = digest
        with atomic_path(record) as tmp:
            tmp.write_text(json.dumps(known, indent=2, sort_keys=True) + "\n")
    elif digest != expected:
        raise ChecksumError(f"{path}: sha256 {digest} differs from {expected}, recorded in {record} when it was "
                            "downloaded; the cached file was changed or corrupted — delete it and download it again")
    return digest


def convert_official_checkpoint(src: PathLike, dst: PathLike) -> Path:
    """Keep only the encoder weights of an official file and save them as safetensors.

    The official containers are ~3× the weights (AdamW moments); the result is about a third of
    the size, loads without any unpickling and is accepted by :func:`load_official_hypersigma`.
    """
    from safetensors.torch import save_file

    from ..utils import atomic_path

    sd, meta = read_checkpoint(src)
    info = inspect_state_dict(sd, src)
    keep = {k: v.detach().contiguous().clone() for k, v in strip_prefixes(sd).items() if not k.startswith(MAE_ONLY)}
    dst = Path(dst)
    with atomic_path(dst) as tmp:
        save_file(keep, str(tmp), metadata={"source": Path(src).name, "branch": info.branch,
                                             "size": str(info.size), "epoch": str(meta.get("epoch", ""))})
    return dst
