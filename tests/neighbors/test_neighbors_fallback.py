"""Fallback of the neighbors estimators: the support table, scikit-learn's fitted state both
ways, the newly native metrics and algorithms, and the accel proxies."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import neighbors as skn

import gpuml
from gpuml import UnsupportedError
from gpuml.neighbors import KNeighborsClassifier, KNeighborsRegressor, NearestNeighbors

ESTIMATORS = [NearestNeighbors, KNeighborsClassifier, KNeighborsRegressor]


def _data(n=60, d=3, seed=0, hostile=False):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, d))
    if hostile:  # far from the origin, features on scales 1 to 1e6
        X = 1e4 + X * np.logspace(0, 6, d)
    y_cls = (X[:, 0] > np.median(X[:, 0])).astype(int) + (X[:, -1] > np.median(X[:, -1]))
    y_reg = X @ np.arange(1.0, d + 1) / np.abs(X).max()
    return X, y_cls, y_reg


def _fit(est, X, y_cls, y_reg):
    if isinstance(est, NearestNeighbors) or isinstance(est, skn.NearestNeighbors):
        return est.fit(X)
    return est.fit(X, y_cls if "Classifier" in type(est).__name__ else y_reg)


def _sk(cls):
    return getattr(skn, cls.__name__)


def _answers(est, Q):
    """Every scikit-learn method's answer on query rows Q (and on the indexed rows)."""
    out = {"kneighbors": est.kneighbors(Q), "kneighbors_self": est.kneighbors(None, 3),
           "graph": est.kneighbors_graph(Q, mode="distance").toarray()}
    if hasattr(est, "predict"):
        out["predict"] = est.predict(Q)
    if hasattr(est, "predict_proba"):
        out["predict_proba"] = est.predict_proba(Q)
    if hasattr(est, "radius_neighbors"):
        dist, ind = est.radius_neighbors(Q, radius=1.0, sort_results=True)
        out["radius"] = (np.concatenate(dist), np.concatenate(ind))
        out["radius_graph"] = est.radius_neighbors_graph(Q, radius=1.0).toarray()
    return out


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        for u, v in zip(np.atleast_1d(a[k]) if not isinstance(a[k], tuple) else a[k],
                        np.atleast_1d(b[k]) if not isinstance(b[k], tuple) else b[k]):
            if np.asarray(u).dtype.kind == "f":
                assert_allclose(u, v, rtol=1e-10, atol=1e-12, err_msg=k)
            else:
                assert_array_equal(u, v, err_msg=k)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_unsupported_metric_auto_runs_on_sklearn(cls):
    X, yc, yr = _data()
    est = _fit(cls(metric="canberra", n_neighbors=4, device="auto"), X, yc, yr)
    assert est.engine_ == "sklearn"
    assert "metric='canberra'" in est.engine_reason_
    ref = _fit(_sk(cls)(metric="canberra", n_neighbors=4), X, yc, yr)
    _assert_same({k: v for k, v in _answers(est, X[:7]).items() if not k.startswith("radius")},
                 {k: v for k, v in _answers(ref, X[:7]).items() if not k.startswith("radius")})


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_unsupported_metric_explicit_device_or_fallback_off_raises(cls):
    X, yc, yr = _data()
    with pytest.raises(UnsupportedError, match="metric='canberra'.*device='auto'"):
        _fit(cls(metric="canberra", device="cpu"), X, yc, yr)
    with gpuml.config_context(fallback=False), pytest.raises(UnsupportedError, match="fallback is off"):
        _fit(cls(metric="canberra", device="auto"), X, yc, yr)
    with pytest.raises(UnsupportedError, match="metric_params"):
        _fit(cls(metric_params={"w": np.ones(3)}, device="cpu"), X, yc, yr)  # weighted minkowski


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_sparse_input_falls_back(cls):
    X, yc, yr = _data()
    Xs = sp.csr_matrix(X)
    est = _fit(cls(n_neighbors=4, device="auto"), Xs, yc, yr)
    assert est.engine_ == "sklearn" and "sparse" in est.engine_reason_
    ref = _fit(_sk(cls)(n_neighbors=4), Xs, yc, yr)
    _assert_same(_answers(est, Xs[:5]), _answers(ref, Xs[:5]))
    # a gpuml fit answers a sparse query on scikit-learn, from the same fitted state
    # (brute: scikit-learn's trees refuse sparse queries, and so does a gpuml fit that names one)
    est = _fit(cls(n_neighbors=4, algorithm="brute", device="auto"), X, yc, yr)
    ref = _fit(_sk(cls)(n_neighbors=4, algorithm="brute"), X, yc, yr)
    _assert_same(_answers(est, Xs[:5]), _answers(ref, Xs[:5]))
    with pytest.raises(ValueError, match="kd_tree does not work with sparse"):
        _fit(cls(n_neighbors=4, device="auto"), X, yc, yr).kneighbors(Xs[:5])
    with pytest.raises(UnsupportedError, match="sparse"):
        _fit(cls(n_neighbors=4, device="cpu"), X, yc, yr).kneighbors(Xs[:5])


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_as_sklearn_answers_every_method(cls):
    X, yc, yr = _data()
    est = _fit(cls(n_neighbors=4, device="cpu"), X, yc, yr)
    sk = est.as_sklearn()
    assert type(sk).__module__.startswith("sklearn.")
    assert sk._fit_X is est._fit_X  # the index is shared, not copied
    assert sk._fit_method == "kd_tree" and sk._tree.query(X[:2], k=2)[1].shape == (2, 2)
    est.set_params(device="auto")  # radius_neighbors runs on scikit-learn: allowed with "auto"
    _assert_same(_answers(sk, X[:9]), _answers(est, X[:9]))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_from_sklearn_predicts_as_sklearn(cls):
    X, yc, yr = _data()
    for params in ({"n_neighbors": 4}, {"n_neighbors": 4, "metric": "chebyshev", "algorithm": "ball_tree"}):
        ref = _fit(_sk(cls)(**params), X, yc, yr)
        ours = cls.from_sklearn(ref)
        _assert_same(_answers(ours, X[:9]), _answers(ref, X[:9]))
    ref = _fit(_sk(cls)(n_neighbors=4, metric="canberra"), X, yc, yr)  # a state gpuml does not compute from
    ours = cls.from_sklearn(ref)
    assert_array_equal(ours.kneighbors(X[:5])[1], ref.kneighbors(X[:5])[1])


NATIVE = [
    {"algorithm": "kd_tree"}, {"algorithm": "ball_tree"}, {"metric": "manhattan"}, {"metric": "l1"},
    {"metric": "chebyshev"}, {"metric": "minkowski", "p": 3}, {"metric": "minkowski", "p": 1.5},
    {"metric": "minkowski", "p": np.inf}, {"metric": "l2"}, {"metric_params": {}},
    {"metric_params": {"p": 3}, "p": None}, {"metric_params": {"p": 1, "w": None}, "p": None},
]


@pytest.mark.parametrize("params", NATIVE, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()))
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_newly_native_equal_sklearn_on_hostile_data(cls, params):
    X, yc, yr = _data(n=80, d=4, seed=1, hostile=True)
    est = _fit(cls(n_neighbors=5, device="cpu", **params), X, yc, yr)
    assert est.engine_ == "gpuml"
    ref = _fit(_sk(cls)(n_neighbors=5, **params), X, yc, yr)
    assert est.effective_metric_ == ref.effective_metric_
    assert est.effective_metric_params_ == ref.effective_metric_params_
    assert est._fit_method == ref._fit_method
    Q = X[::7] + 0.25
    d1, i1 = est.kneighbors(Q)
    d2, i2 = ref.kneighbors(Q)
    assert_array_equal(i1, i2)
    assert_allclose(d1, d2, rtol=1e-12)
    assert_array_equal(est.kneighbors(None, 3)[1], ref.kneighbors(None, 3)[1])
    if hasattr(ref, "predict"):
        assert_allclose(est.predict(Q), ref.predict(Q), rtol=1e-12)


def test_semi_metric_p_below_one_warns_or_raises_as_sklearn():
    X, _, _ = _data()
    with pytest.warns(UserWarning, match="0 < p < 1"):
        est = NearestNeighbors(p=0.5, algorithm="brute", device="cpu").fit(X)
    ref = skn.NearestNeighbors(p=0.5, algorithm="brute").fit(X)
    assert_array_equal(est.kneighbors(X[:5])[1], ref.kneighbors(X[:5])[1])
    with pytest.raises(ValueError, match="does not support 0 < p < 1"):
        NearestNeighbors(p=0.5, algorithm="kd_tree", device="cpu").fit(X)
    with pytest.raises(ValueError, match="Metric 'cosine' not valid"):
        NearestNeighbors(metric="cosine", algorithm="kd_tree", device="cpu").fit(X)


def test_parameters_validate_as_sklearn():
    from sklearn.utils._param_validation import InvalidParameterError

    X, _, _ = _data()
    NearestNeighbors(metric="hamming", device="auto").fit(X)  # scikit-learn accepts it: so does gpuml
    with pytest.raises(InvalidParameterError, match="The 'metric' parameter of NearestNeighbors"):
        NearestNeighbors(metric="nope").fit(X)
    with pytest.raises(InvalidParameterError):
        KNeighborsClassifier(weights="nope").fit(X, np.arange(len(X)) % 2)


def test_radius_neighbors_explicit_device_raises():
    X, _, _ = _data()
    est = NearestNeighbors(device="cpu").fit(X)
    with pytest.raises(UnsupportedError, match="radius_neighbors"):
        est.radius_neighbors(X[:2])


def test_proxies_fit_natively_and_answer_every_method(accel):
    import sklearn.neighbors as pub

    from gpuml.accel import _report

    X, yc, yr = _data()
    with gpuml.config_context(fallback=False):  # every call on gpuml (auto's cost model included)
        _check_proxies(X, yc, yr, pub, _report)
    _check_scores(X, yc, yr, pub)


def _check_proxies(X, yc, yr, pub, _report):
    for name in ("NearestNeighbors", "KNeighborsClassifier", "KNeighborsRegressor"):
        proxy_cls = getattr(pub, name)
        assert hasattr(proxy_cls, "_gpuml_original")
        before = len(_report.calls())
        est = _fit(proxy_cls(n_neighbors=4), X, yc, yr)
        call = _report.calls()[before]
        assert (call.method, call.engine) == ("fit", "gpuml")
        ref = _fit(proxy_cls._gpuml_original(n_neighbors=4), X, yc, yr)
        _assert_same(_answers(est, X[:6]), _answers(ref, X[:6]))


def _check_scores(X, yc, yr, pub):
    for name in ("KNeighborsClassifier", "KNeighborsRegressor"):  # score: scikit-learn's, on the proxy's state
        proxy_cls = getattr(pub, name)
        est = _fit(proxy_cls(n_neighbors=4), X, yc, yr)
        ref = _fit(proxy_cls._gpuml_original(n_neighbors=4), X, yc, yr)
        y = yc if "Classifier" in name else yr
        assert est.score(X, y) == pytest.approx(ref.score(X, y))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_fit_on_a_tree_or_a_fitted_estimator_as_sklearn(cls):
    X, yc, yr = _data()
    tree = skn.KDTree(X)
    for index in (tree, skn.BallTree(X), skn.NearestNeighbors().fit(X)):
        est = _fit(cls(n_neighbors=3, device="cpu"), index, yc, yr)
        ref = _fit(_sk(cls)(n_neighbors=3), index, yc, yr)
        assert est._fit_method == ref._fit_method
        assert_array_equal(est.kneighbors(X[:5])[1], ref.kneighbors(X[:5])[1])
    assert _fit(cls(n_neighbors=3, device="cpu"), tree, yc, yr).as_sklearn()._tree is tree
    ours = _fit(cls(n_neighbors=3, device="cpu"), NearestNeighbors(device="cpu").fit(X), yc, yr)  # gpuml's index
    assert_array_equal(ours.kneighbors(X[:5])[1], ref.kneighbors(X[:5])[1])
