"""Proxies: scikit-learn's class, whose calls run on gpuml when gpuml supports them.

A proxy is a subclass of scikit-learn's own class (so ``isinstance``, ``get_params``,
``set_params``, ``clone``, the repr and HTML repr, ``set_output``, metadata routing and
parameter validation are scikit-learn's own), with the same name and module. Each method
that gpuml implements is a dispatcher: it validates the parameters as scikit-learn does,
asks gpuml's support table (``gpuml._support``) whether gpuml computes this call (these
parameters, this input), and runs it either on gpuml's estimator or on scikit-learn's own
method, recording where and why (``gpuml.accel._report``).

The fitted state lives on the proxy as scikit-learn's estimator would hold it (gpuml's
``_export_state``): a model fitted on gpuml answers scikit-learn's methods, and a model
fitted on scikit-learn is taken up by gpuml (``_import_state``) for the calls gpuml runs.
A pickle names the public scikit-learn class (``sklearn.linear_model.Ridge``) by import,
never gpuml: it loads as scikit-learn's estimator in a Python without gpuml, and as a proxy
under accel.
"""

from __future__ import annotations

import contextvars
import copyreg
import functools
import importlib
import inspect
import time
from typing import Any

from sklearn.utils._available_if import _AvailableIfDescriptor, available_if
from sklearn.utils.validation import _is_fitted

from . import _report

#: Methods a proxy dispatches (when scikit-learn's class has them).
METHODS = ("fit", "partial_fit", "fit_transform", "fit_predict", "predict", "predict_proba",
           "predict_log_proba", "decision_function", "transform", "inverse_transform", "score",
           "kneighbors", "kneighbors_graph")
FITS = frozenset({"fit", "partial_fit", "fit_transform", "fit_predict"})

#: True while a call runs on scikit-learn: its inner calls on the same proxy (fit_predict
#: calling fit) stay on scikit-learn and are not counted twice.
_inside = contextvars.ContextVar("gpuml_accel_inside", default=False)


class _ModuleRef:
    """Unpickles as ``importlib.import_module(name)``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __reduce__(self):
        return importlib.import_module, (self.name,)


class _ClassRef:
    """Unpickles as ``getattr(<module>, name)``: whatever class the public module holds."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __reduce__(self):
        return getattr, (_ModuleRef(self.module), self.name)


def _reduce_ex(self, protocol):
    return copyreg._reconstructor, (_ClassRef(self._gpuml_public, type(self).__name__), object, None), \
        self.__getstate__()


def _copy(self):
    """``copy.copy``: the reduction above resolves its class only when unpickled or deep-copied."""
    new = object.__new__(type(self))
    new.__setstate__(dict(self.__getstate__()))
    return new


def _getstate(self):
    state = self._gpuml_original.__getstate__(self)
    return {k: v for k, v in state.items() if not k.startswith("_gpuml")}


def _gpuml_class(proxy_cls: type) -> type:
    """gpuml's estimator for this proxy (imported at the first call, not at patch time)."""
    cls = proxy_cls.__dict__.get("_gpuml_cls")
    if cls is None:
        family = proxy_cls._gpuml_public.split(".", 1)[1]
        cls = getattr(importlib.import_module(f"gpuml.{family}"), proxy_cls.__name__)
        proxy_cls._gpuml_cls = cls
    return cls


def _defined_by(cls: type, name: str) -> str:
    """The module of the class that defines ``cls.name`` ('' when none does)."""
    owner = next((c for c in cls.__mro__ if name in c.__dict__), None)
    return owner.__module__ if owner is not None else ""


def _unwrap_set_output(f: Any) -> Any:
    """scikit-learn's method without its set_output wrapper: the proxy's own wrapper converts
    the output once, whichever engine computed it."""
    if getattr(f, "__code__", None) is _WRAPPED_CODE and hasattr(f, "__wrapped__"):
        return f.__wrapped__
    return f


def _probe_wrapped_code() -> Any:
    from sklearn.utils._set_output import _wrap_method_output

    return _wrap_method_output(lambda self, X: X, "transform").__code__


_WRAPPED_CODE = _probe_wrapped_code()


def _fitted_state(est: Any) -> dict:
    return {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("_")}


def _adopt(proxy: Any, g: Any) -> None:
    """Replace the proxy's fitted state by gpuml's (as scikit-learn's estimator holds it):
    the public fitted attributes and what the last adoption set go; settings and whatever
    scikit-learn's machinery keeps on the instance (callback contexts...) stay."""
    stale = set(_fitted_state(proxy)) | set(proxy.__dict__.get("_gpuml_owned", ()))
    for k in stale:
        proxy.__dict__.pop(k, None)
    state = g._export_state()
    proxy.__dict__.update(state)
    proxy.__dict__["_gpuml_owned"] = tuple(state)
    proxy.__dict__["_gpuml_est"] = g
    proxy.__dict__["_gpuml_seen"] = {k: id(v) for k, v in _fitted_state(proxy).items()}


@functools.cache
def _init_defaults(original: type) -> dict:
    """The defaults of scikit-learn's constructor (read once per class)."""
    return {k: p.default for k, p in inspect.signature(original.__init__).parameters.items()}


def _params_for(proxy: Any, G: type, params: dict) -> tuple[dict, str | None]:
    """Of the proxy's ``params``, those gpuml's estimator takes, and the reason it cannot run
    when another release of scikit-learn has a parameter gpuml lacks set to a value other
    than its default (``multi_class='ovr'`` on 1.6): ignoring it would change the answer."""
    names = set(G._get_param_names())
    defaults = _init_defaults(proxy._gpuml_original)
    for k, v in params.items():
        if k not in names and not (v is defaults.get(k) or (isinstance(v, str) and v in ("deprecated", "warn"))
                                   or (type(v) is type(defaults.get(k)) and v == defaults.get(k))):
            return {}, f"{k}={v!r} (a parameter of scikit-learn {_sk_version()} that gpuml does not take)"
    return {k: v for k, v in params.items() if k in names}, None


def _sk_version() -> str:
    import sklearn

    return sklearn.__version__


def _gpuml_for(proxy: Any, G: type, params: dict, *, fresh: bool) -> Any:
    """gpuml's estimator for this call, with the proxy's parameters (those gpuml takes) and
    (unless the call refits it) the proxy's current fitted state."""
    g = proxy.__dict__.get("_gpuml_est")
    if fresh or g is None or type(g) is not G:
        g = G(**params)
        proxy.__dict__["_gpuml_est"] = g
        proxy.__dict__.pop("_gpuml_seen", None)
    else:
        ours = g.get_params(deep=False)
        changed = {k: v for k, v in params.items() if ours.get(k) is not v}
        if changed:
            g.set_params(**changed)
    if not fresh:
        seen = {k: id(v) for k, v in _fitted_state(proxy).items()}
        if seen != proxy.__dict__.get("_gpuml_seen"):  # fitted on scikit-learn, or set by hand
            g._import_state(vars(proxy))
            proxy.__dict__["_gpuml_seen"] = seen
    return g


def _why_not(proxy: Any, G: type, method: str, X: Any, params: dict) -> tuple[str | None, bool]:
    """Why this call runs on scikit-learn (None when gpuml runs it), and whether the reason
    is the input's kind (sparse: the error is then a TypeError too)."""
    impl = _defined_by(G, method)  # gpuml's own, or a generic mixin of gpuml's methods (fit_transform)
    if not (impl.startswith("gpuml.") or impl == "sklearn.base"):
        return f"gpuml does not implement {method}()", False
    table = G._support
    if method in FITS and getattr(proxy, "_skl_callbacks", None):
        return "gpuml does not call scikit-learn's callbacks", False
    if method in FITS:
        ours, reason = _params_for(proxy, G, params)
        reason = reason or table.param_reason(ours)
        if reason:
            return f"gpuml does not compute {reason}", False
    elif not _is_fitted(proxy):
        return "not fitted", False  # scikit-learn raises its NotFittedError
    reason = table.input_reason(X)
    return (f"gpuml does not compute {reason}", True) if reason else (None, False)


def dispatch(proxy: Any, method: str, sk_method: Any, args: tuple, kwargs: dict) -> Any:
    """Run ``method`` on gpuml when gpuml supports the call, else on scikit-learn."""
    if _inside.get():
        return sk_method(proxy, *args, **kwargs)
    if _defined_by(proxy._gpuml_original, method) == "sklearn.base":
        return sk_method(proxy, *args, **kwargs)  # a generic mixin method (score, fit_predict...):
        # it calls the proxy's own methods, which dispatch
    from sklearn import get_config as sk_config

    from .._config import get_config
    from .._support import UnsupportedError, UnsupportedInputError

    G = _gpuml_class(type(proxy))
    if _defined_by(G, method) == "sklearn.base" and method not in FITS:
        return sk_method(proxy, *args, **kwargs)  # scikit-learn's own version of a generic method
        # (KNeighborsClassifier.score takes X=None): its inner calls dispatch
    start = time.perf_counter()  # the report's time includes the proxy's own work
    name = type(proxy).__name__
    X = args[0] if args else kwargs.get("X")
    if method in FITS and not sk_config().get("skip_parameter_validation", False):
        proxy._validate_params()
    params = proxy.get_params(deep=False)  # read once per call
    reason, input_kind = _why_not(proxy, G, method, X, params)
    if reason is not None:
        if not get_config()["fallback"] and reason != "not fitted":
            error = UnsupportedInputError if input_kind else UnsupportedError
            raise error(f"{name}.{method}: {reason}; fallback is off "
                        "(gpuml.set_config(fallback=False) or GPUML_FALLBACK=0).")
        token = _inside.set(True) if method in FITS else None  # a fit's inner calls see its state as
        try:  # it is being built: they stay on scikit-learn; a prediction's inner calls dispatch
            out = sk_method(proxy, *args, **kwargs)
        finally:
            if token is not None:
                _inside.reset(token)
        if method in FITS:
            proxy.__dict__.pop("_gpuml_est", None)
            proxy.__dict__.pop("_gpuml_seen", None)
        _report.record(_report.Call(name, method, "sklearn", "cpu", time.perf_counter() - start, reason))
        return out
    warm = bool(params.get("warm_start", False))  # starts from the last fit
    ours, _ = _params_for(proxy, G, params)
    g = _gpuml_for(proxy, G, ours, fresh=method in FITS and method != "partial_fit" and not warm)
    out = getattr(g, method)(*args, **kwargs)
    if method in FITS:
        _adopt(proxy, g)
    engine = getattr(g, "engine_", "gpuml")
    why = g.engine_reason_ if engine == "sklearn" else ""
    _report.record(_report.Call(name, method, engine, getattr(g, "device_", "cpu"),
                                time.perf_counter() - start, why))
    return proxy if out is g else out


def _dispatcher(original: type, method: str, route: Any) -> Any:
    static = inspect.getattr_static(original, method)
    sk_method = _unwrap_set_output(getattr(original, method))

    @functools.wraps(sk_method)
    def call(self, *args, **kwargs):
        return route(self, method, sk_method, args, kwargs)

    if isinstance(static, _AvailableIfDescriptor):
        return available_if(static.check)(call)
    return call


@functools.cache
def proxy_of(original: type) -> type:
    """The proxy of scikit-learn's ``original`` (one per class), installed or not: an
    estimator gpuml implements, or ``Pipeline`` (``gpuml.accel._pipeline``)."""
    if original.__name__ == "Pipeline":
        from . import _pipeline

        return make_proxy(original, "sklearn.pipeline", _pipeline.dispatch, _pipeline.METHODS)
    from .._sklearn import public_module

    return make_proxy(original, public_module(original.__name__))


def make_proxy(original: type, public_module: str, route: Any = None, methods: tuple = METHODS) -> type:
    """The proxy class of scikit-learn's ``original``, exported by ``public_module``:
    ``route(proxy, method, sk_method, args, kwargs)`` runs each of ``methods``."""
    ns: dict[str, Any] = {
        "__module__": original.__module__,
        "__qualname__": original.__qualname__,
        "__doc__": original.__doc__,
        "_gpuml_original": original,
        "_gpuml_public": public_module,
        "__reduce_ex__": _reduce_ex,
        "__getstate__": _getstate,
        "__copy__": _copy,
    }
    for method in methods:
        if hasattr(original, method):
            ns[method] = _dispatcher(original, method, route or dispatch)
    return type(original.__name__, (original,), ns)
