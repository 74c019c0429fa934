"""PCA: what runs natively, what falls back to scikit-learn (and says why), shared state.

Natively: every svd_solver ("arpack" is the exact leading components), int / float / None
n_components, whiten. On scikit-learn: n_components="mle" and sparse input.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import decomposition as sk

import gpuml
import gpuml.accel
from gpuml._sklearn import sklearn_class
from gpuml.decomposition import PCA

RNG = np.random.RandomState(0)
# correlated features with well separated variances, then hostile: offset 1e4, scales 1 .. 1e6
BASE = RNG.normal(size=(300, 6)) @ np.diag([6.0, 5.0, 4.0, 3.0, 2.0, 1.0]) @ np.linalg.qr(RNG.normal(size=(6, 6)))[0]
SCALES = np.array([1.0, 1e1, 1e2, 1e4, 1e5, 1e6])
HOSTILE = 1e4 + BASE * SCALES


def _same_fit(ours, ref, rtol):
    """Leading attributes equal to scikit-learn's (components up to sklearn's own sign rule)."""
    assert ours.n_components_ == ref.n_components_ and ours.components_.shape == ref.components_.shape
    lam = ref.explained_variance_[0]
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=rtol, atol=rtol * lam)
    np.testing.assert_allclose(ours.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(ours.components_, ref.components_, atol=1e3 * rtol)
    np.testing.assert_allclose(ours.mean_, ref.mean_, rtol=1e-12)
    np.testing.assert_allclose(ours.noise_variance_, ref.noise_variance_, rtol=1e3 * rtol, atol=rtol * lam)


def test_mle_runs_on_sklearn_with_the_reason():
    ours = PCA(n_components="mle").fit(BASE)
    ref = sk.PCA(n_components="mle").fit(BASE)
    assert ours.engine_ == "sklearn" and "n_components='mle'" in ours.engine_reason_
    assert ours.n_components_ == ref.n_components_
    np.testing.assert_allclose(ours.transform(BASE), ref.transform(BASE), rtol=1e-12, atol=1e-12)


def test_mle_with_an_explicit_device_or_fallback_off_is_an_error():
    with pytest.raises(gpuml.UnsupportedError, match="n_components='mle'.*device='auto' would run"):
        PCA(n_components="mle", device="cpu").fit(BASE)
    with gpuml.config_context(fallback=False), pytest.raises(gpuml.UnsupportedError, match="n_components='mle'"):
        PCA(n_components="mle").fit(BASE)


def test_sparse_fit_and_transform_run_on_sklearn():
    Xs = sp.csr_matrix(np.where(BASE > 0.5, BASE, 0.0))
    ours = PCA(3, svd_solver="arpack", random_state=0).fit(Xs)
    ref = sk.PCA(3, svd_solver="arpack", random_state=0).fit(Xs)
    assert ours.engine_ == "sklearn" and "sparse input" in ours.engine_reason_
    np.testing.assert_allclose(ours.transform(Xs), ref.transform(Xs), rtol=1e-10, atol=1e-10)
    fitted = PCA(3, device="cpu").fit(Xs.toarray())  # gpuml's fit, sparse at transform
    with pytest.raises(gpuml.UnsupportedError, match="sparse input"):
        fitted.transform(Xs)
    fitted.set_params(device="auto")
    np.testing.assert_allclose(fitted.transform(Xs), fitted.transform(Xs.toarray()), rtol=1e-10, atol=1e-10)
    with gpuml.config_context(fallback=False), pytest.raises(gpuml.UnsupportedError, match="sparse"):
        PCA(3).fit(Xs)


@pytest.mark.parametrize("n_components", [2, None])
def test_arpack_is_the_exact_leading_components_on_hostile_data(n_components):
    # "arpack" natively: the exact solver's leading components; float64, 1e-9 relative to the
    # largest eigenvalue (eigenvalues spread over 1e12); None is min(n, d) - 1 as scikit-learn's
    ours = PCA(n_components, svd_solver="arpack", device="cpu").fit(HOSTILE)
    ref = sk.PCA(n_components, svd_solver="arpack", random_state=0).fit(HOSTILE)
    assert ours.engine_ == "gpuml" and ours._fit_svd_solver == "arpack"
    _same_fit(ours, ref, 1e-9)
    assert ours.n_components_ == (5 if n_components is None else 2)


def test_arpack_errors_as_scikit_learn():
    with pytest.raises(ValueError, match="must be strictly less than min"):
        PCA(6, svd_solver="arpack", device="cpu").fit(BASE)
    with pytest.raises(ValueError, match="must be between 1 and min"):
        PCA(0.5, svd_solver="randomized", device="cpu").fit(BASE)


@pytest.mark.parametrize("shape,k,solver", [((1000, 50), 5, "covariance_eigh"), ((60, 600), 5, "randomized"),
                                            ((60, 600), 50, "full")])
def test_auto_chooses_as_scikit_learn(shape, k, solver):
    X = np.random.RandomState(1).uniform(size=shape)
    ours = PCA(k, random_state=0, device="cpu").fit(X)
    assert ours._fit_svd_solver == sk.PCA(k, random_state=0).fit(X)._fit_svd_solver == solver


def test_scikit_learn_parameter_validation():
    with pytest.raises(ValueError, match="'svd_solver' parameter of PCA must be"):
        PCA(svd_solver="lapack").fit(BASE)


def test_as_sklearn_answers_every_method_as_gpuml():
    ours = PCA(3, whiten=True, device="cpu").fit(HOSTILE)
    est = ours.as_sklearn()
    assert type(est) is sk.PCA and est._fit_svd_solver == "covariance_eigh"
    T = ours.transform(HOSTILE)
    np.testing.assert_allclose(est.transform(HOSTILE), T, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(est.inverse_transform(T), ours.inverse_transform(T), rtol=1e-9)
    # the methods gpuml does not have: scikit-learn's, from gpuml's fitted state
    est, ref = PCA(3, device="cpu").fit(BASE).as_sklearn(), sk.PCA(3).fit(BASE)
    np.testing.assert_allclose(est.score_samples(BASE), ref.score_samples(BASE), rtol=1e-10)
    np.testing.assert_allclose(est.get_precision(), ref.get_precision(), rtol=1e-8, atol=1e-10)
    assert list(est.get_feature_names_out()) == list(ours.get_feature_names_out()) == ["pca0", "pca1", "pca2"]


@pytest.mark.parametrize("solver", ["arpack", "full", "randomized"])
def test_from_sklearn_transforms_as_sklearn(solver):
    ref = sk.PCA(3, svd_solver=solver, random_state=0).fit(HOSTILE)
    ours = PCA.from_sklearn(ref, device="cpu")
    T = ref.transform(HOSTILE)
    np.testing.assert_allclose(ours.transform(HOSTILE), T, rtol=1e-9, atol=1e-9 * np.abs(T).max())
    np.testing.assert_allclose(ours.inverse_transform(T), ref.inverse_transform(T), rtol=1e-9)
    assert ours.as_sklearn()._fit_svd_solver == solver


def _engines(report, method):
    return {c.engine for c in report.calls() if c.method == method}


@pytest.mark.xdist_group("accel")
def test_proxy_fits_natively_and_every_method_works(accel):
    import sklearn.decomposition

    Sk = sklearn_class("PCA")  # scikit-learn's own class (sk.PCA is the proxy now)
    with gpuml.config_context(fallback=False):  # every call on gpuml, or an error
        est = sklearn.decomposition.PCA(3, svd_solver="arpack", whiten=True).fit(HOSTILE)
        T = est.transform(HOSTILE)
        back = est.inverse_transform(T)
    assert type(est).__module__ == "sklearn.decomposition._pca" and _engines(accel, "fit") == {"gpuml"}
    np.testing.assert_allclose(T, Sk.transform(est, HOSTILE), rtol=1e-7, atol=1e-7)  # scikit-learn's code
    np.testing.assert_allclose(back, Sk.inverse_transform(est, T), rtol=1e-9)
    est.fit(BASE)  # the methods gpuml lacks: scikit-learn's, from gpuml's fit
    ref = Sk(3, svd_solver="arpack", whiten=True).fit(BASE)
    np.testing.assert_allclose(est.score_samples(BASE), ref.score_samples(BASE), rtol=1e-8)
    np.testing.assert_allclose(est.get_covariance(), ref.get_covariance(), rtol=1e-8, atol=1e-10)
    assert est.fit_transform(HOSTILE).shape == (len(HOSTILE), 3)
    assert list(est.get_feature_names_out()) == ["pca0", "pca1", "pca2"]
