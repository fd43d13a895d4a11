"""Embedding mixup and source/target mixup (mifomo_lite.fsl.mixup)."""

import pytest
import torch
import torch.nn.functional as F

from mifomo_lite.errors import ConfigError, DataError
from mifomo_lite.fsl import cross_domain_mixup, embedding_mixup, extend_label_space, sample_beta, sample_pairs


def test_embedding_mixup_pairs_labels_and_determinism():
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(15, 8, generator=g)
    y = F.one_hot(torch.arange(15) % 5, 5).float()
    mb = embedding_mixup(emb, y, n_pairs=100, generator=torch.Generator().manual_seed(3))
    assert mb.emb.shape == (100, 8) and mb.y.shape == (100, 5) and mb.lam.shape == (100,)
    assert torch.allclose(mb.y.sum(1), torch.ones(100))  # mixed one-hot labels still sum to 1
    assert bool(((mb.lam > 0) & (mb.lam < 1)).all())
    lam = mb.lam[:, None]
    assert torch.allclose(mb.emb, lam * emb[mb.index_a] + (1 - lam) * emb[mb.index_b], atol=1e-6)
    assert torch.allclose(mb.y, lam * y[mb.index_a] + (1 - lam) * y[mb.index_b], atol=1e-6)
    # with replacement: 100 pairs over 15 rows must repeat indices
    assert mb.index_a.unique().numel() < 100
    again = embedding_mixup(emb, y, n_pairs=100, generator=torch.Generator().manual_seed(3))
    assert torch.equal(again.lam, mb.lam) and torch.equal(again.index_a, mb.index_a)
    # gradients flow back into the embeddings
    e = emb.clone().requires_grad_(True)
    embedding_mixup(e, y, 10, generator=torch.Generator().manual_seed(0)).emb.sum().backward()
    assert e.grad is not None and float(e.grad.abs().sum()) > 0


def test_beta22_moments():
    lam = sample_beta(20000, 2.0, generator=torch.Generator().manual_seed(0)).double()
    # Beta(2, 2): mean 1/2, variance 1/20
    assert abs(float(lam.mean()) - 0.5) < 0.01
    assert abs(float(lam.var()) - 0.05) < 0.003
    with pytest.raises(ConfigError):
        sample_beta(3, 0.0)


def test_cross_domain_mixup_on_embeddings_and_patches():
    g = torch.Generator().manual_seed(1)
    n_s, n_t, n = 4, 3, 6
    ia, ib = sample_pairs(10, 7, n, generator=g)
    assert int(ia.max()) < 10 and int(ib.max()) < 7
    ys = torch.tensor([0, 3, 1, 2, 2, 0])
    yt = torch.tensor([[0.5, 0.3, 0.2], [1, 0, 0], [0, 0, 1], [2.0, 1.0, 0.0], [0, 1, 0], [0.1, 0.1, 0.1]])
    lam = torch.tensor([0.0, 1.0, 0.25, 0.5, 0.75, 0.3])
    es, et = torch.randn(n, 5, generator=g), torch.randn(n, 5, generator=g)
    mix = cross_domain_mixup(es, ys, et, yt, lam, n_source=n_s)
    assert mix.y.shape == (n, n_s + n_t)
    # source mass in the first n_s columns, target mass (unnormalised) in the last n_t columns
    assert torch.allclose(mix.y[:, :n_s].sum(1), lam)
    assert torch.allclose(mix.y[:, n_s:].sum(1), (1 - lam) * yt.sum(1))
    assert torch.allclose(mix.y[0], torch.cat([torch.zeros(n_s), yt[0]]))  # λ = 0: pure target
    assert torch.allclose(mix.y[1], F.one_hot(torch.tensor(3), n_s + n_t).float())  # λ = 1: pure source
    assert torch.allclose(mix.x, lam[:, None] * es + (1 - lam[:, None]) * et)
    # input level: patches [n, C, H, W], same λ broadcast
    ps, pt = torch.randn(n, 2, 3, 3, generator=g), torch.randn(n, 2, 3, 3, generator=g)
    pmix = cross_domain_mixup(ps, ys, pt, yt, lam, n_source=n_s)
    assert torch.allclose(pmix.x[2], 0.25 * ps[2] + 0.75 * pt[2])
    assert torch.allclose(pmix.y, mix.y)
    # scalar λ and label vectors instead of ids
    m2 = cross_domain_mixup(es, F.one_hot(ys, n_s), et, yt, 0.5)
    assert torch.allclose(m2.y.sum(1), 0.5 + 0.5 * yt.sum(1))


def test_extend_label_space_and_errors():
    ys_ext, yt_ext = extend_label_space(torch.tensor([1, 0]), torch.tensor([2]), n_source=2, n_target=3)
    assert torch.equal(ys_ext, torch.tensor([[0.0, 1, 0, 0, 0], [1, 0, 0, 0, 0]]))
    assert torch.equal(yt_ext, torch.tensor([[0.0, 0, 0, 0, 1]]))
    x = torch.zeros(2, 4)
    with pytest.raises(DataError, match="shape"):
        cross_domain_mixup(x, torch.tensor([0, 1]), torch.zeros(2, 5), torch.tensor([0, 1]), 0.5, 2, 2)
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        cross_domain_mixup(x, torch.tensor([0, 1]), x, torch.tensor([0, 1]), 1.5, 2, 2)
    with pytest.raises(ConfigError, match="n_source"):
        cross_domain_mixup(x, torch.tensor([0, 1]), x, torch.tensor([0, 1]), 0.5)
