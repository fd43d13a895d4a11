"""OA / AA / κ per episode and aggregation (mifomo_lite.fsl.metrics)."""

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score, cohen_kappa_score, confusion_matrix

from mifomo_lite.errors import DataError
from mifomo_lite.fsl import aggregate_episodes, classification_metrics, format_mean_std, to_jsonable

Y_TRUE = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
Y_PRED = np.array([0, 0, 1, 1, 0, 2, 2, 1, 2])


def test_hand_made_confusion_matrix_and_sklearn_agreement():
    m = classification_metrics(Y_TRUE, torch.from_numpy(Y_PRED), 3)
    assert m["confusion_matrix"].tolist() == [[2, 1, 0], [1, 1, 0], [0, 1, 3]]
    assert m["oa"] == pytest.approx(600 / 9)
    assert np.allclose(m["per_class_accuracy"], [200 / 3, 50.0, 75.0])
    assert m["aa"] == pytest.approx((200 / 3 + 50 + 75) / 3)
    assert m["oa"] == pytest.approx(100 * accuracy_score(Y_TRUE, Y_PRED))
    assert m["aa"] == pytest.approx(100 * balanced_accuracy_score(Y_TRUE, Y_PRED))
    assert m["kappa"] == pytest.approx(100 * cohen_kappa_score(Y_TRUE, Y_PRED))
    assert np.array_equal(m["confusion_matrix"], confusion_matrix(Y_TRUE, Y_PRED))
    # kappa by hand: p_o = 6/9, p_e = Σ row·col / n²
    p_e = (3 * 3 + 2 * 3 + 4 * 3) / 81
    assert m["kappa"] == pytest.approx(100 * (6 / 9 - p_e) / (1 - p_e))
    assert m["support"].tolist() == [3, 2, 4] and m["n_samples"] == 9


def test_absent_classes_are_nan_and_excluded_from_aa():
    y_pred = Y_PRED.copy()
    y_pred[0] = 3  # predicted into a class with no true sample
    m = classification_metrics(Y_TRUE, y_pred, 5)
    assert m["confusion_matrix"].shape == (5, 5)
    pc = m["per_class_accuracy"]
    assert np.isnan(pc[3]) and np.isnan(pc[4])
    assert np.allclose(pc[:3], [100 / 3, 50.0, 75.0])
    assert m["aa"] == pytest.approx((100 / 3 + 50 + 75) / 3)
    assert m["kappa"] == pytest.approx(100 * cohen_kappa_score(Y_TRUE, y_pred))
    with pytest.raises(DataError, match="outside"):
        classification_metrics(Y_TRUE, Y_PRED, 2)
    with pytest.raises(DataError, match="empty"):
        classification_metrics([], [], 3)


def test_aggregate_uses_population_std():
    eps = [classification_metrics(Y_TRUE, Y_PRED, 3), classification_metrics(Y_TRUE, Y_TRUE, 3),
           classification_metrics(Y_TRUE, np.zeros(9, dtype=int), 3)]
    agg = aggregate_episodes(eps)
    oas = [600 / 9, 100.0, 300 / 9]
    assert agg["n_episodes"] == 3
    assert agg["oa"]["values"] == pytest.approx(oas)
    assert agg["oa"]["mean"] == pytest.approx(np.mean(oas))
    assert agg["oa"]["std"] == pytest.approx(np.std(oas))  # ddof = 0
    assert agg["oa"]["std"] != pytest.approx(np.std(oas, ddof=1))
    assert agg["per_class_accuracy"]["mean"][0] == pytest.approx(np.mean([200 / 3, 100, 100]))
    assert "OA" in format_mean_std(agg) and "±" in format_mean_std(agg)
    json.dumps(to_jsonable(agg))
    json.dumps(to_jsonable(classification_metrics(Y_TRUE, Y_PRED, 5)))  # NaN → null
