"""StandardScaler: one pass of per-feature weighted moments, mergeable across partial_fit calls."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context

from ..base import GpumlEstimator, to_numpy
from ..data import run_pass
from ..device import accumulator_dtype
from ..ops import Gram, GramState

_DEVICE = [None, str, torch.device]


class StandardScaler(GpumlEstimator, OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Standardize features by removing the mean and scaling to unit variance.

    scikit-learn's :class:`sklearn.preprocessing.StandardScaler` on any PyTorch
    device. Moments are accumulated in float64 per chunk and merged with Chan's
    formula, so ``partial_fit`` over batches gives the result of one ``fit``.
    NaN is rejected (scikit-learn ignores it); sparse input is not supported.

    Parameters
    ----------
    copy : bool, default=True
        Kept for compatibility: transform always returns a new array.
    with_mean : bool, default=True
        Center the data before scaling.
    with_std : bool, default=True
        Scale the data to unit variance.
    device : str or torch.device, default=None
        Where to compute; None follows ``gpuml.get_config()["device"]`` ("auto").

    Attributes
    ----------
    scale_ : ndarray of shape (n_features,) or None
        Per-feature scale (``sqrt(var_)``, 1 for constant features); None when
        ``with_std=False``.
    mean_ : ndarray of shape (n_features,) or None
        Per-feature mean; None when both ``with_mean`` and ``with_std`` are False.
    var_ : ndarray of shape (n_features,) or None
        Per-feature population variance; None when ``with_std=False``.
    n_features_in_ : int
    n_samples_seen_ : int or float
        Rows seen (the sum of sample weights when weights were given).

    Examples
    --------
    >>> import numpy as np
    >>> from gpuml.preprocessing import StandardScaler
    >>> X = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    >>> scaler = StandardScaler(device="cpu").fit(X)
    >>> scaler.mean_
    array([0.5, 0.5])
    >>> scaler.transform([[2.0, 2.0]])
    array([[3., 3.]])
    """

    _parameter_constraints = {
        "copy": ["boolean"],
        "with_mean": ["boolean"],
        "with_std": ["boolean"],
        "device": _DEVICE,
    }

    def __init__(self, *, copy=True, with_mean=True, with_std=True, device=None):
        self.copy = copy
        self.with_mean = with_mean
        self.with_std = with_std
        self.device = device

    def _reset(self) -> None:
        for name in ("n_samples_seen_", "mean_", "var_", "scale_", "_moments"):
            self.__dict__.pop(name, None)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Compute the mean and standard deviation of X.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : StandardScaler
        """
        self._reset()
        return self._partial_fit(X, sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the mean and standard deviation with one more batch of rows.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : StandardScaler
        """
        return self._partial_fit(X, sample_weight)

    def _partial_fit(self, X, sample_weight):
        first = not hasattr(self, "_moments")
        X, _ = self._validate(X, reset=first)
        w = self._sample_weight(sample_weight, X)
        device = self._decide(X) if first else self._device()
        acc = accumulator_dtype(device)
        gram = Gram(acc, diagonal=True)
        state = run_pass(self._source(X, device, w=w), gram, device)
        weighted = w is not None or (not first and self._moments[3])
        if not first:
            weight, mean, m2, _ = self._moments
            prev = GramState(
                torch.tensor(weight, dtype=acc, device=device), 0,
                torch.as_tensor(mean, dtype=acc, device=device),
                torch.as_tensor(m2, dtype=acc, device=device),
            )
            state = gram.merge(prev, state)
        mean, m2, weight = to_numpy(state.mean_x), to_numpy(state.cxx), float(state.weight)
        self._moments = (weight, mean, m2, weighted)
        self._reset_cache()
        seen = weight if weighted else int(round(weight))
        var = m2 / weight if weight > 0 else np.zeros_like(m2)
        self.n_samples_seen_ = seen
        self.mean_ = mean if (self.with_mean or self.with_std) else None
        self.var_ = var if self.with_std else None
        if self.with_std:
            eps = np.finfo(np.float64).eps
            constant = var <= weight * eps * var + (weight * mean * eps) ** 2
            self.scale_ = np.where(constant, 1.0, np.sqrt(var))
        else:
            self.scale_ = None
        return self

    def _shift_scale(self, device, dtype):
        """(hi, lo, scale): the float64 mean as hi + lo in ``dtype`` (zeros without with_mean)."""
        d = self.n_features_in_
        zero = torch.zeros(d, dtype=dtype, device=device)
        hi, lo = self._param_split("mean_", device, dtype) if self.with_mean else (zero, zero)
        scale = self._param("scale_", device, dtype) if self.with_std else torch.ones(d, dtype=dtype, device=device)
        return hi, lo, scale

    def transform(self, X, copy=None):
        """Standardize X.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)
        copy : bool, default=None
            Ignored: a new array is always returned.

        Returns
        -------
        X_new : ndarray or Tensor of shape (n_samples, n_features)
        """
        X = self._check_predict(X)
        device = self._device()
        hi, lo, scale = self._shift_scale(device, self._dtype(X, device))
        # (X - hi) - lo: far from the origin the float32 rounding of mean_ would be the error
        return self._map_rows(X, lambda c: ((c - hi) - lo) / scale, 3 * X.shape[1] * 8)

    def inverse_transform(self, X, copy=None):
        """Undo :meth:`transform`.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)
        copy : bool, default=None
            Ignored: a new array is always returned.

        Returns
        -------
        X_original : ndarray or Tensor of shape (n_samples, n_features)
        """
        X = self._check_predict(X)
        device = self._device()
        hi, lo, scale = self._shift_scale(device, self._dtype(X, device))
        return self._map_rows(X, lambda c: (c * scale + lo) + hi, 3 * X.shape[1] * 8)
