"""Fallback and native coverage of LinearRegression, Ridge and LogisticRegression.

One support table per estimator decides what gpuml computes: an unsupported parameter value
or sparse input runs on scikit-learn with device="auto" (``engine_reason_`` says why), is an
UnsupportedError with an explicit device or with fallback off; ``as_sklearn`` / ``from_sklearn``
move a fitted state between the two; the solvers accepted natively give scikit-learn's answer
on hostile data; under ``gpuml.accel`` the proxies fit on gpuml and answer every method.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import linear_model as sk

import gpuml
from gpuml import UnsupportedError
from gpuml.linear_model import LinearRegression, LogisticRegression, Ridge


def _regression(n=120, d=4, seed=0):
    r = np.random.default_rng(seed)
    X = r.standard_normal((n, d))
    y = X @ np.array([1.0, -2.0, 3.0, 0.5][:d]) + 0.3 * r.standard_normal(n) + 4.0
    return X, y


def _classification(n=150, d=4, k=3, seed=0):
    r = np.random.default_rng(seed)
    X = r.standard_normal((n, d))
    y = np.argmax(X @ r.standard_normal((d, k)) + 0.5 * r.standard_normal((n, k)), 1)
    return X, y


def _hostile(X):
    """Offset 1e4, features on scales 1 to 1e6."""
    return (X + 1e4) * np.logspace(0, 6, X.shape[1])


#: (gpuml class, scikit-learn class, an unsupported parameter, its name, data, methods)
CASES = {
    "LinearRegression": (LinearRegression, sk.LinearRegression, {"positive": True}, "positive",
                         _regression, ("predict", "score")),
    "Ridge": (Ridge, sk.Ridge, {"positive": True}, "positive", _regression, ("predict", "score")),
    "Ridge-lbfgs": (Ridge, sk.Ridge, {"positive": True, "solver": "lbfgs"}, "positive", _regression,
                    ("predict",)),
    "Ridge-capped": (Ridge, sk.Ridge, {"solver": "sag", "max_iter": 3, "random_state": 0}, "max_iter",
                     _regression, ("predict",)),
    "LogisticRegression-l1": (LogisticRegression, sk.LogisticRegression,
                              {"l1_ratio": 1.0, "solver": "saga", "max_iter": 300, "random_state": 0}, "l1",
                              _classification, ("predict", "predict_proba", "decision_function")),
    "LogisticRegression-newton": (LogisticRegression, sk.LogisticRegression, {"solver": "newton-cholesky"},
                                  "newton-cholesky", _classification, ("predict", "predict_proba")),
    "LogisticRegression-liblinear": (LogisticRegression, sk.LogisticRegression, {"solver": "liblinear"},
                                     "liblinear", lambda: _classification(k=2),
                                     ("predict", "predict_proba", "predict_log_proba",
                                      "decision_function", "score")),
}
ESTIMATORS = {"LinearRegression": CASES["LinearRegression"], "Ridge": CASES["Ridge"],
              "LogisticRegression": CASES["LogisticRegression-liblinear"]}


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's ConvergenceWarning on these small fits
        return fn(*args, **kwargs)


@pytest.mark.parametrize("case", list(CASES))
def test_unsupported_value_runs_on_sklearn_with_auto(case):
    G, S, params, name, data, methods = CASES[case]
    X, y = data()
    ours = _quiet(G(device="auto", **params).fit, X, y)
    ref = _quiet(S(**params).fit, X, y)
    assert ours.engine_ == "sklearn"
    assert name in ours.engine_reason_ and ours.engine_reason_.startswith("cpu/sklearn")
    for m in methods:
        args = (X, y) if m == "score" else (X,)
        assert_allclose(getattr(ours, m)(*args), getattr(ref, m)(*args))
    assert_allclose(ours.coef_, ref.coef_)


@pytest.mark.parametrize("case", list(CASES))
def test_unsupported_value_is_an_error_with_explicit_device(case):
    G, _, params, name, data, _ = CASES[case]
    X, y = data()
    with pytest.raises(UnsupportedError, match=name) as err:
        G(device="cpu", **params).fit(X, y)
    assert "device='auto'" in str(err.value)


@pytest.mark.parametrize("case", list(CASES))
def test_unsupported_value_is_an_error_with_fallback_off(case):
    G, _, params, name, data, _ = CASES[case]
    X, y = data()
    with gpuml.config_context(fallback=False), pytest.raises(UnsupportedError, match="fallback is off"):
        G(device="auto", **params).fit(X, y)


@pytest.mark.parametrize("est", list(ESTIMATORS))
def test_sparse_input_falls_back_for_fit_and_predict(est):
    G, S, _, _, data, methods = ESTIMATORS[est]
    X, y = data()
    Xs = sp.csr_matrix(X)
    ours = G(device="auto").fit(Xs, y)
    assert ours.engine_ == "sklearn" and "sparse" in ours.engine_reason_
    ref = S().fit(Xs, y)
    native = G(device="cpu").fit(X, y).set_params(device="auto")  # a gpuml fit; sparse predict: sklearn's
    for m in methods:
        args = (Xs, y) if m == "score" else (Xs,)
        assert_allclose(getattr(ours, m)(*args), getattr(ref, m)(*args), rtol=1e-10)
        assert_allclose(getattr(native, m)(*args), getattr(native, m)(X, y) if m == "score"
                        else getattr(native, m)(X), rtol=1e-10)
    with pytest.raises(UnsupportedError, match="sparse"):
        G(device="cpu").fit(Xs, y)
    with gpuml.config_context(fallback=False), pytest.raises(UnsupportedError, match="sparse"):
        native.predict(Xs)


def _sk_methods(est):
    return [m for m in ("predict", "predict_proba", "predict_log_proba", "decision_function", "score")
            if hasattr(est, m)]


@pytest.mark.parametrize("est", list(ESTIMATORS))
def test_as_sklearn_answers_like_gpuml(est):
    G, S, _, _, data, _ = ESTIMATORS[est]
    X, y = data()
    ours = G(device="cpu").fit(X, y)
    assert ours.engine_ == "gpuml"
    theirs = ours.as_sklearn()
    assert type(theirs) is S
    for m in _sk_methods(theirs):
        args = (X, y) if m == "score" else (X,)
        assert_allclose(getattr(theirs, m)(*args), getattr(ours, m)(*args), rtol=1e-9, atol=1e-12)
    if est == "LogisticRegression":  # scikit-learn's own methods beyond gpuml's
        dense = theirs.coef_.copy()
        theirs.sparsify()
        assert_allclose(G.from_sklearn(theirs, device="cpu").coef_, dense)


@pytest.mark.parametrize("est", list(ESTIMATORS))
def test_from_sklearn_predicts_like_sklearn(est):
    G, S, _, _, data, _ = ESTIMATORS[est]
    X, y = data()
    X = X + 1e3  # far from the origin: gpuml must not assume its own fit's centering
    ref = S().fit(X, y)
    ours = G.from_sklearn(ref, device="cpu")
    for m in _sk_methods(ref):
        args = (X, y) if m == "score" else (X,)
        assert_allclose(getattr(ours, m)(*args), getattr(ref, m)(*args), rtol=1e-9, atol=1e-9)
    # a gpuml fit first, then scikit-learn's state: the new state wins
    ours = G(device="cpu").fit(X[:, ::-1] - 1e3, y)
    ours._import_state(vars(ref))
    assert_allclose(ours.predict(X), ref.predict(X))


@pytest.mark.parametrize("solver", ["auto", "svd", "cholesky", "lsqr", "sparse_cg", "sag", "saga"])
def test_ridge_solvers_native_equal_sklearn_on_hostile_data(solver):
    X, y = _regression(n=200)
    X = _hostile(X)
    ours = Ridge(alpha=1.0, solver=solver, device="cpu").fit(X, y)
    assert ours.engine_ == "gpuml"
    assert ours.solver_ == ("cholesky" if solver == "auto" else solver) and ours.n_iter_ is None
    ref = sk.Ridge(alpha=1.0, solver="svd").fit(X, y)  # the exact solution, in float64
    pred = ref.predict(X)
    assert_allclose(ours.predict(X), pred, rtol=1e-9, atol=1e-9 * np.abs(pred).max())
    assert_allclose(ours.coef_, ref.coef_, rtol=1e-6, atol=1e-12 * np.abs(ref.coef_).max())
    assert ours.intercept_ == pytest.approx(ref.intercept_, rel=1e-7)


@pytest.mark.parametrize("solver", ["newton-cg", "newton-cholesky", "sag", "saga"])
def test_logistic_other_solvers_run_on_sklearn(solver):
    X, y = _classification(k=2)
    ours = LogisticRegression(solver=solver, random_state=0, device="auto").fit(X, y)
    assert ours.engine_ == "sklearn" and f"solver={solver!r}" in ours.engine_reason_
    ref = sk.LogisticRegression(solver=solver, random_state=0).fit(X, y)
    assert_allclose(ours.coef_, ref.coef_)
    assert_array_equal(ours.n_iter_, ref.n_iter_)


def test_logistic_native_on_hostile_data():
    X, y = _classification(n=200, d=3, k=2)
    X = (X + 1e4) * np.logspace(0, 3, X.shape[1])
    ours = LogisticRegression(tol=1e-8, max_iter=500, device="cpu").fit(X, y)
    assert ours.engine_ == "gpuml"
    ref = sk.LogisticRegression(solver="newton-cholesky", tol=1e-10, max_iter=500).fit(X, y)
    assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-6)
    assert (ours.predict(X) == ref.predict(X)).mean() >= 0.99


@pytest.mark.parametrize("params", [{"penalty": "l2"}, {"penalty": None}, {"C": np.inf, "l1_ratio": 0.5}])
def test_logistic_l2_and_no_penalty_spellings_are_native(params):
    X, y = _classification()
    with warnings.catch_warnings(record=True) as w_ours:
        warnings.simplefilter("always")
        ours = LogisticRegression(device="cpu", max_iter=300, **params).fit(X, y)
    with warnings.catch_warnings(record=True) as w_ref:
        warnings.simplefilter("always")
        ref = sk.LogisticRegression(max_iter=300, **params).fit(X, y)
    assert ours.engine_ == "gpuml"
    assert [str(w.message) for w in w_ours] == [str(w.message) for w in w_ref]  # scikit-learn's warnings
    assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-4)


def test_parameter_validation_is_sklearns():
    X, y = _regression()
    for G, S, bad in [(Ridge, sk.Ridge, {"solver": "nope"}), (LinearRegression, sk.LinearRegression, {"tol": -1}),
                      (LogisticRegression, sk.LogisticRegression, {"solver": "nope"})]:
        with pytest.raises(ValueError) as ours:
            G(**bad).fit(X, y > 0)
        with pytest.raises(ValueError) as ref:
            S(**bad).fit(X, y > 0)
        assert type(ours.value) is type(ref.value)
        assert str(ours.value).replace(G.__name__, "") == str(ref.value).replace(S.__name__, "")


@pytest.mark.parametrize("est", list(ESTIMATORS))
def test_proxy_fits_natively_and_answers_every_method(accel, est):
    import importlib

    mod = importlib.import_module("sklearn.linear_model")
    Proxy = getattr(mod, est)
    assert Proxy is not ESTIMATORS[est][1] and issubclass(Proxy, ESTIMATORS[est][1])
    X, y = ESTIMATORS[est][4]()
    with gpuml.config_context(device="cpu"):  # explicit: the cost model would hand small fits to sklearn
        proxy = Proxy().fit(X, y)
        assert proxy._gpuml_est.engine_ == "gpuml"
        ref = ESTIMATORS[est][1]().fit(X, y)
        for m in _sk_methods(ref):
            args = (X, y) if m == "score" else (X,)
            assert_allclose(getattr(proxy, m)(*args), getattr(ref, m)(*args), rtol=1e-4, atol=1e-4)
        assert_allclose(proxy.predict(sp.csr_matrix(X)), proxy.predict(X), rtol=1e-10)


def test_ridge_iterative_solver_with_a_large_max_iter_is_native():
    X, y = _regression()
    ours = Ridge(solver="sag", max_iter=100_000, tol=1e-10, device="cpu").fit(X, y)
    assert ours.engine_ == "gpuml"
    assert_allclose(ours.coef_, sk.Ridge(solver="svd").fit(X, y).coef_, rtol=1e-10)
    with pytest.raises(UnsupportedError, match="max_iter=999"):
        Ridge(solver="lsqr", max_iter=999, device="cpu").fit(X, y)
