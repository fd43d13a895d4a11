"""The bad-input matrix: one row per bad input a user (or an attacker) can give the kit — data
files, your own scenes, sparse labels, downloads, checkpoints and their integrity, configuration,
run folders, notebook parameters, the command line.

Each row proves three things:

1. the kit raises the *specific* exception class with a message that names the problem (the
   message fragment is asserted, and the whole message must equal the one documented in
   ``docs/bad_inputs.md`` — except for the lists that grow with the kit: argparse's sub-command
   choices, the valid config keys, the benchmark names); a command-line row also checks the exit
   status and that stderr is one line;
2. nothing was written half-way: the scratch folder (which is also the kit's cache and data
   folder during the row) holds exactly the same files before and after, no ``*.part`` file or
   folder exists and no new ``*.lock`` is left;
3. no untrusted code ran: the pickle row carries a payload that would create a marker file, and
   no row may leave that marker behind.

Rows whose ``exc`` is ``None`` are inputs the kit must handle *correctly* rather than refuse
(``--overwrite``, a stale lock, whole numbers written as floats, label downsampling, a closed
pipe…): their ``act`` returns the outcome in words, which the fragment and the doc check.

``docs/bad_inputs.md`` is generated from :data:`CASES` by ``python tests/bad_inputs_doc.py``,
so the documented messages are the tested ones; :func:`test_doc_lists_every_case` fails when the
doc and the cases drift apart.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import io
import os
import pickle
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import pytest

from mifomo_lite import errors as E

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "bad_inputs.md"
REGENERATE = "python tests/bad_inputs_doc.py"


# ------------------------------------------------------------------------------ context
class Ctx:
    """What a row may use: a scratch folder (also the kit's cache/data folder), environment and
    attribute patches that are undone afterwards, a marker path, and a loopback HTTP server."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = Path(tmp)
        self.marker = self.tmp / "UNTRUSTED_CODE_RAN"
        self._undo: List[Callable[[], None]] = []
        self._server: Optional["_CutServer"] = None

    def setenv(self, key: str, value: Optional[str]) -> None:
        old = os.environ.get(key)
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
        self._undo.append(lambda: os.environ.__setitem__(key, old) if old is not None else os.environ.pop(key, None))

    def patch(self, obj: Any, name: str, value: Any) -> None:
        old = getattr(obj, name)
        setattr(obj, name, value)
        self._undo.append(lambda: setattr(obj, name, old))

    def server(self) -> "_CutServer":
        if self._server is None:
            self._server = _CutServer()
            self._undo.append(self._server.close)
        return self._server

    def close(self) -> None:
        while self._undo:
            self._undo.pop()()

    def files(self) -> List[str]:
        """Every file (not folder) under the scratch folder, relative, sorted."""
        return sorted(str(p.relative_to(self.tmp)) for p in self.tmp.rglob("*") if not p.is_dir())


@contextlib.contextmanager
def isolated(tmp: Path):
    """The environment every row runs in: cache and data folder inside ``tmp``, offline, no
    mirrors, no proxies (the loopback server must be reached directly)."""
    ctx = Ctx(tmp)
    ctx.setenv("MIFOMO_CACHE_DIR", str(tmp / "cache"))
    ctx.setenv("MIFOMO_DATA_DIR", str(tmp / "data"))
    ctx.setenv("MIFOMO_DATA_MIRROR", None)
    ctx.setenv("MIFOMO_OFFLINE", "1")
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        ctx.setenv(var, None)
    ctx.setenv("NO_PROXY", "127.0.0.1,localhost")
    try:
        yield ctx
    finally:
        ctx.close()


class _CutServer:
    """Loopback HTTP server: announces the full Content-Length, sends half the body, closes."""

    def __init__(self) -> None:
        body = bytes(range(256)) * 64

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class CliFailed(Exception):
    """A ``mifomo-lite`` command that ended with a non-zero exit status (message = its stderr)."""

    def __init__(self, code: int, stderr: str) -> None:
        lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
        super().__init__(lines[-1] if lines else f"exit status {code}")
        self.code = code
        self.lines = lines


def cli(*argv: str) -> None:
    """Run ``mifomo-lite ARGV`` in-process; raise :class:`CliFailed` unless it succeeds."""
    from mifomo_lite.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
    if code:
        raise CliFailed(code, err.getvalue())


# ------------------------------------------------------------------------------ inputs
def _cube(h=12, w=10, b=8, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, b), dtype=np.float32)


def _labels(h=12, w=10, n=3) -> np.ndarray:
    lab = np.zeros((h, w), dtype=np.int64)
    lab.flat[: h * w] = (np.arange(h * w) % (n + 1))
    return lab


def _savemat(path: Path, **arrays) -> Path:
    import scipy.io

    scipy.io.savemat(str(path), arrays)
    return path


def _tiny_scene(min_class: int = 3):
    """A 3-class scene whose class 3 has only ``min_class`` labelled pixels."""
    from mifomo_lite.data import Scene

    lab = np.zeros((12, 10), dtype=np.int64)
    lab[:5] = 1
    lab[5:10] = 2
    lab.flat[100: 100 + min_class] = 3
    return Scene.from_arrays(_cube(), lab, name="tiny", class_names=["soil", "corn", "rare"])


@functools.lru_cache(maxsize=None)
def _cached_model(size: str):
    import torch

    from mifomo_lite.models import create_model

    torch.manual_seed(0)
    return create_model(size)


def _model(size: str = "tiny"):
    """A fresh copy of a (cached) randomly initialised model: building models is the slow part."""
    return copy.deepcopy(_cached_model(size))


def _state_dict_file(path: Path, size: str, branch: str) -> Path:
    import torch

    model = _cached_model(size)
    enc = model.spat_encoder if branch == "spatial" else model.spec_encoder
    torch.save({"model": enc.state_dict(), "epoch": 1}, path)
    return path


class _Payload:
    """Unpickling this object would call ``os.mkdir(marker)`` — i.e. run code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


# ------------------------------------------------------------------------------ the rows
@dataclass
class Case:
    id: str
    area: str
    bad_input: str
    how: str                                 # what the user does (shown in the doc)
    exc: Optional[type]                      # the class the user sees; None: a correct result
    fragment: str                            # must appear in the message (regex)
    act: Callable[[Ctx, Any], Any]           # raises, or (exc None) returns the outcome in words
    prepare: Callable[[Ctx], Any] = lambda ctx: None
    code: int = 2                            # exit status of a CliFailed row

    def run(self, ctx: Ctx) -> Dict[str, Any]:
        """Prepare, snapshot, act; return what happened (never raises for the expected error).
        A row that expects a correct result reports the text its ``act`` returned as the message."""
        arg = self.prepare(ctx)
        before = ctx.files()
        outcome = None
        try:
            outcome = self.act(ctx, arg)
        except Exception as exc:  # noqa: BLE001 - we record whatever was raised
            raised = exc
        else:
            raised = None
        text = str(raised) if raised is not None else (str(outcome) if self.exc is None else None)
        return {"raised": raised, "before": before, "after": ctx.files(),
                "marker": ctx.marker.exists(), "message": normalise(text, ctx) if text is not None else None}


def normalise(message: str, ctx: Ctx) -> str:
    """Make a message machine-independent: scratch folder → ``$TMP``, checkout → ``$REPO``,
    loopback port → ``PORT``, a lock holder's process id → ``PID``."""
    for p, tag in ((ctx.tmp.resolve(), "$TMP"), (ctx.tmp, "$TMP"), (REPO, "$REPO")):
        message = message.replace(str(p), tag)
    message = re.sub(r"\(process \d+", "(process PID", message)
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", message)


def _a(fn):
    """``act`` from a one-argument function of the prepared value."""
    return lambda ctx, arg: fn(arg)


def _touch(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _corrupt_mat(ctx):
    p = ctx.tmp / "scene.mat"
    p.write_bytes(np.random.default_rng(1).bytes(4096))
    return p


def _truncated_mat(ctx):
    p = _savemat(ctx.tmp / "scene.mat", data=_cube(), gt=_labels())
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    return p


def _wrong_key_mat(ctx):
    return _savemat(ctx.tmp / "scene.mat", data=_cube(), gt=_labels())


def _mismatch(ctx):
    np.save(ctx.tmp / "myscene.npy", _cube(12, 10))
    np.save(ctx.tmp / "myscene_gt.npy", _labels(11, 10))
    return ctx.tmp


def _nan_cube(ctx):
    cube = _cube()
    cube[2, 3, 5] = np.nan
    cube[7, 1, 6] = np.inf
    np.save(ctx.tmp / "myscene.npy", cube)
    np.save(ctx.tmp / "myscene_gt.npy", _labels())
    return ctx.tmp


def _non_integer_labels(ctx):
    lab = _labels().astype(np.float64)
    lab[0, 1] = 1.5
    np.save(ctx.tmp / "myscene.npy", _cube())
    np.save(ctx.tmp / "myscene_gt.npy", lab)
    return ctx.tmp


def _load_pair(folder):
    from mifomo_lite.data import load_scene

    load_scene(folder / "myscene.npy", labels=folder / "myscene_gt.npy")


def _checksum_file(ctx):
    p = ctx.tmp / "data" / "salinas_a" / "SalinasA_corrected.mat"
    p.parent.mkdir(parents=True)
    p.write_bytes(b"not the published file" * 10)
    return p


def _interrupted(ctx, _):
    from mifomo_lite.data import download_file

    ctx.setenv("MIFOMO_OFFLINE", None)
    download_file(ctx.server().url + "/SalinasA_gt.mat", ctx.tmp / "data" / "SalinasA_gt.mat", progress=False)


def _channel_mismatch(ctx, _):
    from mifomo_lite.data import synthetic_scene
    from mifomo_lite.train.presets import preset
    from mifomo_lite.train.pipeline import prepare_domains

    cfg = preset("smoke", progress=False)  # PCA-16
    tgt = synthetic_scene(height=16, width=16, n_bands=10, n_classes=3, seed=1, name="narrow_target")
    src = synthetic_scene(height=16, width=16, n_bands=60, n_classes=4, seed=2, name="wide_source")
    prepare_domains(cfg, target_scene=tgt, source_scenes=[src])


def _wrong_size_ckpt(ctx):
    return _state_dict_file(ctx.tmp / "spat-vit-small.pth", "small", "spatial")


def _wrong_branch_ckpt(ctx):
    return _state_dict_file(ctx.tmp / "spec-vit-tiny.pth", "tiny", "spectral")


def _load_into_tiny_spatial(path):
    from mifomo_lite.models import load_official_hypersigma

    load_official_hypersigma(_model("tiny"), spatial=path)


def _pickle_ckpt(ctx):
    import torch

    sd = _cached_model("tiny").spat_encoder.state_dict()
    p = ctx.tmp / "spat-vit-tiny.pth"
    torch.save({"model": sd, "args": _Payload(ctx.marker)}, p)
    return p


def _truncated_pth(ctx):
    p = _state_dict_file(ctx.tmp / "spat-vit-tiny.pth", "tiny", "spatial")
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 3])
    return p


def _corrupt_safetensors(ctx):
    import torch
    from safetensors.torch import save_file

    p = ctx.tmp / "foundation-tiny.safetensors"
    save_file({"w": torch.arange(64, dtype=torch.float32)}, str(p), metadata={"config": "{}"})
    raw = bytearray(p.read_bytes())
    raw[0:8] = (10**12).to_bytes(8, "little")          # header length far beyond the file
    p.write_bytes(bytes(raw))
    return p


def _adapter_pair(ctx):
    from mifomo_lite.peft import apply_adaptation, save_adapter

    m = _model("tiny")
    apply_adaptation(m, "lora", rank=4)
    path = save_adapter(m, ctx.tmp / "adapter-lora-r4.safetensors")
    other = _model("tiny")
    apply_adaptation(other, "lora", rank=8)
    return other, path


def _load_adapter(arg):
    from mifomo_lite.peft import load_adapter

    load_adapter(*arg)


def _tiny_model(ctx):
    return _cached_model("tiny")


def _no_cuda(ctx, _):
    import torch

    from mifomo_lite.utils import resolve_device

    ctx.patch(torch.cuda, "is_available", lambda: False)   # the row must hold on GPU machines too
    resolve_device("cuda")


def _cfg_set(*assignments):
    def act(ctx, _):
        from mifomo_lite.train.presets import preset

        preset("lite", progress=False).set(list(assignments))
    return act


def _nb_setup(**params):
    def act(ctx, _):
        from mifomo_lite.notebooks import setup

        setup(quiet=True, **params)
    return act


def _offline_fetch(ctx, _):
    from mifomo_lite.data import fetch_scene

    fetch_scene("salinas_a", progress=False)


CASES: List[Case] = [
    # ---- data files
    Case("corrupt_mat", "data", "corrupt `.mat` (random bytes)", "`load_scene('scene.mat')`",
         E.DataError, r"cannot read the file — it is truncated, corrupt", _a(lambda p: _load_path(p)), _corrupt_mat),
    Case("truncated_mat", "data", "truncated `.mat` (first half of a valid file)", "`load_scene('scene.mat')`",
         E.DataError, r"cannot read the file — it is truncated", _a(lambda p: _load_path(p)), _truncated_mat),
    Case("empty_file", "data", "empty (0-byte) data file", "`load_scene('scene.mat')`",
         E.DataError, r"is empty \(0 bytes\)", _a(lambda p: _load_path(p)),
         lambda ctx: _touch(ctx.tmp / "scene.mat")),
    Case("missing_file", "data", "data file that does not exist", "`load_scene('nowhere/scene.mat')`",
         E.DataFileNotFound, r"image file not found", _a(lambda p: _load_path(p)),
         lambda ctx: ctx.tmp / "nowhere" / "scene.mat"),
    Case("wrong_key", "data", "`.mat` without the variable asked for", "`load_scene('scene.mat', cube_key='indian_pines_corrected')`",
         E.DataError, r"no image cube named 'indian_pines_corrected'; variables found: data",
         _a(lambda p: _load_path(p, cube_key="indian_pines_corrected")), _wrong_key_mat),
    Case("cube_label_mismatch", "data", "cube 12×10 with a 11×10 label map", "`load_scene('myscene.npy', labels='myscene_gt.npy')`",
         E.DataError, r"spatial size mismatch", _a(_load_pair), _mismatch),
    Case("nan_inf_cube", "data", "cube with NaN and Inf values", "`load_scene('myscene.npy', labels='myscene_gt.npy')`",
         E.DataError, r"2 pixel\(s\) contain NaN or Inf values", _a(_load_pair), _nan_cube),
    Case("fractional_labels", "data", "label map with non-integer values", "`load_scene('myscene.npy', labels='myscene_gt.npy')`",
         E.DataError, r"not whole numbers", _a(_load_pair), _non_integer_labels),
    Case("unknown_scene", "data", "misspelt scene name", "`load_scene('indian_pine')`",
         E.DataError, r"unknown scene name 'indian_pine'\. Did you mean 'indian_pines'",
         lambda ctx, _: _load_name("indian_pine")),
    Case("channel_mismatch", "data", "source and target with different channel counts after PCA",
         "`prepare_domains(preset('smoke'), target_scene=<10 bands>, source_scenes=[<60 bands>])`",
         E.DataError, r"has 16 channels after preprocessing but the target 'narrow_target' has 10", _channel_mismatch),
    # ---- few-shot episodes
    Case("too_small_class", "episodes", "a class with fewer pixels than shots + 1", "`few_shot_split(scene, n_shot=5)`",
         E.EpisodeError, r"class 'rare' .* has only 3 labelled pixels; a 5-shot split needs at least 6",
         _a(lambda s: _split(s, 5)), lambda ctx: _tiny_scene(3)),
    Case("n_way_too_large", "episodes", "more ways than classes", "`EpisodeSampler(scene, n_way=5)`",
         E.EpisodeError, r"n_way=5 is larger than the number of classes \(3\)",
         _a(lambda s: _sampler(s, n_way=5, n_shot=1, n_query=1)), lambda ctx: _tiny_scene(20)),
    Case("episode_too_big", "episodes", "shots + queries larger than a class", "`EpisodeSampler(scene, n_way=3, n_shot=5, n_query=15)`",
         E.EpisodeError, r"3-way 5-shot episodes with 15 queries need 20 pixels per class",
         _a(lambda s: _sampler(s, n_way=3, n_shot=5, n_query=15)), lambda ctx: _tiny_scene(12)),
    # ---- downloads
    Case("checksum_mismatch", "downloads", "a file in the data folder that is not the published one",
         "`fetch_scene('salinas_a')` with a different `SalinasA_corrected.mat` present",
         E.ChecksumError, r"checksum mismatch for .*SalinasA_corrected\.mat: expected sha256",
         lambda ctx, _: _fetch("salinas_a"), _checksum_file),
    Case("interrupted_download", "downloads", "connection drops half-way", "`download_file(url, dest)`",
         E.DownloadError, r"was interrupted.*nothing was saved", _interrupted),
    Case("offline_download", "downloads", "download while offline (`MIFOMO_OFFLINE=1`)", "`fetch_scene('salinas_a')`",
         E.DownloadError, r"refusing to download .* MIFOMO_OFFLINE is set", _offline_fetch),
    # ---- checkpoints
    Case("wrong_size_checkpoint", "checkpoints", "spatial checkpoint of another size (small into tiny)",
         "`load_official_hypersigma(create_model('tiny'), spatial='spat-vit-small.pth')`",
         E.CheckpointError, r"but the spatial encoder is tiny \(D=128", _a(_load_into_tiny_spatial), _wrong_size_ckpt),
    Case("wrong_branch_checkpoint", "checkpoints", "spectral checkpoint given as the spatial one",
         "`load_official_hypersigma(model, spatial='spec-vit-tiny.pth')`",
         E.CheckpointError, r"swap the spatial and spectral files", _a(_load_into_tiny_spatial), _wrong_branch_ckpt),
    Case("pickle_payload", "checkpoints", "`.pth` whose pickle would run code (`os.mkdir`)",
         "`load_official_hypersigma(model, spatial='spat-vit-tiny.pth')`",
         E.CheckpointError, r"refusing to load — unpickling it would need the Python object '(posix|nt)\.mkdir'",
         _a(_load_into_tiny_spatial), _pickle_ckpt),
    Case("truncated_checkpoint", "checkpoints", "truncated `.pth` (first third)",
         "`load_official_hypersigma(model, spatial='spat-vit-tiny.pth')`",
         E.CheckpointError, r"not a readable PyTorch checkpoint \(truncated or corrupted\?\)",
         _a(_load_into_tiny_spatial), _truncated_pth),
    Case("missing_checkpoint", "checkpoints", "checkpoint path that does not exist",
         "`load_official_hypersigma(model, spatial='missing.pth')`",
         E.DataFileNotFound, r"checkpoint file not found", _a(_load_into_tiny_spatial), lambda ctx: ctx.tmp / "missing.pth"),
    Case("corrupt_safetensors", "checkpoints", "corrupted safetensors header", "`load_foundation_model(path='foundation-tiny.safetensors')`",
         E.CheckpointError, r"corrupted or not a safetensors file", _a(lambda p: _foundation(p)), _corrupt_safetensors),
    Case("adapter_mismatch", "checkpoints", "LoRA adapter file of rank 4 into a rank-8 model",
         "`load_adapter(model, 'adapter-lora-r4.safetensors')`",
         E.CheckpointError, r"lora options differ \(model, file\): \{'rank': \(8, 4\)\}", _a(_load_adapter), _adapter_pair),
    # ---- model inputs
    Case("band_mismatch", "model", "30-band patches into a model built for 50", "`model(torch.zeros(2, 30, 9, 9))`",
         E.DataError, r"the batch has 30 bands/components but the model expects in_chans=50",
         _a(lambda m: m(_zeros(2, 30, 9, 9))), _tiny_model),
    Case("patch_mismatch", "model", "7×7 patches into a model built for 9×9", "`model(torch.zeros(2, 50, 7, 7))`",
         E.DataError, r"the batch holds 7×7 patches but the model was built for 9×9",
         _a(lambda m: m(_zeros(2, 50, 7, 7))), _tiny_model),
    # ---- configuration and device
    Case("cuda_without_gpu", "config", "CUDA requested on a machine without a GPU", "`resolve_device('cuda')` (`--set device=cuda`)",
         E.DeviceError, r"CUDA is not available on this machine", _no_cuda),
    Case("unknown_config_key", "config", "misspelt config key", "`preset('lite').set(['lgc_sgima=3'])`",
         E.ConfigError, r"unknown config key 'lgc_sgima' — did you mean lgc_sigma", _cfg_set("lgc_sgima=3")),
    Case("wrong_typed_value", "config", "text where a number is expected", "`preset('lite').set(['n_shot=abc'])`",
         E.ConfigError, r"n_shot expects a number, got 'abc'", _cfg_set("n_shot=abc")),
    Case("invalid_choice", "config", "unknown adaptation method", "`preset('lite').set(['adaptation=qlora'])`",
         E.ConfigError, r"adaptation='qlora' is not valid; choose one of cp, lora", _cfg_set("adaptation=qlora")),
    Case("even_patch_size", "config", "even patch size", "`preset('lite').set(['patch_size=8'])`",
         E.ConfigError, r"patch_size must be odd", _cfg_set("patch_size=8")),
    Case("unknown_preset", "config", "unknown preset name", "`preset('fast')`",
         E.ConfigError, r"unknown preset 'fast'; choose smoke, lite, faithful or paper", lambda ctx, _: _preset("fast")),
    # ---- notebook (papermill) parameters
    Case("papermill_seed_type", "notebooks", "papermill parameter of the wrong type (`-p seed abc`)",
         "first cell: `setup(profile, device, seed='abc')`",
         E.ConfigError, r"seed must be an integer, got 'abc'", _nb_setup(profile="smoke", device="cpu", seed="abc")),
    Case("papermill_unknown_profile", "notebooks", "unknown profile (`-p profile quick`)",
         "first cell: `setup(profile='quick', ...)`",
         E.ConfigError, r"profile 'quick' is not valid; choose one of smoke, lite, colab, paper",
         _nb_setup(profile="quick", device="cpu", seed=0)),
    Case("papermill_device_type", "notebooks", "device parameter that is not text (`-p device 0`)",
         "first cell: `setup(profile, device=0, seed)`",
         E.ConfigError, r"device must be text", _nb_setup(profile="smoke", device=0, seed=0)),
    # ---- command line
    Case("cli_unknown_command", "CLI", "unknown sub-command", "`mifomo-lite trian`",
         CliFailed, r"argument COMMAND: invalid choice: 'trian'", lambda ctx, _: cli("trian")),
    Case("cli_bad_flag", "CLI", "unknown flag", "`mifomo-lite data info indian_pines --jsn`",
         CliFailed, r"unrecognized arguments: --jsn", lambda ctx, _: cli("data", "info", "indian_pines", "--jsn")),
    Case("cli_unknown_scene", "CLI", "unknown scene name on the command line", "`mifomo-lite data info salinas_b`",
         CliFailed, r"mifomo-lite: error: unknown scene name 'salinas_b'", lambda ctx, _: cli("data", "info", "salinas_b")),
    Case("cli_unknown_benchmark", "CLI", "unknown benchmark name", "`mifomo-lite bench --only speed`",
         CliFailed, r"mifomo-lite: error: no benchmark named 'speed'", lambda ctx, _: cli("bench", "--only", "speed")),
]


# ------------------------------------------------------------------------------ integrity of weights
def _shipped_copy(ctx, tamper: bool = True, card: bool = True):
    """The shipped micro weights (and card) copied to ``$TMP/weights`` with ``MIFOMO_FOUNDATION_DIR``
    pointing there; ``tamper`` flips one byte in the middle of the weights."""
    import shutil

    from mifomo_lite.models.foundation import foundation_paths

    src = foundation_paths("micro", REPO / "mifomo_lite" / "assets")
    dst = ctx.tmp / "weights"
    dst.mkdir()
    shutil.copy(src["weights"], dst / src["weights"].name)
    if card:
        shutil.copy(src["card_json"], dst / src["card_json"].name)
    if tamper:
        raw = bytearray((dst / src["weights"].name).read_bytes())
        raw[len(raw) // 2] ^= 0x01
        (dst / src["weights"].name).write_bytes(bytes(raw))
    ctx.setenv("MIFOMO_FOUNDATION_DIR", str(dst))
    return dst


def _build_smoke_model(ctx, _):
    """``build_model`` of the smoke preset: PCA-16 inputs, so the shapes differ from the shipped
    weights and the partial loader is the route taken after the full loader."""
    from mifomo_lite.train.presets import preset
    from mifomo_lite.train.pipeline import build_model

    build_model(preset("smoke", progress=False), "cpu")


def _official_bad(kind: str):
    def prepare(ctx):
        import torch

        sd = dict(_cached_model("tiny").spat_encoder.state_dict())
        key = "blocks.0.attn.qkv.weight"
        if kind == "int64":
            sd[key] = sd[key].round().to(torch.int64)
        elif kind == "nan":
            sd[key] = sd[key].clone()
            sd[key][0, 0] = float("nan")
        else:
            sd[key] = sd[key].to(torch.complex64)
        p = ctx.tmp / "spat-vit-tiny.pth"
        torch.save({"model": sd}, p)
        return p
    return prepare


def _foundation_nan(ctx):
    from mifomo_lite.models import save_foundation_model

    model = _model("tiny")
    import torch

    with torch.no_grad():
        model.spat_encoder.blocks[0].attn.qkv.weight[0, 0] = float("inf")
    return save_foundation_model(model, ctx.tmp, "tiny")["weights"]


CASES += [
    Case("tampered_shipped_weights", "integrity", "shipped weights with one byte changed (`MIFOMO_FOUNDATION_DIR`)",
         "`build_model(preset('smoke'))` (full loader fails on shapes, partial loader must not run)",
         E.ChecksumError, r"foundation-micro\.safetensors: sha256 .* differs from the model card's",
         _build_smoke_model, _shipped_copy),
    Case("shipped_weights_without_card", "integrity", "shipped weights whose model card was removed",
         "`build_model(preset('smoke'))` with only `foundation-micro.safetensors` in `MIFOMO_FOUNDATION_DIR`",
         E.ChecksumError, r"no model card with a sha256 next to it", _build_smoke_model,
         lambda ctx: _shipped_copy(ctx, tamper=False, card=False)),
    Case("official_int64_weights", "integrity", "official checkpoint with an int64 weight tensor",
         "`load_official_hypersigma(model, spatial='spat-vit-tiny.pth')`",
         E.CheckpointError, r"tensor 'blocks\.0\.attn\.qkv\.weight' has dtype torch\.int64",
         _a(_load_into_tiny_spatial), _official_bad("int64")),
    Case("official_nan_weights", "integrity", "official checkpoint with a NaN weight",
         "`load_official_hypersigma(model, spatial='spat-vit-tiny.pth')`",
         E.CheckpointError, r"holds 1 NaN/Inf value", _a(_load_into_tiny_spatial), _official_bad("nan")),
    Case("official_complex_weights", "integrity", "official checkpoint with a complex weight tensor",
         "`load_official_hypersigma(model, spatial='spat-vit-tiny.pth')`",
         E.CheckpointError, r"has dtype torch\.complex64", _a(_load_into_tiny_spatial), _official_bad("complex")),
    Case("foundation_inf_weights", "integrity", "foundation `.safetensors` holding an Inf weight",
         "`load_foundation_model(path='foundation-tiny.safetensors')`",
         E.CheckpointError, r"holds 1 NaN/Inf value", _a(lambda p: _foundation(p)), _foundation_nan),
]


# ------------------------------------------------------------------------------ run folders
def _fake_run(ctx, *, fail: Optional[Exception] = None) -> None:
    """Replace the pipeline by a stand-in that writes ``metrics.json`` (then raises ``fail``): the
    run-folder rows test ownership and atomicity, not training."""
    from mifomo_lite.train import runner

    ctx.patch(runner, "run_pipeline", lambda cfg, **kw: "result")

    def write(result, out, log=print):
        (Path(out) / "metrics.json").write_text("{}")
        if fail is not None:
            raise fail
        return out
    ctx.patch(runner, "write_run_folder", write)


def _toy_scene(name: str = "toy"):
    from mifomo_lite.data import synthetic_scene

    return synthetic_scene(height=16, width=16, n_bands=20, n_classes=3, seed=1, name=name)


def _run_folder(ctx, out, **kw):
    from mifomo_lite.train.presets import preset
    from mifomo_lite.train.runner import run_to_folder

    kw.setdefault("target_scene", _toy_scene())
    _, folder = run_to_folder(preset("smoke", progress=False), out, log=lambda *a, **k: None, **kw)
    return folder


def _out_is_file(ctx):
    _fake_run(ctx)
    return _touch(ctx.tmp / "results.txt")


def _out_not_empty(ctx):
    _fake_run(ctx)
    (ctx.tmp / "run").mkdir()
    (ctx.tmp / "run" / "tsne.png").write_bytes(b"old figure")
    return ctx.tmp / "run"


def _out_locked(ctx):
    _fake_run(ctx)
    (ctx.tmp / "run.lock").write_text(str(os.getpid()))   # a live process holds it
    return ctx.tmp / "run"


def _overwrite_clears(ctx, out):
    folder = _run_folder(ctx, out, overwrite=True)
    return f"{folder.name}/ now holds: {', '.join(sorted(p.name for p in folder.iterdir()))}"


def _stale_lock(ctx):
    _fake_run(ctx)
    (ctx.tmp / "run.lock").write_text("999999999")   # no such process: a run that died
    return ctx.tmp / "run"


def _full_disk(ctx):
    import errno

    _fake_run(ctx, fail=OSError(errno.ENOSPC, "No space left on device"))
    return ctx.tmp / "run"


def _target_traversal(ctx, _):
    from mifomo_lite.train.presets import preset
    from mifomo_lite.train.runner import default_run_dir

    cfg = preset("smoke", progress=False)
    path = default_run_dir(dataclasses.replace(cfg, target="../../x.mat"), root=str(ctx.tmp / "runs"))
    inside = (ctx.tmp / "runs").resolve() in path.resolve().parents
    return f"folder {re.sub(r'[0-9]{8}-[0-9]{6}', 'STAMP', path.name)!r}, inside runs/: {inside}"


CASES += [
    Case("out_is_file", "outputs", "`--out` naming an existing file", "`mifomo-lite run --preset smoke --out results.txt`",
         CliFailed, r"is an existing file, not a folder", lambda ctx, p: cli("run", "--preset", "smoke", "--out", str(p)),
         _out_is_file),
    Case("out_not_empty", "outputs", "`--out` holding an earlier run (refused before any work)",
         "`mifomo-lite run --preset smoke --out run/` with `run/tsne.png` present",
         CliFailed, r"already holds files .* pass --overwrite", lambda ctx, p: cli("run", "--preset", "smoke", "--out", str(p)),
         _out_not_empty),
    Case("out_overwrite", "outputs", "`--overwrite` onto a folder with a stale figure",
         "`run_to_folder(cfg, 'run', overwrite=True)` with `run/tsne.png` from an older run",
         None, r"run/ now holds: metrics\.json, scene\.json$", _overwrite_clears, _out_not_empty),
    Case("out_locked", "outputs", "a second run on a folder another live run is writing",
         "`run_to_folder(cfg, 'run')` while `run.lock` names a live process",
         E.OutputError, r"is being written by another run \(process PID", lambda ctx, p: _run_folder(ctx, p), _out_locked),
    Case("out_stale_lock", "outputs", "a lock left by a run that died",
         "`run_to_folder(cfg, 'run')` with `run.lock` naming a dead process",
         None, r"run/ now holds: metrics\.json, scene\.json$", lambda ctx, p: _overwrite_clears(ctx, p), _stale_lock),
    Case("full_disk", "outputs", "the disk fills while the run folder is written",
         "`run_to_folder(cfg, 'run')`, writing fails with ENOSPC",
         E.OutputError, r"No space left on device; its unfinished folder was removed", lambda ctx, p: _run_folder(ctx, p),
         _full_disk),
    Case("target_path_traversal", "outputs", "`--target ../../x.mat` naming the default run folder",
         "`default_run_dir(cfg with target='../../x.mat')`",
         None, r"'STAMP-smoke-x-cp', inside runs/: True", _target_traversal),
]


# ------------------------------------------------------------------------------ config at the door
def _cli_run(*extra: str):
    return lambda ctx, _: cli("run", "--preset", "smoke", "--out", str(ctx.tmp / "run"), *extra)


def _preset_kw(**kw):
    def act(ctx, _):
        from mifomo_lite.train.presets import preset

        return preset("smoke", progress=False, **kw)
    return act


def _whole_float(ctx, _):
    from mifomo_lite.train.presets import preset

    cfg = preset("smoke", progress=False).set(["n_shot=3.0", "seed=7.0"])
    return f"n_shot={cfg.n_shot!r} ({type(cfg.n_shot).__name__}), seed={cfg.seed!r} ({type(cfg.seed).__name__})"


CASES += [
    Case("cli_n_shot_fraction", "config", "fractional shot count", "`mifomo-lite run --set n_shot=2.5`",
         CliFailed, r"n_shot must be a whole number, got 2\.5", _cli_run("--set", "n_shot=2.5")),
    Case("cli_n_shot_overflow", "config", "shot count that overflows to inf", "`mifomo-lite run --set n_shot=1e400`",
         CliFailed, r"n_shot must be a finite integer, got inf", _cli_run("--set", "n_shot=1e400")),
    Case("cli_n_shot_nan", "config", "shot count NaN", "`mifomo-lite run --set n_shot=NaN`",
         CliFailed, r"n_shot must be a finite integer, got nan", _cli_run("--set", "n_shot=NaN")),
    Case("cli_seed_too_large", "config", "seed 2**64", "`mifomo-lite run --seed 18446744073709551616`",
         CliFailed, r"seed must lie in \[0, 4294967295\], got 18446744073709551616",
         _cli_run("--seed", "18446744073709551616")),
    Case("cli_seed_negative", "config", "negative seed", "`mifomo-lite run --seed -1`",
         CliFailed, r"seed must lie in \[0, 4294967295\], got -1", _cli_run("--seed", "-1")),
    Case("cli_num_threads_text", "config", "thread count given as text", "`mifomo-lite run --set num_threads=abc`",
         CliFailed, r"num_threads must be an integer, got 'abc'", _cli_run("--set", "num_threads=abc")),
    Case("cli_num_threads_zero", "config", "zero threads", "`mifomo-lite run --set num_threads=0`",
         CliFailed, r"num_threads must lie in \[1, 4096\], got 0", _cli_run("--set", "num_threads=0")),
    Case("cli_device_meta", "config", "a device the kit cannot run on", "`mifomo-lite run --device meta`",
         CliFailed, r"device='meta' is not a device this kit runs on", _cli_run("--device", "meta")),
    Case("cli_episodes_zero", "config", "zero test episodes", "`mifomo-lite run --episodes 0`",
         CliFailed, r"n_test_episodes must lie in \[1, 100000\], got 0", _cli_run("--episodes", "0")),
    Case("cli_lr_nan", "config", "NaN learning rate (refused here, not blamed on the data later)",
         "`mifomo-lite run --set lr_peft=NaN`", CliFailed, r"lr_peft must be a finite number, got nan",
         _cli_run("--set", "lr_peft=NaN")),
    Case("cli_lr_negative", "config", "negative learning rate", "`mifomo-lite run --set lr_model=-0.1`",
         CliFailed, r"lr_model must be > 0, got -0\.1", _cli_run("--set", "lr_model=-0.1")),
    Case("api_n_shot_fraction", "config", "fractional shot count from Python", "`preset('smoke', n_shot=2.5)`",
         E.ConfigError, r"n_shot must be a whole number, got 2\.5", _preset_kw(n_shot=2.5)),
    Case("api_bool_as_int", "config", "a boolean where a count is expected", "`preset('smoke', n_shot=True)`",
         E.ConfigError, r"n_shot must be an integer, got True \(bool\)", _preset_kw(n_shot=True)),
    Case("api_last_seed_overflow", "config", "seeds of later episodes past 2**32",
         "`preset('smoke', seed=2**32 - 1, n_test_episodes=2)`", E.ConfigError,
         r"seed \+ n_test_episodes - 1 \(the last episode's seed\) must lie in \[0, 4294967295\]",
         _preset_kw(seed=2**32 - 1, n_test_episodes=2)),
    Case("api_drop_path_out_of_range", "config", "drop-path rate above 1", "`preset('smoke', drop_path_rate=2.0)`",
         E.ConfigError, r"drop_path_rate must lie in \[0, 1\], got 2\.0", _preset_kw(drop_path_rate=2.0)),
    Case("api_n_way_one", "config", "one-way source episodes", "`preset('smoke', source_n_way=1)`",
         E.ConfigError, r"source_n_way must lie in \[2, 10000\], got 1", _preset_kw(source_n_way=1)),
    Case("api_inf_sigma", "config", "infinite propagation bandwidth", "`preset('smoke', lgc_sigma=float('inf'))`",
         E.ConfigError, r"lgc_sigma must be a finite number, got inf", _preset_kw(lgc_sigma=float("inf"))),
    Case("api_whole_float", "config", "whole numbers written as floats (`3.0`)", "`preset('smoke').set(['n_shot=3.0', 'seed=7.0'])`",
         None, r"n_shot=3 \(int\), seed=7 \(int\)", _whole_float),
    Case("papermill_seed_negative", "notebooks", "negative seed (`-p seed -1`)", "first cell: `setup(profile, device, seed=-1)`",
         E.ConfigError, r"seed must lie in \[0, 4294967295\], got -1", _nb_setup(profile="smoke", device="cpu", seed=-1)),
    Case("papermill_device_meta", "notebooks", "unknown device (`-p device meta`)", "first cell: `setup(profile, device='meta', seed)`",
         E.ConfigError, r"device='meta' is not a device this kit runs on", _nb_setup(profile="smoke", device="meta", seed=0)),
]


# ------------------------------------------------------------------------------ one CLI error handler
def _failing_info(exc: BaseException):
    """Make ``mifomo-lite data info`` fail with ``exc`` (as a bug or the system would)."""
    def prepare(ctx):
        from mifomo_lite.data import cli as data_cli

        def boom(*a, **k):
            raise exc
        ctx.patch(data_cli, "load_scene", boom)
    return prepare


def _internal_error(ctx, _):
    from mifomo_lite.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["data", "info", "indian_pines"])
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
    logs = list((ctx.tmp / "cache" / "logs").glob("error-*.log"))
    has_tb = len(logs) == 1 and "Traceback (most recent call last)" in logs[0].read_text()
    line = re.sub(r"error-[0-9-]+\.log", "error-STAMP-PID.log", lines[0]) if lines else ""
    return f"exit {code}; {len(lines)} stderr line: {line}; the log holds the traceback: {has_tb}"


class _ClosedPipe(io.StringIO):
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


def _broken_pipe(ctx, _):
    from mifomo_lite.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(_ClosedPipe()):
        code = main(["data", "list"])
    return f"exit {code}; stderr: {err.getvalue()!r}"


CASES += [
    Case("cli_internal_error", "CLI", "a bug inside a command (an unexpected exception)",
         "`mifomo-lite data info indian_pines` when the loader raises `TypeError`",
         None, r"exit 1; 1 stderr line: mifomo-lite: internal error: TypeError: .*full traceback in .*; "
               r"the log holds the traceback: True", _internal_error, _failing_info(TypeError("unexpected None"))),
    Case("cli_broken_pipe", "CLI", "output piped into `| head`, which closes early", "`mifomo-lite data list | head -1`",
         None, r"exit 141; stderr: ''", _broken_pipe),
    Case("cli_ctrl_c", "CLI", "Ctrl-C during a command", "`mifomo-lite data info indian_pines`, interrupted",
         CliFailed, r"mifomo-lite: interrupted", lambda ctx, _: cli("data", "info", "indian_pines"),
         _failing_info(KeyboardInterrupt()), code=130),
    Case("cli_out_of_memory", "CLI", "a scene too large for memory", "`mifomo-lite data info big.mat` raising `MemoryError`",
         CliFailed, r"out of memory \(MemoryError\)", lambda ctx, _: cli("data", "info", "indian_pines"),
         _failing_info(MemoryError())),
    Case("cli_multiline_message", "CLI", "a registry scene whose files are missing (a multi-line message)",
         "`mifomo-lite data info salinas_a` with an empty data folder",
         CliFailed, r"file\(s\) not found in the data folder \$TMP/data: SalinasA_corrected\.mat",
         lambda ctx, _: cli("data", "info", "salinas_a")),
]


# ------------------------------------------------------------------------------ scenes at the door
def _scene_with(cube=None, labels=None, names=None, name="myscene"):
    from mifomo_lite.data import Scene

    cube = _cube(16, 16, 20) if cube is None else cube
    if labels is None:
        labels = np.zeros((16, 16), np.int64)
        labels[:8], labels[8:] = 1, 2
    return Scene.from_arrays(cube, labels, name=name, class_names=names)


def _validate_run(prepare_scene, **kw):
    """``run_to_folder`` on a prepared scene, the pipeline replaced by a stand-in: the scene must
    be refused before it would be reached."""
    def act(ctx, scene):
        _fake_run(ctx)
        return _run_folder(ctx, ctx.tmp / "run", target_scene=scene, **kw)
    return act, prepare_scene


def _constant(ctx):
    return _scene_with(cube=np.full((16, 16, 20), 0.25, np.float32))


def _near_constant(ctx):
    return _scene_with(cube=(1.0 + 1e-9 * _cube(16, 16, 20)).astype(np.float32))


def _nan_scene_direct(ctx):
    scene = _scene_with()
    scene.cube[3, 4, 5] = np.nan     # after construction: bypasses from_arrays' check
    return scene


def _one_class(ctx):
    return _scene_with(labels=np.ones((16, 16), np.int64), names=["water"])


def _small_class(ctx):
    lab = np.zeros((16, 16), np.int64)
    lab[:8], lab[8:15] = 1, 4
    lab[15, :3] = 9
    return _scene_with(labels=lab, names={1: "soil", 4: "corn", 9: "oats"})


def _dropped(ctx, scene):
    import json

    _fake_run(ctx)
    folder = _run_folder(ctx, ctx.tmp / "run", target_scene=scene, drop_small_classes=True)
    rec = json.loads((folder / "scene.json").read_text())
    return (f"classes kept: {', '.join(c['name'] for c in rec['classes'])}; "
            f"dropped: {'; '.join(rec['dropped_classes'])}")


def _few_bands(ctx):
    return _scene_with(cube=_cube(16, 16, 10))


def _complex_mat(ctx):
    cube = _cube().astype(np.complex64) + 1j * _cube(seed=2)
    return _savemat(ctx.tmp / "scene.mat", data=cube, gt=_labels())


def _complex_npy(ctx):
    np.save(ctx.tmp / "myscene.npy", _cube().astype(np.complex128))
    np.save(ctx.tmp / "myscene_gt.npy", _labels())
    return ctx.tmp


def _huge_labels(ctx):
    lab = _labels().astype(np.float64)
    lab[0, 0] = 1e20
    np.save(ctx.tmp / "myscene.npy", _cube())
    np.save(ctx.tmp / "myscene_gt.npy", lab)
    return ctx.tmp


def _envi_without_image(ctx):
    p = ctx.tmp / "scene.hdr"
    p.write_text("ENVI\nsamples = 10\nlines = 12\nbands = 8\nheader offset = 0\nfile type = ENVI Standard\n"
                 "data type = 4\ninterleave = bsq\nbyte order = 0\n")
    return p


def _huge_v73(ctx):
    import h5py

    p = ctx.tmp / "big.mat"
    with h5py.File(p, "w") as f:    # declared dims only: chunked, nothing written
        f.create_dataset("data", shape=(200, 100_000, 100_000), dtype="f8", chunks=(1, 100, 100))
        f.create_dataset("gt", shape=(100_000, 100_000), dtype="u1", chunks=(100, 100))
    ctx.setenv("MIFOMO_MAX_ARRAY_BYTES", str(8 * 2**30))   # the same message on every machine
    return p


def _two_cubes(ctx):
    return _savemat(ctx.tmp / "scene.mat", radiance=_cube(), reflectance=_cube(seed=3), gt=_labels())


def _one_class_mat(ctx):
    _fake_run(ctx)
    return _savemat(ctx.tmp / "lake.mat", data=_cube(16, 16, 20), gt=np.ones((16, 16), np.uint8))


CASES += [
    Case("complex_mat_cube", "scenes", "complex-valued cube in a `.mat`", "`load_scene('scene.mat')`",
         E.DataError, r"holds complex values \(dtype complex", _a(lambda p: _load_path(p)), _complex_mat),
    Case("complex_npy_cube", "scenes", "complex-valued cube in a `.npy`", "`load_scene('myscene.npy', labels='myscene_gt.npy')`",
         E.DataError, r"the image cube holds complex values \(dtype complex128\)", _a(_load_pair), _complex_npy),
    Case("complex_array_cube", "scenes", "complex NumPy array given directly", "`Scene.from_arrays(complex_cube, labels)`",
         E.DataError, r"the cube holds complex values \(dtype complex64\)",
         lambda ctx, _: _scene_with(cube=_cube(16, 16, 20).astype(np.complex64))),
    Case("constant_cube", "scenes", "constant cube (every pixel the same spectrum)", "`run_to_folder(cfg, out, target_scene=scene)`",
         E.DataError, r"the cube is constant or nearly so", *_validate_run(_constant)),
    Case("near_constant_cube", "scenes", "cube varying by 1e-9 across pixels", "`run_to_folder(cfg, out, target_scene=scene)`",
         E.DataError, r"the cube is constant or nearly so", *_validate_run(_near_constant)),
    Case("nan_after_construction", "scenes", "NaN written into a scene's cube after it was built",
         "`scene.cube[3, 4, 5] = nan; run_to_folder(cfg, out, target_scene=scene)`",
         E.DataError, r"1 pixel\(s\) contain NaN or Inf values", *_validate_run(_nan_scene_direct)),
    Case("single_class_target", "scenes", "target with one class (crashed in sklearn after 27 s)",
         "`run_to_folder(cfg, out, target_scene=<1 class>)`",
         E.DataError, r"has a single class \(label 1 \(orig 1\) 'water', 256 pixels\)", *_validate_run(_one_class)),
    Case("small_class_target", "scenes", "a class with fewer than n_shot + 1 pixels, caught before phase 0",
         "`run_to_folder(cfg, out, target_scene=scene)` (5-shot)",
         E.DataError, r"label 3 \(orig 9\) 'oats' has 3\. Use --drop-small-classes", *_validate_run(_small_class)),
    Case("drop_small_classes", "scenes", "the same scene with `--drop-small-classes`",
         "`run_to_folder(cfg, out, target_scene=scene, drop_small_classes=True)`",
         None, r"classes kept: soil, corn; dropped: label 3 \(orig 9\) 'oats'", _dropped, _small_class),
    Case("pca_more_than_bands", "scenes", "`pca_components` larger than the scene's band count",
         "`run_to_folder(preset('smoke'), out, target_scene=<10 bands>)` (PCA-16)",
         E.DataError, r"has 10 bands but pca_components=16; use --set pca_components=10", *_validate_run(_few_bands)),
    Case("huge_label_value", "scenes", "label value 1e20 (was called \"negative\")", "`load_scene('myscene.npy', labels='myscene_gt.npy')`",
         E.DataError, r"label values too large to be class ids \(1e\+20", _a(_load_pair), _huge_labels),
    Case("envi_missing_image", "scenes", "ENVI header without its image file (was \"corrupt, delete\")", "`load_scene('scene.hdr')`",
         E.DataFileNotFound, r"ENVI header found but no image file next to it", _a(lambda p: _load_path(p)), _envi_without_image),
    Case("huge_v73_dims", "scenes", "v7.3 `.mat` declaring a 100000×100000×200 cube (was MemoryError)",
         "`load_scene('big.mat')`", E.DataError, r"has shape \(100000, 100000, 200\) and needs 7,450\.6 GiB",
         _a(lambda p: _load_path(p)), _huge_v73),
    Case("ambiguous_cube_key", "scenes", "`.mat` with two 3-D arrays", "`load_scene('scene.mat')`",
         E.DataError, r"cannot tell which variable is the image cube; .* Name the right one with --cube-key NAME",
         _a(lambda p: _load_path(p)), _two_cubes),
    Case("cli_single_class_file", "scenes", "`--target` file whose labels hold one class",
         "`mifomo-lite run --preset smoke --target lake.mat`",
         CliFailed, r"target scene 'lake' has a single class",
         lambda ctx, p: cli("run", "--preset", "smoke", "--target", str(p), "--out", str(ctx.tmp / "run")),
         _one_class_mat),
]


# ------------------------------------------------------------------------------ bring your own scene
def _points(ctx, lines: str, tif: bool = True):
    """A 16×16×20 TIFF cube (bands as pages) and a points CSV with ``lines``."""
    import tifffile

    tifffile.imwrite(ctx.tmp / "field.tif", np.moveaxis(_cube(16, 16, 20), -1, 0))
    if lines is not None:
        (ctx.tmp / "points.csv").write_text(lines)
    return ctx.tmp


def _sparse(ctx, folder, **kw):
    from mifomo_lite.train.presets import preset
    from mifomo_lite.train.predict_map import run_sparse

    run_sparse(preset("smoke", progress=False), folder / "field.tif", folder / "points.csv", folder / "map",
               log=lambda *a, **k: None, **kw)


def _points_case(cid, bad, lines, fragment, exc=E.DataError):
    return Case(cid, "sparse labels", bad, "`run_sparse(cfg, 'field.tif', 'points.csv')` (`--support points.csv`)",
                exc, fragment, _sparse, lambda ctx: _points(ctx, lines))


def _hires_labels(ctx):
    np.save(ctx.tmp / "myscene.npy", _cube(12, 10))
    np.save(ctx.tmp / "myscene_gt.npy", np.kron(_labels(12, 10), np.ones((4, 4), np.int64)))
    return ctx.tmp


def _downsampled(method):
    def act(ctx, folder):
        from mifomo_lite.data import load_scene

        scene = load_scene(folder / "myscene.npy", labels=folder / "myscene_gt.npy", labels_downsample=method)
        same = np.array_equal(scene.labels, _labels(12, 10))
        return f"{method}: labels {scene.labels.shape[0]}×{scene.labels.shape[1]}, equal to the drawn map: {same}"
    return act


def _odd_factor_labels(ctx):
    np.save(ctx.tmp / "myscene.npy", _cube(12, 10))
    np.save(ctx.tmp / "myscene_gt.npy", np.zeros((24, 30), np.int64))
    return ctx.tmp


def _tif_pair(ctx):
    import tifffile

    tifffile.imwrite(ctx.tmp / "scene.tif", np.moveaxis(_cube(), -1, 0))
    tifffile.imwrite(ctx.tmp / "scene_gt.tif", _labels().astype(np.uint8))
    return ctx.tmp


def _load_tif(ctx, folder):
    from mifomo_lite.data import load_scene

    s = load_scene(folder / "scene.tif", labels=folder / "scene_gt.tif", class_names="soil,corn,water".split(","))
    return f"shape {s.shape}, classes {', '.join(s.class_names)}"


def _info_with_key(ctx, path):
    from mifomo_lite.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["data", "info", str(path), "--cube-key", "reflectance", "--labels-key", "gt",
                     "--class-names", "a,b,c"])
    first = out.getvalue().splitlines()[1].strip()
    return f"exit {code}; {first}"


CASES += [
    _points_case("points_missing_file", "support CSV that does not exist", None,
                 r"support points file not found: \$TMP/points\.csv", E.DataFileNotFound),
    _points_case("points_two_columns", "support CSV line with two values", "row,col,class\n1,2\n",
                 r"points\.csv, line 2: expected 3 values row,col,class, got 2"),
    _points_case("points_outside_cube", "support point outside the cube", "3,4,soil\n16,2,corn\n",
                 r"line 2: pixel \(row 16, col 2\) is outside the 16×16 cube"),
    _points_case("points_conflict", "one pixel given two classes", "3,4,soil\n3,4,corn\n",
                 r"line 2: pixel \(row 3, col 4\) is given two classes, 'soil' and 'corn'"),
    _points_case("points_one_class", "all points of one class", "3,4,soil\n5,6,soil\n",
                 r"the points name 1 class\(es\); a class map needs at least two"),
    _points_case("points_fractional", "fractional row number", "3.5,4,soil\n5,6,corn\n",
                 r"line 1: row must be a whole number, got '3\.5'"),
    Case("support_with_labels", "sparse labels", "`--support` together with a full `--labels` map",
         "`mifomo-lite run --target field.tif --support points.csv --labels gt.tif`", CliFailed,
         r"--support and --labels exclude each other",
         lambda ctx, f: cli("run", "--preset", "smoke", "--target", str(f / "field.tif"), "--support",
                            str(f / "points.csv"), "--labels", str(f / "gt.tif"), "--out", str(ctx.tmp / "map")),
         lambda ctx: _points(ctx, "3,4,soil\n5,6,corn\n")),
    Case("ablate_with_support", "sparse labels", "`ablate --support points.csv` (nothing to score an ablation on)",
         "`mifomo-lite ablate --target field.tif --support points.csv`", CliFailed,
         r"ablate needs a ground-truth map to score each ablation",
         lambda ctx, f: cli("ablate", "--preset", "smoke", "--target", str(f / "field.tif"), "--support",
                            str(f / "points.csv"), "--out", str(ctx.tmp / "abl")),
         lambda ctx: _points(ctx, "3,4,soil\n5,6,corn\n")),
    Case("labels_higher_resolution", "scenes", "label map at 4× the cube's resolution (48×40 for 12×10)",
         "`load_scene('myscene.npy', labels='myscene_gt.npy')`", E.DataError,
         r"exactly 4× the cube's resolution: pass --labels-downsample nearest\|majority", _a(_load_pair), _hires_labels),
    Case("labels_downsample_nearest", "scenes", "the same with `--labels-downsample nearest`",
         "`load_scene(..., labels_downsample='nearest')`", None, r"nearest: labels 12×10, equal to the drawn map: True",
         _downsampled("nearest"), _hires_labels),
    Case("labels_downsample_majority", "scenes", "the same with `--labels-downsample majority`",
         "`load_scene(..., labels_downsample='majority')`", None, r"majority: labels 12×10, equal to the drawn map: True",
         _downsampled("majority"), _hires_labels),
    Case("labels_downsample_uneven", "scenes", "downsampling labels that are 2× in rows but 3× in columns",
         "`load_scene(..., labels_downsample='nearest')`", E.DataError, r"downsampling needs the same whole factor",
         _downsampled("nearest"), _odd_factor_labels),
    Case("class_names_empty_entry", "scenes", "`--class-names soil,,water` (an empty name)",
         "`mifomo-lite data info scene.mat --class-names soil,,water`", CliFailed,
         r"class names 'soil,,water': give a comma-separated list without empty names",
         lambda ctx, p: cli("data", "info", str(p), "--class-names", "soil,,water"), _wrong_key_mat),
    Case("byo_flag_on_registry_scene", "scenes", "`--labels-downsample` with a registered scene name",
         "`mifomo-lite data info indian_pines --labels-downsample nearest`", CliFailed,
         r"labels_downsample only apply to your own files",
         lambda ctx, _: cli("data", "info", "indian_pines", "--labels-downsample", "nearest")),
    Case("tif_cube_and_labels", "scenes", "a multi-page TIFF cube with a TIFF label map",
         "`load_scene('scene.tif', labels='scene_gt.tif', class_names=[...])`", None,
         r"shape \(12, 10, 8\), classes soil, corn, water", _load_tif, _tif_pair),
    Case("data_info_with_keys", "scenes", "`data info` on a `.mat` with two cubes, keys given",
         "`mifomo-lite data info scene.mat --cube-key reflectance --labels-key gt --class-names a,b,c`", None,
         r"exit 0; size: 12 × 10 pixels × 8 bands", _info_with_key, _two_cubes),
]


# ------------------------------------------------------------------------------ other commands
def _broken_resume(ctx):
    folder = ctx.tmp / "pre"
    folder.mkdir()
    (folder / "pretrain_state.json").write_text('{"step": 3}')
    (folder / "pretrain_state.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}" + b"\x00" * 40)
    return folder


def _resume(ctx, folder):
    from mifomo_lite.models.pretrain import PretrainConfig, pretrain

    pretrain(PretrainConfig(size="micro", steps=1), folder, progress=False, log=lambda *a: None)


CASES += [
    Case("pretrain_corrupt_resume", "checkpoints", "a corrupted pretraining state to resume from",
         "`pretrain(PretrainConfig(size='micro'), 'pre/')` with a damaged `pretrain_state.*`",
         E.CheckpointError, r"the saved pretraining state cannot be resumed .* delete pretrain_state\.json",
         _resume, _broken_resume),
    Case("notebooks_out_is_file", "notebooks", "`notebooks student --out` naming an existing file",
         "`mifomo-lite notebooks student --out edition.txt`", CliFailed, r"--out .*edition\.txt is an existing file",
         lambda ctx, p: cli("notebooks", "student", "--out", str(p)), lambda ctx: _touch(ctx.tmp / "edition.txt")),
    Case("notebooks_run_out_is_file", "notebooks", "`notebooks run --out` naming an existing file",
         "`mifomo-lite notebooks run --profile smoke --out results.txt`", CliFailed, r"--out .*results\.txt is an existing file",
         lambda ctx, p: cli("notebooks", "run", "--profile", "smoke", "--out", str(p)), lambda ctx: _touch(ctx.tmp / "results.txt")),
    Case("ablate_out_not_empty", "outputs", "`ablate --out` holding an earlier grid",
         "`mifomo-lite ablate --preset smoke --out abl/` with files in `abl/`", CliFailed,
         r"already holds files .* pass --overwrite",
         lambda ctx, p: cli("ablate", "--preset", "smoke", "--out", str(p)), _out_not_empty),
    Case("sparse_out_not_empty", "outputs", "`--support` run onto a folder holding an earlier map",
         "`mifomo-lite run --target field.tif --support points.csv --out run/`", CliFailed,
         r"already holds files .* pass --overwrite",
         lambda ctx, f: cli("run", "--preset", "smoke", "--target", str(f / "field.tif"), "--support",
                            str(f / "points.csv"), "--out", str(ctx.tmp / "run")),
         lambda ctx: (_out_not_empty(ctx), _points(ctx, "3,4,soil\n5,6,corn\n"))[1]),
]


def _cached_official(ctx):
    """A stand-in for the Hugging Face cache: the first call records the file's sha256, then one
    byte of the cached file changes before the second call."""
    import huggingface_hub

    (ctx.tmp / "hypersigma").mkdir()
    cached = ctx.tmp / "hypersigma" / "spat-vit-base.pth"
    cached.write_bytes(bytes(range(256)) * 16)         # verify_cached reads bytes, not tensors
    ctx.patch(huggingface_hub, "hf_hub_download", lambda *a, **k: str(cached))
    from mifomo_lite.models.official import download_official_checkpoint

    download_official_checkpoint("spatial", "base", cache_dir=ctx.tmp / "hypersigma")
    raw = bytearray(cached.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    cached.write_bytes(bytes(raw))


def _fetch_official(ctx, _):
    from mifomo_lite.models.official import download_official_checkpoint

    download_official_checkpoint("spatial", "base", cache_dir=ctx.tmp / "hypersigma")


CASES += [
    Case("tampered_cached_official", "integrity", "a cached official checkpoint changed by one byte after download",
         "`download_official_checkpoint('spatial', 'base')` (second call, from the cache)",
         E.ChecksumError, r"spat-vit-base\.pth: sha256 .* recorded in \$TMP/hypersigma/sha256\.json when it was downloaded",
         _fetch_official, _cached_official),
]


def _load_path(path, **kw):
    from mifomo_lite.data import load_scene

    load_scene(path, **kw)


def _load_name(name):
    from mifomo_lite.data import load_scene

    load_scene(name, progress=False)


def _fetch(name):
    from mifomo_lite.data import fetch_scene

    fetch_scene(name, progress=False)


def _split(scene, n_shot):
    from mifomo_lite.data import few_shot_split

    few_shot_split(scene, n_shot=n_shot, seed=0)


def _sampler(scene, **kw):
    from mifomo_lite.data import EpisodeSampler

    EpisodeSampler(scene, **kw)


def _foundation(path):
    from mifomo_lite.models import load_foundation_model

    load_foundation_model(path=path)


def _zeros(*shape):
    import torch

    return torch.zeros(*shape)


def _preset(name):
    from mifomo_lite.train.presets import preset

    preset(name)


# ------------------------------------------------------------------------------ the document
def exc_name(cls: Optional[type], code: int = 2) -> str:
    if cls is None:
        return "none: correct result"
    if cls is CliFailed:
        return f"exit status {code} (stderr)"
    return cls.__name__


def doc_row(case: Case, message: str) -> str:
    def cell(text: str) -> str:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return text.replace("|", "\\|").replace("\n", "<br>")

    return (f"| {case.id} | {case.area} | {cell(case.bad_input)} | {cell(case.how)} | `{exc_name(case.exc, case.code)}` | "
            f"{cell(message)} |")


GROWING = [(re.compile(r"\(choose from [^)]*\)"), "(choose from …)"),   # argparse sub-commands
           (re.compile(r"Valid keys: [^|]*"), "Valid keys: … "),          # RunConfig fields
           (re.compile(r"available: [^|]*"), "available: … ")]            # benchmark names


def growing_lists(text: str) -> str:
    """``text`` with the lists that legitimately grow as the kit grows (sub-commands, config keys,
    benchmarks) elided: a new config key must not make the bad-input doc "wrong", a reworded
    message must."""
    for pattern, repl in GROWING:
        text = pattern.sub(repl, text)
    return text


DOC_HEAD = [
    "<!-- generated by `python tests/bad_inputs_doc.py` from tests/test_bad_inputs.py; do not edit by hand -->",
    "# Bad inputs and the errors they produce",
    "",
    "Every row is a test in `tests/test_bad_inputs.py`. Each test checks that the kit raises the class",
    "shown with exactly this message, that nothing was written half-way (the scratch folder — which is",
    "also the kit's cache and data folder during the test — holds the same files before and after, and",
    "no `*.part` file or folder and no new `*.lock`), and that no untrusted code ran (the pickle row's",
    "payload would create a marker file; it must not exist). Rows marked *none: correct result* are",
    "inputs the kit must handle correctly rather than refuse; their message column shows the outcome",
    "the test checks. `$TMP` stands for the test's scratch folder, `$REPO` for the checkout.",
    "Lists that grow with the kit (sub-command choices, valid config keys, benchmark names) are shown as",
    "they were when this page was generated; the tests compare every other character of each message.",
    "",
    "All errors subclass `mifomo_lite.errors.MifomoError` and the closest built-in (`ValueError`,",
    "`FileNotFoundError`, `OSError`, `RuntimeError`). On the command line every failure ends in one",
    "line on stderr: a `MifomoError` prints `mifomo-lite: error: …` (exit status 2); an unexpected",
    "exception prints `mifomo-lite: internal error: …` with the path of a log holding the full",
    "traceback (exit status 1); Ctrl-C prints `mifomo-lite: interrupted` (130); a closed pipe",
    "(`| head`) is silent (141).",
    "",
    "| id | area | bad input | what the user does | error | exact message |",
    "|---|---|---|---|---|---|",
]


def render_doc(messages: Dict[str, str]) -> str:
    rows = [doc_row(c, messages[c.id]) for c in CASES]
    return "\n".join(DOC_HEAD + rows) + "\n"


def collect_all() -> Dict[str, str]:
    """Run every row in a fresh scratch folder; return id → normalised message (for the doc)."""
    import tempfile

    out = {}
    for case in CASES:
        with tempfile.TemporaryDirectory(prefix="mifomo-bad-") as tmp, isolated(Path(tmp)) as ctx:
            res = case.run(ctx)
        if case.exc is None and res["raised"] is not None:
            raise AssertionError(f"{case.id}: expected a result, got {res['raised']!r}")
        if case.exc is not None and (res["raised"] is None or not isinstance(res["raised"], case.exc)):
            raise AssertionError(f"{case.id}: expected {case.exc.__name__}, got {res['raised']!r}")
        out[case.id] = res["message"]
    return out


# ------------------------------------------------------------------------------ the tests
@pytest.fixture(scope="module")
def doc_text() -> str:
    if not DOC.is_file():
        pytest.fail(f"{DOC} is missing; generate it with `{REGENERATE}`")
    return DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, doc_text: str) -> None:
    with isolated(tmp_path) as ctx:
        res = case.run(ctx)
    raised = res["raised"]
    if case.exc is None:
        assert raised is None, f"{case.id}: expected a correct result, got {type(raised).__name__}: {raised}"
    else:
        assert raised is not None, f"{case.id}: no error was raised"
        assert type(raised) is case.exc or isinstance(raised, case.exc), \
            f"{case.id}: expected {case.exc.__name__}, got {type(raised).__name__}: {raised}"
        if case.exc is not CliFailed:
            assert isinstance(raised, E.MifomoError), f"{case.id}: {type(raised).__name__} is not a MifomoError"
        else:
            assert raised.code == case.code, f"{case.id}: exit status {raised.code}, expected {case.code}"
            if not any(ln.startswith("usage:") for ln in raised.lines):  # argparse prints its usage too
                assert len(raised.lines) == 1, f"{case.id}: stderr is not one line: {raised.lines}"
        # nothing half-written (a correct result writes what it should; its act checks that)
        assert res["after"] == res["before"], f"{case.id}: files changed: {res['before']} → {res['after']}"
    assert re.search(case.fragment, res["message"]), f"{case.id}: {case.fragment!r} not in {res['message']!r}"
    left = [f for f in res["after"] if f.endswith(".part") or ".part/" in f
            or (f.endswith(".lock") and f not in res["before"])]
    assert not left, f"{case.id}: a partial output or a lock was left behind: {left}"
    # no untrusted code ran
    assert not res["marker"], f"{case.id}: the marker file exists — untrusted code ran"
    # the documented message is the message (lists that grow with the kit are not compared)
    row = next((ln for ln in doc_text.splitlines() if ln.startswith(f"| {case.id} |")), None)
    assert row is not None and growing_lists(row) == growing_lists(doc_row(case, res["message"])), (
        f"{case.id}: docs/bad_inputs.md does not show this message; regenerate it with `{REGENERATE}`\n"
        f"message: {res['message']}")


def test_growing_lists_are_elided_but_wording_is_not() -> None:
    a = "| x | error: invalid choice: 'q' (choose from 'data', 'run') | Valid keys: a, b |"
    b = "| x | error: invalid choice: 'q' (choose from 'data', 'run', 'peft') | Valid keys: a, b, c |"
    assert growing_lists(a) == growing_lists(b)
    assert growing_lists(a) != growing_lists(a.replace("invalid choice", "bad choice"))


def test_doc_is_generated_from_this_matrix(doc_text: str) -> None:
    """The page starts with the generator's current header and the generator script exists."""
    assert doc_text.startswith("\n".join(DOC_HEAD) + "\n"), f"docs/bad_inputs.md header is stale; run `{REGENERATE}`"
    assert (REPO / "tests" / "bad_inputs_doc.py").is_file()


def test_doc_lists_every_case(doc_text: str) -> None:
    ids = [ln.split("|")[1].strip() for ln in doc_text.splitlines()
           if ln.startswith("| ") and not ln.startswith("| id ")]
    assert ids == [c.id for c in CASES], f"docs/bad_inputs.md rows differ from the cases; run `{REGENERATE}`"
    assert len(CASES) >= 110
    assert len({c.id for c in CASES}) == len(CASES)
    areas = {c.area for c in CASES}
    assert {"data", "checkpoints", "config", "CLI", "notebooks"} <= areas


def test_every_numeric_config_field_is_validated() -> None:
    """Each int/float field of RunConfig refuses NaN with a message naming it, whatever module the
    field lives in — so a field added or moved later cannot bypass the validator."""
    from dataclasses import fields

    from mifomo_lite.train.config import RunConfig
    from mifomo_lite.train.presets import preset

    numeric = [f.name for f in fields(RunConfig) if isinstance(getattr(RunConfig(), f.name), (int, float))
               and not isinstance(getattr(RunConfig(), f.name), bool)]
    assert len(numeric) > 30
    for name in numeric:
        with pytest.raises(E.ConfigError, match=name):
            preset("smoke", **{name: float("nan")})


def test_pickle_payload_really_runs_code(tmp_path: Path) -> None:
    """Control for the pickle row: the same payload *does* create the marker when unpickled without
    restrictions — so the marker's absence in that row means the kit refused it."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Payload(marker)))   # noqa: S301 - our own payload, on purpose
    assert marker.exists()
