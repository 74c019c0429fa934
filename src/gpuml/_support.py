"""What gpuml runs natively: one declared table per estimator, checked before any work.

Every estimator accepts scikit-learn's full set of parameters (validated by scikit-learn's
own ``_parameter_constraints``); its ``_support`` table says which values, input kinds and
methods gpuml computes itself. A call outside the table runs on scikit-learn's estimator
when the device is ``"auto"`` (or under ``gpuml.accel``) and fallback is on; otherwise it is
an :class:`UnsupportedError` that names the parameter or input. The accel proxies,
``device="auto"`` and the error messages all read the same table.

Examples
--------
>>> from gpuml._support import Support, one_of
>>> table = Support(one_of("solver", "auto", "svd"))
>>> table.reason({"solver": "lbfgs"}) is None
False
>>> print(table.reason({"solver": "lbfgs"}))
solver='lbfgs' (gpuml supports 'auto', 'svd')
>>> print(table.reason({"solver": "svd"}, X=__import__("scipy.sparse").sparse.eye(3)))
sparse input (gpuml computes on dense arrays)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class UnsupportedError(ValueError):
    """A valid scikit-learn call that gpuml does not compute natively, with an explicit
    device or with fallback off (``gpuml.set_config(fallback=False)``, ``GPUML_FALLBACK=0``)."""


class UnsupportedInputError(UnsupportedError, TypeError):
    """An input kind gpuml does not compute on (sparse): also a TypeError, the error
    scikit-learn raises for sparse data where it needs dense."""


@dataclass(frozen=True)
class Rule:
    """One supported-value condition: ``ok(params)`` is True when gpuml supports them;
    ``says`` describes the failing value(s) and what gpuml supports instead."""

    ok: Callable[[dict], bool]
    says: Callable[[dict], str]


def one_of(name: str, *allowed: Any) -> Rule:
    """``params[name]`` must be one of ``allowed`` (compared with ``==``; booleans by identity)."""

    def ok(p: dict) -> bool:
        v = p.get(name)
        return any(v is a if isinstance(a, bool) or a is None else (type(v) is not bool and v == a)
                   for a in allowed)

    return Rule(ok, lambda p: f"{name}={p.get(name)!r} (gpuml supports {', '.join(map(repr, allowed))})")


def when(ok: Callable[[dict], bool], says: str | Callable[[dict], str]) -> Rule:
    """A condition over several parameters; ``says`` may use ``{name}`` fields of the params."""
    text = says if callable(says) else (lambda p: says.format(**p))
    return Rule(ok, text)


@dataclass(frozen=True)
class Support:
    """The declared table: parameter rules, whether sparse input is computed natively.

    ``methods`` lists the public methods whose work gpuml does itself (any other method
    of scikit-learn's class runs on scikit-learn's, from the same fitted state).
    """

    rules: tuple[Rule, ...] = ()
    sparse: bool = False
    methods: frozenset[str] = field(default_factory=frozenset)

    def __init__(self, *rules: Rule, sparse: bool = False, methods: tuple[str, ...] = ()) -> None:
        object.__setattr__(self, "rules", tuple(rules))
        object.__setattr__(self, "sparse", sparse)
        object.__setattr__(self, "methods", frozenset(methods))

    def param_reason(self, params: dict) -> str | None:
        """Why gpuml does not compute with these parameters, or None when it does."""
        for rule in self.rules:
            if not rule.ok(params):
                return rule.says(params)
        return None

    def input_reason(self, X: Any) -> str | None:
        """Why gpuml does not compute on this input, or None when it does."""
        from scipy.sparse import issparse  # here: ``import gpuml`` stays light (accel's startup hook)

        if X is not None and issparse(X) and not self.sparse:
            return "sparse input (gpuml computes on dense arrays)"
        return None

    def reason(self, params: dict, X: Any = None) -> str | None:
        """The first reason gpuml does not compute this call natively, or None."""
        return self.param_reason(params) or self.input_reason(X)


def unsupported_message(name: str, reason: str, *, explicit_device: Any = None) -> str:
    """The error of an unsupported call: what, and what would run it."""
    if explicit_device is not None:
        how = (f"device={str(explicit_device)!r} was asked for explicitly; device='auto' would run "
               f"this call on scikit-learn's {name}")
    else:
        how = "fallback is off (gpuml.set_config(fallback=False) or GPUML_FALLBACK=0)"
    return f"{name}: gpuml does not compute {reason}; {how}."
