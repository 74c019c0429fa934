"""Least squares from one Gram pass: LinearRegression and Ridge share this fit."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..base import GpumlEstimator, delegable, numpy_dtype, to_numpy
from ..data import run_pass
from ..device import accumulator_dtype
from ..ops import Gram, solve_normal_equations


class LinearModelMixin(GpumlEstimator):
    """Fit ``coef_``/``intercept_`` by solving the (ridge) normal equations; predict X @ coef."""

    _delegates_to_sklearn = True

    def _work(self, n: int, d: int) -> tuple[float, float]:
        return 2.0 * n * d * d, 1.0

    def _fit_least_squares(self, X: Any, y: Any, sample_weight: Any, alpha: Any) -> tuple[int, torch.Tensor]:
        """Validate, run one Gram pass, solve. Returns (rows seen, centered Gram matrix), or None
        when "auto" handed the fit to scikit-learn.

        ``alpha`` is a scalar or an array of one penalty per target (0 = plain least squares).
        """
        if self._delegated_early(X, y, sample_weight=sample_weight):
            return None
        X, y = self._validate(X, y, reset=True, y_numeric=True, multi_output=True)
        w = self._sample_weight(sample_weight, X)
        device = self._decide(X)
        if self.engine_ == "sklearn":
            self._fit_sklearn(X, y, sample_weight=sample_weight)
            return None
        acc = accumulator_dtype(device)
        src = self._source(X, device, y=y, w=w)
        n_targets = src.n_targets
        alpha = np.asarray(alpha, dtype=np.float64).ravel()
        if alpha.size not in (1, n_targets):
            raise ValueError(
                f"Number of targets and number of penalties do not correspond: {alpha.size} != {n_targets}"
            )
        st = run_pass(src, Gram(acc, n_targets=n_targets), device)
        G, B = st.cxx, st.cxy  # (d, d), (d, t): centered
        if not self.fit_intercept:  # uncentered moments: add back the means
            G = G + st.weight * torch.outer(st.mean_x, st.mean_x)
            B = B + st.weight * torch.outer(st.mean_x, st.mean_y)
        alpha_t = torch.as_tensor(np.broadcast_to(alpha, (n_targets,)).copy(), dtype=acc, device=device)
        coef = solve_normal_equations(G, B, alpha_t).T  # (t, d)
        intercept = st.mean_y - coef @ st.mean_x if self.fit_intercept else torch.zeros_like(st.mean_y)
        np_dtype = numpy_dtype(X)
        coef_np, intercept_np = to_numpy(coef).astype(np_dtype), to_numpy(intercept).astype(np_dtype)
        self._reset_cache()
        if src.y_ndim == 1:
            self.coef_, self.intercept_ = coef_np[0], float(intercept_np[0])
        else:
            self.coef_, self.intercept_ = coef_np, intercept_np
        if not self.fit_intercept:
            self.intercept_ = 0.0  # a scalar whatever the targets, as scikit-learn
        return st.count, G

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
    intercept = est._param("intercept_", device, dtype)
    coef_t = coef.T if coef.ndim == 2 else coef  # (d, t) or (d,)
    if one_column_as_vector and coef.ndim == 2 and coef.shape[0] == 1:
        coef_t, intercept = coef_t[:, 0], intercept.reshape(-1)[0]
    t = coef.shape[0] if coef.ndim == 2 else 1
    return est._map_rows(X, lambda c: c @ coef_t + intercept, (X.shape[1] + 2 * t) * 8)  # a row, its t scores
