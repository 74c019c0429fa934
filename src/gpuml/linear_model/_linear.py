"""LinearRegression and Ridge: one pass of centered XᵀX and Xᵀy, then a small solve."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin, _fit_context

from .._sklearn import sklearn_class
from .._support import Support, one_of, when
from ._base import LinearModelMixin

_DEVICE = [None, str, torch.device]

#: Ridge's solvers that iterate towards the exact solution (scikit-learn's own: with
#: ``max_iter=None`` they run to ``tol``); a capped ``max_iter`` asks for their partial result.
_ITERATIVE = ("lsqr", "sparse_cg", "sag", "saga")
#: A max_iter at least sag's own default (1000) asks for a converged solve, not a partial one.
_CONVERGED_ITER = 1000


class LinearRegression(LinearModelMixin, MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Ordinary least squares on any PyTorch device.

    scikit-learn's :class:`sklearn.linear_model.LinearRegression`: one pass over
    row chunks accumulates the centered ``XᵀX`` and ``Xᵀy`` in float64, then a
    symmetric eigendecomposition gives the minimum-norm solution (the same one
    as ``lstsq`` when X is rank deficient).

    Parameters
    ----------
    fit_intercept : bool, default=True
    copy_X : bool, default=True
        Kept for compatibility: X is never modified.
    tol : float, default=1e-6
        Singular values of the (centered) X below ``tol`` times the largest count as
        zero, as scikit-learn's ``lstsq(cond=tol)``: with features on scales 1e7 apart,
        the default drops the smallest-scale direction, as scikit-learn does; ``tol=0``
        keeps every direction above rounding.
    n_jobs : int, default=None
        Kept for compatibility; parallelism comes from the device.
    positive : bool, default=False
        True (non-negative least squares) runs on scikit-learn (see Notes).
    device : str or torch.device, default=None
        Where to compute; None follows ``gpuml.get_config()["device"]`` ("auto").

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
    intercept_ : float or ndarray of shape (n_targets,)
    rank_ : int
        Rank of the (centered) X.
    singular_ : ndarray of shape (min(n_samples, n_features),)
        Singular values of the (centered, weighted) X.
    n_features_in_ : int

    Notes
    -----
    gpuml computes natively: dense input (arrays, tensors, sources), ``positive=False``, every
    other parameter value. Runs on scikit-learn instead (``device="auto"`` or ``gpuml.accel``;
    an :class:`gpuml.UnsupportedError` with an explicit device or fallback off): ``positive=True``
    and sparse input. Unlike scikit-learn, ``copy_X=False`` does not let the fit center X in place.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuml.linear_model import LinearRegression
    >>> X = np.array([[1.0, 1.0], [1.0, 2.0], [2.0, 2.0], [2.0, 3.0]])
    >>> y = X @ np.array([1.0, 2.0]) + 3
    >>> reg = LinearRegression(device="cpu").fit(X, y)
    >>> np.round(reg.coef_, 6), round(float(reg.intercept_), 6)
    (array([1., 2.]), 3.0)
    """

    _parameter_constraints = {**sklearn_class("LinearRegression")._parameter_constraints, "device": _DEVICE}

    #: gpuml solves unconstrained least squares; positive=True (NNLS) runs on scikit-learn.
    _support = Support(
        one_of("positive", False),
        # the parameters of a scikit-learn without LinearRegression(tol=...), as its
        # proxy passes them: its lstsq cuts at machine precision, which the Gram solve cannot resolve
        when(lambda p: "tol" in p, "an older scikit-learn's LinearRegression without tol (lstsq at "
                                   "machine precision)"),
    )

    def __init__(self, *, fit_intercept=True, copy_X=True, tol=1e-6, n_jobs=None, positive=False, device=None):
        self.fit_intercept = fit_intercept
        self.copy_X = copy_X
        self.tol = tol
        self.n_jobs = n_jobs
        self.positive = positive
        self.device = device

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Fit the linear model.

        Parameters
        ----------
        X : array-like, Tensor or gpuml.data source of shape (n_samples, n_features)
        y : array-like or Tensor of shape (n_samples,) or (n_samples, n_targets)
            Targets; None when X is a source created with a target.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : LinearRegression
        """
        fitted = self._fit_least_squares(X, y, sample_weight, 0.0, cond=self.tol)
        if fitted is None:
            return self
        n, lam, self.rank_ = fitted  # lam: the eigenvalues of XᵀX the solve computed, ascending
        lam = lam.flip(0).clamp_min(0)  # (d,) descending
        self.singular_ = np.sqrt(lam.cpu().numpy()[: min(n, lam.shape[0])])
        return self


class Ridge(LinearModelMixin, MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Linear least squares with L2 regularization, on any PyTorch device.

    scikit-learn's :class:`sklearn.linear_model.Ridge`, solving
    ``(XcᵀXc + alpha I) w = Xcᵀyc`` from one float64 pass over row chunks. Every
    ``solver`` gives this exact solution (an eigendecomposition of the small
    ``XᵀX``, which also handles one alpha per target at no extra cost).

    Parameters
    ----------
    alpha : float or array-like of shape (n_targets,), default=1.0
        Regularization strength; one value per target is allowed.
    fit_intercept : bool, default=True
    copy_X : bool, default=True
        Kept for compatibility: X is never modified.
    max_iter : int, default=None
        Kept for compatibility (the solve is direct).
    tol : float, default=1e-4
        Kept for compatibility (the solve is direct).
    solver : {"auto", "svd", "cholesky", "lsqr", "sparse_cg", "sag", "saga", "lbfgs"}, default="auto"
        Every solver of the unconstrained problem gives gpuml's exact solution (the one they
        converge to); "lbfgs" is scikit-learn's solver for ``positive=True`` (see Notes).
    positive : bool, default=False
        True runs on scikit-learn (see Notes).
    random_state : int, RandomState instance or None, default=None
        Kept for compatibility (the solve is deterministic).
    device : str or torch.device, default=None
        Where to compute; None follows ``gpuml.get_config()["device"]`` ("auto").

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
    intercept_ : float or ndarray of shape (n_targets,)
    n_iter_ : None
        The solve is direct (scikit-learn reports None for its direct solvers too).
    solver_ : str
        scikit-learn's name for the solver asked for ("cholesky" for "auto", as scikit-learn
        resolves it on dense data); gpuml's computation is the same for all of them.
    n_features_in_ : int

    Notes
    -----
    gpuml computes natively: dense input, ``positive=False`` and the solvers "auto", "svd",
    "cholesky", and "lsqr", "sparse_cg", "sag", "saga" with ``max_iter=None`` or at least 1000
    (sag's own default: they iterate to ``tol`` towards the unique solution that gpuml computes
    exactly; ``n_iter_`` is then None).
    Runs on scikit-learn instead (``device="auto"`` or ``gpuml.accel``; an
    :class:`gpuml.UnsupportedError` with an explicit device or fallback off): ``positive=True``,
    ``solver="lbfgs"``, an iterative solver with a ``max_iter`` below 1000 (its partial result is
    asked for) and sparse input.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuml.linear_model import Ridge
    >>> X = np.array([[0.0], [1.0], [2.0]])
    >>> Ridge(alpha=1.0, device="cpu").fit(X, [0.0, 1.0, 2.0]).coef_
    array([0.66666667])
    """

    _parameter_constraints = {**sklearn_class("Ridge")._parameter_constraints, "device": _DEVICE}

    #: Every solver of the unconstrained problem converges to its unique solution, which gpuml
    #: computes exactly; positive=True (and 'lbfgs', scikit-learn's solver for it) and an
    #: iterative solver capped by max_iter (its partial result is asked for) run on scikit-learn.
    _support = Support(
        one_of("positive", False),
        when(lambda p: p["solver"] != "lbfgs",
             "solver='lbfgs' (scikit-learn's solver for positive=True; gpuml supports 'auto', 'svd', "
             "'cholesky', 'lsqr', 'sparse_cg', 'sag', 'saga')"),
        when(lambda p: p["solver"] not in _ITERATIVE or p["max_iter"] is None or p["max_iter"] >= _CONVERGED_ITER,
             "solver={solver!r} with max_iter={max_iter!r} (an iterative solve stopped early; gpuml "
             f"computes the exact solution: max_iter=None or >= {_CONVERGED_ITER})"),
    )

    def __init__(
        self, alpha=1.0, *, fit_intercept=True, copy_X=True, max_iter=None, tol=1e-4,
        solver="auto", positive=False, random_state=None, device=None,
    ):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.copy_X = copy_X
        self.max_iter = max_iter
        self.tol = tol
        self.solver = solver
        self.positive = positive
        self.random_state = random_state
        self.device = device

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Fit the ridge model.

        Parameters
        ----------
        X : array-like, Tensor or gpuml.data source of shape (n_samples, n_features)
        y : array-like or Tensor of shape (n_samples,) or (n_samples, n_targets)
            Targets; None when X is a source created with a target.
        sample_weight : float or array-like of shape (n_samples,), default=None

        Returns
        -------
        self : Ridge
        """
        if self._fit_least_squares(X, y, sample_weight, self.alpha, ravel_one_target=True) is None:
            return self
        self.n_iter_ = None  # a direct solve, as scikit-learn's own direct solvers report
        self.solver_ = "cholesky" if self.solver == "auto" else self.solver  # scikit-learn's name for it
        return self
