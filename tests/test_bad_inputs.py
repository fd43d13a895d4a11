"""The bad-input matrix (issue 7): one row per bad input a user can give the kit — data files,
downloads, checkpoints, configuration, notebook parameters, the command line.

Each row proves three things:

1. the kit raises the *specific* exception class with a message that names the problem (the
   message fragment is asserted, and the whole message must equal the one documented in
   ``docs/bad_inputs.md`` — except for the lists that grow with the kit: argparse's sub-command
   choices, the valid config keys, the benchmark names);
2. nothing was written half-way: the scratch folder (which is also the kit's cache and data
   folder during the row) holds exactly the same files before and after, and no ``*.part`` file;
3. no untrusted code ran: the pickle row carries a payload that would create a marker file, and
   no row may leave that marker behind.

``docs/bad_inputs.md`` is generated from :data:`CASES` by ``mifomo-lite bench --bad-inputs-doc``,
so the documented messages are the tested ones; :func:`test_doc_lists_every_case` fails when the
doc and the cases drift apart.
"""

from __future__ import annotations

import contextlib
import copy
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
REGENERATE = "mifomo-lite bench --bad-inputs-doc"


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
    exc: type                                # the class the user sees
    fragment: str                            # must appear in the message (regex)
    act: Callable[[Ctx, Any], None]          # raises
    prepare: Callable[[Ctx], Any] = lambda ctx: None

    def run(self, ctx: Ctx) -> Dict[str, Any]:
        """Prepare, snapshot, act; return what happened (never raises for the expected error)."""
        arg = self.prepare(ctx)
        before = ctx.files()
        try:
            self.act(ctx, arg)
        except Exception as exc:  # noqa: BLE001 - we record whatever was raised
            raised = exc
        else:
            raised = None
        return {"raised": raised, "before": before, "after": ctx.files(),
                "marker": ctx.marker.exists(), "message": normalise(str(raised), ctx) if raised else None}


def normalise(message: str, ctx: Ctx) -> str:
    """Make a message machine-independent: scratch folder → ``$TMP``, checkout → ``$REPO``,
    loopback port → ``PORT``."""
    for p, tag in ((ctx.tmp.resolve(), "$TMP"), (ctx.tmp, "$TMP"), (REPO, "$REPO")):
        message = message.replace(str(p), tag)
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
    from mifomo_lite.train.config import preset
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
        from mifomo_lite.train.config import preset

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
         E.ConfigError, r"unknown preset 'fast'; choose smoke, lite or paper", lambda ctx, _: _preset("fast")),
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
    from mifomo_lite.train.config import preset

    preset(name)


# ------------------------------------------------------------------------------ the document
def exc_name(cls: type) -> str:
    if cls is CliFailed:
        return "exit status 2 (stderr)"
    return cls.__name__


def doc_row(case: Case, message: str) -> str:
    def cell(text: str) -> str:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return text.replace("|", "\\|").replace("\n", "<br>")

    return (f"| {case.id} | {case.area} | {cell(case.bad_input)} | {cell(case.how)} | `{exc_name(case.exc)}` | "
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


def render_doc(messages: Dict[str, str]) -> str:
    head = [
        "<!-- generated by `mifomo-lite bench --bad-inputs-doc` from tests/test_bad_inputs.py; do not edit by hand -->",
        "# Bad inputs and the errors they produce",
        "",
        "Every row is a test in `tests/test_bad_inputs.py`. Each test checks that the kit raises the class",
        "shown with exactly this message, that nothing was written half-way (the scratch folder — which is",
        "also the kit's cache and data folder during the test — holds the same files before and after, and",
        "no `*.part` file), and that no untrusted code ran (the pickle row's payload would create a marker",
        "file; it must not exist). `$TMP` stands for the test's scratch folder, `$REPO` for the checkout.",
        "Lists that grow with the kit (sub-command choices, valid config keys, benchmark names) are shown as",
        "they were when this page was generated; the tests compare every other character of each message.",
        "",
        "All errors subclass `mifomo_lite.errors.MifomoError` and the closest built-in (`ValueError`,",
        "`FileNotFoundError`, `OSError`, `RuntimeError`); on the command line they print one line",
        "`mifomo-lite: error: …` and exit with status 2, without a traceback.",
        "",
        "| id | area | bad input | what the user does | error | exact message |",
        "|---|---|---|---|---|---|",
    ]
    rows = [doc_row(c, messages[c.id]) for c in CASES]
    return "\n".join(head + rows) + "\n"


def collect_all() -> Dict[str, str]:
    """Run every row in a fresh scratch folder; return id → normalised message (for the doc)."""
    import tempfile

    out = {}
    for case in CASES:
        with tempfile.TemporaryDirectory(prefix="mifomo-bad-") as tmp, isolated(Path(tmp)) as ctx:
            res = case.run(ctx)
        if res["raised"] is None or not isinstance(res["raised"], case.exc):
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
    assert raised is not None, f"{case.id}: no error was raised"
    assert type(raised) is case.exc or isinstance(raised, case.exc), \
        f"{case.id}: expected {case.exc.__name__}, got {type(raised).__name__}: {raised}"
    if case.exc is not CliFailed:
        assert isinstance(raised, E.MifomoError), f"{case.id}: {type(raised).__name__} is not a MifomoError"
    else:
        assert raised.code == 2
    assert re.search(case.fragment, res["message"]), f"{case.id}: {case.fragment!r} not in {res['message']!r}"
    # nothing half-written
    assert res["after"] == res["before"], f"{case.id}: files changed: {res['before']} → {res['after']}"
    assert not [f for f in res["after"] if f.endswith(".part")]
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


def test_doc_lists_every_case(doc_text: str) -> None:
    ids = [ln.split("|")[1].strip() for ln in doc_text.splitlines()
           if ln.startswith("| ") and not ln.startswith("| id ")]
    assert ids == [c.id for c in CASES], f"docs/bad_inputs.md rows differ from the cases; run `{REGENERATE}`"
    assert len(CASES) >= 20
    assert len({c.id for c in CASES}) == len(CASES)
    areas = {c.area for c in CASES}
    assert {"data", "checkpoints", "config", "CLI", "notebooks"} <= areas


def test_pickle_payload_really_runs_code(tmp_path: Path) -> None:
    """Control for the pickle row: the same payload *does* create the marker when unpickled without
    restrictions — so the marker's absence in that row means the kit refused it."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Payload(marker)))   # noqa: S301 - our own payload, on purpose
    assert marker.exists()
