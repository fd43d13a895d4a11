"""Named LGC solvers and the released batched evaluation LGC (mifomo_lite.fsl.lgc_solvers)."""

import pytest
import torch
import torch.nn.functional as F

from mifomo_lite.errors import ConfigError, DataError, EpisodeError
from mifomo_lite.fsl import label_propagation, lgc_closed_form, normalized_affinity, affinity_matrix
from mifomo_lite.fsl.lgc_solvers import (
    LGC_SOLVERS, compare_solvers, prototype_probabilities, released_batched_lgc, solve_lgc)


def _episode(seed=0, n_classes=16, shots=5, n_query=80, dim=64, spread=0.8):
    """Gaussian class clusters: support ``shots`` per class, queries drawn uniformly over classes."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_classes, dim, generator=g, dtype=torch.float64)
    ys = torch.arange(n_classes).repeat_interleave(shots)
    yq = torch.randint(0, n_classes, (n_query,), generator=g)
    xs = centres[ys] + spread * torch.randn(len(ys), dim, generator=g, dtype=torch.float64)
    xq = centres[yq] + spread * torch.randn(n_query, dim, generator=g, dtype=torch.float64)
    return xs, ys, xq, yq


def _system(n=40, alpha=0.9, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g, dtype=torch.float64)
    m = torch.eye(n, dtype=torch.float64) - alpha * normalized_affinity(affinity_matrix(x, 2.0, "euclidean"))
    y = torch.rand(n, 3, generator=g, dtype=torch.float64)
    return m, y


def test_solve_is_exact_and_pinv_robust_is_the_ridge_formula():
    m, y = _system()
    f = solve_lgc(m, y, "solve")
    assert torch.allclose(m @ f, y, atol=1e-12)
    # pinv_robust written out: (MᵀM + 1e-5·I)⁻¹·Mᵀ·Y
    ref = torch.linalg.inv(m.T @ m + 1e-5 * torch.eye(m.shape[0], dtype=m.dtype)) @ m.T @ y
    assert torch.allclose(solve_lgc(m, y, "pinv_robust"), ref, atol=1e-12)
    # a larger ridge shrinks the solution more (it is a Tikhonov solve)
    big = solve_lgc(m, y, "pinv_robust", ridge=1e-1)
    assert float(big.norm()) < float(solve_lgc(m, y, "pinv_robust").norm()) < float(f.norm())


@pytest.mark.parametrize("alpha,tol", [(0.5, 1e-4), (0.9, 2e-3)])
def test_solvers_agree_on_well_conditioned_graphs(alpha, tol):
    m, y = _system(alpha=alpha)
    a, b = solve_lgc(m, y, "solve"), solve_lgc(m, y, "pinv_robust")
    rel = float((a - b).norm() / a.norm())
    assert 0 < rel < tol
    assert torch.equal(a.argmax(1), b.argmax(1))


def test_released_size_relative_difference_at_alpha_09():
    """5-shot × 16 classes + 80 queries, σ = 50: the ridge shrinks the scores by ≈ c/(1−α)² = 1e-3
    (measured 9.3e-4 Frobenius, 1.1e-3 entry-wise max) and never changes a prediction."""
    xs, ys, xq, _ = _episode()
    d = compare_solvers(xs, ys, xq, 16)
    assert 8e-4 < d["fro_rel_diff"] < 1.1e-3
    assert 1.0e-3 < d["max_rel_diff"] < 1.3e-3
    assert d["argmax_agreement"] == 1.0
    # α = 0.5 is a much better conditioned system: ~50× smaller difference
    assert compare_solvers(xs, ys, xq, 16, alpha=0.5)["fro_rel_diff"] < 5e-5
    # float32 (what the released code runs in) adds rounding, not a different answer
    d32 = compare_solvers(xs, ys, xq, 16, dtype=torch.float32)
    assert abs(d32["fro_rel_diff"] - d["fro_rel_diff"]) < 5e-4 and d32["argmax_agreement"] == 1.0


def test_released_batched_lgc_is_per_batch_graph_with_prototype_init():
    xs, ys, xq, yq = _episode(n_query=170, n_classes=4, spread=0.3)
    scores = released_batched_lgc(xs, ys, xq, 4)
    assert scores.shape == (170, 4) and scores.dtype == torch.float64
    # queries 80..159 form the second graph: all support ∪ that batch, Y = [one-hot; softmax(20·cos)]
    probs = prototype_probabilities(xs, ys, xq, 4)
    assert torch.allclose(probs.sum(1), torch.ones(170, dtype=torch.float64))
    x = torch.cat([xs, xq[80:160]])
    y = torch.cat([F.one_hot(ys, 4).double(), probs[80:160]])
    manual = lgc_closed_form(x, y, 0.9, 50.0, "cosine", solver="official")[len(xs):]
    assert torch.allclose(scores[80:160], manual, atol=1e-12)
    # the last, short batch of 10 is its own graph; one full graph differs from batching
    full = released_batched_lgc(xs, ys, xq, 4, batch=None)
    assert not torch.allclose(full, scores, rtol=1e-6)
    assert (scores.argmax(1) == yq).double().mean() > 0.95
    # the same as label_propagation with the solver's propagation name
    lp = label_propagation(xs, F.one_hot(ys, 4).double(), xq, probs, solver="official")
    assert torch.allclose(lp, scores, atol=1e-12)


def test_given_query_probs_and_solver_choice():
    xs, ys, xq, _ = _episode(n_classes=3, n_query=20)
    zeros = torch.zeros(20, 3, dtype=torch.float64)
    a = released_batched_lgc(xs, ys, xq, 3, query_probs=zeros, solver="solve")
    b = released_batched_lgc(xs, ys, xq, 3, solver="solve")
    assert not torch.allclose(a, b)
    assert set(LGC_SOLVERS) == {"solve", "pinv_robust"}


def test_bad_inputs_name_the_problem():
    xs, ys, xq, _ = _episode(n_classes=3, n_query=5)
    with pytest.raises(ConfigError, match="lgc_solver='lu'"):
        released_batched_lgc(xs, ys, xq, 3, solver="lu")
    with pytest.raises(EpisodeError, match="n_classes=2"):
        released_batched_lgc(xs, ys, xq, 2)
    with pytest.raises(DataError, match="square"):
        solve_lgc(torch.zeros(3, 4), torch.zeros(3, 1))
    with pytest.raises(ConfigError, match="ridge"):
        solve_lgc(torch.eye(3), torch.zeros(3, 1), "pinv_robust", ridge=0.0)
    with pytest.raises(ConfigError, match="both solvers"):
        compare_solvers(xs, ys, xq, 3, solver="solve")


def test_propagation_solver_maps_the_run_names():
    from mifomo_lite.fsl.lgc_solvers import propagation_solver

    assert propagation_solver("solve") == "solve" and propagation_solver("pinv_robust") == "official"
    with pytest.raises(ConfigError, match="lgc_solver='official'"):
        propagation_solver("official")
