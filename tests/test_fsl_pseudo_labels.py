"""Pseudo-label refinement and the confident top-k filter (mifomo_lite.fsl.pseudo_labels, SPEC §8.5)."""

import pytest
import torch
import torch.nn.functional as F

from mifomo_lite.errors import ConfigError
from mifomo_lite.fsl import (
    eps_label_smoothing,
    label_propagation,
    refine_pseudo_labels,
    select_confident_pseudo_labels,
)

SCORES = torch.tensor([
    [0.9, 0.1, 0.0],    # q0 → class 0, conf .9
    [0.6, 0.3, 0.1],    # q1 → 0, .6
    [0.8, 0.2, 0.0],    # q2 → 0, .8
    [0.1, 0.7, 0.2],    # q3 → 1, .7
    [0.2, 0.75, 0.05],  # q4 → 1, .75
    [0.3, 0.2, 0.5],    # q5 → 2 (the only one: class 2 is dropped), then 0 with conf .3
])
SUPPORT = F.one_hot(torch.tensor([0, 0, 1, 1, 2, 2]), 3).float()


def test_select_drops_rare_classes_and_keeps_top_k_per_class():
    sel = select_confident_pseudo_labels(SCORES, SUPPORT, min_count=2, top_k=2)
    assert sel.kept_classes.tolist() == [0, 1] and sel.n_classes == 2
    assert sel.query_indices.tolist() == [0, 2, 4, 3]
    assert torch.equal(sel.query_labels, SCORES[[0, 2, 4, 3]][:, :2])  # raw retained scores
    assert sel.support_mask.tolist() == [True, True, True, True, False, False]
    assert torch.equal(sel.support_labels, F.one_hot(torch.tensor([0, 0, 1, 1]), 2).float())
    assert any("[2]" in w and "dropped" in w for w in sel.warnings)
    assert not any("top_k" in w for w in sel.warnings)


def test_select_target_forms_and_warning_for_small_classes():
    norm = select_confident_pseudo_labels(SCORES, min_count=2, top_k=3, pseudo_label_target="lgc_normalised")
    assert norm.query_indices.tolist() == [0, 2, 1, 4, 3]
    assert torch.allclose(norm.query_labels.sum(1), torch.ones(5))
    assert torch.allclose(norm.query_labels[0], torch.tensor([0.9, 0.1]))
    assert any("class 1 has only 2" in w for w in norm.warnings)
    hot = select_confident_pseudo_labels(SCORES, min_count=2, top_k=3, pseudo_label_target="onehot")
    assert torch.equal(hot.query_labels, F.one_hot(torch.tensor([0, 0, 0, 1, 1]), 2).float())
    assert norm.support_mask is None
    every = select_confident_pseudo_labels(SCORES, min_count=2, top_k=0)
    assert sorted(every.query_indices.tolist()) == [0, 1, 2, 3, 4, 5]  # top_k <= 0 keeps all


def test_select_is_stable_on_ties_and_drops_zero_rows():
    scores = torch.tensor([[0.5, 0.5, 0.0], [0.7, 0.1, 0.0], [0.5, 0.2, 0.0], [0.5, 0.1, 0.0],
                           [0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.9, 0.0], [0.1, 0.6, 0.0],
                           [0.2, 0.8, 0.0]])
    sel = select_confident_pseudo_labels(scores, min_count=2, top_k=3)
    # class 2 has 2 predictions (q4, q5): kept with min_count=2
    assert sel.kept_classes.tolist() == [0, 1, 2]
    # ties at 0.5 (q0, q2, q3): stable order, so q0 before q2 before q3
    assert sel.query_indices.tolist()[:3] == [1, 0, 2]
    sel3 = select_confident_pseudo_labels(scores, min_count=3, top_k=10)
    # class 2 dropped: q4 and q5 keep all-zero rows and are removed
    assert sel3.kept_classes.tolist() == [0, 1]
    assert 4 not in sel3.query_indices.tolist() and 5 not in sel3.query_indices.tolist()
    assert any("summing to <= 0" in w for w in sel3.warnings)
    assert sel3.query_indices.tolist() == [1, 0, 2, 3, 6, 8, 7]
    assert torch.equal(sel3.query_labels, scores[[1, 0, 2, 3, 6, 8, 7]][:, :2])
    empty = select_confident_pseudo_labels(scores, min_count=50, top_k=3)
    assert empty.n_classes == 0 and empty.query_indices.numel() == 0 and empty.query_labels.shape == (0, 0)


def test_eps_smoothing_and_refine_dispatch():
    sm = eps_label_smoothing(SCORES, 0.1)
    assert torch.allclose(sm.sum(1), torch.ones(6))
    assert torch.equal(sm.argmax(1), SCORES.argmax(1))
    assert torch.allclose(sm[0], torch.tensor([0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3]))
    assert torch.equal(refine_pseudo_labels(SCORES, "eps_smoothing", epsilon=0.1), sm)
    none = refine_pseudo_labels(SCORES, method="none")
    assert torch.equal(none, SCORES) and none.data_ptr() != SCORES.data_ptr()
    g = torch.Generator().manual_seed(0)
    se, qe = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    lgc = refine_pseudo_labels(SCORES, support_emb=se, support_y_onehot=SUPPORT, query_emb=qe,
                               sigma=0.7, batch_size=4)
    assert torch.allclose(lgc, label_propagation(se, SUPPORT, qe, SCORES, sigma=0.7, batch_size=4))
    with pytest.raises(ConfigError, match="query_emb"):
        refine_pseudo_labels(SCORES, support_emb=se, support_y_onehot=SUPPORT)
    with pytest.raises(ConfigError, match="valid values"):
        refine_pseudo_labels(SCORES, "smoothing")
    with pytest.raises(ConfigError):
        select_confident_pseudo_labels(SCORES, pseudo_label_target="raw")
