"""Neighbors estimators agree with scikit-learn's brute-force search.

Reference: scikit-learn (algorithm="brute") in float64 on the same (dtype-cast) data,
asked for k+1 neighbors so that ties at the k-th neighbour can be recognised: digits
(integer pixels) and iris (duplicate rows) have many equal distances, which either
library may order differently. Indices are therefore compared as sets, and only for
rows whose k-th and (k+1)-th reference distances differ by more than the tolerance;
and on every row (tied ones included) gpuml's distances are checked against its own indices.

Tolerances, with s = the largest squared row norm of X:
- distances: 1e-9 (float64) / 1e-5 (float32) relative, plus an absolute floor for
  distances near 0 (scikit-learn's |x|² + |y|² - 2x·y carries ~eps * s of cancellation):
  euclidean 1e-7 sqrt(s) / 1e-6 sqrt(s), sqeuclidean 1e-12 s / 1e-6 s, cosine 1e-12 / 1e-6;
- ties: two squared distances closer than 1e-13 s (float64) / 2e-6 s (float32) may be
  ranked either way (gpuml ranks by |x|² - 2q·x in the data's precision, error
  ~eps * sqrt(d) * s); cosine: 1e-13 / 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import neighbors as sk
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
from sklearn.metrics.pairwise import paired_distances

from gpuml.neighbors import KNeighborsClassifier, KNeighborsRegressor, NearestNeighbors
from helpers import tol

DATA = {name: loader(return_X_y=True) for name, loader in [
    ("iris", load_iris), ("digits", load_digits), ("breast_cancer", load_breast_cancer), ("diabetes", load_diabetes),
]}
METRICS = ["euclidean", "sqeuclidean", "cosine"]
K = 5


def _split(name, dtype, n_queries=None):
    """Index the even rows, query the odd ones (the first n_queries of them)."""
    X, y = DATA[name]
    X = X.astype(dtype)
    return X[::2], y[::2], X[1::2][:n_queries], y[1::2][:n_queries]


def _sq_scale(X):
    return float((X.astype(np.float64) ** 2).sum(1).max())


def _dist_atol(metric, dtype, X):
    s = _sq_scale(X)
    if metric == "cosine":
        return tol(dtype, 1e-6, 1e-12)
    if metric == "sqeuclidean":
        return tol(dtype, 1e-6, 1e-12) * s
    return tol(dtype, 1e-6, 1e-7) * np.sqrt(s)


def _untied(dr, metric, dtype, X):
    """Rows whose K-th and (K+1)-th reference neighbours are not tied within rounding."""
    sq = dr**2 if metric == "euclidean" else dr
    gap = tol(dtype, 1e-6, 1e-13) if metric == "cosine" else tol(dtype, 2e-6, 1e-13) * _sq_scale(X)
    return sq[:, K] - sq[:, K - 1] > gap


def _exact(A, B, metric):
    """Distances between paired rows, computed directly in float64."""
    A, B = A.astype(np.float64), B.astype(np.float64)
    if metric == "sqeuclidean":
        return ((A - B) ** 2).sum(1)
    return paired_distances(A, B, metric=metric)


def _check_kneighbors(dist, ind, dr, ir, Xfit, Xq, metric, dtype):
    """(dist, ind) from gpuml for K neighbours vs (dr, ir) from scikit-learn for K + 1."""
    assert dist.shape == ind.shape == (Xq.shape[0], K) and dist.dtype == dtype
    atol = _dist_atol(metric, dtype, Xfit)
    np.testing.assert_allclose(dist, dr[:, :K], rtol=tol(dtype, 1e-5, 1e-9), atol=atol)
    assert (np.diff(dist, axis=1) >= 0).all()  # ascending
    untied = _untied(dr, metric, dtype, Xfit)
    assert untied.mean() > 0.6  # observed >= 0.64 (iris, duplicate rows)
    np.testing.assert_array_equal(np.sort(ind[untied], 1), np.sort(ir[untied, :K], 1))
    # every returned distance is the distance to the returned row (tied rows included)
    exact = _exact(np.repeat(Xq, K, 0), Xfit[ind.ravel()], metric).reshape(ind.shape)
    np.testing.assert_allclose(dist, exact, rtol=tol(dtype, 1e-5, 1e-9), atol=atol)
    return untied


@pytest.mark.parametrize("name", list(DATA))
@pytest.mark.parametrize("metric", METRICS)
def test_kneighbors(name, metric, device, dtype):
    Xfit, _, Xq, _ = _split(name, dtype)
    nn = NearestNeighbors(n_neighbors=K, metric=metric, device=device).fit(Xfit)
    ref = sk.NearestNeighbors(n_neighbors=K + 1, metric=metric, algorithm="brute").fit(Xfit.astype(np.float64))
    dr, ir = ref.kneighbors(Xq.astype(np.float64))
    dist, ind = nn.kneighbors(Xq)
    _check_kneighbors(dist, ind, dr, ir, Xfit, Xq, metric, dtype)
    np.testing.assert_array_equal(nn.kneighbors(Xq, return_distance=False), ind)


def test_minkowski_p2_is_euclidean(device, dtype):
    Xfit, _, Xq, _ = _split("breast_cancer", dtype)
    ours = NearestNeighbors(n_neighbors=K, metric="minkowski", p=2, device=device).fit(Xfit)
    ref = sk.NearestNeighbors(n_neighbors=K + 1, metric="minkowski", p=2, algorithm="brute")
    dr, ir = ref.fit(Xfit.astype(np.float64)).kneighbors(Xq.astype(np.float64))
    _check_kneighbors(*ours.kneighbors(Xq), dr, ir, Xfit, Xq, "euclidean", dtype)


@pytest.mark.parametrize("name", list(DATA))
@pytest.mark.parametrize("metric", METRICS)
def test_kneighbors_self_excluded(name, metric, device, dtype):
    # X=None: each indexed row's neighbours among the others (itself excluded); at most
    # 600 rows, for speed
    X = DATA[name][0][:600].astype(dtype)
    nn = NearestNeighbors(n_neighbors=K, metric=metric, device=device).fit(X)
    ref = sk.NearestNeighbors(n_neighbors=K, metric=metric, algorithm="brute").fit(X.astype(np.float64))
    dr, ir = ref.kneighbors(None, n_neighbors=K + 1)
    dist, ind = nn.kneighbors()
    assert not (ind == np.arange(X.shape[0])[:, None]).any()
    _check_kneighbors(dist, ind, dr, ir, X, X, metric, dtype)


@pytest.mark.parametrize("name", ["iris", "breast_cancer", "diabetes"])
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("mode", ["connectivity", "distance"])
@pytest.mark.parametrize("query", ["new", "self"])
def test_kneighbors_graph(name, metric, mode, query, device, dtype):
    Xfit, _, Xq, _ = _split(name, dtype)
    nn = NearestNeighbors(n_neighbors=K, metric=metric, device=device).fit(Xfit)
    ref = sk.NearestNeighbors(n_neighbors=K, metric=metric, algorithm="brute").fit(Xfit.astype(np.float64))
    Q = None if query == "self" else Xq
    Q64 = None if Q is None else Q.astype(np.float64)
    G, G_ref = nn.kneighbors_graph(Q, mode=mode), ref.kneighbors_graph(Q64, mode=mode)
    assert G.shape == G_ref.shape and G.nnz == G_ref.nnz
    # rows are neighbour sets: compare the rows whose K-th neighbour is not tied
    dr, _ = ref.kneighbors(Q64, n_neighbors=K + 1)
    atol = _dist_atol(metric, dtype, Xfit)
    untied = _untied(dr, metric, dtype, Xfit)
    # the pattern from the stored entries (a distance of 0 is an explicit zero)
    np.testing.assert_array_equal(_pattern(G)[untied], _pattern(G_ref)[untied])
    A, A_ref = G.toarray()[untied], G_ref.toarray()[untied]
    np.testing.assert_allclose(A, A_ref, rtol=tol(dtype, 1e-5, 1e-9), atol=atol)


def _pattern(G):
    G = G.copy()
    G.data[:] = 1
    return G.toarray()


def _untied_rows(ref, Xfit, Xq, metric, dtype):
    dr, _ = ref.kneighbors(Xq.astype(np.float64), n_neighbors=K + 1)
    return _untied(dr, metric, dtype, Xfit)


def _weighted_tol(metric, dtype):
    """Tolerance of 1/d-weighted results: the distances' relative error. gpuml computes
    cosine distances as |q - x|² / 2 on unit rows, free of the cancellation of 1 - q·x, so
    even breast_cancer's nearly parallel rows (nearest distances ~1e-5) keep float32's
    relative precision."""
    return tol(dtype, 1e-4, 1e-8)


@pytest.mark.parametrize("name", ["iris", "digits", "breast_cancer"])
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_classifier(name, metric, weights, device, dtype):
    Xfit, yfit, Xq, _ = _split(name, dtype, n_queries=300)
    clf = KNeighborsClassifier(n_neighbors=K, weights=weights, metric=metric, device=device).fit(Xfit, yfit)
    ref = sk.KNeighborsClassifier(n_neighbors=K, weights=weights, metric=metric, algorithm="brute")
    ref.fit(Xfit.astype(np.float64), yfit)
    np.testing.assert_array_equal(clf.classes_, ref.classes_)
    untied = _untied_rows(ref, Xfit, Xq, metric, dtype)
    P, P_ref = clf.predict_proba(Xq), ref.predict_proba(Xq.astype(np.float64))
    assert P.shape == P_ref.shape
    # uniform: shares of K votes, exact; distance: 1/d weights carry the distances'
    # relative error: 1e-8 (float64) / 1e-4 (float32)
    ptol = 1e-12 if weights == "uniform" else _weighted_tol(metric, dtype)
    np.testing.assert_allclose(P[untied], P_ref[untied], atol=ptol)
    np.testing.assert_allclose(P.sum(1), 1.0, rtol=tol(dtype, 1e-6, 1e-12))
    # predictions: equal wherever the vote is not a tie
    top2 = np.sort(P_ref, 1)[:, -2:]
    clear = untied & (top2[:, 1] - top2[:, 0] > 10 * ptol)
    np.testing.assert_array_equal(clf.predict(Xq)[clear], ref.predict(Xq.astype(np.float64))[clear])


@pytest.mark.parametrize("name", ["diabetes", "breast_cancer"])
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("weights", ["uniform", "distance"])
@pytest.mark.parametrize("multi_target", [False, True])
def test_regressor(name, metric, weights, multi_target, device, dtype):
    Xfit, yfit, Xq, _ = _split(name, dtype, n_queries=300)
    yfit = yfit.astype(np.float64)
    if multi_target:
        yfit = np.column_stack([yfit, np.sqrt(yfit + 1.0)])
    reg = KNeighborsRegressor(n_neighbors=K, weights=weights, metric=metric, device=device).fit(Xfit, yfit)
    ref = sk.KNeighborsRegressor(n_neighbors=K, weights=weights, metric=metric, algorithm="brute")
    ref.fit(Xfit.astype(np.float64), yfit)
    untied = _untied_rows(ref, Xfit, Xq, metric, dtype)
    pred, pred_ref = reg.predict(Xq), ref.predict(Xq.astype(np.float64))
    assert pred.shape == pred_ref.shape and pred.dtype == dtype
    # weighted means of the same targets: 1e-9 (float64) / 1e-5 (float32) relative
    rtol = tol(dtype, 1e-5, 1e-9) if weights == "uniform" else _weighted_tol(metric, dtype)
    np.testing.assert_allclose(pred[untied], pred_ref[untied], rtol=rtol, atol=rtol * np.abs(yfit).max())


@pytest.mark.parametrize("memory_limit", [None, "64KB"])
def test_duplicate_rows_tie_to_the_smaller_index_as_sklearn(memory_limit, device, dtype):
    # 300 distinct rows repeated 40 times: every neighbor ties with 39 copies; the ids must be
    # the smallest among the tied rows, as scikit-learn's brute force returns them
    import gpuml

    rng = np.random.default_rng(0)
    X = np.tile(rng.integers(0, 4, (300, 3)), (40, 1)).astype(dtype)
    y = rng.integers(0, 3, len(X))
    Q = X[:50] + 0.25
    ref = sk.NearestNeighbors(n_neighbors=7, algorithm="brute").fit(X).kneighbors(Q)[1]
    ref_pred = sk.KNeighborsClassifier(7, algorithm="brute").fit(X, y).predict(Q)
    with gpuml.config_context(memory_limit=memory_limit):
        ind = NearestNeighbors(n_neighbors=7, device=device).fit(X).kneighbors(Q)[1]
        pred = KNeighborsClassifier(7, device=device).fit(X, y).predict(Q)
    np.testing.assert_array_equal(np.sort(ind, 1), np.sort(ref, 1))
    np.testing.assert_array_equal(pred, ref_pred)
