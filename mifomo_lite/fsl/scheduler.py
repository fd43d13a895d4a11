"""The Wasserstein-driven λ scheduler of the intermediate domain (MIFOMO Eqs. 18–20; SPEC §8.7).

MIFOMO (arXiv 2601.22581) builds an *intermediate domain* of mixed samples
``x̃ = λ̃·x_S + (1-λ̃)·x_T``. The mixing ratio starts on the **target** side (λ₀ = 0) and moves
towards the source while training, at a pace set by how far the mixed embeddings M are from the
source queries S and the target queries T, measured by the 1-Wasserstein (earth mover's) distance.

* **Sampling (Eq. 20).** Each mixup pair gets ``λ̃ ~ U(λ - σ_p, λ + σ_p)`` clipped to [0, 1];
  σ_p = ``perturbation_range`` = 0.2. Near λ = 0 about half the draws clip to exactly 0.
* **Update (Eqs. 18–19) after step t of N (t 0-based).** With S, T, M L2-normalised and
  ``W(·,·)`` the exact EMD between the point sets (uniform weights, Euclidean ground cost, computed
  by POT: ``ot.emd2(a, b, ot.dist(X, Y, metric="euclidean"))``, equivalent to
  ``scipy.stats.wasserstein_distance_nd``):

  - ``form="active"`` (the code that runs): ``q = exp(-W_SM / ((W_SM + W_TM)·τ + 1e-8))``;
  - ``form="commented"`` (a commented-out variant of Eq. 18 in the code):
    ``q = exp(-W_SM / (W_SM + τ·W_TM))``;

  then ``λ ← (t/N)·(1 - q) + q·λ``, a convex combination of the linear ramp t/N and the previous λ,
  so λ stays in [0, 1]. τ = ``temperature`` = 0.05.

What this does in practice (SPEC §8.7): in the active form, with ``W_SM ≈ W_TM``,
``q ≈ exp(-1/(2τ)) = e^-10``, so λ follows the linear ramp t/N almost exactly; the distances only
matter when M is far closer to S than to T. In the commented form ``q ≈ e^-0.95 ≈ 0.39`` and λ lags
the ramp. Every update is recorded in :attr:`MixupScheduler.trajectory` for plotting.
"""

from __future__ import annotations

import math
from typing import Dict, List, Literal, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError, DataError
from ._checks import check_choice

TemperatureForm = Literal["active", "commented"]


def _to_numpy64(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise DataError(f"{name} must be a non-empty point set [n, d]; got shape {arr.shape}")
    return arr


def wasserstein_distance(x, y) -> float:
    """Exact 1-Wasserstein distance (EMD) between two point sets with uniform weights and a
    Euclidean ground cost, via POT (Flamary et al., "POT: Python Optimal Transport", JMLR 2021).

    ``x`` is ``[n, d]``, ``y`` is ``[m, d]`` (1-D inputs are treated as ``d = 1``). Computed in
    float64 on the CPU; returns a Python float."""
    import ot  # POT; imported lazily so importing the package stays cheap

    X, Y = _to_numpy64(x, "x"), _to_numpy64(y, "y")
    if X.shape[1] != Y.shape[1]:
        raise DataError(f"point sets have different widths: x {X.shape} vs y {Y.shape}")
    a = np.full(X.shape[0], 1.0 / X.shape[0])
    b = np.full(Y.shape[0], 1.0 / Y.shape[0])
    return float(ot.emd2(a, b, ot.dist(X, Y, metric="euclidean")))


class MixupScheduler:
    """λ scheduler of MIFOMO's intermediate domain (``MixupScheduler`` in the released ``MIFOMO.py``).

    ``sample(n, generator)`` draws the per-pair λ̃ (Eq. 20); ``update(step, n_steps, source_q,
    target_q, mixed)`` recomputes λ from the Wasserstein distances of the (detached) source-query,
    target-query and embedding-mixed sets (Eqs. 18–19) and appends ``{"step", "lambda", "W_SM",
    "W_TM", "q"}`` to :attr:`trajectory` (``lambda`` is the value *after* the update). ``form``
    selects the active or the commented temperature placement (switch
    ``mixup_temperature_form``); ``normalize`` L2-normalises the three sets first, as the code does.
    """

    def __init__(self, perturbation_range: float = 0.2, temperature: float = 0.05,
                 form: TemperatureForm = "active", initial_lambda: float = 0.0,
                 epsilon: float = 1e-8, normalize: bool = True):
        if not 0.0 <= perturbation_range <= 1.0:
            raise ConfigError(f"perturbation_range must lie in [0, 1]; got {perturbation_range}")
        if temperature <= 0:
            raise ConfigError(f"temperature must be > 0; got {temperature}")
        if not 0.0 <= initial_lambda <= 1.0:
            raise ConfigError(f"initial_lambda must lie in [0, 1]; got {initial_lambda}")
        self.perturbation_range = float(perturbation_range)
        self.temperature = float(temperature)
        self.form = check_choice("form", form, ("active", "commented"))
        self.initial_lambda = float(initial_lambda)
        self.epsilon = float(epsilon)
        self.normalize = bool(normalize)
        self.lam = self.initial_lambda
        self.trajectory: List[Dict[str, float]] = []

    def __repr__(self) -> str:
        return (f"MixupScheduler(lambda={self.lam:.4f}, perturbation_range={self.perturbation_range}, "
                f"temperature={self.temperature}, form={self.form!r}, updates={len(self.trajectory)})")

    def reset(self) -> None:
        """Back to λ₀ and an empty trajectory (one scheduler per test episode)."""
        self.lam = self.initial_lambda
        self.trajectory = []

    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``n`` draws ``λ̃ ~ U(λ - σ_p, λ + σ_p)`` clipped to [0, 1] (float32 tensor, Eq. 20)."""
        u = torch.rand(int(n), generator=generator, dtype=torch.float64)
        lam = self.lam - self.perturbation_range + 2.0 * self.perturbation_range * u
        return lam.clamp_(0.0, 1.0).to(torch.float32)

    def q_value(self, w_sm: float, w_tm: float) -> float:
        """The coefficient ``q`` of Eq. 18 for given distances (active or commented form)."""
        if self.form == "active":
            return math.exp(-w_sm / ((w_sm + w_tm) * self.temperature + self.epsilon))
        denom = w_sm + self.temperature * w_tm
        return math.exp(-w_sm / denom) if denom > 0 else 1.0  # all sets coincide: keep λ

    @torch.no_grad()
    def update(self, step: int, n_steps: int, source_q, target_q, mixed) -> Dict[str, float]:
        """Eq. 19 after step ``step`` (0-based) of ``n_steps``; returns the trajectory record."""
        if n_steps <= 0:
            raise ConfigError(f"n_steps must be > 0; got {n_steps}")
        if not 0 <= step <= n_steps:
            raise ConfigError(f"step must lie in [0, n_steps={n_steps}]; got {step}")
        sets = []
        for name, s in (("source_q", source_q), ("target_q", target_q), ("mixed", mixed)):
            t = torch.as_tensor(s).detach().to("cpu", torch.float64)
            if t.dim() != 2 or t.shape[0] == 0:
                raise DataError(f"{name} must be a non-empty [n, D] embedding set; got shape {tuple(t.shape)}")
            sets.append(F.normalize(t, dim=1) if self.normalize else t)
        s_, t_, m_ = sets
        w_sm = wasserstein_distance(s_, m_)
        w_tm = wasserstein_distance(t_, m_)
        q = self.q_value(w_sm, w_tm)
        self.lam = (step / n_steps) * (1.0 - q) + q * self.lam
        record = {"step": int(step), "lambda": float(self.lam), "W_SM": w_sm, "W_TM": w_tm, "q": q}
        self.trajectory.append(record)
        return record

    def state_dict(self) -> dict:
        return {"lambda": self.lam, "trajectory": [dict(r) for r in self.trajectory]}

    def load_state_dict(self, state: dict) -> None:
        self.lam = float(state["lambda"])
        self.trajectory = [dict(r) for r in state.get("trajectory", [])]
