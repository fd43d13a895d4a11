"""Prototypes, the scaled-cosine head and the episode losses (mifomo_lite.fsl.protonet)."""

import pytest
import torch
import torch.nn.functional as F

from mifomo_lite.errors import DataError, EpisodeError
from mifomo_lite.fsl import PrototypicalHead, fsl_loss, prototypes, soft_cross_entropy


def test_prototypes_are_exact_class_means():
    emb = torch.tensor([[1.0, 0.0], [3.0, 2.0], [0.0, 4.0], [10.0, -2.0], [2.0, 2.0]])
    y = torch.tensor([0, 0, 1, 2, 2])
    p = prototypes(emb, y, 3)
    expected = torch.tensor([[2.0, 1.0], [0.0, 4.0], [6.0, 0.0]])
    assert torch.equal(p, expected)


def test_prototypes_are_differentiable_and_reject_empty_classes():
    emb = torch.randn(6, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    prototypes(emb, torch.tensor([0, 1, 0, 1, 0, 1]), 2).sum().backward()
    assert torch.allclose(emb.grad, torch.full_like(emb, 1 / 3))
    with pytest.raises(EpisodeError, match=r"\[2\]"):
        prototypes(emb.detach(), torch.tensor([0, 1, 0, 1, 0, 1]), 3)
    with pytest.raises(EpisodeError, match="n_classes=2"):
        prototypes(emb.detach(), torch.tensor([0, 1, 2, 1, 0, 1]), 2)


def test_head_scale_init_20_learnable_and_both_logit_forms():
    head = PrototypicalHead()
    assert isinstance(head.scale, torch.nn.Parameter) and head.scale.requires_grad
    assert float(head.scale.detach()) == 20.0
    assert [n for n, _ in head.named_parameters()] == ["scale"]
    g = torch.Generator().manual_seed(1)
    q, p = torch.randn(7, 5, generator=g), torch.randn(3, 5, generator=g)
    cos = F.normalize(q, dim=1) @ F.normalize(p, dim=1).T
    sim = head(q, p)
    assert torch.allclose(sim, 20.0 * cos, atol=1e-5)
    dist_head = PrototypicalHead(logit_form="cosine_distance")
    dist = dist_head(q, p)
    assert torch.allclose(dist, -20.0 * (1.0 - cos), atol=1e-5)
    # same softmax (they differ by a constant per row) and same argmax
    assert torch.allclose(torch.softmax(sim, 1), torch.softmax(dist, 1), atol=1e-6)
    assert torch.equal(head.predict(q, p), dist_head.predict(q, p))
    assert torch.allclose(head.probabilities(q, p).sum(1), torch.ones(7))
    # the scale receives a gradient (an optimiser can train it)
    fsl_loss(head(q, p), torch.tensor([0, 1, 2, 0, 1, 2, 0])).backward()
    assert head.scale.grad is not None and float(head.scale.grad) != 0.0
    fixed = PrototypicalHead(learnable=False)
    assert list(fixed.parameters()) == [] and float(fixed.scale) == 20.0


def test_soft_cross_entropy_matches_ce_and_does_not_renormalise():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(6, 4, generator=g)
    y = torch.tensor([0, 3, 1, 2, 2, 0])
    assert torch.allclose(soft_cross_entropy(logits, F.one_hot(y, 4).float()), F.cross_entropy(logits, y), atol=1e-6)
    assert torch.allclose(fsl_loss(logits, y), F.cross_entropy(logits, y))
    raw = torch.rand(6, 4, generator=g) * 5  # rows do not sum to 1 (like raw LGC scores)
    expected = -(raw * F.log_softmax(logits, 1)).sum(1).mean()
    assert torch.allclose(soft_cross_entropy(logits, raw), expected, atol=1e-5)
    assert torch.allclose(soft_cross_entropy(logits, raw), F.cross_entropy(logits, raw), atol=1e-5)
    assert torch.allclose(soft_cross_entropy(logits, 2 * raw), 2 * soft_cross_entropy(logits, raw), atol=1e-5)
    assert soft_cross_entropy(logits, raw, reduction="none").shape == (6,)
    with pytest.raises(DataError, match="shape"):
        soft_cross_entropy(logits, raw[:, :3])
    with pytest.raises(EpisodeError):
        fsl_loss(logits, torch.tensor([0, 4, 1, 2, 2, 0]))


def test_class_means_match_prototypes_and_zero_an_empty_class():
    from mifomo_lite.fsl import class_means

    torch.manual_seed(0)
    emb, y = torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 1, 2])
    torch.testing.assert_close(class_means(emb, y, 3), prototypes(emb, y, 3))
    out = class_means(emb, y, 4)
    assert torch.equal(out[3], torch.zeros(4)) and torch.allclose(out[1], emb[2:5].mean(0))
