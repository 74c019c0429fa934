"""Global settings: which device to use, TF32, and the working-memory budget.

The settings live in a :class:`contextvars.ContextVar`, so ``config_context`` is
safe across threads and asyncio tasks, as in scikit-learn's ``config_context``.
"""

from __future__ import annotations

import contextvars
import math
import numbers
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value not in ("0", "false", "no", "off")


_DEFAULTS: dict[str, Any] = {
    "device": os.environ.get("GPUML_DEVICE", "").strip() or "auto",  # checked when first resolved
    "allow_tf32": False,
    "memory_limit": None,
    "cache_dir": None,
    "fallback": _env_flag("GPUML_FALLBACK", True),
}
_config: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar(
    "gpuml_config", default=_DEFAULTS
)

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_bytes(value: int | str | None) -> int | None:
    """Turn ``512_000_000``, ``"512MB"`` or ``"1.5GiB"`` into a byte count.

    Examples
    --------
    >>> parse_bytes("512MB")
    512000000
    >>> parse_bytes("1GiB")
    1073741824
    """
    if value is None:
        return None
    what = f"memory_limit must be a positive byte count or a string like '512MB', got {value!r}"
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(what)
    if isinstance(value, numbers.Real):
        if not math.isfinite(value):
            raise ValueError(what)
        n = int(value)
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", value)
        if not m or m.group(2).upper() not in _UNITS:
            raise ValueError(what)
        n = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    else:
        raise ValueError(what)
    if n <= 0:
        raise ValueError(what)
    return n


def _checked(**changes: Any) -> dict[str, Any]:
    unknown = set(changes) - set(_DEFAULTS)
    if unknown:
        raise TypeError(f"Unknown gpuml setting(s): {sorted(unknown)}; known: {sorted(_DEFAULTS)}")
    out = {k: v for k, v in changes.items() if v is not None or k == "memory_limit"}
    if "memory_limit" in out:
        out["memory_limit"] = parse_bytes(out["memory_limit"])
    if out.get("cache_dir") is not None and not isinstance(out["cache_dir"], (str, os.PathLike)):
        raise ValueError(f"cache_dir must be a folder path, got {out['cache_dir']!r}")
    for flag in ("allow_tf32", "fallback"):
        if flag in out and not isinstance(out[flag], bool):
            raise ValueError(f"{flag} must be True or False, got {out[flag]!r}")
    if "device" in out:
        from .device import resolve_device  # validate early, resolve late

        resolve_device(out["device"], check_available=False)
    return out


def get_config() -> dict[str, Any]:
    """Return a copy of the current settings.

    Examples
    --------
    >>> import gpuml
    >>> gpuml.get_config()["device"]
    'auto'
    """
    return dict(_config.get())


def set_config(
    device: Any = None, allow_tf32: bool | None = None, memory_limit: Any = ..., cache_dir: Any = None,
    fallback: bool | None = None,
) -> None:
    """Change settings for the rest of the program (or the current context).

    Parameters
    ----------
    device : str or torch.device, default=None
        ``"auto"`` (the accelerator PyTorch sees, else the CPU), ``"cpu"``,
        ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"xpu"`` or a ``torch.device``.
        Estimators whose own ``device`` is ``None`` use this one. Its default is
        ``$GPUML_DEVICE`` when set (``python -m gpuml.accel --device`` sets it), else "auto".
    allow_tf32 : bool, default=None
        Let matrix products on NVIDIA GPUs use TF32 (faster, ~1e-3 relative error).
    memory_limit : int or str or None
        Working-memory budget of one pass in bytes, or a string like ``"512MB"``;
        ``None`` means a safe fraction of the device's free memory (on the CPU, the
        tightest of the host's available memory, the cgroup limit and ``RLIMIT_AS``).
        Anything else than a positive, finite byte count is a ValueError, and so is a
        limit below what one row of a pass needs (raised by that pass).
        Left unchanged when not given.
    cache_dir : str, default=None
        Where ``device="auto"`` caches the machine's measured rates (default:
        ``$GPUML_CACHE_DIR``, else ``~/.cache/gpuml``).
    fallback : bool, default=None
        Whether a call gpuml does not compute natively (a parameter value, sparse input)
        runs on scikit-learn's estimator when the device is ``"auto"`` and under
        ``gpuml.accel`` (True, the default; ``GPUML_FALLBACK=0`` in the environment makes
        it False), or raises :class:`gpuml.UnsupportedError` (False: how native coverage
        is measured).
    """
    _bridge_joblib()
    changes: dict[str, Any] = {"device": device, "allow_tf32": allow_tf32, "cache_dir": cache_dir,
                               "fallback": fallback}
    if memory_limit is not ...:
        changes["memory_limit"] = memory_limit
    _config.set({**_config.get(), **_checked(**changes)})


@contextmanager
def config_context(**changes: Any) -> Iterator[None]:
    """Temporarily change settings inside a ``with`` block.

    Examples
    --------
    >>> import gpuml
    >>> with gpuml.config_context(device="cpu", memory_limit="64MB"):
    ...     gpuml.get_config()["memory_limit"]
    64000000
    >>> gpuml.get_config()["memory_limit"] is None
    True
    """
    _bridge_joblib()
    token = _config.set({**_config.get(), **_checked(**changes)})
    try:
        yield
    finally:
        _config.reset(token)


_BRIDGED = False


class _WithGpumlConfig:
    """A task of scikit-learn's ``Parallel`` that runs under the gpuml settings it was
    dispatched with (pickled to process workers, called as is in threads)."""

    def __init__(self, task: Any, config: dict[str, Any]) -> None:
        self.task, self.config = task, config

    def with_config_and_warning_filters(self, *args: Any) -> _WithGpumlConfig:  # scikit-learn >= 1.7
        attach = getattr(self.task, "with_config_and_warning_filters", None)
        self.task = attach(*args) if attach is not None else self.task
        return self

    def with_config(self, *args: Any) -> _WithGpumlConfig:  # scikit-learn 1.6
        attach = getattr(self.task, "with_config", None)
        self.task = attach(*args) if attach is not None else self.task
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        token = _config.set(dict(self.config))
        try:
            return self.task(*args, **kwargs)
        finally:
            _config.reset(token)


def _bridge_joblib() -> None:
    """Make gpuml's settings travel with scikit-learn's to joblib workers and threads.

    scikit-learn's ``Parallel`` attaches its settings to each task when it dispatches and
    re-enters them in the worker (a process or a thread). Its ``__call__`` is wrapped to
    attach gpuml's settings as well, so that ``GridSearchCV(n_jobs=2)`` under
    ``gpuml.config_context(device="cpu")`` fits on the CPU in every worker. Done once, when
    gpuml's settings are first changed (and by ``gpuml.accel``); scikit-learn's own
    settings are passed on unchanged.
    """
    global _BRIDGED
    if _BRIDGED:
        return
    from sklearn.utils.parallel import Parallel

    dispatch = Parallel.__call__

    def __call__(self, iterable):
        config = get_config()
        return dispatch(self, ((_WithGpumlConfig(f, config), a, k) for f, a, k in iterable))

    __call__.__wrapped__ = dispatch
    Parallel.__call__ = __call__
    _BRIDGED = True
