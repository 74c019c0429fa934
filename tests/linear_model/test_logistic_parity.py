"""LogisticRegression (lbfgs, L2 or no penalty) agrees with scikit-learn's at the optimum.

Both solvers are pushed to the optimum of the same objective: scikit-learn with
tol=1e-10, max_iter=10000 (float64 reference on the same dtype-cast data), gpuml with
tol=1e-8, max_iter=1000. What is left is gpuml's stopping error and, in float32, the
float32 logits of its loss passes.

Tolerances (relative to the largest coefficient, resp. absolute on probabilities):
float64: coef_/intercept_ 2e-5 (observed <= 2.5e-6), proba 1e-5 (observed <= 2.5e-6);
float32: coef_/intercept_ 2e-3 (observed <= 4.5e-4), proba 1e-3 (observed <= 2e-4).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import linear_model as sk
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import scale

from gpuml.linear_model import LogisticRegression
from helpers import tol


def _load(loader):
    X, y = loader(return_X_y=True)
    return scale(X), y


DATA = {
    "iris": _load(load_iris),  # 3 classes: multinomial
    "breast_cancer": _load(load_breast_cancer),  # binary
    "wine": _load(load_wine),  # 3 classes: multinomial
}


def _fit_pair(X, y, dtype, device, sample_weight=None, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = LogisticRegression(tol=1e-8, max_iter=1000, device=device, **params)
        ours.fit(X, y, sample_weight=sample_weight)
        ref = sk.LogisticRegression(tol=1e-10, max_iter=10000, **params)
        ref.fit(X.astype(np.float64), y, sample_weight=sample_weight)
    return ours, ref


def _close(a, b, rtol, what):
    """Agreement relative to the largest magnitude of the reference."""
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(np.abs(b).max(), 1.0), err_msg=what)


def _check_predict(ours, ref, X, dtype):
    """Same class wherever the reference's two best probabilities are not tied within 1e-3."""
    p_ref = ref.predict_proba(X.astype(np.float64))
    top2 = np.sort(p_ref, 1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-3
    pred = ours.predict(X)
    assert pred.shape == (X.shape[0],)
    np.testing.assert_array_equal(pred[clear], ref.predict(X.astype(np.float64))[clear])


def _check_all(ours, ref, X, dtype):
    rtol, ptol = tol(dtype, 2e-3, 2e-5), tol(dtype, 1e-3, 1e-5)
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    assert ours.coef_.shape == ref.coef_.shape and ours.intercept_.shape == ref.intercept_.shape
    _close(ours.coef_, ref.coef_, rtol, "coef_")
    _close(ours.intercept_, ref.intercept_, rtol, "intercept_")
    X64 = X.astype(np.float64)
    proba = ours.predict_proba(X)
    assert proba.dtype == dtype
    np.testing.assert_allclose(proba, ref.predict_proba(X64), atol=ptol)
    dec, dec_ref = ours.decision_function(X), ref.decision_function(X64)
    assert dec.shape == dec_ref.shape
    _close(dec, dec_ref, rtol, "decision_function")
    _check_predict(ours, ref, X, dtype)


@pytest.mark.parametrize("name", list(DATA))
def test_default_l2(name, device, dtype):
    X, y = DATA[name]
    X = X.astype(dtype)
    ours, ref = _fit_pair(X, y, dtype, device)
    _check_all(ours, ref, X, dtype)


@pytest.mark.parametrize("name", list(DATA))
def test_strong_penalty_balanced_class_weight(name, device, dtype):
    X, y = DATA[name]
    X = X.astype(dtype)
    ours, ref = _fit_pair(X, y, dtype, device, C=0.1, class_weight="balanced")
    _check_all(ours, ref, X, dtype)


@pytest.mark.parametrize("name", list(DATA))
def test_sample_weight(name, device, dtype):
    X, y = DATA[name]
    X = X.astype(dtype)
    sw = np.random.default_rng(0).uniform(0.1, 3.0, X.shape[0])
    ours, ref = _fit_pair(X, y, dtype, device, sample_weight=sw)
    _check_all(ours, ref, X, dtype)


def test_class_weight_dict_with_sample_weight(device, dtype):
    X, y = DATA["wine"]
    X = X.astype(dtype)
    sw = np.random.default_rng(1).uniform(0.1, 3.0, X.shape[0])
    ours, ref = _fit_pair(X, y, dtype, device, sample_weight=sw, C=0.5, class_weight={0: 2.0, 2: 0.5})
    _check_all(ours, ref, X, dtype)


def test_no_penalty_binary(device, dtype):
    # C=inf on breast_cancer's first 5 features: the classes overlap, so the unpenalized
    # optimum is finite and unique (|coef| ~ 22); all of coef_, proba, predict compared
    X, y = DATA["breast_cancer"]
    X = X[:, :5].astype(dtype)
    ours, ref = _fit_pair(X, y, dtype, device, C=np.inf)
    _check_all(ours, ref, X, dtype)


def test_no_penalty_multinomial_probabilities(device, dtype):
    # C=inf multinomial on iris' two sepal features (overlapping classes): the logits are
    # only defined up to a per-row shift and the flat optimum leaves coef_ poorly
    # determined, so only the probabilities are compared (float64 atol 1e-5, observed
    # 2e-7; float32 1e-3, observed 5e-5)
    X, y = DATA["iris"]
    X = X[:, :2].astype(dtype)
    ours, ref = _fit_pair(X, y, dtype, device, C=np.inf)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X.astype(np.float64)),
                               atol=tol(dtype, 1e-3, 1e-5))
    _check_predict(ours, ref, X, dtype)


@pytest.mark.parametrize("name", ["iris", "breast_cancer"])
def test_no_intercept(name, device, dtype):
    X, y = DATA[name]
    X = X.astype(dtype)
    ours, ref = _fit_pair(X, y, dtype, device, fit_intercept=False)
    _check_all(ours, ref, X, dtype)


def test_cost_model_sees_this_fits_classes_when_deciding(monkeypatch):
    # device="auto" decides before validating plain arrays: its FLOP count uses this y's classes
    from gpuml.linear_model import LogisticRegression as GL

    seen = []
    real = GL._decide

    def spy(self, X):
        seen.append(self._work(100, 2)[0])
        return real(self, X)

    monkeypatch.setattr(GL, "_decide", spy)
    X = np.random.default_rng(0).standard_normal((200, 2))
    est = GL(max_iter=50)
    est.fit(X, np.arange(200) % 5)
    est.fit(X, np.arange(200) % 2)
    assert seen[0] == 4.0 * 100 * 2 * 5 and seen[-1] == 4.0 * 100 * 2 * 1


@pytest.mark.parametrize("name", ["breast_cancer", "wine"])
def test_balanced_class_weight_counts_sample_weight(name, device, dtype):
    # scikit-learn >= 1.6: "balanced" weighs each class by Σs / (n_classes * Σ_class s)
    X, y = DATA[name]
    X = X.astype(dtype)
    sw = np.random.default_rng(2).uniform(0.1, 3.0, X.shape[0]) * np.where(y == y.max(), 4.0, 1.0)
    ours, ref = _fit_pair(X, y, dtype, device, sample_weight=sw, class_weight="balanced")
    _check_all(ours, ref, X, dtype)
