"""StandardScaler: one pass of per-feature weighted moments, mergeable across partial_fit calls."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context

from .._sklearn import sklearn_class
from .._support import Support
from ..base import GpumlEstimator, delegable, to_numpy
from ..data import run_pass
from ..device import accumulator_dtype
from ..ops import Gram, GramState

_DEVICE = [None, str, torch.device]


def _has_nan(X) -> bool:
    """Whether in-memory X holds a NaN (one reduction, no copy: min propagates NaN).
    Sources and memmaps are checked chunk by chunk as they are read (a NaN is an error there)."""
    if isinstance(X, torch.Tensor):
        return X.is_floating_point() and X.numel() > 0 and bool(torch.isnan(X.detach().min()))
    if isinstance(X, np.memmap):
        return False
    if hasattr(X, "isna") and hasattr(X, "columns"):  # a pandas DataFrame
        return bool(X.isna().to_numpy().any())
    if isinstance(X, (list, tuple)):
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError):
            return False  # validation says what is wrong
    return isinstance(X, np.ndarray) and X.dtype.kind == "f" and X.size > 0 and bool(np.isnan(X.min()))


class _ScalerSupport(Support):
    """gpuml's scaler computes on dense data without NaN (scikit-learn's ignores NaN)."""

    def input_reason(self, X):
        reason = super().input_reason(X)
        if reason is None and _has_nan(X):
            return "NaN in X (scikit-learn's scaler ignores it; gpuml's rejects it)"
        return reason


class StandardScaler(GpumlEstimator, OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Standardize features by removing the mean and scaling to unit variance.

    scikit-learn's :class:`sklearn.preprocessing.StandardScaler` on any PyTorch
    device. Moments are accumulated in float64 per chunk and merged with Chan's
    formula, so ``partial_fit`` over batches gives the result of one ``fit``.

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

    Notes
    -----
    Natively: every parameter value, ``sample_weight``, dense data without NaN, ``partial_fit``
    continuing from a scikit-learn-fitted state. Sparse input and data with NaN (which
    scikit-learn's scaler ignores, counting rows per feature) run on scikit-learn's scaler
    (``device="auto"``, fallback on; ``engine_reason_`` says so), else they are an
    :class:`gpuml.UnsupportedError`; batches after per-feature counts stay on scikit-learn.

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

    _parameter_constraints = {**sklearn_class("StandardScaler")._parameter_constraints, "device": _DEVICE}

    #: NaN (which scikit-learn's scaler ignores) and sparse input run on scikit-learn.
    _support = _ScalerSupport()

    def __init__(self, *, copy=True, with_mean=True, with_std=True, device=None):
        self.copy = copy
        self.with_mean = with_mean
        self.with_std = with_std
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self._may_fall_back()  # NaN runs on scikit-learn, which ignores it
        tags.input_tags.sparse = tags.input_tags.sparse and not self.with_mean
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _reset(self) -> None:
        for name in ("n_samples_seen_", "mean_", "var_", "scale_", "_moments", "_sklearn_fitted"):
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
        return self.partial_fit(X, y, sample_weight)

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
        if not hasattr(self, "n_samples_seen_"):  # the first batch
            if self._delegated_early(X, sample_weight=sample_weight):
                return self
        elif self._batch_on_sklearn(X, sample_weight):
            return self
        return self._partial_fit(X, sample_weight)

    def _batch_on_sklearn(self, X, sample_weight) -> bool:
        """A later batch: on scikit-learn's scaler (continuing from this state) when gpuml does
        not compute it or when the counts are per feature (NaN in an earlier batch); else the
        state scikit-learn left is taken up and the batch runs on gpuml (False)."""
        reason = self._unsupported(X)
        fitted = self.__dict__.get("_sklearn_fitted")
        if reason is None and (self.__dict__.get("_moments") is not None or np.ndim(self.n_samples_seen_) == 0):
            if self.__dict__.get("_moments") is None:  # scikit-learn's state, merged here
                self._import_state(dict(vars(self if fitted is None else fitted)))
            if fitted is not None:
                self.__dict__.pop("_sklearn_fitted", None)
                self.engine_ = "gpuml"
                self.engine_reason_ = f"{self.device_}/gpuml: this batch (earlier ones ran on scikit-learn)"
            return False
        reason = reason or "per-feature sample counts (NaN in an earlier batch)"
        if not self._may_fall_back():
            self._refuse(reason)
        est = self.as_sklearn() if fitted is None else fitted
        host = [v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v for v in (X, sample_weight)]
        est.partial_fit(host[0], sample_weight=host[1])
        self._import_state(vars(est))
        self._sklearn_fitted = est  # transform on NumPy data goes to it too (``delegable``)
        self.device_, self.engine_ = "cpu", "sklearn"
        self.engine_reason_ = f"cpu/sklearn: gpuml does not compute {reason}"
        return True

    def _import_state(self, state: dict) -> None:
        """scikit-learn's fitted state; its moments are merged with later batches (Chan), unless
        its counts are per feature (NaN): those batches then run on scikit-learn."""
        super()._import_state(state)
        n = state.get("n_samples_seen_")
        self._moments = None
        if n is not None and np.ndim(n) == 0:
            d = self.n_features_in_
            mean, var = (np.zeros(d) if v is None else np.asarray(v, dtype=np.float64)
                         for v in (state.get("mean_"), state.get("var_")))
            self._moments = (float(n), mean, var * float(n), np.asarray(n).dtype.kind == "f")

    def _partial_fit(self, X, sample_weight):
        first = self.__dict__.get("_moments") is None
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
        seen = np.float64(weight) if weighted else np.int64(round(weight))  # scikit-learn's types
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

    @delegable
    def transform(self, X, copy=None):
        """Standardize X.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)
        copy : bool, default=None
            False (default: the ``copy`` parameter) writes the result into X when X is a
            writable NumPy float array, as scikit-learn does; else a new array is returned.

        Returns
        -------
        X_new : ndarray or Tensor of shape (n_samples, n_features)
        """
        given, X = X, self._check_predict(X)
        device = self._device()
        hi, lo, scale = self._shift_scale(device, self._dtype(X, device))
        # (X - hi) - lo: far from the origin the float32 rounding of mean_ would be the error
        return self._returned(self._map_rows(X, lambda c: ((c - hi) - lo) / scale, 3 * X.shape[1] * 8),
                              given, copy)

    @delegable
    def inverse_transform(self, X, copy=None):
        """Undo :meth:`transform`.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)
        copy : bool, default=None
            As in :meth:`transform`.

        Returns
        -------
        X_original : ndarray or Tensor of shape (n_samples, n_features)
        """
        given, X = X, self._check_predict(X)
        device = self._device()
        hi, lo, scale = self._shift_scale(device, self._dtype(X, device))
        return self._returned(self._map_rows(X, lambda c: (c * scale + lo) + hi, 3 * X.shape[1] * 8), given, copy)

    def _returned(self, out, given, copy):
        """``out`` as scikit-learn's scaler returns it for the ``given`` input: float16 NumPy
        stays float16 (computed in float32); ``copy=False`` writes into a writable NumPy float
        array of out's dtype and returns it."""
        if not isinstance(given, np.ndarray) or not isinstance(out, np.ndarray):
            return out
        if given.dtype == np.float16:
            out = out.astype(np.float16)
        copy = self.copy if copy is None else copy
        if not copy and given.dtype == out.dtype and given.shape == out.shape and given.flags.writeable:
            given[...] = out
            return given
        return out
