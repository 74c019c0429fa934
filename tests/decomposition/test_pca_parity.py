"""PCA agrees with scikit-learn's on digits, wine and breast_cancer.

The reference is scikit-learn's exact solver (svd_solver="full", an SVD of the centered
X) in float64 on the same (dtype-cast) data. gpuml's exact solver diagonalizes the
float64 covariance, so its eigenvalues carry an absolute error of ~eps * λmax: they are
compared relative to the largest one, and components_ only where the eigenvalue is
separated from its neighbours (digits has 3 constant pixels: a 3-dimensional null space
whose basis is arbitrary). Sign convention: the largest-magnitude entry of each
component is positive in both.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import decomposition as sk
from sklearn.datasets import load_breast_cancer, load_digits, load_wine

from gpuml.decomposition import PCA
from helpers import tol

DATA = {
    "digits": load_digits(return_X_y=True)[0],  # 1797 x 64, 3 constant columns
    "wine": load_wine(return_X_y=True)[0],  # 178 x 13, unscaled (variances 1e-3 .. 1e5)
    "breast_cancer": load_breast_cancer(return_X_y=True)[0],  # 569 x 30, unscaled
}


def _separated(ev: np.ndarray, rel_gap: float = 1e-6) -> np.ndarray:
    """Components whose eigenvalue is at least rel_gap * λmax from both neighbours."""
    gaps = np.abs(np.diff(np.r_[np.inf, ev, -np.inf]))
    return np.minimum(gaps[:-1], gaps[1:]) > rel_gap * ev[0]


def _check_fit(ours, ref, dtype):
    """Attributes vs the float64 reference.

    float64: eigenvalues 1e-12 of λmax (observed 3e-15); components 1e-8 (separated ones);
    mean_ 1e-12 relative. float32: 1e-6 of λmax and 1e-5 (float32 rounding of the
    outputs, observed 2e-8 on the eigenvalues).
    """
    assert ours.n_components_ == ref.n_components_ and ours.n_samples_ == ref.n_samples_
    k = ref.n_components_
    assert ours.components_.shape == ref.components_.shape
    for name in ("components_", "explained_variance_", "mean_", "singular_values_"):
        assert getattr(ours, name).dtype == dtype, name
    ev_ref = ref.explained_variance_
    etol = tol(dtype, 1e-6, 1e-12)
    np.testing.assert_allclose(ours.explained_variance_, ev_ref, rtol=etol, atol=etol * ev_ref[0])
    np.testing.assert_allclose(ours.explained_variance_ratio_, ref.explained_variance_ratio_,
                               rtol=etol, atol=etol)
    sv = ref.singular_values_
    np.testing.assert_allclose(ours.singular_values_, sv, rtol=tol(dtype, 1e-5, 1e-10),
                               atol=tol(dtype, 1e-3, 1e-6) * sv[0])  # sqrt of ~eps*λmax
    np.testing.assert_allclose(ours.mean_, ref.mean_, rtol=tol(dtype, 1e-6, 1e-12))
    # noise variance: the mean of the dropped eigenvalues, each ~eps*λmax off
    np.testing.assert_allclose(ours.noise_variance_, ref.noise_variance_, rtol=tol(dtype, 1e-5, 1e-9),
                               atol=etol * ev_ref[0])
    sep = _separated(ref.explained_variance_ if k == len(ref.explained_variance_) else
                     np.r_[ref.explained_variance_, ref.noise_variance_])[:k]
    assert sep[: min(k, 5)].all()  # the leading ones are always compared
    ctol = tol(dtype, 1e-5, 1e-8)
    np.testing.assert_allclose(ours.components_[sep], ref.components_[sep], atol=ctol)


def _check_transforms(ours, ref, X, dtype):
    """transform and inverse_transform: 1e-8 (float64) / 1e-4 (float32) of the largest
    magnitude (float32: the float32 matmul over up to 64 features of magnitude 1e3)."""
    X64 = X.astype(np.float64)
    T, T_ref = ours.transform(X), ref.transform(X64)
    assert T.dtype == dtype and T.shape == T_ref.shape
    rtol = tol(dtype, 1e-4, 1e-8)
    sep = _separated(np.r_[ref.explained_variance_, 0.0])[: ref.n_components_]
    np.testing.assert_allclose(T[:, sep], T_ref[:, sep], atol=rtol * np.abs(T_ref).max())
    # inverse_transform of the same projections: the reconstruction from our components
    back, back_ref = ours.inverse_transform(T_ref.astype(dtype)), ref.inverse_transform(T_ref)
    assert back.dtype == dtype and back.shape == X.shape
    np.testing.assert_allclose(back, back_ref, atol=rtol * np.abs(X64).max())


@pytest.mark.parametrize("name", list(DATA))
@pytest.mark.parametrize("n_components", [5, 0.9, None])
@pytest.mark.parametrize("svd_solver", ["auto", "full", "covariance_eigh"])
def test_exact_solver(name, n_components, svd_solver, device, dtype):
    X = DATA[name].astype(dtype)
    ours = PCA(n_components, svd_solver=svd_solver, device=device).fit(X)
    ref = sk.PCA(n_components, svd_solver="full").fit(X.astype(np.float64))
    _check_fit(ours, ref, dtype)
    _check_transforms(ours, ref, X, dtype)


@pytest.mark.parametrize("name", list(DATA))
def test_full_rank_round_trip(name, device, dtype):
    # with every component kept, inverse_transform(transform(X)) is X whatever the basis
    # of degenerate eigenspaces: 1e-9 (float64) / 1e-4 (float32) of max |X|
    X = DATA[name].astype(dtype)
    pca = PCA(device=device).fit(X)
    back = pca.inverse_transform(pca.transform(X))
    np.testing.assert_allclose(back, X, atol=tol(dtype, 1e-4, 1e-9) * np.abs(X).max())


@pytest.mark.parametrize("name", list(DATA))
@pytest.mark.parametrize("n_components", [3, 0.95])
def test_whiten(name, n_components, device, dtype):
    X = DATA[name].astype(dtype)
    ours = PCA(n_components, whiten=True, device=device).fit(X)
    ref = sk.PCA(n_components, whiten=True, svd_solver="full").fit(X.astype(np.float64))
    _check_fit(ours, ref, dtype)
    # whitened projections have unit variance: compare to 1e-8 / 1e-4 absolute
    T, T_ref = ours.transform(X), ref.transform(X.astype(np.float64))
    np.testing.assert_allclose(T, T_ref, atol=tol(dtype, 1e-4, 1e-8) * np.abs(T_ref).max())
    np.testing.assert_allclose(T.var(0, ddof=1), 1.0, rtol=tol(dtype, 1e-4, 1e-8))
    back, back_ref = ours.inverse_transform(T_ref.astype(dtype)), ref.inverse_transform(T_ref)
    np.testing.assert_allclose(back, back_ref, atol=tol(dtype, 1e-4, 1e-8) * np.abs(X).max())


def test_fit_transform_equals_transform(device, dtype):
    X = DATA["wine"].astype(dtype)
    ours = PCA(4, device=device)
    T = ours.fit_transform(X)
    T_ref = sk.PCA(4, svd_solver="full").fit_transform(X.astype(np.float64))
    np.testing.assert_allclose(T, T_ref, atol=tol(dtype, 1e-4, 1e-8) * np.abs(T_ref).max())


@pytest.mark.parametrize("random_state", [0, 1])
def test_randomized_vs_exact_digits(random_state, device, dtype):
    # randomized subspace iteration vs scikit-learn's exact solution: the 10 leading
    # eigenvalues of digits are well separated, so a few power iterations give
    # explained_variance_ within 1e-3 relative and each component within |cos| > 0.999
    X = DATA["digits"].astype(dtype)
    ours = PCA(10, svd_solver="randomized", random_state=random_state, device=device).fit(X)
    ref = sk.PCA(10, svd_solver="full").fit(X.astype(np.float64))
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-3)
    np.testing.assert_allclose(ours.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-3)
    np.testing.assert_allclose(ours.mean_, ref.mean_, rtol=tol(dtype, 1e-6, 1e-12))
    cos = np.abs(np.sum(ours.components_.astype(np.float64) * ref.components_, 1))
    assert (cos > 0.999).all(), cos
    # the total variance is exact, so the noise variance is within the same 1e-3
    np.testing.assert_allclose(ours.noise_variance_, ref.noise_variance_, rtol=1e-3)
