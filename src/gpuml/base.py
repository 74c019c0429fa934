"""What every gpuml estimator shares.

Validation at the boundary (scikit-learn's own ``validate_data`` for NumPy, pandas
and lists, the same checks and messages for torch tensors), device resolution,
input -> chunk source, and output back in the input's type: NumPy in, NumPy out;
a torch tensor in, a torch tensor on the same device out.
"""

from __future__ import annotations

import functools
import logging
import warnings
from typing import Any

import numpy as np
import torch
from sklearn.base import is_regressor
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
from torch import Tensor

from ._config import get_config
from ._sklearn import DEFINING, sklearn_class
from ._support import Support, UnsupportedError, UnsupportedInputError, unsupported_message
from .data import ArraySource, Source, all_finite, as_source, converted, float_dtype, run_map
from .data import resident as _resident
from .device import resident_budget, resolve_device, supports_float64

_TORCH_FLOATS = (torch.float32, torch.float64)
logger = logging.getLogger("gpuml")


def _name(est: Any) -> str:
    return type(est).__name__


def _check_tensor(est: Any, X: Tensor, *, reset: bool, ensure_min_samples: int = 1) -> Tensor:
    """scikit-learn's ``check_array`` checks, with its messages, on a torch tensor: detached
    (no autograd through the passes), integers and booleans as float64, float16 and
    bfloat16 as float32 (``gpuml.data.float_dtype``); complex is an error."""
    X = X.detach()
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
        wide = float_dtype(X.dtype) == np.float64 and supports_float64(X.device)
        X = X.to(torch.float64 if wide else torch.float32)
    if not all_finite(X):
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


def _numeric_y(y: np.ndarray) -> np.ndarray:
    """y as numbers, or scikit-learn's error ("could not convert string to float: ...")."""
    return y if y.dtype.kind in "biuf" else y.astype(np.float64)


def _check_target_tensor(y: Any, n: int, multi_output: bool, y_numeric: bool = False) -> Any:
    """y beside a tensor X: a detached tensor; labels that are not numbers stay NumPy."""
    if isinstance(y, Tensor):
        y = y.detach()
    else:
        y = converted(np.asarray(y))  # native byte order: torch needs it
        y = _numeric_y(y) if y_numeric else y
        y = torch.as_tensor(y) if y.dtype.kind in "biuf" else y
    if y.ndim == 2 and y.shape[1] == 1 and not multi_output:
        y = y[:, 0]
    if y.ndim not in ((1, 2) if multi_output else (1,)):
        raise ValueError(f"y should be a 1d array, got an array of shape {tuple(y.shape)} instead.")
    if y.shape[0] != n:
        raise ValueError(
            f"Found input variables with inconsistent numbers of samples: [{n}, {y.shape[0]}]"
        )
    if isinstance(y, Tensor) and y.is_floating_point() and not bool(torch.isfinite(y).all()):
        raise ValueError("Input y contains NaN or infinity.")
    return y


def _is_auto(spec: Any) -> bool:
    return isinstance(spec, str) and spec == "auto"


#: Fitted attributes that only gpuml sets (where and why the fit ran): never handed to scikit-learn.
_GPUML_ATTRS = frozenset({"device_", "engine_", "engine_reason_"})


def _public_fitted(state: dict) -> dict:
    return {k: v for k, v in state.items() if k.endswith("_") and not k.startswith("_") and k not in _GPUML_ATTRS}


def delegable(method: Any) -> Any:
    """Route ``method`` to scikit-learn when gpuml does not compute it here: to the fitted
    scikit-learn estimator when "auto" handed it the fit and the input is plain in-memory
    data (not a tensor, a source or a memmap); to scikit-learn's estimator built from this
    fitted state (``as_sklearn``) when the input is one gpuml does not take (sparse) and
    fallback is allowed, else an :class:`UnsupportedError`."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        fitted = self.__dict__.get("_sklearn_fitted")
        X = args[0] if args else kwargs.get("X")
        if fitted is not None and not isinstance(X, (Tensor, Source, np.memmap)):
            return getattr(fitted, method.__name__)(*args, **kwargs)
        reason = self._support.input_reason(X)
        if reason is not None:
            check_is_fitted(self)
            if not self._may_fall_back():
                self._refuse(reason, input_kind=True)
            cache = self.__dict__.setdefault("_dev_cache", {})
            if "as_sklearn" not in cache:
                cache["as_sklearn"] = self.as_sklearn()
            logger.info("%s.%s: cpu/sklearn: gpuml does not compute %s", _name(self), method.__name__, reason)
            return getattr(cache["as_sklearn"], method.__name__)(*args, **kwargs)
        return method(self, *args, **kwargs)

    return wrapper


@functools.cache
def _sklearn_takes_sparse(name: str) -> bool:
    return bool(sklearn_class(name)().__sklearn_tags__().input_tags.sparse)


class GpumlEstimator:
    """Mixin for gpuml estimators; put it before scikit-learn's mixins and BaseEstimator."""

    #: What gpuml computes natively (``gpuml._support``); each estimator declares its own.
    _support = Support()

    # -- what runs where --------------------------------------------------------------
    @classmethod
    def _sklearn_name(cls) -> str:
        """The name of scikit-learn's estimator this class implements (``"Ridge"``)."""
        return next(c.__name__ for c in cls.__mro__ if c.__name__ in DEFINING)

    def _sklearn_params(self) -> dict:
        """This estimator's parameters that scikit-learn's estimator takes (not ``device``)."""
        names = sklearn_class(self._sklearn_name())._get_param_names()
        return {k: v for k, v in self.get_params(deep=False).items()
                if k in names and not (isinstance(v, str) and v == "deprecated")}  # a deprecation
        # placeholder of a newer scikit-learn: an older one takes its own default

    def _unsupported(self, X: Any = None) -> str | None:
        """Why gpuml does not compute a fit with these parameters on X, or None."""
        if getattr(self, "_skl_callbacks", None):  # scikit-learn >= 1.9's fit callbacks
            return "a fit with scikit-learn's callbacks (gpuml does not call them)"
        return self._support.reason(self.get_params(deep=False), X)

    def _may_fall_back(self) -> bool:
        """Whether an unsupported call may run on scikit-learn: device "auto", fallback on."""
        return _is_auto(self._device_spec()) and bool(get_config()["fallback"])

    def _refuse(self, reason: str, *, input_kind: bool = False) -> None:
        """Raise the error of an unsupported call: a TypeError too for an input kind."""
        spec = self._device_spec()
        error = UnsupportedInputError if input_kind else UnsupportedError
        raise error(unsupported_message(_name(self), reason, explicit_device=None if _is_auto(spec) else spec))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        if not self._support.sparse:  # sparse input runs on scikit-learn when fallback may run it
            tags.input_tags.sparse = self._may_fall_back() and _sklearn_takes_sparse(self._sklearn_name())
        return tags

    def _export_state(self) -> dict:
        """The fitted state that scikit-learn's estimator needs for every one of its methods:
        the public fitted attributes, and what each estimator adds (its private state)."""
        fitted = self.__dict__.get("_sklearn_fitted")
        return dict(vars(fitted)) if fitted is not None else _public_fitted(vars(self))

    def _import_state(self, state: dict) -> None:
        """Take a fitted state from scikit-learn's estimator (its ``__dict__``)."""
        for name in list(_public_fitted(vars(self))):
            delattr(self, name)
        self.__dict__.pop("_sklearn_fitted", None)
        self.__dict__.update(_public_fitted(state))
        self._reset_cache()

    def as_sklearn(self) -> Any:
        """scikit-learn's estimator with these parameters and this fitted state.

        Examples
        --------
        >>> import numpy as np
        >>> from gpuml.linear_model import Ridge
        >>> est = Ridge(device="cpu").fit(np.eye(3), [1.0, 2.0, 3.0]).as_sklearn()
        >>> type(est).__module__, est.predict(np.eye(3)).round(3).tolist()
        ('sklearn.linear_model._ridge', [1.5, 2.0, 2.5])
        """
        est = sklearn_class(self._sklearn_name())(**self._sklearn_params())
        est.__dict__.update(self._export_state())
        return est

    @classmethod
    def from_sklearn(cls, est: Any, **params: Any) -> Any:
        """gpuml's estimator with ``est``'s parameters (and ``params``) and fitted state.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.linear_model import Ridge as SkRidge
        >>> from gpuml.linear_model import Ridge
        >>> sk = SkRidge().fit(np.eye(3), [1.0, 2.0, 3.0])
        >>> Ridge.from_sklearn(sk, device="cpu").predict(np.eye(3)).round(3).tolist()
        [1.5, 2.0, 2.5]
        """
        names = set(cls._get_param_names())  # another release's parameter gpuml lacks must hold its default
        theirs = est.get_params(deep=False)
        defaults = type(est)().get_params(deep=False)
        extra = {k: v for k, v in theirs.items() if k not in names
                 and not (v is defaults.get(k) or (isinstance(v, str) and v == defaults.get(k)))}
        if extra:
            raise UnsupportedError(f"{cls.__name__}: gpuml does not take {extra} (parameters of this scikit-learn)")
        ours = cls(**{**{k: v for k, v in theirs.items() if k in names}, **params})
        if any(k.endswith("_") and not k.startswith("_") for k in vars(est)):
            ours._import_state(vars(est))
        return ours

    def _fell_back(self, X: Any, y: Any = None, **fit_params: Any) -> bool:
        """Run this fit on scikit-learn when gpuml does not compute it (``_support``) and
        fallback is allowed (True), raise :class:`UnsupportedError` when it is not, return
        False when gpuml computes it."""
        reason = self._unsupported(X)
        if reason is None:
            return False
        if not self._may_fall_back():
            self._refuse(reason, input_kind=self._support.param_reason(self.get_params(deep=False)) is None)
        if isinstance(X, Source):
            raise UnsupportedError(f"{_name(self)}: gpuml does not compute {reason}, and a gpuml source "
                                   "cannot be handed to scikit-learn: read it into an array first.")
        if isinstance(X, Tensor):
            X = X.detach().cpu().numpy()
        if isinstance(y, Tensor):
            y = y.detach().cpu().numpy()
        fit_params = {k: (v.detach().cpu().numpy() if isinstance(v, Tensor) else v) for k, v in fit_params.items()}
        self.__dict__.pop("feature_names_in_", None)
        self.__dict__.pop("_early_device", None)
        self.device_, self.engine_ = "cpu", "sklearn"
        self.engine_reason_ = f"cpu/sklearn: gpuml does not compute {reason}"
        logger.info("%s: %s", _name(self), self.engine_reason_)
        self._fit_sklearn(X, y, **fit_params)
        return True

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
        """Validate X (and y unless it is "no_validation").

        Tensors stay tensors; sources and memmaps are checked chunk by chunk as they are
        read (their number of features now); the rest becomes float NumPy. Conversion is
        scikit-learn's, but for float16, computed in float32 (``gpuml.data.float_dtype``).
        A regressor's y must be numbers.
        """
        y_numeric = y_numeric or is_regressor(self)
        if isinstance(X, np.memmap) and X.ndim == 2 and X.dtype.kind in "biuf":
            has_y = not (isinstance(y, str) and y == "no_validation") and y is not None
            X = ArraySource(X, np.asarray(y) if has_y else None, validate=True)
            y = None if has_y else y
        if isinstance(X, Source):
            self._check_source(X, reset=reset, ensure_min_samples=ensure_min_samples)
            given_y = not (isinstance(y, str) and y == "no_validation")
            if given_y and y is not None:
                raise ValueError("y comes from the source: create the source with target=... instead")
            if given_y and X.y_ndim == 0:
                raise ValueError(f"{_name(self)} requires y: create the source with target=...")
            if given_y and y_numeric and not X.y_numeric:
                raise ValueError(f"could not convert string to float: {_name(self)} needs a numeric target, "
                                 f"and the target of {X.what or 'this source'} holds strings")
            return X, None
        if isinstance(X, Tensor):
            X = _check_tensor(self, X, reset=reset, ensure_min_samples=ensure_min_samples)
            if y is None:
                raise ValueError(f"{_name(self)} requires y to be passed, but the target y is None.")
            if isinstance(y, str) and y == "no_validation":
                y = None
            else:
                y = _check_target_tensor(y, X.shape[0], multi_output, y_numeric)
                if y_numeric and not y.is_floating_point():  # a tensor: _numeric_y made strings an error
                    y = y.to(X.dtype)
            return X, y
        half = getattr(X, "dtype", None) == np.float16  # NumPy float16 (scikit-learn: float64)
        kw = dict(dtype=np.float32 if half else [np.float64, np.float32], reset=reset,
                  ensure_min_samples=ensure_min_samples)
        if isinstance(y, str) and y == "no_validation":
            return validate_data(self, X, **kw), None
        if isinstance(y, Tensor):
            y = y.detach().cpu().numpy()
        X, y = validate_data(self, X, y, multi_output=multi_output, y_numeric=y_numeric, **kw)
        return X, (_numeric_y(y) if y_numeric else y)

    def _check_source(self, X: Source, *, reset: bool, ensure_min_samples: int = 1) -> None:
        """A source's shape (rows when known) and features against scikit-learn's rules."""
        n = X.rows_known
        if n is not None and n < ensure_min_samples:
            raise ValueError(
                f"Found array with {n} sample(s) (shape={(n, X.n_features)}) while a minimum of "
                f"{ensure_min_samples} is required by {_name(self)}."
            )
        if X.n_features < 1:
            raise ValueError(
                f"Found array with 0 feature(s) (shape={(n, 0)}) while a minimum of 1 is required by {_name(self)}."
            )
        if reset:
            self.n_features_in_ = int(X.n_features)
            if X.feature_names:
                self.feature_names_in_ = np.asarray(X.feature_names, dtype=object)
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            return
        if X.n_features != self.n_features_in_:
            raise ValueError(
                f"X has {X.n_features} features, but {_name(self)} is expecting "
                f"{self.n_features_in_} features as input."
            )
        names = getattr(self, "feature_names_in_", None)
        if names is not None and X.feature_names and list(names) != list(X.feature_names):
            raise ValueError(
                f"The feature names should match those that were passed during fit: "
                f"fitted on {list(names)}, got {list(X.feature_names)}"
            )

    def _sample_weight(self, sample_weight: Any, X: Any) -> Any:
        """Validated sample weights (None stays None), as NumPy or as a tensor beside X."""
        if sample_weight is None:
            return None
        if isinstance(X, Source):
            raise ValueError("sample weights of a source come from the source itself, not sample_weight=")
        if isinstance(X, Tensor):
            w = sample_weight.detach() if isinstance(sample_weight, Tensor) else sample_weight
            if not isinstance(w, Tensor):
                w = torch.as_tensor(np.asarray(w, dtype=np.float64))
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
    def _device_spec(self) -> Any:
        """The ``device`` parameter, else the global setting (``"auto"`` by default)."""
        spec = getattr(self, "device", None)
        return get_config()["device"] if spec is None else spec

    def _device(self) -> torch.device:
        """The device this call runs on: the ``device`` parameter (else the global setting);
        for "auto", the device chosen at fit when it is present here."""
        spec = self._device_spec()
        chosen = getattr(self, "device_", None)
        if _is_auto(spec) and chosen is not None:
            try:
                return resolve_device(chosen)
            except ValueError:  # fitted on a GPU, unpickled without one
                pass
        return resolve_device(spec)

    #: scikit-learn's estimator of the same name may run the fit on the CPU ("auto" delegation).
    _delegates_to_sklearn = False

    def _sklearn_fits(self, X: Any) -> bool:
        """Whether "auto" may hand the fit of this in-memory X to scikit-learn (its result is
        as accurate as gpuml's there); estimators refine it where scikit-learn is not."""
        return self._delegates_to_sklearn

    def _work(self, n: int, d: int) -> tuple[float, float]:
        """(FLOPs per pass, passes) of a fit on n x d rows, for the ``device="auto"`` cost model."""
        return 2.0 * n * d, 1.0

    def _decide(self, X: Any) -> torch.device:
        """Choose where this fit runs; records ``device_``, ``engine_`` and ``engine_reason_``.

        An explicit device is obeyed. For "auto" the cost model (``gpuml.device._auto``)
        weighs the accelerator, gpuml on the CPU and, for in-memory NumPy data,
        scikit-learn's estimator on the CPU.
        """
        from .device import _auto, accelerator

        early = self.__dict__.pop("_early_device", None)
        if early is not None:  # decided before validation (_delegated_early): recorded and logged then
            return early
        self.__dict__.pop("_sklearn_fitted", None)
        spec = self._device_spec()
        if not _is_auto(spec):
            dev = resolve_device(spec)
            self.device_, self.engine_ = str(dev), "gpuml"
            self.engine_reason_ = f"{dev}/gpuml: asked for explicitly (device={str(spec)!r})"
            return dev
        acc = accelerator()
        if isinstance(X, Source):  # a source that does not know its length (CSV, iterables) is not
            n, d = (X.rows_known or 1 << 24), X.n_features  # counted just to decide: assume a large one
        else:
            n, d = int(X.shape[0]), int(X.shape[1])
        flops, passes = self._work(n, d)
        on_device = str(X.device) if isinstance(X, Tensor) else None
        work = _auto.Work(type(self).__name__, n, d, flops, passes, numpy_dtype(X).itemsize, on_device)
        allow_sklearn = isinstance(X, np.ndarray) and self._sklearn_fits(X) and bool(get_config()["fallback"])
        decision = _auto.choose(work, _auto.rates(acc), str(acc) if acc is not None else "cpu",
                                allow_sklearn=allow_sklearn)
        self.device_, self.engine_, self.engine_reason_ = decision.device, decision.engine, decision.reason
        logger.info("%s: %s", type(self).__name__, decision.reason)
        return resolve_device(decision.device)

    def _delegated_early(self, X: Any, y: Any = None, **fit_params: Any) -> bool:
        """For a call gpuml does not compute (``_fell_back``), or for "auto" on a plain 2-D
        NumPy array when the cost model chooses scikit-learn, fit scikit-learn's estimator on
        the raw data (it validates once) and return True."""
        self.__dict__.pop("_early_device", None)
        if self._fell_back(X, y, **fit_params):
            return True
        spec = self._device_spec()
        if not (_is_auto(spec) and type(X) is np.ndarray and X.ndim == 2
                and X.dtype.kind in "fiu" and X.size > 0 and self._sklearn_fits(X)
                and get_config()["fallback"]):  # fallback off: every fit on gpuml, or an error
            return False
        self.__dict__.pop("feature_names_in_", None)  # a plain array has none: not the last fit's
        device = self._decide(X)
        if self.engine_ != "sklearn":
            self._early_device = device  # the fit's own _decide call takes it, not deciding twice
            return False
        self._fit_sklearn(X, y, **fit_params)
        return True

    def _fit_sklearn(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        """Fit scikit-learn's estimator of the same name and take its fitted attributes.

        X is never modified, whichever engine runs (``copy=False`` would let scikit-learn
        center it in place). The feature names that validation recorded (X is then already
        an array) are given to scikit-learn's estimator, which checks them at predict time.
        """
        cls = sklearn_class(self._sklearn_name())  # the defining class: never a proxy or gpuml again
        params = self._sklearn_params()
        params.update({k: True for k in ("copy", "copy_X", "copy_x") if k in params})
        fit_params = {k: v for k, v in fit_params.items() if v is not None}  # older releases lack some
        fitted = cls(**params).fit(X, y, **fit_params)  # (MLP's sample_weight before 1.7)
        names = self.__dict__.get("feature_names_in_")
        if names is not None and not hasattr(fitted, "feature_names_in_"):
            fitted.feature_names_in_ = names
        for name in list(_public_fitted(vars(self))):
            delattr(self, name)
        self.__dict__.update(_public_fitted(vars(fitted)))
        self._reset_cache()
        self._sklearn_fitted = fitted  # predictions on NumPy data go to it too (``delegable``)
        return self

    def _dtype(self, X: Any, device: torch.device) -> torch.dtype:
        """The compute dtype: X's own float dtype; float64 on MPS is an error, not a downcast."""
        dtype = X.dtype if isinstance(X, Tensor) else torch.from_numpy(np.empty(0, np.dtype(X.dtype))).dtype
        if dtype == torch.float64 and not supports_float64(device):
            raise TypeError(
                f"{device.type} has no float64; pass float32 data (X.astype(np.float32)) "
                "or use device='cpu'."
            )
        return dtype

    def _source(self, X: Any, device: torch.device, y: Any = None, w: Any = None, *, resident: bool = False) -> Source:
        """X (and y, w) as a chunk source; ``resident`` reads it into device memory once
        when it fits half the memory budget (for multi-pass algorithms)."""
        self._dtype(X, device)  # float64 on a device without it is an error
        src = as_source(X, y, w)
        return _resident(src, device, resident_budget(device) // 2) if resident else src

    def _param(self, name: str, device: torch.device, dtype: torch.dtype) -> Tensor:
        """A fitted NumPy attribute as a tensor on ``device``, cached until the next fit."""
        cache = self.__dict__.setdefault("_dev_cache", {})
        key = (name, str(device), dtype)
        if key not in cache:
            value = np.asarray(getattr(self, name))
            if any(step < 0 for step in value.strides):  # a reversed view (scikit-learn's arpack components_)
                value = value.copy()
            with warnings.catch_warnings():  # a read-only attribute is shared, never written
                warnings.filterwarnings("ignore", "The given NumPy array is not writable", UserWarning)
                cache[key] = torch.as_tensor(value, dtype=dtype, device=device)
        return cache[key]

    def _param_split(self, name: str, device: torch.device, dtype: torch.dtype,
                     value: Any = None) -> tuple[Tensor, Tensor]:
        """A float64 fitted attribute as ``hi + lo`` in ``dtype`` (hi its rounding, lo the rest):
        ``(X - hi) - lo`` centers float32 X on a float64 mean without the mean's rounding
        error (at 1e5 from the origin, 0.004 in float32) and on every device. ``value``, when
        given, is used instead of the attribute (cached under ``name``)."""
        cache = self.__dict__.setdefault("_dev_cache", {})
        key = (name, "split", str(device), dtype)
        if key not in cache:
            full = np.asarray(getattr(self, name) if value is None else value, dtype=np.float64)
            hi = full.astype(numpy_dtype(torch.empty(0, dtype=dtype)))  # on the host: MPS has no float64
            lo = (full - hi).astype(hi.dtype)
            cache[key] = (torch.as_tensor(hi, device=device), torch.as_tensor(lo, device=device))
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
        to_host = not isinstance(X, Tensor)
        out = run_map(self._source(X, device), lambda Xc, y, w: fn(Xc), device, bytes_per_row, to_host=to_host)
        return self._output(out, X)

    @staticmethod
    def _labels_out(labels: np.ndarray, like: Any) -> Any:
        """Predicted labels in the input's type: numeric labels for a tensor input become a
        tensor on its device; anything else (and string labels) stays NumPy."""
        if isinstance(like, Tensor) and labels.dtype.kind in "biuf":
            return torch.as_tensor(labels, device=like.device)
        return labels

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


def numpy_dtype(X: Any) -> np.dtype:
    """X's dtype as a NumPy dtype (X: an array, a tensor or a source)."""
    if isinstance(X, Tensor):
        return float_dtype(X.dtype) if X.dtype == torch.bfloat16 else torch.empty(0, dtype=X.dtype).numpy().dtype
    return np.dtype(X.dtype)
