"""The reference answers of notebooks 03–08 teach what the library actually computes."""

import math

import numpy as np
import torch
import torch.nn.functional as F

from mifomo_lite import fsl
from mifomo_lite.exercises import get

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
if str(ROOT) not in __import__("sys").path:  # the teacher folder sits beside the kit, not inside it
    __import__("sys").path.insert(0, str(ROOT))
from teacher.exercises import install  # noqa: E402

install()


def test_03_prototypes_cosine_and_episodes_match_the_library():
    g = torch.Generator().manual_seed(0)
    emb, y = torch.randn(12, 5, generator=g, dtype=torch.float64), torch.arange(4).repeat(3)
    assert np.allclose(get("03.1").reference()(emb, y, 4), fsl.prototypes(emb, y, 4).numpy())
    q, p = torch.randn(6, 5, generator=g, dtype=torch.float64), torch.randn(4, 5, generator=g, dtype=torch.float64)
    head = fsl.PrototypicalHead(7.5).double()
    with torch.no_grad():
        assert np.allclose(get("03.2").reference()(q, p, 7.5), head(q, p).numpy())
    # the bound of 03.4 is reached by a prototype set with antipodal "other" prototypes
    e = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    protos = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    with torch.no_grad():
        best = float(torch.softmax(fsl.PrototypicalHead(3.0).double()(e, protos), 1)[0, 0])
    assert math.isclose(get("03.4").reference()(3.0, 3), best, rel_tol=1e-9)


def test_04_scheduler_formulas_match_mixup_scheduler():
    q_ref, upd_ref = get("04.1").reference(), get("04.2").reference()
    s = fsl.MixupScheduler(temperature=0.05)
    assert math.isclose(q_ref(0.3, 0.7, 0.05), s.q_value(0.3, 0.7), rel_tol=1e-12)
    g = torch.Generator().manual_seed(1)
    S, T, M = (torch.randn(10, 4, generator=g) for _ in range(3))
    rec = s.update(3, 10, S, T, M)
    assert math.isclose(rec["lambda"], upd_ref(0.0, 3, 10, rec["q"]), rel_tol=1e-9)
    # 04.3 = the label part of cross_domain_mixup, 04.4 = the clipped share of MixupScheduler.sample
    ys, yt = F.one_hot(torch.tensor([0, 2]), 3).double(), torch.tensor([[0.5, 2.0], [1.0, 0.1]], dtype=torch.float64)
    lam = torch.tensor([0.3, 0.8])
    mixed = fsl.cross_domain_mixup(torch.zeros(2, 1), ys, torch.zeros(2, 1), yt, lam, 3, 2).y
    assert np.allclose(get("04.3").reference()(ys, yt, lam), mixed.numpy(), atol=1e-6)
    s.lam = 0.1
    draws = s.sample(200_000, generator=torch.Generator().manual_seed(2))
    share = float(((draws == 0) | (draws == 1)).float().mean())
    assert abs(share - get("04.4").reference()(0.1, 0.2)) < 0.01


def test_05_refiners_and_selection_match_the_library():
    rng = np.random.default_rng(0)
    probs = torch.as_tensor(rng.dirichlet(np.ones(4), size=30))
    assert np.allclose(get("05.1").reference()(probs, 0.1), fsl.eps_label_smoothing(probs, 0.1).numpy())
    sel = fsl.select_confident_pseudo_labels(probs, min_count=0, top_k=3)
    assert set(get("05.2").reference()(probs, 3).tolist()) == set(sel.query_indices.tolist())
    x = torch.as_tensor(rng.normal(size=(9, 3)))
    y0 = torch.as_tensor(rng.dirichlet(np.ones(2), size=9))
    a_hat = fsl.normalized_affinity(fsl.affinity_matrix(x, sigma=0.7))
    assert np.allclose(get("05.4").reference()(a_hat, y0, 0.9), fsl.lgc_closed_form(x, y0, 0.9, 0.7).numpy())


def test_06_metrics_match_classification_metrics_and_aggregation():
    rng = np.random.default_rng(3)
    y_true, y_pred = rng.integers(0, 5, 200), rng.integers(0, 5, 200)
    y_pred[:120] = y_true[:120]
    m = fsl.classification_metrics(y_true, y_pred, 5)
    oa, aa = get("06.1").reference()(y_true, y_pred, 5)
    assert math.isclose(oa, m["oa"]) and math.isclose(aa, m["aa"])
    assert math.isclose(get("06.2").reference()(y_true, y_pred, 5), m["kappa"], rel_tol=1e-9)
    agg = fsl.aggregate_episodes([{"oa": v, "aa": v, "kappa": v} for v in (90.0, 80.0, 85.5)])
    assert np.allclose(get("06.3").reference()([90.0, 80.0, 85.5]), (agg["oa"]["mean"], agg["oa"]["std"]))


def test_08_inductive_reference_is_the_prototype_head():
    g = torch.Generator().manual_seed(4)
    s, q = torch.randn(15, 6, generator=g, dtype=torch.float64), torch.randn(40, 6, generator=g, dtype=torch.float64)
    y = torch.arange(3).repeat(5)
    want = fsl.PrototypicalHead(20.0).double().predict(q, fsl.prototypes(s, y, 3)).numpy()
    assert np.array_equal(get("08.3").reference()(s, y, q, 3), want)
