"""SVM, nearest-prototype and transductive propagation baselines (mifomo_lite.fsl.baselines)."""

import numpy as np
import pytest
from sklearn.datasets import make_moons

from mifomo_lite.errors import ConfigError, DataError, EpisodeError
from mifomo_lite.fsl import (class_mass_normalisation, nearest_prototype_baseline, propagation_baseline,
                             run_feature_baselines, svm_baseline)


def _split(y, shots, seed):
    rng = np.random.default_rng(seed)
    sup = np.concatenate([rng.choice(np.flatnonzero(y == c), shots, replace=False) for c in np.unique(y)])
    return sup, np.setdiff1d(np.arange(y.size), sup)


def test_all_baselines_on_separable_blobs():
    rng = np.random.default_rng(0)
    n_classes, d = 5, 12
    centres = rng.normal(scale=4.0, size=(n_classes, d))
    y = np.repeat(np.arange(n_classes), 120)
    x = centres[y] + rng.normal(size=(y.size, d))
    sup, q = _split(y, 5, 0)
    res = run_feature_baselines(x[sup], y[sup], x[q], y[q], n_classes)
    assert set(res) == {"svm", "nearest_prototype", "propagation"}
    for name, r in res.items():
        assert r["metrics"]["oa"] > 97.0, (name, r["metrics"]["oa"])
        assert r["seconds"] >= 0
    assert res["propagation"]["info"]["sigma"] > 0 and res["propagation"]["info"]["n_edges"] >= 600 * 10 // 2
    r = svm_baseline(x[sup], y[sup], x[q])
    assert r.scores.shape == (q.size, n_classes) and np.array_equal(r.scores.argmax(1), r.pred)


def test_propagation_exploits_manifold_structure():
    x, y = make_moons(600, noise=0.06, random_state=0)
    sup, q = _split(y, 5, 0)
    proto = nearest_prototype_baseline(x[sup], y[sup], x[q], 2)
    prop = propagation_baseline(x[sup], y[sup], x[q], 2)
    dense = propagation_baseline(x[sup], y[sup], x[q], 2, graph="dense")
    acc = lambda r: float(np.mean(r.pred == y[q]))  # noqa: E731
    assert acc(prop) > 0.97 and acc(dense) > 0.97
    assert acc(prop) > acc(proto) + 0.05  # the transductive graph beats the class means
    cos = nearest_prototype_baseline(x[sup], y[sup], x[q], 2, metric="cosine")
    assert cos.scores.shape == (q.size, 2)


def _big_and_small_class():
    """600 pixels of a wide class next to 25 of a tight one: equal shots, very unequal sizes."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal([0.0, 0.0], 1.0, size=(600, 2)), rng.normal([2.2, 0.0], 0.35, size=(25, 2))])
    return x, np.r_[np.zeros(600, dtype=int), np.ones(25, dtype=int)]


@pytest.mark.parametrize("seed", range(5))
def test_class_mass_normalisation_stops_a_small_class_from_spilling_over(seed):
    x, y = _big_and_small_class()
    rng = np.random.default_rng(seed)
    sup = np.r_[rng.choice(600, 5, replace=False), 600 + rng.choice(25, 5, replace=False)]
    q = np.setdiff1d(np.arange(y.size), sup)
    plain = propagation_baseline(x[sup], y[sup], x[q], 2)
    cmn = propagation_baseline(x[sup], y[sup], x[q], 2, class_mass="estimated")
    n_small = int((y[q] == 1).sum())  # 20
    # equal seed mass: the 20-pixel class wins more than 100 pixels of the big one
    assert (plain.pred == 1).sum() > 100
    # after CMN it wins fewer and accuracy rises by several points (measured +3.4 to +7.6)
    assert (cmn.pred == 1).sum() < 0.85 * (plain.pred == 1).sum()
    assert (cmn.pred == 1).sum() >= n_small
    assert np.mean(cmn.pred == y[q]) > np.mean(plain.pred == y[q]) + 0.03
    assert cmn.info["class_mass"] == "estimated" and plain.info["class_mass"] == "none"
    assert np.array_equal(cmn.scores.argmax(1), cmn.pred)


def test_class_mass_normalisation_arithmetic_and_errors():
    f = np.array([[4.0, 1.0, 0.0], [3.0, 2.0, 0.0], [1.0, 1.0, 0.0], [-1.0, 1.0, 0.0]])
    # estimated prior = mean row share (negatives clipped): rows (.8,.2,0) (.6,.4,0) (.5,.5,0) (0,1,0)
    g = class_mass_normalisation(f)
    q = np.array([0.475, 0.525, 0.0])
    assert np.allclose(g.sum(0), q)  # each column carries its prior; a class with zero mass stays 0
    assert np.allclose(g[:, 0], q[0] * np.array([4, 3, 1, 0]) / 8.0)
    assert np.allclose(g[:, 1], q[1] * np.array([1, 2, 1, 1]) / 5.0)
    g2 = class_mass_normalisation(f, prior=[0.5, 0.5, 0.0])
    assert np.allclose(g2.sum(0), [0.5, 0.5, 0.0])
    with pytest.raises(DataError, match="prior must be 3"):
        class_mass_normalisation(f, prior=[1.0, 2.0])
    with pytest.raises(DataError, match="scores must be"):
        class_mass_normalisation(np.ones(3))
    with pytest.raises(ConfigError, match="class_mass='balanced'"):
        propagation_baseline(f[:2, :2], [0, 1], f[2:, :2], 2, class_mass="balanced")


def test_missing_support_class_is_reported():
    x = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(EpisodeError, match=r"\[2\]"):
        svm_baseline(x[:4], np.array([0, 0, 1, 1]), x[4:], n_classes=3)


def _tensorly_indian_pines():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("tensorly")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    cube, gt = folder / "Indian_pines_corrected.npy", folder / "Indian_pines_gt.npy"
    return (cube, gt) if cube.is_file() and gt.is_file() else None


@pytest.mark.slow
def test_transductive_propagation_on_indian_pines_pca_spatial_mean():
    """Real-data check (offline copy in the tensorly wheel): 5-shot IP, PCA-50 + 9×9 mean.

    Measured over 10 seeds with this preprocessing: propagation 77.2 ± 3.1 % OA, RBF-SVM 72.9 ± 2.1,
    nearest prototype 64.9 ± 2.3 (issue 5 reports ≈ 81 % for propagation with its own setup)."""
    paths = _tensorly_indian_pines()
    if paths is None:
        pytest.skip("tensorly's Indian Pines copy is not installed")
    from scipy.ndimage import uniform_filter
    from sklearn.decomposition import PCA

    cube, gt = np.load(paths[0]).astype(np.float64), np.load(paths[1])
    h, w, b = cube.shape
    flat = cube.reshape(-1, b)
    flat = (flat - flat.mean(0)) / flat.std(0)
    pcs = PCA(50, random_state=0).fit_transform(flat).reshape(h, w, 50)
    mean9 = np.stack([uniform_filter(pcs[..., i], size=9, mode="reflect") for i in range(50)], -1)
    lab = gt.reshape(-1)
    idx = np.flatnonzero(lab > 0)
    x, y = mean9.reshape(-1, 50)[idx], lab[idx] - 1
    sup, q = _split(y, 5, 0)
    prop = propagation_baseline(x[sup], y[sup], x[q], 16)
    svm = svm_baseline(x[sup], y[sup], x[q], 16)
    oa_prop, oa_svm = np.mean(prop.pred == y[q]) * 100, np.mean(svm.pred == y[q]) * 100
    print(f"IP 5-shot seed 0: propagation {oa_prop:.2f} % OA, SVM {oa_svm:.2f} %")
    assert oa_prop > 70.0 and oa_svm > 60.0, (oa_prop, oa_svm)
