"""What every gpuml estimator shares.

Validation at the boundary (scikit-learn's own ``validate_data`` for NumPy, pandas
and lists, the same checks and messages for torch tensors), device resolution,
input -> chunk source, and output back in the input's type: NumPy in, NumPy out;
a torch tensor in, a torch tensor on the same device out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
from torch import Tensor

from .data import ArraySource, run_map
from .device import memory_budget, resolve_device, supports_float64

_TORCH_FLOATS = (torch.float32, torch.float64)


def _name(est: Any) -> str:
    return type(est).__name__


def _check_tensor(est: Any, X: Tensor, *, reset: bool, ensure_min_samples: int = 1) -> Tensor:
    """scikit-learn's ``check_array`` checks, with its messages, on a torch tensor."""
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {X.ndim}D array instead. Reshape your data either "
            "using X.reshape(-1, 1) if your data has a single feature or X.reshape(1, -1) "
            "if it contains a single sample."
        )
    if X.is_complex():
        raise ValueError("Complex data not supported")
    if X.shape[0] < ensure_min_samples:
        raise ValueError(
            f"Found array with {X.shape[0]} sample(s) (shape={tuple(X.shape)}) while a "
            f"minimum of {ensure_min_samples} is required by {_name(est)}."
        )
    if X.shape[1] < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={tuple(X.shape)}) while a minimum of 1 is "
            f"required by {_name(est)}."
        )
    if X.dtype not in _TORCH_FLOATS:
        X = X.to(torch.float64 if supports_float64(X.device) else torch.float32)
    finite = torch.isfinite(X)
    if not bool(finite.all()):
        what = "NaN" if bool(torch.isnan(X).any()) else "infinity or a value too large"
        raise ValueError(f"Input X contains {what}.")
    if reset:
        est.n_features_in_ = int(X.shape[1])
        if hasattr(est, "feature_names_in_"):
            del est.feature_names_in_
    elif X.shape[1] != est.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {_name(est)} is expecting "
            f"{est.n_features_in_} features as input."
        )
    return X


def _check_target_tensor(y: Any, n: int, multi_output: bool) -> Tensor:
    y = y if isinstance(y, Tensor) else torch.as_tensor(np.asarray(y))
    if y.ndim == 2 and y.shape[1] == 1 and not multi_output:
        y = y[:, 0]
    if y.ndim not in ((1, 2) if multi_output else (1,)):
        raise ValueError(f"y should be a 1d array, got an array of shape {tuple(y.shape)} instead.")
    if y.shape[0] != n:
        raise ValueError(
            f"Found input variables with inconsistent numbers of samples: [{n}, {y.shape[0]}]"
        )
    if y.is_floating_point() and not bool(torch.isfinite(y).all()):
        raise ValueError("Input y contains NaN or infinity.")
    return y


class GpumlEstimator:
    """Mixin for gpuml estimators; put it before scikit-learn's mixins and BaseEstimator."""

    # -- validation -----------------------------------------------------------------
    def _validate(
        self,
        X: Any,
        y: Any = "no_validation",
        *,
        reset: bool,
        y_numeric: bool = False,
        multi_output: bool = False,
        ensure_min_samples: int = 1,
    ) -> tuple[Any, Any]:
        """Validate X (and y unless it is "no_validation"). Tensors stay tensors; the rest becomes float NumPy."""
        if isinstance(X, Tensor):
            X = _check_tensor(self, X, reset=reset, ensure_min_samples=ensure_min_samples)
            if y is None:
                raise ValueError(f"{_name(self)} requires y to be passed, but the target y is None.")
            if isinstance(y, str) and y == "no_validation":
                y = None
            else:
                y = _check_target_tensor(y, X.shape[0], multi_output)
                if y_numeric and not y.is_floating_point():
                    y = y.to(X.dtype)
            return X, y
        kw = dict(dtype=[np.float64, np.float32], reset=reset, ensure_min_samples=ensure_min_samples)
        if isinstance(y, str) and y == "no_validation":
            return validate_data(self, X, **kw), None
        if isinstance(y, Tensor):
            y = y.detach().cpu().numpy()
        return validate_data(self, X, y, multi_output=multi_output, y_numeric=y_numeric, **kw)

    def _sample_weight(self, sample_weight: Any, X: Any) -> Any:
        """Validated sample weights (None stays None), as NumPy or as a tensor beside X."""
        if sample_weight is None:
            return None
        if isinstance(X, Tensor):
            w = sample_weight if isinstance(sample_weight, Tensor) else torch.as_tensor(np.asarray(sample_weight, dtype=np.float64))
            w = w.to(device=X.device, dtype=X.dtype)
            if w.ndim == 0:
                w = w.expand(X.shape[0]).clone()
            if w.shape != (X.shape[0],):
                raise ValueError(f"sample_weight.shape == {tuple(w.shape)}, expected {(X.shape[0],)}!")
            if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
                raise ValueError("sample_weight must be finite and non-negative.")
            return w
        if isinstance(sample_weight, Tensor):
            sample_weight = sample_weight.detach().cpu().numpy()
        return _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)

    # -- devices ----------------------------------------------------------------------
    def _device(self) -> torch.device:
        """The device this call runs on (the ``device`` parameter, else the global one)."""
        return resolve_device(getattr(self, "device", None))

    def _dtype(self, X: Any, device: torch.device) -> torch.dtype:
        """The compute dtype: X's own float dtype; float64 on MPS is an error, not a downcast."""
        dtype = X.dtype if isinstance(X, Tensor) else torch.from_numpy(np.empty(0, X.dtype)).dtype
        if dtype == torch.float64 and not supports_float64(device):
            raise TypeError(
                f"{device.type} has no float64; pass float32 data (X.astype(np.float32)) "
                "or use device='cpu'."
            )
        return dtype

    def _source(self, X: Any, device: torch.device, y: Any = None, w: Any = None, *, resident: bool = False) -> ArraySource:
        """X (and y, w) as a chunk source in the compute dtype; ``resident`` copies it to
        the device once when it fits the memory budget (for multi-pass algorithms)."""
        src = ArraySource(X, y, w, dtype=self._dtype(X, device))
        return src.resident(device, memory_budget(device) // 2) if resident else src

    def _param(self, name: str, device: torch.device, dtype: torch.dtype) -> Tensor:
        """A fitted NumPy attribute as a tensor on ``device``, cached until the next fit."""
        cache = self.__dict__.setdefault("_dev_cache", {})
        key = (name, str(device), dtype)
        if key not in cache:
            cache[key] = torch.as_tensor(np.asarray(getattr(self, name)), dtype=dtype, device=device)
        return cache[key]

    def _reset_cache(self) -> None:
        self._dev_cache = {}

    @staticmethod
    def _output(t: Tensor, like: Any) -> Any:
        """Return ``t`` in the type of the input ``like``: a tensor on like's device, else NumPy."""
        if isinstance(like, Tensor):
            return t.to(like.device)
        return t.detach().cpu().numpy()

    def _map_rows(self, X: Any, fn: Any, bytes_per_row: int) -> Any:
        """Apply ``fn(X_chunk) -> Tensor`` over X's row chunks on the estimator's device;
        the result comes back in X's type (NumPy, or a tensor on X's device)."""
        device = self._device()
        out = run_map(self._source(X, device), lambda Xc, y, w: fn(Xc), device, bytes_per_row)
        return self._output(out, X)

    def _check_predict(self, X: Any) -> Any:
        check_is_fitted(self)
        return self._validate(X, reset=False)[0]

    def __getstate__(self) -> dict:
        state = super().__getstate__()  # type: ignore[misc]
        state = dict(state)
        state.pop("_dev_cache", None)
        return state


def to_numpy(t: Tensor) -> np.ndarray:
    """A fitted attribute from the device as a NumPy array."""
    return t.detach().cpu().numpy()
