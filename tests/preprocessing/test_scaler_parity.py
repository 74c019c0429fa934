"""StandardScaler agrees with scikit-learn's on the five toy datasets.

The reference is scikit-learn in float64 on the same (dtype-cast) data. Both
accumulate the moments in float64, so mean_/var_/scale_ agree to 1e-12 relative
whatever the dtype; transform/inverse_transform are computed in the data's dtype:
1e-12 (float64) / 1e-6 (float32) relative, with an absolute floor of that much times
the largest magnitude.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import preprocessing as sk
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine

from gpuml.preprocessing import StandardScaler
from helpers import tol

DATA = {name: loader(return_X_y=True)[0] for name, loader in [
    ("iris", load_iris), ("wine", load_wine), ("digits", load_digits),
    ("breast_cancer", load_breast_cancer), ("diabetes", load_diabetes),
]}
MOMENT_RTOL = 1e-12


def _weights(n):
    return np.random.default_rng(0).uniform(0.1, 3.0, n)  # cast to X.dtype by both (as sklearn does)


def _close(a, b, rtol):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(np.abs(b).max(), 1.0))


def _check_attributes(ours, ref, X):
    """mean_, var_, scale_ to 1e-12 relative (float64 moments in both), with an absolute
    floor of 1e-12 max|X| (max|X|² for var_) for means and variances near 0 (diabetes is
    centered: its means are ~1e-17); None where scikit-learn has None; n_samples_seen_
    equal (a float sum of weights: 1e-12)."""
    xmax = float(np.abs(X).max())
    for name, scale in (("mean_", xmax), ("var_", xmax**2), ("scale_", xmax)):
        a, b = getattr(ours, name), getattr(ref, name)
        assert (a is None) == (b is None), name
        if b is not None:
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=MOMENT_RTOL, atol=MOMENT_RTOL * scale, err_msg=name)
    np.testing.assert_allclose(ours.n_samples_seen_, ref.n_samples_seen_, rtol=MOMENT_RTOL)


def _check_transforms(ours, ref, X, dtype):
    rtol = tol(dtype, 1e-6, 1e-12)
    T, T_ref = ours.transform(X), ref.transform(X.astype(np.float64))
    assert T.dtype == dtype and T.shape == X.shape
    _close(T, T_ref, rtol)
    back = ours.inverse_transform(T_ref.astype(dtype))
    assert back.dtype == dtype
    _close(back, ref.inverse_transform(T_ref), rtol)


@pytest.mark.parametrize("name", list(DATA))
@pytest.mark.parametrize("with_mean,with_std", [(True, True), (False, True), (True, False), (False, False)])
def test_fit(name, with_mean, with_std, device, dtype):
    X = DATA[name].astype(dtype)
    ours = StandardScaler(with_mean=with_mean, with_std=with_std, device=device).fit(X)
    ref = sk.StandardScaler(with_mean=with_mean, with_std=with_std).fit(X.astype(np.float64))
    _check_attributes(ours, ref, X)
    assert ours.n_samples_seen_ == X.shape[0]
    _check_transforms(ours, ref, X, dtype)


@pytest.mark.parametrize("name", list(DATA))
@pytest.mark.parametrize("with_mean", [True, False])
def test_sample_weight(name, with_mean, device, dtype):
    X = DATA[name].astype(dtype)
    sw = _weights(X.shape[0]).astype(dtype)  # both libraries use the weights in X's dtype
    ours = StandardScaler(with_mean=with_mean, device=device).fit(X, sample_weight=sw)
    ref = sk.StandardScaler(with_mean=with_mean).fit(X.astype(np.float64), sample_weight=sw)
    _check_attributes(ours, ref, X)
    _check_transforms(ours, ref, X, dtype)


def test_integer_weights_equal_repeated_rows(device, dtype):
    # a weight of 2 is the row seen twice: the same moments to 1e-12
    X = DATA["wine"].astype(dtype)
    sw = np.random.default_rng(1).integers(1, 4, X.shape[0])
    ours = StandardScaler(device=device).fit(X, sample_weight=sw)
    ref = sk.StandardScaler().fit(np.repeat(X.astype(np.float64), sw, axis=0))
    ref.n_samples_seen_ = float(sw.sum())
    _check_attributes(ours, ref, X)


@pytest.mark.parametrize("name", list(DATA))
@pytest.mark.parametrize("weighted", [False, True])
def test_partial_fit_three_batches(name, weighted, device, dtype):
    # three uneven batches: the same moments as one fit (Chan's merge), and the same
    # as scikit-learn's partial_fit over the same batches, to 1e-12
    X = DATA[name].astype(dtype)
    sw = _weights(X.shape[0]).astype(dtype) if weighted else None
    cuts = [0, X.shape[0] // 5, (2 * X.shape[0]) // 3, X.shape[0]]
    ours, ref = StandardScaler(device=device), sk.StandardScaler()
    for a, b in zip(cuts[:-1], cuts[1:]):
        w = None if sw is None else sw[a:b]
        ours.partial_fit(X[a:b], sample_weight=w)
        ref.partial_fit(X[a:b].astype(np.float64), sample_weight=w)
    _check_attributes(ours, ref, X)
    whole = StandardScaler(device=device).fit(X, sample_weight=sw)
    _check_attributes(ours, whole, X)
    _check_transforms(ours, ref, X, dtype)


def test_partial_fit_weighted_then_unweighted(device, dtype):
    # a weighted batch then an unweighted one equals one fit whose second batch has
    # weight 1 (moments to 1e-12). Not compared with scikit-learn, which truncates the
    # first batch's float weight sum to int64 on the second call (n_samples_seen_ 81.39
    # becomes 81 in scikit-learn 1.9) and so shifts its mean and variance
    X = DATA["iris"].astype(dtype)
    sw = _weights(X.shape[0]).astype(dtype)
    ours = StandardScaler(device=device).partial_fit(X[:50], sample_weight=sw[:50]).partial_fit(X[50:])
    one = np.r_[sw[:50], np.ones(X.shape[0] - 50)]
    ref = sk.StandardScaler().fit(X.astype(np.float64), sample_weight=one)
    _check_attributes(ours, ref, X)


@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt:RuntimeWarning:sklearn")  # sklearn's var_ < 0
@pytest.mark.parametrize("name", ["iris", "diabetes"])
@pytest.mark.parametrize("value", [0.0, 3.7, -1e4])
def test_constant_column_scale_one(name, value, device, dtype):
    # a constant column has var_ 0 (to rounding) and scale_ exactly 1, so it transforms
    # to 0 (with_mean; up to the rounding of its mean, 1e-12 |value| / 1e-6 |value|
    # in float32) and back to itself
    X = DATA[name]
    X = np.column_stack([X[:, :2], np.full(X.shape[0], value), X[:, 2:]]).astype(dtype)
    ours = StandardScaler(device=device).fit(X)
    ref = sk.StandardScaler().fit(X.astype(np.float64))
    assert ours.scale_[2] == 1.0 == ref.scale_[2]
    assert abs(ours.var_[2]) <= 1e-12 * max(value * value, 1.0)
    _check_attributes(ours, ref, X)
    T = ours.transform(X)
    np.testing.assert_allclose(T[:, 2], 0.0, atol=tol(dtype, 1e-6, 1e-12) * max(abs(value), 1.0))
    np.testing.assert_allclose(ours.inverse_transform(T)[:, 2], X[:, 2], rtol=tol(dtype, 1e-6, 1e-12))
    # also when weighted
    sw = _weights(X.shape[0])
    ours_w = StandardScaler(device=device).fit(X, sample_weight=sw)
    assert ours_w.scale_[2] == 1.0 == sk.StandardScaler().fit(X.astype(np.float64), sample_weight=sw).scale_[2]


def test_digits_constant_pixels(device, dtype):
    # digits has 3 pixels that are 0 in every image: scale 1 there, in both
    X = DATA["digits"].astype(dtype)
    ours, ref = StandardScaler(device=device).fit(X), sk.StandardScaler().fit(X.astype(np.float64))
    const = np.ptp(X, axis=0) == 0
    assert const.sum() == 3
    np.testing.assert_array_equal(ours.scale_[const], 1.0)
    np.testing.assert_array_equal(ours.scale_ == 1.0, ref.scale_ == 1.0)
