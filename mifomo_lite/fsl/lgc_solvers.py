"""The LGC closed form with a *named* solver, and the released code's batched evaluation LGC.

LGC (Zhou et al., NIPS 2003; :mod:`mifomo_lite.fsl.propagation`) ends in one linear system,
``F* = M⁻¹·Y`` with ``M = I − α·Â``. Two ways of solving it are in use:

* ``"solve"`` — :func:`torch.linalg.solve` on ``M`` (an LU factorisation). M is symmetric positive
  definite with eigenvalues in [1 − α, 1 + α], so this is exact to rounding. The kit's default.
* ``"pinv_robust"`` — what MIFOMO's released code does (``lgc.py``): a ridge-regularised
  pseudo-inverse ``M⁺ = (MᵀM + c·I)⁻¹·Mᵀ`` with ``c = 10⁻⁵`` (for a wide matrix the mirrored form
  ``Mᵀ·(MMᵀ + c·I)⁻¹``), computed with an explicit inverse. The ridge shifts every squared
  eigenvalue ``μ²`` of M to ``μ² + c``, so each spectral component of F* shrinks by the factor
  ``μ²/(μ² + c)``; the component with ``μ = 1 − α`` (Â's top eigenvector, the degree-weighted
  constant) by about ``c/(1 − α)²`` — 10⁻³ at α = 0.9. With the released σ = 50 the graph is
  nearly uniform and most of F*'s mass sits in exactly that component, so the query scores shrink
  by almost that much, nearly uniformly: a relative difference ≈ 10⁻³ that leaves the argmax
  unchanged (measured in ``tests/test_fsl_lgc_solvers.py`` and ``docs/results.md``).

:func:`solve_lgc` solves one system by name; :func:`released_batched_lgc` is the evaluation-time
propagation of the released code (SPEC §8.3 step 7, §8.4): queries in batches of 80, each graph
= all support ∪ that batch, cosine distance ``2·(1 − cos)``, σ = 50, α = 0.9, support rows of Y
one-hot and query rows the prototype probabilities ``softmax(s·cos(e, p_c))`` (s = 20 at
initialisation). It is a thin layer over :func:`mifomo_lite.fsl.propagation.label_propagation`,
which already builds the batched graphs; this module only gives the solver its released name and
fills the released initialisation in.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from ..errors import ConfigError, DataError
from ._checks import as_tensor, check_2d, check_choice, check_labels, check_same_rows
from .propagation import Distance, label_propagation, ridge_pinv
from .protonet import cosine_similarity_matrix, prototypes

__all__ = ["LGC_SOLVERS", "RELEASED_RIDGE", "solve_lgc", "propagation_solver", "prototype_probabilities",
           "released_batched_lgc", "compare_solvers"]

#: Solver names, as a run configuration spells them (``lgc_solver``).
LGC_SOLVERS = ("solve", "pinv_robust")
#: The ridge ``c`` of the released ``pinv_robust`` (its ``rcond_for_pinv`` default).
RELEASED_RIDGE = 1e-5

# propagation.label_propagation calls the released solver "official"
_PROPAGATION_NAME = {"solve": "solve", "pinv_robust": "official"}


def propagation_solver(solver: str) -> str:
    """The name :func:`~mifomo_lite.fsl.propagation.label_propagation` and
    :func:`~mifomo_lite.fsl.pseudo_labels.refine_pseudo_labels` use for ``solver`` (they call the
    released ``pinv_robust`` ``"official"``), so a run's ``lgc_solver`` can be passed straight on."""
    return _PROPAGATION_NAME[check_choice("lgc_solver", solver, LGC_SOLVERS)]


def solve_lgc(m: torch.Tensor, y: torch.Tensor, solver: str = "solve", ridge: float = RELEASED_RIDGE) -> torch.Tensor:
    """Solve ``M·F = Y`` for F with ``solver`` (``"solve"`` or ``"pinv_robust"``, see the module
    docstring). ``m`` is ``[n, n]``, ``y`` is ``[n, C]``; the result has y's shape."""
    check_choice("lgc_solver", solver, LGC_SOLVERS)
    if m.dim() != 2 or m.shape[0] != m.shape[1]:
        raise DataError(f"the LGC system matrix must be square [n, n]; got shape {tuple(m.shape)}")
    check_same_rows(m, y, "m", "y")
    if not ridge > 0:
        raise ConfigError(f"the pinv_robust ridge must be > 0; got {ridge}")
    y = y.to(m.dtype)
    if solver == "solve":
        return torch.linalg.solve(m, y)
    return ridge_pinv(m, ridge) @ y


def prototype_probabilities(support_emb: torch.Tensor, support_y, query_emb: torch.Tensor, n_classes: int,
                            scale: float = 20.0) -> torch.Tensor:
    """``softmax(s·cos(e_q, p_c))`` with class-mean prototypes ``p_c`` of the support: the query
    rows of Y in the released code (its cosine-distance form ``softmax(−s·(1 − cos))`` is the same
    distribution). ``[n_query, n_classes]`` in the embeddings' dtype."""
    y = check_labels(as_tensor(support_y, "support_y").to(support_emb.device), n_classes, "support_y")
    protos = prototypes(support_emb, y, n_classes)
    return torch.softmax(float(scale) * cosine_similarity_matrix(query_emb, protos), dim=-1)


def released_batched_lgc(support_emb: torch.Tensor, support_y, query_emb: torch.Tensor, n_classes: int, *,
                         sigma: float = 50.0, alpha: float = 0.9, batch: Optional[int] = 80,
                         solver: str = "pinv_robust", query_probs: Optional[torch.Tensor] = None,
                         scale: float = 20.0, distance: Distance = "cosine", ridge: float = RELEASED_RIDGE,
                         dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The released code's evaluation-time LGC: ``[n_query, n_classes]`` unnormalised scores whose
    argmax is the propagated prediction.

    Graph per batch of ``batch`` queries (in order; ``None`` = one graph of all queries) = all
    support ∪ the batch; Y = one-hot support labels ``support_y`` (ids ``0..n_classes-1``) and, for
    the queries, ``query_probs`` or else :func:`prototype_probabilities` with ``scale``. The released
    code runs in float32 on the CPU; ``dtype`` (float64 by default, as the rest of the kit) changes
    the scores by rounding only (measured in ``tests/test_fsl_lgc_solvers.py``).
    """
    check_choice("lgc_solver", solver, LGC_SOLVERS)
    check_2d(support_emb, "support_emb")
    check_2d(query_emb, "query_emb")
    y = check_labels(as_tensor(support_y, "support_y").to(support_emb.device), n_classes, "support_y")
    check_same_rows(support_emb, y, "support_emb", "support_y")
    if query_probs is None:
        query_probs = prototype_probabilities(support_emb.to(dtype), y, query_emb.to(dtype), n_classes, scale)
    onehot = F.one_hot(y, n_classes).to(dtype)
    return label_propagation(support_emb, onehot, query_emb, query_probs, alpha=alpha, sigma=sigma,
                             distance=distance, batch_size=batch, query_init="probs",
                             solver=propagation_solver(solver), ridge=ridge, dtype=dtype)


def compare_solvers(support_emb: torch.Tensor, support_y, query_emb: torch.Tensor, n_classes: int,
                    **kwargs) -> dict:
    """Run :func:`released_batched_lgc` with both solvers (other keywords passed on) and return
    ``{"max_rel_diff", "fro_rel_diff", "argmax_agreement"}``: the largest entry-wise and the
    Frobenius relative difference of the scores of ``"pinv_robust"`` against ``"solve"``, and the
    share of queries whose predicted class is the same."""
    if "solver" in kwargs:
        raise ConfigError("compare_solvers runs both solvers; do not pass solver=")
    a = released_batched_lgc(support_emb, support_y, query_emb, n_classes, solver="solve", **kwargs).double()
    b = released_batched_lgc(support_emb, support_y, query_emb, n_classes, solver="pinv_robust", **kwargs).double()
    if a.numel() == 0:
        return {"max_rel_diff": 0.0, "fro_rel_diff": 0.0, "argmax_agreement": 1.0}
    denom = a.abs().clamp_min(torch.finfo(torch.float64).tiny)
    return {
        "max_rel_diff": float(((a - b).abs() / denom).max()),
        "fro_rel_diff": float(torch.linalg.norm(a - b) / torch.linalg.norm(a).clamp_min(1e-300)),
        "argmax_agreement": float((a.argmax(1) == b.argmax(1)).double().mean()),
    }
