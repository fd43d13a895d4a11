"""Shared pytest fixtures (kept small and generic)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` next to the repository (reference material and real data fixtures).

    Tests that use it are skipped, with a reason, on machines that do not have it (a user's
    fresh clone)."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"../shared not found at {SHARED_DIR} (only present on the project machines)")
    return SHARED_DIR


@pytest.fixture
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the kit's user cache at a fresh temporary folder, clear the data-folder and mirror
    overrides, and forbid downloads (``MIFOMO_OFFLINE=1``): a test can neither read the
    developer's real cache nor touch the network. Returns the cache folder."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("MIFOMO_CACHE_DIR", str(cache))
    monkeypatch.delenv("MIFOMO_DATA_DIR", raising=False)
    monkeypatch.delenv("MIFOMO_DATA_MIRROR", raising=False)
    monkeypatch.setenv("MIFOMO_OFFLINE", "1")
    return cache


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a module of small-tensor tests: it avoids OpenMP spin-waiting
    on a busy shared CPU (measured 5–10× faster there) and changes no result. Use with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
