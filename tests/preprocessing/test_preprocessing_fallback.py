"""StandardScaler: what runs natively, what falls back to scikit-learn (and says why), shared
state, and partial_fit sequences that cross between the two.

Natively: every parameter value, sample_weight, dense data without NaN. On scikit-learn:
sparse input and NaN (which scikit-learn's scaler ignores, counting per feature).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import preprocessing as sk

import gpuml
import gpuml.accel
from gpuml._sklearn import sklearn_class
from gpuml.preprocessing import StandardScaler

RNG = np.random.RandomState(0)
SCALES = np.array([1.0, 1e2, 1e4, 1e6])
HOSTILE = 1e4 + RNG.normal(size=(200, 4)) * SCALES  # offset 1e4, column scales 1 .. 1e6
WITH_NAN = HOSTILE.copy()
WITH_NAN[::7, 1] = np.nan


def _same(ours, ref):
    for name in ("mean_", "var_", "scale_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), rtol=1e-12)
    np.testing.assert_array_equal(ours.n_samples_seen_, ref.n_samples_seen_)


def test_nan_runs_on_sklearn_with_the_reason():
    ours, ref = StandardScaler().fit(WITH_NAN), sk.StandardScaler().fit(WITH_NAN)
    assert ours.engine_ == "sklearn" and "NaN" in ours.engine_reason_
    _same(ours, ref)
    np.testing.assert_array_equal(ours.transform(WITH_NAN), ref.transform(WITH_NAN))


def test_nan_with_an_explicit_device_or_fallback_off_is_an_error():
    with pytest.raises(gpuml.UnsupportedError, match="NaN.*device='auto' would run"):
        StandardScaler(device="cpu").fit(WITH_NAN)
    with gpuml.config_context(fallback=False), pytest.raises(gpuml.UnsupportedError, match="NaN"):
        StandardScaler().fit(WITH_NAN)
    fitted = StandardScaler(device="cpu").fit(HOSTILE)
    with pytest.raises(gpuml.UnsupportedError, match="NaN"):
        fitted.transform(WITH_NAN)
    fitted.set_params(device="auto")  # NaN in, NaN out, as scikit-learn's
    out = fitted.transform(WITH_NAN)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(WITH_NAN))


@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_fit_and_transform_run_on_sklearn(weighted):
    Xs = sp.csr_matrix(np.where(HOSTILE > 1e4, HOSTILE, 0.0))
    w = RNG.uniform(0.5, 2.0, Xs.shape[0]) if weighted else None
    ours = StandardScaler(with_mean=False).fit(Xs, sample_weight=w)
    ref = sk.StandardScaler(with_mean=False).fit(Xs, sample_weight=w)
    assert ours.engine_ == "sklearn" and "sparse input" in ours.engine_reason_
    _same(ours, ref)
    assert abs(ours.transform(Xs) - ref.transform(Xs)).max() == 0
    dense = StandardScaler(with_mean=False, device="cpu").fit(Xs.toarray())
    with pytest.raises(gpuml.UnsupportedError, match="sparse input"):
        dense.transform(Xs)


def test_partial_fit_crosses_between_gpuml_and_sklearn():
    # gpuml, then a NaN batch (scikit-learn, from gpuml's state), then clean batches: they stay
    # on scikit-learn while the counts are per feature; equal to scikit-learn's own sequence
    batches = [HOSTILE[:80], WITH_NAN[80:140], HOSTILE[140:]]
    ours, ref = StandardScaler(), sk.StandardScaler()
    engines = []
    for b in batches:
        ours.partial_fit(b)
        ref.partial_fit(b)
        engines.append(ours.engine_)
    assert engines == ["gpuml", "sklearn", "sklearn"]
    _same(ours, ref)
    # a NaN-free sequence that went to scikit-learn (sparse) comes back to gpuml: scalar counts
    Xs = sp.csr_matrix(HOSTILE[:100])
    ours = StandardScaler(with_mean=False).partial_fit(Xs).partial_fit(HOSTILE[100:])
    ref = sk.StandardScaler(with_mean=False).partial_fit(Xs).partial_fit(HOSTILE[100:])
    assert ours.engine_ == "gpuml"
    np.testing.assert_allclose(ours.var_, ref.var_, rtol=1e-12)
    np.testing.assert_allclose(ours.scale_, ref.scale_, rtol=1e-12)


def test_copy_false_writes_in_place_and_float16_stays_float16():
    est = StandardScaler(device="cpu").fit(HOSTILE)
    X = HOSTILE.copy()
    out = est.transform(X, copy=False)
    assert out is X
    np.testing.assert_allclose(out, sk.StandardScaler().fit(HOSTILE).transform(HOSTILE), rtol=1e-9, atol=1e-12)
    small = StandardScaler(device="cpu").fit(HOSTILE[:, :1] - 1e4)
    assert small.transform((HOSTILE[:, :1] - 1e4).astype(np.float16)).dtype == np.float16


def test_scikit_learn_parameter_validation():
    with pytest.raises(ValueError, match="'with_mean' parameter of StandardScaler must be"):
        StandardScaler(with_mean="yes").fit(HOSTILE)


def test_as_sklearn_answers_every_method_as_gpuml():
    ours = StandardScaler(device="cpu").fit(HOSTILE, sample_weight=RNG.uniform(0.5, 2.0, len(HOSTILE)))
    est = ours.as_sklearn()
    assert type(est) is sk.StandardScaler
    T = ours.transform(HOSTILE)
    np.testing.assert_allclose(est.transform(HOSTILE), T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(est.inverse_transform(T), ours.inverse_transform(T), rtol=1e-12)
    est.partial_fit(HOSTILE, sample_weight=np.ones(len(HOSTILE)))  # scikit-learn continues from gpuml's moments
    assert est.n_samples_seen_ == pytest.approx(ours.n_samples_seen_ + len(HOSTILE))


def test_from_sklearn_transforms_as_sklearn_and_continues():
    ref = sk.StandardScaler().fit(HOSTILE[:100])
    ours = StandardScaler.from_sklearn(ref, device="cpu")
    np.testing.assert_allclose(ours.transform(HOSTILE), ref.transform(HOSTILE), rtol=1e-12, atol=1e-12)
    ours.partial_fit(HOSTILE[100:])  # merges with scikit-learn's moments natively
    ref.partial_fit(HOSTILE[100:])
    _same(ours, ref)
    # per-feature counts (NaN seen): later batches need scikit-learn's merge
    ref = sk.StandardScaler().fit(WITH_NAN)
    with pytest.raises(gpuml.UnsupportedError, match="per-feature sample counts"):
        StandardScaler.from_sklearn(ref, device="cpu").partial_fit(HOSTILE)


def _engines(report, method):
    return {c.engine for c in report.calls() if c.method == method}


@pytest.mark.xdist_group("accel")
def test_proxy_fits_natively_and_every_method_works(accel):
    import sklearn.preprocessing

    Sk = sklearn_class("StandardScaler")  # scikit-learn's own class (sk.StandardScaler is the proxy now)
    with gpuml.config_context(fallback=False):  # every call on gpuml, or an error
        est = sklearn.preprocessing.StandardScaler().partial_fit(HOSTILE[:50]).partial_fit(HOSTILE[50:])
        T = est.transform(HOSTILE)
        back = est.inverse_transform(T)
    assert type(est).__module__ == "sklearn.preprocessing._data"
    assert _engines(accel, "partial_fit") == {"gpuml"}
    ref = Sk().fit(HOSTILE)
    _same(est, ref)
    # column 0 sits at 1e4 with unit scale: the two means' rounding (1e4 * eps) shows as 2e-12
    np.testing.assert_allclose(T, ref.transform(HOSTILE), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(back, HOSTILE, rtol=1e-12)
    est.partial_fit(WITH_NAN)  # NaN: on scikit-learn, continuing from gpuml's moments
    ref.partial_fit(WITH_NAN)
    _same(est, ref)
    np.testing.assert_allclose(est.transform(WITH_NAN), ref.transform(WITH_NAN), rtol=1e-12, atol=1e-12)
    assert list(est.get_feature_names_out()) == ["x0", "x1", "x2", "x3"]
