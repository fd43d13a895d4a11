"""The Wasserstein-driven λ scheduler (mifomo_lite.fsl.scheduler, SPEC §8.7)."""

import itertools
import math

import numpy as np
import pytest
import scipy.stats
import torch

from mifomo_lite.errors import ConfigError
from mifomo_lite.fsl import MixupScheduler, wasserstein_distance


def test_emd_matches_scipy_in_1d_and_nd():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=13), rng.normal(loc=0.7, scale=2.0, size=8)
    assert wasserstein_distance(x[:, None], y[:, None]) == pytest.approx(scipy.stats.wasserstein_distance(x, y), rel=1e-9)
    X, Y = rng.normal(size=(9, 4)), rng.normal(size=(6, 4))
    if hasattr(scipy.stats, "wasserstein_distance_nd"):
        assert wasserstein_distance(X, Y) == pytest.approx(scipy.stats.wasserstein_distance_nd(X, Y), rel=1e-6)
    # equal sizes, uniform weights: the EMD is the best one-to-one assignment (Birkhoff)
    A, B = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    best = min(np.mean(np.linalg.norm(A - B[list(p)], axis=1)) for p in itertools.permutations(range(5)))
    assert wasserstein_distance(torch.from_numpy(A), B) == pytest.approx(best, rel=1e-9)


def test_sampling_window_and_clipping():
    s = MixupScheduler()
    assert s.lam == 0.0 and s.perturbation_range == 0.2 and s.temperature == 0.05 and s.form == "active"
    lam = s.sample(4000, torch.Generator().manual_seed(0))
    assert lam.dtype == torch.float32 and float(lam.min()) == 0.0 and float(lam.max()) <= 0.2
    assert 0.45 < float((lam == 0).float().mean()) < 0.55  # about half clip to exactly 0 at λ = 0
    s.lam = 0.5
    lam = s.sample(4000, torch.Generator().manual_seed(0))
    assert 0.3 <= float(lam.min()) and float(lam.max()) <= 0.7
    s.lam = 0.95
    assert float(s.sample(1000, torch.Generator().manual_seed(0)).max()) == 1.0
    assert torch.equal(s.sample(5, torch.Generator().manual_seed(7)), s.sample(5, torch.Generator().manual_seed(7)))


def _unit(v):
    v = torch.tensor(v, dtype=torch.float64)
    return (v / v.norm()).reshape(1, -1)


@pytest.mark.parametrize("form", ["active", "commented"])
def test_one_update_equals_hand_computation(form):
    s = MixupScheduler(form=form)
    s.lam = 0.3
    S, T = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 5.0]])
    M = torch.tensor([[math.cos(0.4), math.sin(0.4)]], dtype=torch.float64) * 3.0  # normalised away
    rec = s.update(step=4, n_steps=10, source_q=S, target_q=T, mixed=M)
    w_sm = math.dist((1.0, 0.0), (math.cos(0.4), math.sin(0.4)))
    w_tm = math.dist((0.0, 1.0), (math.cos(0.4), math.sin(0.4)))
    if form == "active":
        q = math.exp(-w_sm / ((w_sm + w_tm) * 0.05 + 1e-8))
    else:
        q = math.exp(-w_sm / (w_sm + 0.05 * w_tm))
    lam = 0.4 * (1 - q) + q * 0.3
    assert rec["W_SM"] == pytest.approx(w_sm, rel=1e-9) and rec["W_TM"] == pytest.approx(w_tm, rel=1e-9)
    assert rec["q"] == pytest.approx(q, rel=1e-9) and rec["lambda"] == pytest.approx(lam, rel=1e-9)
    assert s.lam == rec["lambda"] and s.trajectory == [rec] and rec["step"] == 4


def _run(form, n_steps=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    d = 16
    mu_s, mu_t = torch.zeros(d), torch.zeros(d)
    mu_s[0], mu_t[1] = 3.0, 3.0
    s = MixupScheduler(form=form)
    for t in range(n_steps):
        src = mu_s + 0.5 * torch.randn(57, d, generator=g)
        tgt = mu_t + 0.5 * torch.randn(15, d, generator=g)
        i, j = torch.randint(0, 57, (10,), generator=g), torch.randint(0, 15, (10,), generator=g)
        lam = s.sample(10, g)[:, None]
        s.update(t, n_steps, src, tgt, lam * src[i] + (1 - lam) * tgt[j])
    return s


def test_active_form_ramps_and_commented_form_lags():
    n = 40
    act = _run("active", n)
    lams = np.array([r["lambda"] for r in act.trajectory])
    ramp = np.arange(n) / n
    assert np.all((lams >= 0) & (lams <= 1))
    assert np.all(np.diff(lams) >= -1e-3)  # (almost) monotone
    assert np.max(np.abs(lams - ramp)) < 0.05  # q is tiny in the active form: λ ≈ t/N
    assert lams[-1] > 0.9
    com = _run("commented", n)
    lc = np.array([r["lambda"] for r in com.trajectory])
    assert np.all((lc >= 0) & (lc <= 1))
    assert np.all(lc[5:] < ramp[5:])  # λ lags the ramp
    assert np.mean([r["q"] for r in com.trajectory]) > 0.2
    assert set(act.trajectory[0]) == {"step", "lambda", "W_SM", "W_TM", "q"}
    state = act.state_dict()
    fresh = MixupScheduler()
    fresh.load_state_dict(state)
    assert fresh.lam == act.lam and len(fresh.trajectory) == n
    act.reset()
    assert act.lam == 0.0 and act.trajectory == []


def test_bad_settings_raise():
    with pytest.raises(ConfigError):
        MixupScheduler(form="paper")
    with pytest.raises(ConfigError):
        MixupScheduler(temperature=0)
    with pytest.raises(ConfigError, match="step"):
        MixupScheduler().update(11, 10, torch.ones(2, 2), torch.ones(2, 2), torch.ones(2, 2))
