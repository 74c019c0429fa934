"""Fallback of the MLPs: sparse input runs on scikit-learn, scikit-learn's fitted state both
ways (the optimizer included: partial_fit continues across libraries), float64 training on
the CPU, and the accel proxies."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import neural_network as sknn
from sklearn.exceptions import ConvergenceWarning

import gpuml
from gpuml import UnsupportedError
from gpuml.neural_network import MLPClassifier, MLPRegressor

ESTIMATORS = [MLPClassifier, MLPRegressor]
SOLVERS = ["adam", "sgd"]


def _data(n=80, d=5, seed=0, offset=0.0, scales=None):
    rng = np.random.RandomState(seed)
    Z = rng.normal(size=(n, d))
    X = offset + Z * (np.ones(d) if scales is None else scales)
    y_cls = (Z[:, 0] + Z[:, 1] > 0).astype(int) + (Z[:, 2] > 0.5)
    y_reg = Z @ np.linspace(1.0, 2.0, d)
    return X, y_cls, y_reg


def _y(cls, yc, yr):
    return yc if "Classifier" in cls.__name__ else yr


def _params(**kw):
    return {"hidden_layer_sizes": (7,), "max_iter": 5, "random_state": 0, **kw}


def _fit(est, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kw)


def _partial(est, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.partial_fit(X, y, **kw)


def _answers(est, X, y):
    out = {"predict": est.predict(X), "score": est.score(X, y)}
    if hasattr(est, "predict_proba"):
        out["proba"] = est.predict_proba(X)
        out["log_proba"] = est.predict_log_proba(X)
    return out


def _assert_same(a, b, rtol=1e-10):
    assert a.keys() == b.keys()
    for k in a:
        if np.asarray(a[k]).dtype.kind == "f":
            assert_allclose(a[k], b[k], rtol=rtol, atol=1e-12, err_msg=k)
        else:
            assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_sparse_fit_auto_runs_on_sklearn(cls):
    X, yc, yr = _data()
    y = _y(cls, yc, yr)
    Xs = sp.csr_matrix(X)
    est = _fit(cls(**_params(), device="auto"), Xs, y)
    assert est.engine_ == "sklearn" and "sparse input" in est.engine_reason_
    ref = _fit(getattr(sknn, cls.__name__)(**_params()), Xs, y)
    for a, b in zip(est.coefs_, ref.coefs_):
        assert_array_equal(a, b)
    _assert_same(_answers(est, Xs, y), _answers(ref, Xs, y))
    _assert_same(_answers(est, X, y), _answers(ref, X, y))  # dense queries: the same fitted model


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_sparse_explicit_device_or_fallback_off_raises(cls):
    X, yc, yr = _data()
    y = _y(cls, yc, yr)
    Xs = sp.csr_matrix(X)
    with pytest.raises(UnsupportedError, match="sparse input.*device='auto'"):
        cls(**_params(), device="cpu").fit(Xs, y)
    with gpuml.config_context(fallback=False), pytest.raises(UnsupportedError, match="fallback is off"):
        cls(**_params(), device="auto").fit(Xs, y)
    est = _fit(cls(**_params(), device="cpu"), X, y)
    with pytest.raises(UnsupportedError, match="sparse"):
        est.predict(Xs)
    kw = {"classes": np.unique(y)} if cls is MLPClassifier else {}
    with pytest.raises(UnsupportedError, match="sparse"):
        cls(**_params(), device="cpu").partial_fit(Xs, y, **kw)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_sparse_queries_and_partial_fit_of_a_gpuml_fit(cls):
    X, yc, yr = _data()
    y = _y(cls, yc, yr)
    Xs = sp.csr_matrix(X)
    est = _fit(cls(**_params(), device="cpu"), X, y)
    est.set_params(device="auto")
    _assert_same(_answers(est, Xs, y), _answers(est, X, y))
    # partial_fit on sparse rows continues on scikit-learn, from gpuml's weights and optimizer
    ref = est.as_sklearn()
    _partial(est, Xs, y)
    assert est.engine_ == "sklearn"
    _partial(ref, Xs, y)
    for a, b in zip(est.coefs_, ref.coefs_):
        assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("solver", [*SOLVERS, pytest.param("lbfgs", id="lbfgs")])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_as_sklearn_answers_every_method_and_continues(cls, solver):
    X, yc, yr = _data()
    y = _y(cls, yc, yr)
    est = _fit(cls(**_params(solver=solver), device="cpu"), X, y)
    sk = est.as_sklearn()
    assert type(sk).__module__.startswith("sklearn.")
    _assert_same(_answers(sk, X, y), _answers(est, X, y))
    if solver == "lbfgs":  # scikit-learn's own loss and gradient on the exported layout
        theta = np.hstack([a.ravel() for a in sk.coefs_ + sk.intercepts_])
        assert sk._unpack(theta) is None
        return
    # one more epoch on each side: gpuml's optimizer state became scikit-learn's
    _partial(est, X, y)
    _partial(sk, X, y)
    for a, b in zip(est.coefs_ + est.intercepts_, sk.coefs_ + sk.intercepts_):
        assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_from_sklearn_predicts_and_continues_as_sklearn(cls, solver):
    X, yc, yr = _data()
    y = _y(cls, yc, yr)
    ref = _fit(getattr(sknn, cls.__name__)(**_params(solver=solver)), X, y)
    ours = cls.from_sklearn(ref, device="cpu")
    _assert_same(_answers(ours, X, y), _answers(ref, X, y))
    _partial(ours, X, y)
    _partial(ref, X, y)
    assert ours.engine_ == "gpuml"
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_float64_on_the_cpu_equals_sklearn_on_hostile_data(cls, solver):
    # precision="auto" trains float64 data in float64 on the CPU: scikit-learn's weights to rounding.
    # (Offsets far from the origin saturate or overflow an MLP on scikit-learn too: 1e2 and scales
    # 1..1e2 keep the problem well posed.)
    X, yc, yr = _data(n=60, d=4, seed=2, offset=1e2, scales=np.logspace(0, 2, 4))
    y = _y(cls, yc, yr)
    params = _params(solver=solver, max_iter=3, learning_rate_init=1e-4)
    est = _fit(cls(**params, device="cpu"), X, y)
    ref = _fit(getattr(sknn, cls.__name__)(**params), X, y)
    assert est.coefs_[0].dtype == np.float64
    for a, b in zip(est.coefs_ + est.intercepts_, ref.coefs_ + ref.intercepts_):  # (L-BFGS: torch's iterates,
        assert_allclose(a, b, rtol=1e-9, atol=1e-12)  # not scipy's, so not compared here)
    assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-9)


def test_parameters_validate_as_sklearn():
    from sklearn.utils._param_validation import InvalidParameterError

    X, yc, _ = _data()
    with pytest.raises(InvalidParameterError, match="The 'solver' parameter of MLPClassifier"):
        MLPClassifier(solver="nope").fit(X, yc)
    with pytest.raises(InvalidParameterError, match="The 'precision' parameter"):
        MLPClassifier(precision="float16").fit(X, yc)
    MLPRegressor(**_params(batch_size="max"), device="cpu").fit(X, X[:, 0])  # gpuml's own value


def test_proxies_fit_natively_and_answer_every_method(accel):
    import sklearn.neural_network as pub

    from gpuml.accel import _report

    X, yc, yr = _data()
    for name in ("MLPClassifier", "MLPRegressor"):
        proxy_cls = getattr(pub, name)
        assert hasattr(proxy_cls, "_gpuml_original")
        y = yc if name == "MLPClassifier" else yr
        with gpuml.config_context(fallback=False):
            before = len(_report.calls())
            est = _fit(proxy_cls(**_params()), X, y)
            assert (_report.calls()[before].method, _report.calls()[before].engine) == ("fit", "gpuml")
            kw = {"classes": np.unique(y)} if name == "MLPClassifier" else {}
            _partial(est, X, y, **kw)
            assert _report.calls()[-1].engine == "gpuml"
        ref = _fit(proxy_cls._gpuml_original(**_params()), X, y)
        _partial(ref, X, y, **kw)
        _assert_same(_answers(est, X, y), _answers(ref, X, y), rtol=1e-8)
