"""LGC label propagation (mifomo_lite.fsl.propagation, SPEC §8.4)."""

import pytest
import torch
import torch.nn.functional as F

from mifomo_lite.errors import ConfigError
from mifomo_lite.fsl import affinity_matrix, label_propagation, lgc_closed_form, normalized_affinity


def _clusters(seed=0, n_q=40, d=6, flip=(1, 5, 22, 30)):
    g = torch.Generator().manual_seed(seed)
    centres = torch.zeros(2, d, dtype=torch.float64)
    centres[0, 0], centres[1, 1] = 4.0, 4.0
    ys = torch.tensor([0, 0, 0, 1, 1, 1])
    yq = torch.arange(n_q) % 2
    xs = centres[ys] + 0.3 * torch.randn(6, d, generator=g, dtype=torch.float64)
    xq = centres[yq] + 0.3 * torch.randn(n_q, d, generator=g, dtype=torch.float64)
    probs = F.one_hot(yq, 2).double() * 0.6 + 0.2  # 0.8 on the true class
    for i in (j for j in flip if j < n_q):  # confidently wrong pseudo-probabilities
        probs[i] = torch.tensor([0.1, 0.9], dtype=torch.float64) if yq[i] == 0 else torch.tensor([0.9, 0.1], dtype=torch.float64)
    return xs, F.one_hot(ys, 2).double(), xq, yq, probs


def test_lgc_fixes_flipped_probabilities_batched_and_full():
    xs, ys1h, xq, yq, probs = _clusters()
    assert (probs.argmax(1) != yq).sum() == 4
    for bs in (None, 80, 10):
        for dist, sigma in (("euclidean", 2.0), ("cosine", 0.5)):
            f = label_propagation(xs, ys1h, xq, probs, alpha=0.9, sigma=sigma, distance=dist, batch_size=bs)
            assert f.shape == (40, 2) and f.dtype == probs.dtype
            assert torch.equal(f.argmax(1), yq), (bs, dist)
    # the textbook form (zero query rows) also labels the clusters
    f0 = label_propagation(xs, ys1h, xq, None, sigma=2.0, distance="euclidean", batch_size=None, query_init="zeros")
    assert torch.equal(f0.argmax(1), yq)
    # scores are unnormalised: rows sum to well above 1 (≈ 1/(1-α) times the initial mass)
    assert float(label_propagation(xs, ys1h, xq, probs, sigma=2.0, distance="euclidean").sum(1).min()) > 2.0


def test_batched_vs_full_graph():
    xs, ys1h, xq, _, probs = _clusters(seed=1)
    full = label_propagation(xs, ys1h, xq, probs, sigma=2.0, distance="euclidean", batch_size=None)
    one_batch = label_propagation(xs, ys1h, xq, probs, sigma=2.0, distance="euclidean", batch_size=40)
    assert torch.allclose(full, one_batch, atol=1e-12)
    # smaller batches are different graphs (each = all support + its own queries)
    b10 = label_propagation(xs, ys1h, xq, probs, sigma=2.0, distance="euclidean", batch_size=10)
    assert not torch.allclose(full, b10, atol=1e-3)
    manual = lgc_closed_form(torch.cat([xs, xq[10:20]]), torch.cat([ys1h, probs[10:20]]), 0.9, 2.0, "euclidean")[6:]
    assert torch.allclose(b10[10:20], manual, atol=1e-12)


@pytest.mark.parametrize("alpha,rtol", [(0.5, 1e-4), (0.9, 5e-3)])
def test_official_ridge_pinv_agrees_with_solve(alpha, rtol):
    xs, ys1h, xq, _, probs = _clusters(seed=2)
    a = label_propagation(xs, ys1h, xq, probs, alpha=alpha, sigma=2.0, distance="euclidean", solver="solve")
    b = label_propagation(xs, ys1h, xq, probs, alpha=alpha, sigma=2.0, distance="euclidean", solver="official")
    assert torch.allclose(a, b, rtol=rtol, atol=0)
    assert torch.equal(a.argmax(1), b.argmax(1))


def test_closed_form_is_the_limit_of_the_iteration():
    xs, ys1h, xq, _, probs = _clusters(seed=3, n_q=20)
    x, y = torch.cat([xs, xq]), torch.cat([ys1h, probs])
    a_hat = normalized_affinity(affinity_matrix(x, 2.0, "euclidean"))
    a_np, y_np = a_hat.numpy(), y.numpy()
    f = y_np.copy()
    for _ in range(300):  # F ← αÂF + Y converges to (I - αÂ)^-1 Y
        f = 0.9 * a_np @ f + y_np
    assert torch.allclose(torch.from_numpy(f), lgc_closed_form(x, y, 0.9, 2.0, "euclidean"), atol=1e-8)
    assert torch.allclose(a_hat, a_hat.T)
    assert float(torch.linalg.eigvalsh(a_hat).abs().max()) <= 1 + 1e-9


def test_sigma50_cosine_graph_is_nearly_uniform_and_isolated_nodes_are_safe():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(30, 8, generator=g, dtype=torch.float64)
    a = affinity_matrix(x, sigma=50.0, distance="cosine")
    off = a[~torch.eye(30, dtype=torch.bool)]
    assert float(off.min()) >= 0.9968 and float(a.diagonal().abs().max()) == 0.0
    # tiny σ: every affinity underflows; no NaN, each node keeps its own label
    y = F.one_hot(torch.arange(30) % 3, 3).double()
    f = lgc_closed_form(x, y, 0.9, 1e-6, "euclidean")
    assert torch.isfinite(f).all() and torch.allclose(f, y)
    with pytest.raises(ConfigError):
        label_propagation(x[:3], y[:3], x[3:], None)  # query_init='probs' needs probabilities
    with pytest.raises(ConfigError):
        lgc_closed_form(x, y, 1.0, 1.0)


def test_class_mass_rescaled_keeps_row_sums_and_moves_the_big_class_s_rows():
    import numpy as np

    from mifomo_lite.fsl import class_mass_normalisation, class_mass_rescaled

    scores = torch.tensor([[3.0, 1.0], [2.0, 1.5], [2.5, 0.1], [0.2, 1.0]])
    out = class_mass_rescaled(scores, "estimated")
    torch.testing.assert_close(out.sum(1), scores.sum(1))
    want = class_mass_normalisation(scores.numpy()).argmax(1)
    assert np.array_equal(out.argmax(1).numpy(), want) and out.argmax(1).tolist() != scores.argmax(1).tolist()
    assert class_mass_rescaled(scores, "none") is scores


def test_graph_label_propagation_spreads_labels_along_the_knn_graph():
    import numpy as np

    from mifomo_lite.fsl import graph_label_propagation

    x = np.concatenate([np.linspace(0, 1, 10), np.linspace(5, 6, 10)])[:, None]
    order = np.r_[0, 10, 1:10, 11:20]            # one labelled point per cluster first
    y = np.zeros((20, 2))
    y[0, 0] = y[1, 1] = 1.0
    f, info = graph_label_propagation(x[order], y, 2, k=3)
    assert info["graph"] == "knn" and f.shape == (18, 2)
    assert f[:9].argmax(1).tolist() == [0] * 9 and f[9:].argmax(1).tolist() == [1] * 9
