"""KMeans agrees with scikit-learn's on iris, scaled wine and digits.

The reference is scikit-learn in float64 on the same (dtype-cast) data: gpuml
accumulates the center sums in float64, so in float32 only the float32 assignment
scores and the final rounding of the centers differ.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import cluster as sk
from sklearn.datasets import load_digits, load_iris, load_wine
from sklearn.preprocessing import scale

from gpuml.cluster import KMeans
from helpers import tol

DATA = {  # name -> (X, n_clusters)
    "iris": (load_iris(return_X_y=True)[0], 3),
    "wine": (scale(load_wine(return_X_y=True)[0]), 3),
    "digits": (load_digits(return_X_y=True)[0], 10),
}


def _data(name, dtype):
    X, k = DATA[name]
    init = X[np.random.RandomState(0).choice(X.shape[0], k, replace=False)]  # k distinct rows
    return X.astype(dtype), k, init.astype(dtype)


def _weights(n):
    return np.random.default_rng(0).uniform(0.1, 3.0, n)


def _check_same_run(ours, ref, X, dtype):
    """Same Lloyd run: equal labels and iteration count; centers to 1e-10 (float64) or
    1e-5 (float32) of the data's largest magnitude; inertia to 1e-10 / 1e-5 relative
    (observed float32: <= 5e-7 on the centers, 1e-6 on the inertia)."""
    rtol = tol(dtype, 1e-5, 1e-10)
    assert ours.cluster_centers_.shape == ref.cluster_centers_.shape
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=rtol,
                               atol=rtol * np.abs(X).max())
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    np.testing.assert_allclose(ours.inertia_, ref.inertia_, rtol=rtol)
    assert ours.n_iter_ == ref.n_iter_


@pytest.mark.parametrize("name", list(DATA))
@pytest.mark.parametrize("weighted", [False, True])
def test_explicit_init(name, weighted, device, dtype):
    X, k, init = _data(name, dtype)
    sw = _weights(X.shape[0]) if weighted else None
    ours = KMeans(k, init=init, n_init=1, device=device).fit(X, sample_weight=sw)
    ref = sk.KMeans(k, init=init.astype(np.float64), n_init=1).fit(X.astype(np.float64), sample_weight=sw)
    assert ours.cluster_centers_.dtype == dtype
    _check_same_run(ours, ref, X, dtype)


@pytest.mark.parametrize("name", list(DATA))
@pytest.mark.parametrize("random_state", [0, 1])
def test_kmeans_plusplus_same_seed(name, random_state, device, dtype):
    # the same RandomState draws pick the same seeds, so the same local optimum:
    # inertia within 1e-6 relative in float64, 1e-4 in float32 (observed 7e-7)
    X, k, _ = _data(name, dtype)
    ours = KMeans(k, random_state=random_state, device=device).fit(X)
    ref = sk.KMeans(k, random_state=random_state).fit(X.astype(np.float64))
    np.testing.assert_allclose(ours.inertia_, ref.inertia_, rtol=tol(dtype, 1e-4, 1e-6))


@pytest.mark.parametrize("name", ["iris", "wine"])
@pytest.mark.parametrize("random_state", [0, 1, 2])
def test_kmeans_plusplus_same_seed_weighted(name, random_state, device, dtype):
    # weighted k-means++ draws the same rows too (same tolerances as unweighted). Not
    # digits: its integer pixels put some rows at exactly equal distances from two
    # centers, which the two libraries may assign differently (scikit-learn centers X
    # first, so rounding decides), e.g. random_state=1 there ends 8e-5 apart
    X, k, _ = _data(name, dtype)
    sw = _weights(X.shape[0])
    ours = KMeans(k, random_state=random_state, device=device).fit(X, sample_weight=sw)
    ref = sk.KMeans(k, random_state=random_state).fit(X.astype(np.float64), sample_weight=sw)
    np.testing.assert_allclose(ours.inertia_, ref.inertia_, rtol=tol(dtype, 1e-4, 1e-6))


@pytest.mark.parametrize("name", list(DATA))
def test_random_init_n_init(name, device, dtype):
    # best of 5 random initializations, drawn from the same RandomState as scikit-learn's: the
    # same best inertia (measured: 1.1e-7 in float32, 2e-14 in float64)
    X, k, _ = _data(name, dtype)
    ours = KMeans(k, init="random", n_init=5, random_state=0, device=device).fit(X)
    ref = sk.KMeans(k, init="random", n_init=5, random_state=0).fit(X.astype(np.float64))
    np.testing.assert_allclose(ours.inertia_, ref.inertia_, rtol=tol(dtype, 1e-4, 1e-6))
    # and the fitted labels are the nearest centers of the fitted centers
    np.testing.assert_array_equal(ours.labels_, ours.predict(X))


@pytest.mark.parametrize("name", list(DATA))
def test_predict_transform_score_same_centers(name, device, dtype):
    X, k, init = _data(name, dtype)
    ours = KMeans(k, init=init, n_init=1, device=device).fit(X)
    ref = sk.KMeans(k, init=init.astype(np.float64), n_init=1).fit(X.astype(np.float64))
    ref.cluster_centers_ = ours.cluster_centers_.astype(np.float64)  # scikit-learn on gpuml's centers
    rng = np.random.default_rng(1)
    Q = (X + 0.1 * X.std(0) * rng.standard_normal(X.shape)).astype(dtype)  # new points
    sw = _weights(Q.shape[0])
    # predict: equal wherever the two nearest centers are not tied within rounding
    d_ref = ref.transform(Q.astype(np.float64))
    top2 = np.sort(d_ref, 1)[:, :2]
    clear = top2[:, 1] - top2[:, 0] > tol(dtype, 1e-3, 1e-9) * np.abs(top2).max()
    pred = ours.predict(Q)
    assert pred.dtype == np.int32 and clear.mean() > 0.99
    np.testing.assert_array_equal(pred[clear], ref.predict(Q.astype(np.float64))[clear])
    # transform: distances, 1e-9 (float64) / 1e-4 (float32, |x|²+|c|²-2x·c cancellation)
    # relative to the largest distance
    tr = ours.transform(Q)
    assert tr.dtype == dtype and tr.shape == (Q.shape[0], k)
    rtol = tol(dtype, 1e-4, 1e-9)
    np.testing.assert_allclose(tr, d_ref, rtol=rtol, atol=rtol * d_ref.max())
    # score: minus the (weighted) inertia, 1e-9 / 1e-5 relative
    for w in (None, sw):
        np.testing.assert_allclose(ours.score(Q, sample_weight=w),
                                   ref.score(Q.astype(np.float64), sample_weight=w),
                                   rtol=tol(dtype, 1e-5, 1e-9))


def test_fit_predict_and_fit_transform(device, dtype):
    X, k, init = _data("wine", dtype)
    ours = KMeans(k, init=init, n_init=1, device=device)
    ref = sk.KMeans(k, init=init.astype(np.float64), n_init=1)
    np.testing.assert_array_equal(ours.fit_predict(X), ref.fit_predict(X.astype(np.float64)))
    rtol = tol(dtype, 1e-4, 1e-9)
    ft, ft_ref = ours.fit_transform(X), ref.fit_transform(X.astype(np.float64))
    np.testing.assert_allclose(ft, ft_ref, rtol=rtol, atol=rtol * ft_ref.max())


def test_cost_model_counts_the_inits_the_fit_runs():
    # device="auto" weighs n_init runs: the count fit uses, without its warning
    import warnings

    centers = np.zeros((3, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for est, runs in [(KMeans(3, init="random"), 10), (KMeans(3, init=lambda X, k, rs: centers), 10),
                          (KMeans(3, init=centers, n_init=5), 1), (KMeans(3, n_init=4), 4)]:
            assert est._work(100, 2)[1] == runs * (min(est.max_iter, 20) + 3.0) and est._n_init(warn=False) == runs
