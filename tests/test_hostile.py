"""The hostile-data parity suite: every estimator against scikit-learn in float64.

Data (tests/hostile_data.py): offsets of 1e3, 1e5 (and 1e8 in float64), features on
scales from 1 to 1e7, GPS coordinates, duplicated rows, a constant and a collinear column,
integer and float16 input, and millions of rows in one chunk. On every device present,
float32 and float64. The reference is scikit-learn fitted in float64 on the same values
(the data cast to float64), so the only differences left are gpuml's own rounding: each
check states its tolerance, set at about 10x the largest error measured on the CPU.
Where scikit-learn warns (ConvergenceWarning), gpuml must warn too.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn import cluster as skc
from sklearn import decomposition as skd
from sklearn import linear_model as skl
from sklearn import neighbors as skn
from sklearn import preprocessing as skp
from sklearn.exceptions import ConvergenceWarning

import gpuml
from gpuml._sklearn import sklearn_class
from gpuml.cluster import KMeans
from gpuml.decomposition import PCA
from gpuml.linear_model import LinearRegression, LogisticRegression, Ridge
from gpuml.neighbors import KNeighborsClassifier, KNeighborsRegressor, NearestNeighbors
from gpuml.neural_network import MLPClassifier, MLPRegressor
from gpuml.preprocessing import StandardScaler
from hostile_data import FLOAT32_CASES, TRANSFORMS, make

#: scikit-learn releases before LinearRegression's ``tol`` call lstsq at machine precision: a
#: cutoff gpuml's Gram solve cannot resolve (it keeps its documented ``tol=1e-6``, as newer
#: scikit-learn does), so these references differ on ill-conditioned data by design.
needs_lstsq_tol = pytest.mark.skipif(
    "tol" not in sklearn_class("LinearRegression")._get_param_names(),
    reason="this scikit-learn's LinearRegression has no tol (lstsq at machine precision)")

EPS = {np.float32: np.finfo(np.float32).eps, np.float64: np.finfo(np.float64).eps}


@pytest.fixture(params=list(TRANSFORMS))
def case(request, dtype):
    if dtype is np.float32 and request.param not in FLOAT32_CASES:
        pytest.skip("float32 cannot hold a spread of 1 at 1e8")
    return request.param


def _rel(a, b) -> float:
    """Largest difference relative to the reference's largest magnitude."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), np.finfo(np.float64).tiny))


def _ratio(c) -> float:
    """max |X| / spread over the non-constant columns: how far from the origin the data sits."""
    live = c.spread > 0
    return float((np.abs(c.X.astype(np.float64)).max(0)[live] / c.spread[live]).max())


def _fit_both(ours, ref, X, *args, **kw):
    """Fit both; return (did scikit-learn warn of non-convergence, did gpuml)."""
    X64 = X.astype(np.float64)
    with warnings.catch_warnings(record=True) as w_ref:
        warnings.simplefilter("always", ConvergenceWarning)
        ref.fit(X64, *args, **kw)
    with warnings.catch_warnings(record=True) as w_ours:
        warnings.simplefilter("always", ConvergenceWarning)
        ours.fit(X, *args, **kw)
    warned = lambda ws: any(issubclass(x.category, ConvergenceWarning) for x in ws)  # noqa: E731
    return warned(w_ref), warned(w_ours)


# -- linear models -------------------------------------------------------------------------
def _pred_tol(case, dtype):
    """predict: (X - mean) @ coef + b. float32 rounds the products (1e-6 of y's range);
    in float64 the reference itself rounds X @ coef + intercept at |X| |coef| eps, which
    far from the origin (1e8: 1e-8 of y's range) dominates."""
    return {np.float32: 2e-6, np.float64: 1e-7 if case == "offset_1e8" else 1e-9}[dtype]


@needs_lstsq_tol
def test_linear_regression(case, device, dtype):
    c = make(case, dtype=dtype)
    ours, ref = LinearRegression(device=device), skl.LinearRegression()
    _fit_both(ours, ref, c.X, c.y)
    assert ours.rank_ == ref.rank_  # scikit-learn's lstsq(cond=tol): scaled 1..1e7 is rank 3 for both
    # coef: float64 1e-9 of the largest (measured 3e-14 at 1e8; 8e-7 for scaled 1..1e7, where
    # the cutoff tol=1e-6 truncates a direction and the truncated solve squares the condition
    # of the rest); float32 1e-6: the rounding of coef_ itself (measured 2e-7)
    rtol = {np.float32: 1e-6, np.float64: 1e-5 if case == "scaled_1_to_1e7" else 1e-9}[dtype]
    assert _rel(ours.coef_, ref.coef_) < rtol
    assert _rel(ours.predict(c.X), ref.predict(c.X.astype(np.float64))) < max(_pred_tol(case, dtype), rtol)


@needs_lstsq_tol
def test_linear_regression_without_intercept(case, device, dtype):
    """Without an intercept X'X = Gc + n m m' would be swamped by the mean term far from 0."""
    c = make(case, dtype=dtype)
    ours, ref = LinearRegression(fit_intercept=False, device=device), skl.LinearRegression(fit_intercept=False)
    _fit_both(ours, ref, c.X, c.y)
    # measured float64: 2e-11 at 1e5, 2e-8 at 1e8 (lstsq on X loses the same digits), 8e-7 scaled
    rtol = {np.float32: 1e-5, np.float64: {"offset_1e8": 1e-6, "scaled_1_to_1e7": 1e-5}.get(case, 1e-9)}[dtype]
    assert ours.rank_ == ref.rank_
    assert _rel(ours.coef_, ref.coef_) < rtol


@needs_lstsq_tol
def test_linear_regression_tol_zero_keeps_every_direction(device, dtype):
    """With tol=0 nothing is truncated: features 1..1e7 apart cost no digits (equilibrated
    solve; before, the plain normal equations gave coef off by 1e2 relative)."""
    c = make("scaled_1_to_1e7", dtype=dtype)
    ours, ref = LinearRegression(tol=0.0, device=device), skl.LinearRegression(tol=0.0)
    _fit_both(ours, ref, c.X, c.y)
    assert ours.rank_ == ref.rank_ == 4
    # relative per coefficient (they span 1e7): measured float64 2e-9, float32 1e-7
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol={np.float32: 1e-6, np.float64: 1e-7}[dtype])


def test_ridge(case, device, dtype):
    c = make(case, dtype=dtype)
    ours, ref = Ridge(alpha=1.0, device=device), skl.Ridge(alpha=1.0)
    _fit_both(ours, ref, c.X, c.y)
    # float64 measured 3e-8 for scaled 1..1e7 (both solve the squared-condition normal equations)
    rtol = {np.float32: 1e-6, np.float64: 1e-6 if case == "scaled_1_to_1e7" else 1e-9}[dtype]
    assert _rel(ours.coef_, ref.coef_) < rtol
    assert _rel(ours.predict(c.X), ref.predict(c.X.astype(np.float64))) < max(_pred_tol(case, dtype), rtol)


def test_logistic_regression(case, device, dtype):
    c = make(case, n=300, dtype=dtype)
    ours, ref = LogisticRegression(device=device), skl.LogisticRegression()
    ref_warned, ours_warned = _fit_both(ours, ref, c.X, c.labels)
    if ref_warned:  # scikit-learn did not converge (badly scaled features): gpuml must say so too
        assert ours_warned
        return
    # both converged to tol=1e-4 on the projected gradient near one strictly convex optimum:
    # probabilities agree to 1e-2 (1.5e-2 measured on the collinear case, where the loss is flat)
    proba, ref_proba = ours.predict_proba(c.X), ref.predict_proba(c.X.astype(np.float64))
    assert np.abs(proba - ref_proba).max() < 3e-2
    assert (ours.predict(c.X) == ref.predict(c.X.astype(np.float64))).mean() > 0.99


# -- KMeans ------------------------------------------------------------------------------------
def test_kmeans_from_the_same_start(case, device, dtype):
    """Same explicit start, n_init=1: the same Lloyd run, so the labels are equal."""
    c = make(case, dtype=dtype)
    ours = KMeans(3, init=c.init, n_init=1, device=device)
    ref = skc.KMeans(3, init=c.init.astype(np.float64), n_init=1, algorithm="lloyd")
    _fit_both(ours, ref, c.X)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    # centres: float32 rounds them (6e-8 of their magnitude) + 1e-5 of the spread
    atol = {np.float32: 1e-4, np.float64: 1e-9}[dtype] * c.spread
    rtol = 4 * EPS[dtype]
    err = np.abs(ours.cluster_centers_ - ref.cluster_centers_)  # each column to its own spread
    assert (err <= rtol * np.abs(ref.cluster_centers_) + atol[None, :]).all(), err
    assert abs(ours.inertia_ / ref.inertia_ - 1) < {np.float32: 1e-4, np.float64: 1e-9}[dtype]


# -- PCA -------------------------------------------------------------------------------------
def test_pca(case, device, dtype):
    """Against scikit-learn's "full" (SVD of the centered X): its default "covariance_eigh"
    forms X'X - n m m' and is itself wrong far from the origin (1e-4 at 1e5, 20x at 1e8)."""
    c = make(case, dtype=dtype)
    ours, ref = PCA(device=device), skd.PCA(svd_solver="full")
    _fit_both(ours, ref, c.X)
    k = 3 if case in ("constant_column", "collinear_columns") else 4  # the null direction is arbitrary
    # measured float64 <= 4e-15 (ev), float32 4e-8 (the covariance is accumulated in float64)
    rtol = {np.float32: 1e-6, np.float64: 1e-12}[dtype]
    ev, ref_ev = ours.explained_variance_[:k], ref.explained_variance_[:k]
    np.testing.assert_allclose(ev, ref_ev, rtol=rtol, atol=rtol * ref_ev[0])
    # components, sign-aligned: float64 1e-9 (scaled: 2e-11; an eigenvector's error is
    # eps / gap), float32: the rounding of components_ (1e-7)
    comps = ours.components_[:k] * np.sign((ours.components_[:k] * ref.components_[:k]).sum(1))[:, None]
    assert _rel(comps, ref.components_[:k]) < {np.float32: 1e-5, np.float64: 1e-9}[dtype]
    # transform, relative to the projections' scale: float32 measured 1e-7 (it subtracts the
    # float64 mean as hi + lo); float64: the two means differ by eps |offset| (4e-8 at 1e8)
    t = ours.transform(c.X)[:, :k] * np.sign((ours.components_[:k] * ref.components_[:k]).sum(1))
    ref_t = ref.transform(c.X.astype(np.float64))[:, :k]
    tol_t = {np.float32: 1e-5, np.float64: max(1e-9, 10 * EPS[np.float64] * _ratio(c))}[dtype]
    assert _rel(t, ref_t) < tol_t


# -- neighbors -------------------------------------------------------------------------------
def _queries(c):
    return c.X[:200]


def _centered(c):
    """The reference's data: X in float64, centered. scikit-learn's brute force ranks
    |q|² - 2 q.x + |x|² in float64 without centering, itself off far from the origin (6.9e-9
    on GPS distances of 4e-4); on centered data (the same distances) it is exact."""
    X64 = c.X.astype(np.float64)
    return X64 - X64.mean(0)


def test_nearest_neighbors(case, device, dtype):
    c = make(case, dtype=dtype)
    ours = NearestNeighbors(n_neighbors=5, device=device).fit(c.X)
    Xc = _centered(c)
    ref = skn.NearestNeighbors(n_neighbors=5, algorithm="brute").fit(Xc)
    Q = _queries(c)
    dist, ind = ours.kneighbors(Q)
    ref_dist, ref_ind = ref.kneighbors(Xc[:200])
    # distances to 1e-5 (float32) / 1e-9 (float64) of the spread
    atol = {np.float32: 1e-5, np.float64: 1e-9}[dtype] * np.linalg.norm(c.spread)
    np.testing.assert_allclose(dist, ref_dist, rtol=0, atol=atol)
    # the same neighbours: the same rows (identical duplicates may tie in either order)
    assert (c.X[ind] == c.X[ref_ind]).all(-1).mean() > 0.999
    assert (dist[:, 0] == 0).all()  # a point is at distance 0 of itself


def test_kneighbors_classifier_and_regressor(case, device, dtype):
    c = make(case, dtype=dtype)
    Q, Xc = _queries(c), _centered(c)
    clf = KNeighborsClassifier(5, device=device).fit(c.X, c.labels)
    ref = skn.KNeighborsClassifier(5, algorithm="brute").fit(Xc, c.labels)
    assert (clf.predict(Q) == ref.predict(Xc[:200])).mean() > 0.99
    reg = KNeighborsRegressor(5, device=device).fit(c.X, c.y)
    ref_r = skn.KNeighborsRegressor(5, algorithm="brute").fit(Xc, c.y)
    # the same neighbours give the same mean: to float64 rounding
    np.testing.assert_allclose(reg.predict(Q), ref_r.predict(Xc[:200]), rtol=1e-6, atol=1e-6)


# -- StandardScaler ----------------------------------------------------------------------------
def test_standard_scaler(case, device, dtype):
    c = make(case, dtype=dtype)
    ours, ref = StandardScaler(device=device), skp.StandardScaler()
    _fit_both(ours, ref, c.X)
    # moments in float64 whatever the input: the mean within 10 eps |X| of the exact mean
    # (math.fsum); scikit-learn's naive sum along axis 0 is off by up to sqrt(n) eps |X|
    # (2e-9 at 1e5, measured), hence 1e-12 relative against it
    exact = np.array([math.fsum(col) for col in c.X.astype(np.float64).T]) / len(c.X)
    np.testing.assert_allclose(ours.mean_, exact, rtol=0, atol=10 * EPS[np.float64] * np.abs(c.X).max())
    np.testing.assert_allclose(ours.mean_, ref.mean_, rtol=1e-12)
    np.testing.assert_allclose(ours.var_, ref.var_, rtol=1e-9, atol=1e-12 * ref.var_.max())
    np.testing.assert_allclose(ours.scale_, ref.scale_, rtol=1e-9)
    # transform: standardized values, so an absolute tolerance. float32 measured 1e-7 (the
    # mean subtracted as hi + lo; before, its float32 rounding gave 4e-4); float64: the
    # reference's mean error, sqrt(n) eps |X| / spread (2e-9 at 1e5, measured)
    atol = {np.float32: 1e-6, np.float64: 10 * np.sqrt(len(c.X)) * EPS[np.float64] * _ratio(c)}[dtype]
    np.testing.assert_allclose(ours.transform(c.X), ref.transform(c.X.astype(np.float64)), rtol=0, atol=atol)


# -- MLP ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("case_name", ["offset_1e5", "scaled_1_to_1e7", "gps"])
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_mlp_on_unscaled_data_is_finite_or_says_why(Est, case_name, device, dtype):
    """No model trains well on such data unscaled (scikit-learn's neither); what matters is
    that nothing is silently NaN: finite predictions, or a clear error."""
    c = make(case_name, n=600, dtype=dtype)
    y = c.labels if Est is MLPClassifier else c.y
    est = Est(hidden_layer_sizes=(8,), max_iter=20, random_state=0, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            est.fit(c.X, y)
        except ValueError as exc:
            assert "non-finite" in str(exc)
            return
    assert np.isfinite(est.loss_)
    assert np.isfinite(est.predict(c.X).astype(np.float64)).all()


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_mlp_on_standardized_hostile_data_matches_sklearn(Est, device, dtype):
    """After StandardScaler (gpuml's, itself checked above), the GPS data trains as well as
    with scikit-learn: train accuracy within 0.02, R2 within 0.02 (different initial weights)."""
    c = make("gps", n=600, dtype=dtype)
    X = StandardScaler(device=device).fit_transform(c.X)
    y = c.labels if Est is MLPClassifier else c.y
    kw = dict(hidden_layer_sizes=(16,), max_iter=100, random_state=0)
    ours = Est(device=device, **kw).fit(X, y)
    from sklearn import neural_network as sknn

    ref = getattr(sknn, Est.__name__)(**kw).fit(X.astype(np.float64), y)
    assert ours.score(X, y) > ref.score(X.astype(np.float64), y) - 0.02


# -- millions of rows in one chunk --------------------------------------------------------------
N_BIG = 2_000_000


@pytest.fixture(scope="module")
def big():
    """2M rows x 2 features at an offset of 1e5 (float64: 32 MB)."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, N_BIG)
    Z = np.array([[-4.0, 0.0], [4.0, 0.0]])[labels] + rng.standard_normal((N_BIG, 2))
    y = Z @ np.array([1.0, -2.0]) + 0.1 * rng.standard_normal(N_BIG)
    return Z + 1e5, labels, y


def test_millions_of_rows_in_one_chunk_linear_pca_scaler(big, device, dtype):
    """One chunk of 2M rows (memory_limit 4GB): float32 sums of a whole chunk would drift;
    gpuml accumulates in float64, so the results equal scikit-learn's as for small data."""
    X, _, y = big
    X = X.astype(dtype)
    X64 = X.astype(np.float64)
    with gpuml.config_context(memory_limit="4GB"):
        lin = LinearRegression(device=device).fit(X, y)
        pca = PCA(device=device).fit(X)
        sc = StandardScaler(device=device).fit(X)
    ref = skl.LinearRegression().fit(X64, y)
    assert _rel(lin.coef_, ref.coef_) < {np.float32: 1e-6, np.float64: 1e-9}[dtype]
    ref_pca = skd.PCA(svd_solver="full").fit(X64)
    np.testing.assert_allclose(pca.explained_variance_, ref_pca.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(sc.mean_, X64.mean(0), rtol=1e-12)
    np.testing.assert_allclose(sc.var_, X64.var(0), rtol=1e-9)


def test_millions_of_rows_in_one_chunk_kmeans(big, device, dtype):
    """1M rows in one chunk; 10 Lloyd iterations from near the optimum (it converges in 3)."""
    X = big[0][:1_000_000].astype(dtype)
    init = np.array([[-3.5, 0.5], [3.5, 0.5]]) + 1e5
    with gpuml.config_context(memory_limit="4GB"):
        ours = KMeans(2, init=init.astype(dtype), n_init=1, max_iter=10, device=device).fit(X)
    ref = skc.KMeans(2, init=init, n_init=1, max_iter=10, algorithm="lloyd").fit(X.astype(np.float64))
    assert (ours.labels_ == ref.labels_).mean() > 0.9999
    # float32 centres are returned in float32: within one float32 spacing at 1e5 (0.0078)
    atol = 1e-3 if dtype == np.float64 else float(np.spacing(np.float32(1e5)))
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=0, atol=atol)
    assert abs(ours.inertia_ / ref.inertia_ - 1) < 1e-4


# -- integer and float16 input ----------------------------------------------------------------
def _integer_case():
    c = make("offset_1e3")
    return np.round(c.X * 100).astype(np.int64), c  # prices in cents


INTEGER_ESTIMATORS = [
    ("LinearRegression", lambda d: LinearRegression(device=d), lambda: skl.LinearRegression(), "y", "coef_"),
    ("Ridge", lambda d: Ridge(device=d), lambda: skl.Ridge(), "y", "coef_"),
    ("PCA", lambda d: PCA(device=d), lambda: skd.PCA(svd_solver="full"), None, "explained_variance_"),
    ("StandardScaler", lambda d: StandardScaler(device=d), lambda: skp.StandardScaler(), None, "var_"),
    ("KMeans", None, None, None, "inertia_"),
    ("NearestNeighbors", lambda d: NearestNeighbors(n_neighbors=5, device=d),
     lambda: skn.NearestNeighbors(n_neighbors=5, algorithm="brute"), None, None),
]


@pytest.mark.parametrize("name,make_ours,make_ref,target,attr", INTEGER_ESTIMATORS,
                         ids=[e[0] for e in INTEGER_ESTIMATORS])
def test_integer_input_is_float64(name, make_ours, make_ref, target, attr, device):
    """Integers are computed in float64, as scikit-learn converts them: equal to 1e-9."""
    Xi, c = _integer_case()
    if device == "mps":
        pytest.skip("MPS has no float64")
    if name == "KMeans":
        init = np.round(c.init * 100)
        ours = KMeans(3, init=init, n_init=1, device=device).fit(Xi)
        ref = skc.KMeans(3, init=init, n_init=1, algorithm="lloyd").fit(Xi.astype(np.float64))
        np.testing.assert_array_equal(ours.labels_, ref.labels_)
    else:
        y = (c.y,) if target else ()
        ours, ref = make_ours(device).fit(Xi, *y), make_ref().fit(Xi.astype(np.float64), *y)
    if attr:
        assert _rel(getattr(ours, attr), getattr(ref, attr)) < 1e-9
    method = next(m for m in ("predict", "transform", "kneighbors") if hasattr(ours, m))
    out = getattr(ours, method)(Xi)
    out = out[0] if name == "NearestNeighbors" else out  # distances (integer data ties often)
    assert out.dtype == np.float64 or name == "KMeans"
    if name != "PCA":  # (PCA's projections carry arbitrary signs; its variances are checked)
        ref_out = getattr(ref, method)(Xi.astype(np.float64))
        assert _rel(out, ref_out[0] if name == "NearestNeighbors" else ref_out) < 1e-9


@pytest.mark.parametrize("case_name", ["duplicated", "collinear_columns"])
def test_float16_input_is_computed_in_float32_at_least(case_name, device):
    """float16 values are exact in float32: every estimator gives scikit-learn's float64
    result on the same values to float32 precision (not float16's 1e-3)."""
    c = make(case_name)
    X16 = c.X.astype(np.float16)
    X64 = X16.astype(np.float64)
    lin = LinearRegression(device=device).fit(X16, c.y)
    assert _rel(lin.coef_, skl.LinearRegression().fit(X64, c.y).coef_) < 1e-5
    sc = StandardScaler(device=device).fit(X16)
    np.testing.assert_allclose(sc.var_, X64.var(0), rtol=1e-5)
    km = KMeans(3, init=c.init.astype(np.float16), n_init=1, device=device).fit(X16)
    ref = skc.KMeans(3, init=c.init.astype(np.float16).astype(np.float64), n_init=1).fit(X64)
    np.testing.assert_array_equal(km.labels_, ref.labels_)
    nn = NearestNeighbors(n_neighbors=3, device=device).fit(X16)
    d, _ = nn.kneighbors(X16[:50])
    ref_d, _ = skn.NearestNeighbors(n_neighbors=3, algorithm="brute").fit(X64).kneighbors(X64[:50])
    np.testing.assert_allclose(d, ref_d, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("solver", ["lbfgs", "adam", "sgd"])
def test_mlp_overflowing_loss_is_a_clear_error_and_quick(Est, solver, device):
    """Inputs near 1e30 overflow the network: a ValueError that says so, at once. Before,
    lbfgs's line search ran its 15,000 loss evaluations on an infinite loss (3 minutes)
    before the weights check, or crashed in torch ("value cannot be converted to type float")."""
    import time

    c = make("duplicated", n=300)
    y = c.labels if Est is MLPClassifier else c.y
    est = Est(hidden_layer_sizes=(8,), max_iter=10, solver=solver, random_state=0, device=device)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            est.fit(c.X * 1e30, y)
        except ValueError as exc:
            assert "non-finite" in str(exc) or "not finite" in str(exc)
        else:  # a model that trained must be finite
            assert np.isfinite(est.loss_) and np.isfinite(est.predict(c.X * 1e30).astype(float)).all()
    assert time.perf_counter() - t < 20
