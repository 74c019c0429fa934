"""Least squares from one Gram pass: LinearRegression and Ridge share this fit."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..base import GpumlEstimator, delegable, numpy_dtype, to_numpy
from ..data import run_pass
from ..device import accumulator_dtype
from ..ops import Gram, GramState, solve_normal_equations


class LinearModelMixin(GpumlEstimator):
    """Fit ``coef_``/``intercept_`` by solving the (ridge) normal equations; predict X @ coef."""

    _delegates_to_sklearn = True

    def _work(self, n: int, d: int) -> tuple[float, float]:
        return 2.0 * n * d * d, 1.0

    def _fit_least_squares(
        self, X: Any, y: Any, sample_weight: Any, alpha: Any, cond: float = 0.0,
        ravel_one_target: bool = False,
    ) -> tuple[int, torch.Tensor | None, int | None] | None:
        """Validate, run one Gram pass, solve. Returns (rows seen, eigenvalues of the Gram matrix
        ascending, rank), both None for a ridge, or None when "auto" handed the fit to
        scikit-learn. The Gram matrix is centered when fit_intercept.

        ``alpha`` is a scalar or an array of one penalty per target (0 = plain least squares);
        ``cond`` is scikit-learn's ``lstsq`` cutoff: singular values of X below ``cond`` times
        the largest count as zero (LinearRegression's ``tol``). ``ravel_one_target``: one
        target given as a column gives coef_ of shape (d,) (Ridge's shapes; LinearRegression's
        stay (1, d)).
        """
        self.__dict__.pop("_x_offset", None)
        if self._delegated_early(X, y, sample_weight=sample_weight):
            return None
        alpha = np.asarray(alpha, dtype=np.float64)
        if (alpha < 0).any() or not np.isfinite(alpha).all():
            raise ValueError(f"alpha must be non-negative and finite, got {alpha if alpha.ndim else float(alpha)!r}")
        X, y = self._validate(X, y, reset=True, y_numeric=True, multi_output=True)
        w = self._sample_weight(sample_weight, X)
        device = self._decide(X)
        if self.engine_ == "sklearn":
            self._fit_sklearn(X, y, sample_weight=sample_weight)
            return None
        acc = accumulator_dtype(device)
        src = self._source(X, device, y=y, w=w)
        n_targets = src.n_targets
        alpha = alpha.ravel()
        if alpha.size not in (1, n_targets):
            raise ValueError(
                f"Number of targets and number of penalties do not correspond: {alpha.size} != {n_targets}"
            )
        st = run_pass(src, Gram(acc, n_targets=n_targets), device)
        G, B = st.cxx, st.cxy  # (d, d), (d, t): centered
        rank = lam = None
        if not self.fit_intercept:  # uncentered moments: add back the means
            G = G + st.weight * torch.outer(st.mean_x, st.mean_x)
            B = B + st.weight * torch.outer(st.mean_x, st.mean_y)
        if alpha.any():
            coef = ridge_solve(G, B, np.broadcast_to(alpha, (n_targets,))).T  # (t, d)
        else:
            coef, rank, lam = least_squares(st, G, B, self.fit_intercept, cond)
            coef = coef.T  # (t, d)
        intercept = st.mean_y - coef @ st.mean_x if self.fit_intercept else torch.zeros_like(st.mean_y)
        np_dtype = numpy_dtype(X)
        coef_np, intercept_np = to_numpy(coef).astype(np_dtype), to_numpy(intercept).astype(np_dtype)
        self._reset_cache()
        if src.y_ndim == 1:  # numpy scalars of X's dtype, as scikit-learn's
            self.coef_, self.intercept_ = coef_np[0], intercept_np[0]
        elif ravel_one_target and coef_np.shape[0] == 1:  # Ridge on y of shape (n, 1): coef_ (d,)
            self.coef_, self.intercept_ = coef_np[0], intercept_np
        else:
            self.coef_, self.intercept_ = coef_np, intercept_np
        if not self.fit_intercept:
            self.intercept_ = 0.0  # a scalar whatever the targets, as scikit-learn
        # predict computes (X - o) @ coef + b_o: o, the training mean in X's dtype, takes the
        # large common part out of X before the product; b_o = intercept + coef @ o in float64
        o = to_numpy(st.mean_x).astype(np_dtype).astype(np.float64)
        b_o = to_numpy(intercept + coef @ torch.as_tensor(o, dtype=acc, device=device))
        b_o = b_o[0] if src.y_ndim == 1 else b_o
        self._x_offset = (o, b_o, np.copy(self.coef_), np.copy(self.intercept_))
        return st.count, lam, rank

    def _import_state(self, state: dict) -> None:
        """scikit-learn's fitted state (``coef_``, ``intercept_``...); predictions then use it as
        it is (the offset saved by gpuml's own fit belongs to gpuml's coefficients)."""
        super()._import_state(state)
        self.__dict__.pop("_x_offset", None)

    def _decision_function(self, X: Any) -> Any:
        return linear_scores(self, X)

    @delegable
    def predict(self, X):
        """Predict with the linear model.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray or Tensor of shape (n_samples,) or (n_samples, n_targets)
        """
        return self._decision_function(X)


def linear_scores(est: GpumlEstimator, X: Any, one_column_as_vector: bool = False) -> Any:
    """``X @ coef_ᵀ + intercept_`` over X's row chunks, in X's type.

    coef_ (d,) gives (n,); coef_ (t, d) gives (n, t), or (n,) when t == 1 and
    ``one_column_as_vector`` (a binary classifier's logits).
    """
    X = est._check_predict(X)
    device = est._device()
    dtype = est._dtype(X, device)
    coef = est._param("coef_", device, dtype)  # (d,) or (t, d)
    o, b = _offset(est, numpy_dtype(X))  # (d,), () or (t,): X @ coef + b = (X - o) @ coef + b_o
    o_t = torch.as_tensor(o, dtype=dtype, device=device)
    intercept = torch.as_tensor(b, dtype=dtype, device=device)
    coef_t = coef.T if coef.ndim == 2 else coef  # (d, t) or (d,)
    if one_column_as_vector and coef.ndim == 2 and coef.shape[0] == 1:
        coef_t, intercept = coef_t[:, 0], intercept.reshape(-1)[0]
    t = coef.shape[0] if coef.ndim == 2 else 1
    return est._map_rows(X, lambda c: (c - o_t) @ coef_t + intercept, (2 * X.shape[1] + 2 * t) * 8)


def _offset(est: GpumlEstimator, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """(o, b_o) with ``X @ coef_ + intercept_ == (X - o) @ coef_ + b_o``; o is X's dtype.

    o is the training mean (when gpuml fitted the model and coef_, intercept_ are as it
    left them) and b_o was computed at fit in float64, so neither the product of X far
    from the origin nor the rounding of a large intercept_ to float32 costs digits.
    """
    coef, intercept = np.asarray(est.coef_, np.float64), np.asarray(est.intercept_, np.float64)
    saved = est.__dict__.get("_x_offset")
    if saved is None or not (np.array_equal(saved[2], est.coef_) and np.array_equal(saved[3], est.intercept_)):
        return np.zeros(coef.shape[-1], dtype), intercept
    o_fit, b_fit = saved[0], saved[1]
    o = o_fit.astype(dtype)  # o_fit already is in the fit's dtype; rounded again for another one
    return o, b_fit + coef @ (o.astype(np.float64) - o_fit)


#: Up to this many distinct penalties, one Cholesky solve each; more share one eigendecomposition.
_CHOLESKY_ALPHAS = 8


def ridge_solve(G: torch.Tensor, B: torch.Tensor, alpha: np.ndarray) -> torch.Tensor:
    """``(G + alpha_j I) x_j = B[:, j]`` for every target j (alpha (t,) float64), (d, t).

    Each distinct penalty is one Cholesky solve of the equilibrated system
    ``(S G S + alpha S²) u = S B``, ``x = S u`` (S: the inverse square roots of G's diagonal):
    as accurate as scikit-learn's "cholesky" on features on scales 1 to 1e6, where an
    eigendecomposition of G loses the small scales' digits (eigenvalue errors near eps times
    the largest). Many distinct penalties, or a system that is not positive definite (alpha 0
    on a singular G), share the eigendecomposition's minimum-norm solve instead.
    """
    device, acc = G.device, G.dtype
    alpha_t = torch.as_tensor(np.array(alpha, dtype=np.float64), dtype=acc, device=device)
    distinct = np.unique(alpha)
    if distinct.size > _CHOLESKY_ALPHAS:
        return solve_normal_equations(G, B, alpha_t)
    diag = G.diagonal()
    s = torch.where(diag > 0, diag.rsqrt(), torch.ones_like(diag))  # (d,)
    Gs, Bs = G * s[:, None] * s[None, :], s[:, None] * B
    out = torch.empty_like(B)
    for a in distinct:
        cols = torch.as_tensor(alpha == a, device=device)
        try:
            L, info = torch.linalg.cholesky_ex(Gs + torch.diag(float(a) * s * s))
        except (RuntimeError, NotImplementedError):  # a device without a Cholesky kernel
            info = 1
        if int(info) == 0:
            out[:, cols] = s[:, None] * torch.cholesky_solve(Bs[:, cols], L)
        else:  # not positive definite (as scikit-learn's cholesky falls back to its svd)
            out[:, cols] = solve_normal_equations(G, B[:, cols], alpha_t[cols])
    return out


def least_squares(st: GramState, G: torch.Tensor, B: torch.Tensor, fit_intercept: bool,
                  cond: float) -> tuple[torch.Tensor, int, torch.Tensor]:
    """Minimum-norm least squares from one pass's moments: (coef (d, t), rank, eigenvalues of
    ``G`` (d,), ascending: the squared singular values of X as the model sees it).

    ``G``, ``B`` are ``XᵀX`` and ``Xᵀy`` as the model sees X (centered when
    ``fit_intercept``). Singular values of X below ``cond`` times the largest are dropped,
    as scikit-learn's ``lstsq(X, y, cond=tol)`` drops them. When that leaves the rank
    unchanged, the solve avoids squaring X's condition number: the columns are
    equilibrated (``S G S`` with unit diagonal), so features on scales from 1 to 1e7 cost
    no digits, and without an intercept ``Gc + W m mᵀ`` is not solved as one matrix (at an
    offset of 1e5 the mean term swamps ``Gc``): the rows ``[(S Gc S)^½ ; √W (S m)ᵀ]``, whose
    Gram matrix it is, are solved by SVD.
    """
    d, eps = G.shape[0], torch.finfo(G.dtype).eps
    lam_raw, V_raw = torch.linalg.eigh(G)  # (d,), (d, d)
    lam_max = lam_raw.amax().clamp_min(0)
    rank_sk = int((lam_raw > cond**2 * lam_max).sum())  # the rank scikit-learn's cutoff leaves
    Gc, Bc = st.cxx, st.cxy  # (d, d), (d, t): centered
    diag = Gc.diagonal() if fit_intercept else Gc.diagonal() + st.weight * st.mean_x**2
    s = torch.where(diag > 0, diag.rsqrt(), torch.ones_like(diag))  # (d,)
    lam, V = torch.linalg.eigh(Gc * s[:, None] * s[None, :])  # (d,), (d, d)
    lam = torch.where(lam > d * eps * lam.amax().clamp_min(0), lam, torch.zeros_like(lam))
    root = lam.sqrt()[:, None] * V.T  # (d, d): rootᵀ root = S Gc S
    inv = torch.where(lam > 0, lam.rsqrt(), torch.zeros_like(lam))
    rhs = inv[:, None] * (V.T @ (s[:, None] * Bc))  # (d, t): rootᵀ rhs = S Bc
    if not fit_intercept:
        sw = st.weight.sqrt()
        root = torch.cat([root, sw * (s * st.mean_x)[None, :]])  # (d + 1, d)
        rhs = torch.cat([rhs, sw * st.mean_y[None, :]])  # (d + 1, t)
    U, sig, Wt = torch.linalg.svd(root, full_matrices=False)  # (m, d), (d,), (d, d)
    keep = sig > d * eps * sig.amax()
    if int(keep.sum()) > rank_sk:  # the cutoff drops directions that are not null: as lstsq does
        keep = lam_raw > max(cond**2, d * eps) * lam_max
        Vk = V_raw[:, keep]  # (d, r)
        return Vk @ ((Vk.T @ B) / lam_raw[keep, None]), int(keep.sum()), lam_raw
    u = Wt[keep].T @ ((U[:, keep].T @ rhs) / sig[keep, None])  # (d, t), equilibrated
    coef = s[:, None] * u
    if not bool(keep.all()):  # rank deficient: remove the part in null(X) = S null(root)
        Q = torch.linalg.qr(s[:, None] * Wt[~keep].T)[0]  # (d, d - rank)
        coef = coef - Q @ (Q.T @ coef)
    return coef, int(keep.sum()), lam_raw
