"""PCA from passes over row chunks: exact (covariance eigh) or randomized (power iterations)."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context
from sklearn.utils import check_random_state

from .._sklearn import sklearn_class
from .._support import Support, when
from ..base import GpumlEstimator, delegable, numpy_dtype, to_numpy
from ..data import run_pass
from ..device import accumulator_dtype
from ..ops import CovarianceProduct, Gram, flip_signs, top_eigh


class PCA(GpumlEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Principal component analysis on any PyTorch device.

    scikit-learn's :class:`sklearn.decomposition.PCA`. The exact solver
    accumulates the centered covariance in float64 in one pass and takes its
    eigendecomposition (scikit-learn's ``covariance_eigh``); the randomized solver
    runs power iterations, each one pass computing ``XcᵀXc Q`` with O(d·l) memory.

    Parameters
    ----------
    n_components : int, float, None or "mle", default=None
        Components to keep: an int, a float in (0, 1) for the smallest number of
        components explaining more than that fraction of variance, or None for
        ``min(n_samples, n_features)`` (one fewer with "arpack"). "mle" runs on
        scikit-learn (see Notes).
    copy : bool, default=True
        Kept for compatibility: X is never modified.
    whiten : bool, default=False
        Scale the projections to unit variance.
    svd_solver : {"auto", "full", "covariance_eigh", "arpack", "randomized"}, default="auto"
        "full", "covariance_eigh" and "arpack" (the exact leading components) run the exact
        solver; "randomized" the randomized one. "auto" chooses as scikit-learn does
        (``_fit_svd_solver`` holds its choice).
    tol : float, default=0.0
        Kept for compatibility (used by scikit-learn's "arpack" solver).
    iterated_power : int or "auto", default="auto"
        Power iterations of the randomized solver ("auto": 7 if
        ``n_components < 0.1 * min(X.shape)``, else 4).
    n_oversamples : int, default=10
        Extra random directions of the randomized solver.
    power_iteration_normalizer : {"auto", "QR", "LU", "none"}, default="auto"
        Kept for compatibility: iterations are always QR-normalized.
    random_state : int, RandomState instance or None, default=None
        Seeds the randomized solver.
    device : str or torch.device, default=None
        Where to compute; None follows ``gpuml.get_config()["device"]`` ("auto").

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
    explained_variance_ : ndarray of shape (n_components,)
    explained_variance_ratio_ : ndarray of shape (n_components,)
    singular_values_ : ndarray of shape (n_components,)
    mean_ : ndarray of shape (n_features,)
    n_components_ : int
    n_samples_ : int
    noise_variance_ : float
    n_features_in_ : int

    Notes
    -----
    Natively: every ``svd_solver`` ("arpack" computes the exact leading singular vectors,
    which the exact solver gives), int, float and None ``n_components``, ``whiten``, dense
    input. ``n_components="mle"`` (Minka's estimate reads the smallest eigenvalues, which the
    covariance eigendecomposition resolves only to eps * λmax) and sparse input run on
    scikit-learn's PCA (``device="auto"``, fallback on; ``engine_reason_`` says so), else
    they are an :class:`gpuml.UnsupportedError`. ``score``, ``score_samples``,
    ``get_covariance`` and ``get_precision`` are scikit-learn's (``as_sklearn()``, or the
    proxy under ``gpuml.accel``).

    Examples
    --------
    >>> import numpy as np
    >>> from gpuml.decomposition import PCA
    >>> X = np.array([[-1.0, -1], [-2, -1], [-3, -2], [1, 1], [2, 1], [3, 2]])
    >>> pca = PCA(n_components=2, device="cpu").fit(X)
    >>> np.round(pca.explained_variance_ratio_, 4)
    array([0.9924, 0.0076])
    """

    _parameter_constraints = {**sklearn_class("PCA")._parameter_constraints,
                               "device": [None, str, torch.device]}

    #: Minka's MLE of the dimension reads the smallest singular values, which the covariance
    #: eigendecomposition gets only to eps * λmax: it runs on scikit-learn (as sparse input).
    _support = Support(when(lambda p: not isinstance(p["n_components"], str)
                            or p["svd_solver"] in ("arpack", "randomized"),  # scikit-learn's error, here too
                            "n_components={n_components!r} (gpuml supports an int, a float in (0, 1) or None)"))

    def __init__(
        self, n_components=None, *, copy=True, whiten=False, svd_solver="auto", tol=0.0,
        iterated_power="auto", n_oversamples=10, power_iteration_normalizer="auto",
        random_state=None, device=None,
    ):
        self.n_components = n_components
        self.copy = copy
        self.whiten = whiten
        self.svd_solver = svd_solver
        self.tol = tol
        self.iterated_power = iterated_power
        self.n_oversamples = n_oversamples
        self.power_iteration_normalizer = power_iteration_normalizer
        self.random_state = random_state
        self.device = device

    _delegates_to_sklearn = True

    def _work(self, n: int, d: int) -> tuple[float, float]:
        if self._fit_solver(n, d) != "randomized":
            return 2.0 * n * d * d, 1.0
        k = min(n, d) if self.n_components is None else self.n_components
        k = k + self.n_oversamples if isinstance(k, Integral) else d
        power = 7 if self.iterated_power == "auto" else self.iterated_power
        return 4.0 * n * d * k, power + 3.0

    def _fit_solver(self, n: int, d: int) -> str:
        """scikit-learn's name of the solver for n x d data (its ``_fit_svd_solver``): "auto"
        chooses as scikit-learn does. "full", "covariance_eigh" and "arpack" all run the
        exact solver; "randomized" the randomized one."""
        if self.svd_solver != "auto":
            return self.svd_solver
        if d <= 1000 and n >= 10 * d:
            return "covariance_eigh"
        k = min(n, d) if self.n_components is None else self.n_components
        if max(n, d) <= 500:
            return "full"
        return "randomized" if 1 <= k < 0.8 * min(n, d) else "full"

    def _n_requested(self, solver: str, n: int, d: int):
        """n_components for this fit (None: every component, one fewer for "arpack"),
        with scikit-learn's checks and messages."""
        k_max = min(n, d)
        k = self.n_components
        if k is None:
            k = k_max - 1 if solver == "arpack" else k_max
        if solver in ("full", "covariance_eigh"):
            if not 0 <= k <= k_max:
                raise ValueError(f"n_components={k} must be between 0 and min(n_samples, n_features)={k_max} "
                                 f"with svd_solver={solver!r}")
        elif isinstance(k, str):
            raise ValueError(f"n_components={k!r} cannot be a string with svd_solver='{solver}'")
        elif not 1 <= k <= k_max:
            raise ValueError(f"n_components={k!r} must be between 1 and min(n_samples, n_features)={k_max!r} "
                             f"with svd_solver='{solver}'")
        elif solver == "arpack" and k == k_max:
            raise ValueError(f"n_components={k!r} must be strictly less than min(n_samples, n_features)="
                             f"{k_max!r} with svd_solver='{solver}'")
        return k

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the model on X.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : PCA
        """
        self.__dict__.pop("_mean64", None)
        if self._delegated_early(X):
            return self
        X, _ = self._validate(X, reset=True, ensure_min_samples=2)
        n, d = X.shape
        k_max = min(n, d)
        solver = self._fit_solver(n, d)
        k_req = self._n_requested(solver, n, d)
        device = self._decide(X)
        if self.engine_ == "sklearn":
            return self._fit_sklearn(X)
        acc = accumulator_dtype(device)
        if solver != "randomized":
            st = run_pass(self._source(X, device), Gram(acc), device)
            mean = st.mean_x
            ev, V = top_eigh(st.cxx / (n - 1))  # (d,), (d, d)
            ev = ev.clamp_min(0)[:k_max]
            V, total = V[:k_max], ev.sum()
        else:
            ev, V, total, mean = self._randomized(X, k_req, device, acc)
        ev_np, V_np, total = to_numpy(ev), to_numpy(V), float(total)
        ratio = ev_np / total if total > 0 else np.zeros_like(ev_np)
        k = self._n_kept(k_req, ratio, k_max)
        np_dtype = numpy_dtype(X)
        self._reset_cache()
        self.mean_ = to_numpy(mean).astype(np_dtype)
        self._mean64 = (to_numpy(mean), self.mean_.copy())  # transform centers on the float64 mean
        self.components_ = V_np[:k].astype(np_dtype)
        self.explained_variance_ = ev_np[:k].astype(np_dtype)
        self.explained_variance_ratio_ = ratio[:k].astype(np_dtype)
        self.singular_values_ = np.sqrt(ev_np[:k] * (n - 1)).astype(np_dtype)
        self.n_components_, self.n_samples_ = int(k), int(n)
        rest = (total - ev_np[:k].sum()) / (k_max - k) if k < k_max else 0.0
        self.noise_variance_ = float(max(rest, 0.0))
        self._fit_svd_solver = solver
        return self

    @staticmethod
    def _n_kept(k_req, ratio: np.ndarray, k_max: int) -> int:
        if isinstance(k_req, Integral):
            return int(k_req)
        cum = np.cumsum(ratio)  # of the ratios, as scikit-learn (a fit at a ratio's cumsum is stable)
        return int(min(np.searchsorted(cum, k_req, side="right") + 1, k_max))

    @property
    def _n_features_out(self) -> int:
        """Output features of transform (``get_feature_names_out``): one per component."""
        return self.components_.shape[0]

    def _export_state(self) -> dict:
        """The public fitted attributes and ``_fit_svd_solver`` (scikit-learn's tags read it)."""
        state = super()._export_state()
        if self.__dict__.get("_sklearn_fitted") is None and "_fit_svd_solver" in self.__dict__:
            state["_fit_svd_solver"] = self._fit_svd_solver
        return state

    def _import_state(self, state: dict) -> None:
        super()._import_state(state)
        self.__dict__.pop("_mean64", None)
        self.__dict__["_fit_svd_solver"] = state.get("_fit_svd_solver", self.svd_solver)

    def _randomized(self, X, k, device, acc):
        """Randomized subspace iteration on the covariance; every product is one pass."""
        n, d = X.shape
        src = self._source(X, device, resident=True)
        st = run_pass(src, Gram(acc, diagonal=True), device)
        mean, total = st.mean_x, st.cxx.sum() / (n - 1)
        power = self.iterated_power
        if power == "auto":
            power = 7 if k < 0.1 * min(n, d) else 4
        n_dirs = min(k + self.n_oversamples, d)
        omega = check_random_state(self.random_state).standard_normal((d, n_dirs))
        Q = torch.linalg.qr(torch.as_tensor(omega, dtype=acc, device=device))[0]  # (d, l)
        for _ in range(power):
            Q = torch.linalg.qr(run_pass(src, CovarianceProduct(Q, mean), device))[0]
        Z = run_pass(src, CovarianceProduct(Q, mean), device) / (n - 1)  # (d, l) = C Q
        lam, W = torch.linalg.eigh(Q.T @ Z)  # Rayleigh-Ritz on the subspace
        lam, W = lam.flip(0)[:k].clamp_min(0), W.flip(1)[:, :k]
        return lam, flip_signs((Q @ W).T), total, mean  # (k,), (k, d), (), (d,)

    def _mean_split(self, device, dtype):
        """mean_ as hi + lo in ``dtype``: the float64 mean of the fit while mean_ is as it left it."""
        saved = self.__dict__.get("_mean64")
        if saved is not None and np.array_equal(saved[1], self.mean_):
            return self._param_split("_mean64", device, dtype, value=saved[0])
        return self._param_split("mean_", device, dtype)

    def _sklearn_fits(self, X) -> bool:
        """scikit-learn's "covariance_eigh" forms XᵀX - n m mᵀ, which loses every digit far
        from the origin (offset 1e5: explained variance off by 1e-4 relative, 1e8: by 20x);
        gpuml's centers each chunk: "auto" runs gpuml where scikit-learn would run it. Nor
        "randomized": scikit-learn's singular values are those of its sketch, so its
        ``fit(X).transform(X)`` (what gpuml's fit_transform is) has variances off its
        ``explained_variance_`` (4e-4 relative on 100 x 80 noise); gpuml's Rayleigh-Ritz values
        are the variances of its projections."""
        return self._fit_solver(*X.shape) not in ("covariance_eigh", "randomized")

    def _scaled_components(self, device, dtype):
        comps = self._param("components_", device, dtype)  # (k, d)
        if not self.whiten:
            return comps, None
        scale = self._param("explained_variance_", device, dtype).sqrt()
        return comps, scale.clamp_min(torch.finfo(dtype).eps)

    def fit_transform(self, X, y=None):
        """Fit, then project X on the principal components.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        X_new : ndarray or Tensor of shape (n_samples, n_components)
        """
        return self.fit(X).transform(X)

    @delegable
    def transform(self, X):
        """Project X on the principal components.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)

        Returns
        -------
        X_new : ndarray or Tensor of shape (n_samples, n_components)
        """
        X = self._check_predict(X)
        device = self._device()
        dtype = self._dtype(X, device)
        hi, lo = self._mean_split(device, dtype)
        comps, scale = self._scaled_components(device, dtype)

        def project(c):
            out = ((c - hi) - lo) @ comps.T  # (r, k)
            return out if scale is None else out / scale

        return self._map_rows(X, project, (2 * X.shape[1] + comps.shape[0]) * 8)

    @delegable
    def inverse_transform(self, X):
        """Map projections back to the original space.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_components)

        Returns
        -------
        X_original : ndarray or Tensor of shape (n_samples, n_features)
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        device = self._device()
        Xt = X if isinstance(X, torch.Tensor) else np.asarray(X, dtype=self.components_.dtype)
        if Xt.ndim != 2 or Xt.shape[1] != self.n_components_:
            raise ValueError(f"X has shape {tuple(Xt.shape)}; expected (n_samples, {self.n_components_})")
        dtype = self._dtype(Xt, device)
        hi, lo = self._mean_split(device, dtype)
        comps, scale = self._scaled_components(device, dtype)

        def back(c):
            c = c if scale is None else c * scale
            return (c @ comps + lo) + hi  # (r, d)

        return self._map_rows(Xt, back, (2 * self.n_features_in_ + comps.shape[0]) * 8)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
