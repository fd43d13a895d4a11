"""The built wheel installs into a fresh virtual environment holding only what Colab preinstalls
(torch, numpy, scipy, matplotlib, scikit-learn, ipywidgets) and runs notebook 06 in the smoke
profile from it, offline — the Colab path, checked without Colab. Slow: it builds a venv."""

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLAB_SET = ["torch==2.13.0", "numpy", "scipy", "matplotlib", "scikit-learn", "ipywidgets"]
OFFLINE = {"HF_HUB_OFFLINE": "1", "MIFOMO_OFFLINE": "1",
           # anything that still tried the network would meet a closed port
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
           "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}


def build_wheel(dest: Path) -> Path:
    """What ``make wheel`` runs, into ``dest``."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(dest), str(ROOT)], check=True, timeout=600, cwd=ROOT)
    wheels = sorted(dest.glob("mifomo_lite-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _clean_env(bindir: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def test_make_wheel_target_builds_without_isolation():
    text = (ROOT / "Makefile").read_text()
    assert "\nwheel:" in text and "pip wheel" in text and "--wheel-dir dist" in text


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("dist"))


@pytest.mark.slow
def test_wheel_ships_the_weights_and_tooling(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for want in ("mifomo_lite/assets/foundation-micro.safetensors", "mifomo_lite/assets/foundation-tiny.safetensors",
                 "mifomo_tools/nbrun/runner.py", "mifomo_tools/notebooks_cli.py"):
        assert want in names, f"{wheel.name} lacks {want}"
    assert "mifomo_lite/exercises/expected/00.json" in names, "the stored checks are not in the wheel"
    assert not any(n.startswith(("tests/", "notebooks/", "book/", "teacher/")) for n in names)
    wheel_zip = zipfile.ZipFile(wheel)
    for n in names:
        if n.startswith("mifomo_lite/exercises/nb") and n.endswith(".py"):
            assert "def _ref_" not in wheel_zip.read(n).decode(), f"{n} in the wheel holds a reference solution"


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_fresh_colab_like_venv_runs_notebook_06_smoke_from_the_wheel(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    py, bindir = env_dir / "bin" / "python", env_dir / "bin"
    env = _clean_env(bindir)
    pip = [str(py), "-m", "pip", "install", "--quiet"]
    subprocess.run(pip + COLAB_SET, check=True, env=env, timeout=1200)
    subprocess.run(pip + [str(wheel)], check=True, env=env, timeout=1200)  # its other dependencies: PyPI

    run_env = _clean_env(bindir, **OFFLINE, MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    where = subprocess.run([str(py), "-c", "import mifomo_lite, mifomo_tools; print(mifomo_lite.__file__)"],
                           cwd=ROOT / "notebooks", env=run_env, capture_output=True, text=True, timeout=300)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(env_dir), f"kit imported from {where.stdout}"

    out = tmp_path / "run"
    proc = subprocess.run([str(bindir / "mifomo-lite"), "notebooks", "run", "--profile", "smoke", "--only", "06",
                           "--notebooks", str(ROOT / "notebooks"), "--device", "cpu", "--out", str(out)],
                          cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, f"notebook 06 smoke failed from the wheel:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert (out / "06_full_run.metrics.json").exists()
    assert "1/1 notebooks passed" in proc.stdout
