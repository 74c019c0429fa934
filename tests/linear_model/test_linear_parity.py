"""LinearRegression and Ridge agree with scikit-learn's on real data.

The reference is always scikit-learn fitted in float64 on the *same* (dtype-cast)
data: gpuml accumulates XᵀX in float64 even for float32 input, so the only float32
error left is the final rounding of coef_/intercept_ and the float32 predict.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import linear_model as sk
from sklearn.datasets import load_diabetes

from gpuml.linear_model import LinearRegression, Ridge
from helpers import tol

X_DIA, Y_DIA = load_diabetes(return_X_y=True)
# a second, different target: y**0.5 scaled to a similar range
Y2_DIA = np.column_stack([Y_DIA, 10.0 * np.sqrt(Y_DIA)])
W_DIA = np.random.default_rng(0).uniform(0.1, 3.0, X_DIA.shape[0])  # random positive weights

TARGETS = {"y1": Y_DIA, "y2": Y2_DIA}


def _check(ours, ref, X, dtype):
    """coef_, intercept_ and predict vs the float64 reference.

    float64: 1e-8 relative (two exact solves of the same normal equations, diabetes is
    well conditioned); float32: 1e-5 relative, the float32 rounding of the outputs and of
    the float32 matmul in predict (atol scaled by the largest magnitude).
    """
    rtol = tol(dtype, 1e-5, 1e-8)
    assert ours.coef_.shape == ref.coef_.shape
    for name in ("coef_", "intercept_"):
        # values only: intercept_'s shape for fit_intercept=False is tested on its own below
        a, b = np.asarray(getattr(ours, name)), np.asarray(getattr(ref, name))
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(np.abs(b).max(), 1.0), err_msg=name)
    p, q = ours.predict(X), ref.predict(X.astype(np.float64))
    assert p.shape == q.shape and p.dtype == dtype
    np.testing.assert_allclose(p, q, rtol=rtol, atol=rtol * np.abs(q).max())


@pytest.mark.parametrize("target", ["y1", "y2"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_linear_regression_diabetes(target, fit_intercept, weighted, device, dtype):
    X, y = X_DIA.astype(dtype), TARGETS[target]
    sw = W_DIA if weighted else None
    ours = LinearRegression(fit_intercept=fit_intercept, device=device).fit(X, y, sample_weight=sw)
    ref = sk.LinearRegression(fit_intercept=fit_intercept).fit(X.astype(np.float64), y, sample_weight=sw)
    _check(ours, ref, X, dtype)
    assert ours.rank_ == ref.rank_ == X.shape[1]
    # singular values of the (centered, weighted) X: float64 1e-8, float32 1e-6 relative
    np.testing.assert_allclose(ours.singular_, ref.singular_, rtol=tol(dtype, 1e-6, 1e-8))


@pytest.mark.parametrize("target", ["y1", "y2"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("alpha", [1e-3, 0.5, 10.0])
def test_ridge_diabetes(target, fit_intercept, weighted, alpha, device, dtype):
    X, y = X_DIA.astype(dtype), TARGETS[target]
    sw = W_DIA if weighted else None
    ours = Ridge(alpha=alpha, fit_intercept=fit_intercept, device=device).fit(X, y, sample_weight=sw)
    ref = sk.Ridge(alpha=alpha, fit_intercept=fit_intercept, solver="svd").fit(
        X.astype(np.float64), y, sample_weight=sw
    )
    _check(ours, ref, X, dtype)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_ridge_alpha_per_target(fit_intercept, weighted, device, dtype):
    # one penalty per target, very different so a mix-up would show
    X, y, alpha = X_DIA.astype(dtype), Y2_DIA, np.array([0.01, 5.0])
    sw = W_DIA if weighted else None
    ours = Ridge(alpha=alpha, fit_intercept=fit_intercept, device=device).fit(X, y, sample_weight=sw)
    ref = sk.Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X.astype(np.float64), y, sample_weight=sw)
    _check(ours, ref, X, dtype)
    # and each column equals the single-target fit with its own alpha (same tolerances)
    for j in range(2):
        one = sk.Ridge(alpha=alpha[j], fit_intercept=fit_intercept).fit(X.astype(np.float64), y[:, j], sample_weight=sw)
        rtol = tol(dtype, 1e-5, 1e-8)
        np.testing.assert_allclose(ours.coef_[j], one.coef_, rtol=rtol, atol=rtol * np.abs(one.coef_).max())


def test_ridge_alpha_zero_is_least_squares(device, dtype):
    X = X_DIA.astype(dtype)
    ours = Ridge(alpha=0.0, device=device).fit(X, Y2_DIA)
    ref = sk.LinearRegression().fit(X.astype(np.float64), Y2_DIA)
    _check(ours, ref, X, dtype)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("target", ["y1", "y2"])
def test_linear_regression_rank_deficient(fit_intercept, target, device, dtype):
    # column 2 (bmi) duplicated: the least-squares solution is not unique; both must
    # return the minimum-norm one (lstsq in scikit-learn, pseudo-inverse in gpuml),
    # which splits the duplicated coefficient evenly.
    X = np.column_stack([X_DIA, X_DIA[:, 2]]).astype(dtype)
    y = TARGETS[target]
    ours = LinearRegression(fit_intercept=fit_intercept, device=device).fit(X, y)
    ref = sk.LinearRegression(fit_intercept=fit_intercept).fit(X.astype(np.float64), y)
    assert ours.rank_ == ref.rank_ == X.shape[1] - 1
    # min-norm coef: float64 1e-7 relative (the zero direction is cut at rounding level
    # by both); float32 1e-5
    _check(ours, ref, X, dtype)
    c = np.atleast_2d(ours.coef_)
    np.testing.assert_allclose(c[:, 2], c[:, -1], rtol=tol(dtype, 1e-5, 1e-8))
    # singular values: the non-zero ones to 1e-8 (1e-6 float32) relative; the zero one is
    # at rounding level in both: gpuml takes sqrt of a ~eps*λmax eigenvalue, so it may
    # reach sqrt(eps)*s_max ~ 1.5e-8 s_max (float64), and float32 data's own rounding
    s_ours, s_ref = ours.singular_, ref.singular_
    assert s_ours.shape == s_ref.shape
    np.testing.assert_allclose(s_ours[:-1], s_ref[:-1], rtol=tol(dtype, 1e-6, 1e-8))
    assert s_ours[-1] <= 1e-7 * s_ref[0] and s_ref[-1] <= 1e-7 * s_ref[0]


@pytest.mark.parametrize("Est", [LinearRegression, Ridge])
def test_intercept_shape_without_intercept_multi_target(Est, device, dtype):
    X = X_DIA.astype(dtype)
    ours = Est(fit_intercept=False, device=device).fit(X, Y2_DIA)
    ref = getattr(sk, Est.__name__)(fit_intercept=False).fit(X.astype(np.float64), Y2_DIA)
    assert np.shape(ours.intercept_) == np.shape(ref.intercept_)  # () in scikit-learn
