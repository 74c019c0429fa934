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

_DEFAULTS: dict[str, Any] = {
    "device": "auto",
    "allow_tf32": False,
    "memory_limit": None,
    "cache_dir": None,
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
    if "allow_tf32" in out and not isinstance(out["allow_tf32"], bool):
        raise ValueError(f"allow_tf32 must be True or False, got {out['allow_tf32']!r}")
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
    device: Any = None, allow_tf32: bool | None = None, memory_limit: Any = ..., cache_dir: Any = None
) -> None:
    """Change settings for the rest of the program (or the current context).

    Parameters
    ----------
    device : str or torch.device, default=None
        ``"auto"`` (the accelerator PyTorch sees, else the CPU), ``"cpu"``,
        ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"xpu"`` or a ``torch.device``.
        Estimators whose own ``device`` is ``None`` use this one.
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
    """
    changes: dict[str, Any] = {"device": device, "allow_tf32": allow_tf32, "cache_dir": cache_dir}
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
    token = _config.set({**_config.get(), **_checked(**changes)})
    try:
        yield
    finally:
        _config.reset(token)
