"""Putting the proxies in scikit-learn's public modules, before or after they are imported.

Already imported packages (``sklearn.linear_model``...) are patched at once; the others
when they are first imported, by a finder at the front of ``sys.meta_path`` that wraps
their loader. Nothing of gpuml's estimators (nor torch) is imported until a proxy is
first called, so activating accel in every Python process (``GPUML_ACCEL=1``) costs
nothing to the ones that never use scikit-learn.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
from typing import Any

from .._sklearn import DEFINING

#: public scikit-learn package -> the estimator names gpuml proxies there
TARGETS: dict[str, tuple[str, ...]] = {}
for _name, (_, _public) in DEFINING.items():
    TARGETS[_public] = (*TARGETS.get(_public, ()), _name)
TARGETS["sklearn.pipeline"] = ("Pipeline",)  # its steps hand each other device data (_pipeline)

_ORIGINALS: dict[tuple[str, str], type] = {}
_busy = threading.local()


def patch(module: Any) -> None:
    """Replace the covered classes of an imported public package by their proxies."""
    from .._config import _bridge_joblib
    from .._sklearn import check_version
    from ._proxy import proxy_of

    check_version()
    _bridge_joblib()
    for name in TARGETS.get(module.__name__, ()):
        current = getattr(module, name, None)
        if current is None or "_gpuml_original" in current.__dict__:
            continue
        _ORIGINALS[(module.__name__, name)] = current
        setattr(module, name, proxy_of(current))


def unpatch() -> None:
    """Put scikit-learn's own classes back."""
    for (module, name), original in _ORIGINALS.items():
        if module in sys.modules:
            setattr(sys.modules[module], name, original)
    _ORIGINALS.clear()


class _Loader(importlib.abc.Loader):
    """The real loader, then :func:`patch`."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        if Finder.active:
            patch(module)

    def __getattr__(self, name: str) -> Any:  # get_code, is_package, resource readers...
        return getattr(self._loader, name)


class Finder(importlib.abc.MetaPathFinder):
    """Finds the covered packages with the other finders and wraps their loader."""

    active = False

    def find_spec(self, fullname, path, target=None):
        if fullname not in TARGETS or not Finder.active or getattr(_busy, fullname, False):
            return None
        setattr(_busy, fullname, True)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            setattr(_busy, fullname, False)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _Loader(spec.loader)
        return spec


_FINDER = Finder()


def activate() -> None:
    """Patch what is imported, and what will be."""
    Finder.active = True
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    for module in TARGETS:
        if module in sys.modules:
            patch(sys.modules[module])


def deactivate() -> None:
    Finder.active = False
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    unpatch()
