"""Resumable runs: per-episode checkpoints, the phase-1 cache and the run folder that survives a
crash (mifomo_lite.train.checkpoint, mifomo_lite.train.outdir)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from metrics_compare import _first_difference, comparable  # tests/ helper
from mifomo_lite.errors import ConfigError, OutputError
from mifomo_lite.train import checkpoint as ck
from mifomo_lite.train.outdir import check_out_dir, run_folder

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_encode_decode_keeps_numpy_types_tuples_and_nan():
    rec = {"oa": np.float32(81.25), "per_class": np.array([0.5, np.nan], dtype=np.float32),
           "cm": np.arange(4, dtype=np.int64).reshape(2, 2), 3: ("a", 1), "n": np.int64(7), "x": [1.5, None]}
    back = ck.decode(json.loads(json.dumps(ck.encode(rec))))
    assert set(back) == set(rec) and isinstance(back[3], tuple) and back[3] == ("a", 1)
    assert type(back["oa"]) is np.float32 and back["oa"] == rec["oa"] and type(back["n"]) is np.int64
    assert back["per_class"].dtype == np.float32 and np.isnan(back["per_class"][1])
    assert back["cm"].shape == (2, 2) and back["cm"].dtype == np.int64 and back["x"] == [1.5, None]
    with pytest.raises(OutputError, match="cannot store a object"):
        ck.encode(object())


def test_resumable_folder_survives_an_error_and_is_continued(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with run_folder(out, resume=True) as part:
            (part / "episodes").mkdir()
            (part / "episodes" / "00.json").write_text("{}")
            raise RuntimeError("crash after episode 0")
    assert (tmp_path / "run.part" / "episodes" / "00.json").is_file() and not out.exists()
    assert not (tmp_path / "run.lock").exists()
    with run_folder(out, resume=True) as part:           # continues in the kept folder
        assert (part / "episodes" / "00.json").is_file()
    assert (out / "episodes" / "00.json").is_file() and not (tmp_path / "run.part").exists()
    with run_folder(out, resume=True) as part:           # a finished resumable folder is completed again
        assert (part / "episodes" / "00.json").is_file() and not out.exists()
    assert (out / "episodes" / "00.json").is_file()


def test_non_resumable_folders_keep_their_rules(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with run_folder(out) as part:
            (part / "x").write_text("1")
            raise RuntimeError("crash")
    assert not (tmp_path / "run.part").exists()          # without resume nothing is left behind
    out.mkdir()
    (out / "old.txt").write_text("1")
    with pytest.raises(OutputError, match="no resumable run wrote"):
        check_out_dir(out, resume=True)
    with pytest.raises(OutputError, match="exclude each other"):
        check_out_dir(tmp_path / "new", overwrite=True, resume=True)


def _scene(seed):
    rng = np.random.default_rng(seed)
    return SimpleNamespace(scene=SimpleNamespace(cube=rng.random((4, 4, 3), dtype=np.float32),
                                                 labels=rng.integers(0, 3, (4, 4))))


def test_phase1_key_reads_what_determines_phase1_only():
    from mifomo_lite.train.presets import preset

    cfg = preset("smoke", target_ssl_steps=0)
    tgt, src = _scene(0), [_scene(1)]
    key = ck.Phase1Cache.key(cfg, tgt, src)
    assert key == ck.Phase1Cache.key(cfg.replace(support_steps=7, n_test_episodes=5, top_k_confident=3), tgt, src)
    assert key == ck.Phase1Cache.key(cfg, _scene(2), src)          # no phase 0: the target does not matter
    assert key != ck.Phase1Cache.key(cfg.replace(source_episodes=9), tgt, src)
    assert key != ck.Phase1Cache.key(cfg.replace(lr_peft=0.002), tgt, src)
    assert key != ck.Phase1Cache.key(cfg, tgt, [_scene(3)])        # the source pixels
    assert ck.Phase1Cache.key(cfg, tgt, src, "cuda:0") != ck.Phase1Cache.key(cfg, tgt, src, "cpu")
    with_ssl = cfg.replace(target_ssl_steps=2)
    assert ck.Phase1Cache.key(with_ssl, tgt, src) != ck.Phase1Cache.key(with_ssl, _scene(2), src)


@pytest.fixture(scope="module")
def smoke_setup():
    from mifomo_lite.data import synthetic_domain_pair
    from mifomo_lite.train.presets import preset

    src, tgt = synthetic_domain_pair(seed=0, size=24, n_source_classes=8, n_target_classes=5)
    cfg = preset("smoke", progress=False, device="cpu", inference_precision="float32", n_test_episodes=3,
                 source_episodes=2, target_ssl_steps=2, max_query_pixels=120)
    return cfg, tgt, src


def _quiet(*a, **k):
    pass


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_metrics_of_a_straight_run(tmp_path, monkeypatch, smoke_setup):
    from mifomo_lite.train.runner import run_to_folder

    cfg, tgt, src = smoke_setup
    straight, _ = run_to_folder(cfg, tmp_path / "straight", log=_quiet, target_scene=tgt, source_scenes=[src])
    out, real, ran = tmp_path / "run", ck.run_test_episode, []

    def crash_in_episode_1(ctx, e):
        if e == 1:
            raise KeyboardInterrupt("simulated interrupt in episode 1")
        return real(ctx, e)

    monkeypatch.setattr(ck, "run_test_episode", crash_in_episode_1)
    with pytest.raises(KeyboardInterrupt):
        run_to_folder(cfg, out, log=_quiet, resume=True, target_scene=tgt, source_scenes=[src])
    part = tmp_path / "run.part"
    assert not out.exists() and sorted(p.name for p in (part / "episodes").iterdir()) == ["00.json", "run.json"]
    assert len(list((part / "phase1").glob("phase1-*.safetensors"))) == 1

    with pytest.raises(ConfigError, match="support_steps"):       # a changed config is refused, keys named
        run_to_folder(cfg.replace(support_steps=3), out, log=_quiet, resume=True, target_scene=tgt,
                      source_scenes=[src])

    monkeypatch.setattr(ck, "run_test_episode", lambda ctx, e: ran.append(e) or real(ctx, e))
    resumed, folder = run_to_folder(cfg, out, log=_quiet, resume=True, target_scene=tgt, source_scenes=[src])
    assert ran == [1, 2] and resumed.phase1_cached is True     # episode 0 and phase 1 were read back
    assert folder == out and (out / "metrics.json").is_file() and not part.exists()
    a, b = comparable(straight.metrics), comparable(resumed.metrics)
    assert a == b, _first_difference(json.loads(a), json.loads(b))
    assert resumed.last_episode["query_emb"].shape == straight.last_episode["query_emb"].shape


def test_episodes_of_other_code_are_run_again_not_mixed(tmp_path, monkeypatch):
    from mifomo_lite.train.presets import preset

    cfg, logs = preset("smoke"), []
    store = ck.EpisodeStore(tmp_path / "episodes", cfg)
    (tmp_path / "episodes" / "00.json").write_text("{}")
    monkeypatch.setattr(ck, "code_digest", lambda: "other-code")
    ck.check_resumable(tmp_path / "episodes", cfg.replace(support_steps=9))   # other code: no refusal
    ck.EpisodeStore(tmp_path / "episodes", cfg, log=logs.append)
    assert not (tmp_path / "episodes" / "00.json").exists() and "other code" in logs[0]
    assert json.loads((tmp_path / "episodes" / "run.json").read_text())["code"] == "other-code"
    with pytest.raises(ConfigError, match=r"differs in support_steps \(support_steps: 2 stored, 9 now\)"):
        ck.EpisodeStore(tmp_path / "episodes", cfg.replace(support_steps=9))
    assert store.load(0) is None


def test_cli_resume_needs_out_and_refuses_a_foreign_folder(tmp_path, capsys):
    from mifomo_lite.cli import main

    assert main(["run", "--preset", "smoke", "--resume", "--no-progress"]) == 2
    assert "--resume needs --out" in capsys.readouterr().err
    foreign = tmp_path / "old"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("x")
    assert main(["run", "--preset", "smoke", "--resume", "--out", str(foreign), "--no-progress"]) == 2
    assert "no resumable run wrote" in capsys.readouterr().err
    assert main(["run", "--preset", "smoke", "--resume", "--overwrite", "--out", str(foreign)]) == 2
    assert "exclude each other" in capsys.readouterr().err
