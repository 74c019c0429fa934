"""scikit-learn's own classes behind gpuml's estimators, and the versions gpuml supports.

The delegate of a fallback is always scikit-learn's *defining* class, found in the private
module that defines it, whatever ``sklearn.cluster.KMeans`` holds at the time (under
``gpuml.accel`` it holds a proxy; a user may have swapped gpuml's class in): looking the
name up in the public module would find gpuml again and recurse.

Examples
--------
>>> sklearn_class("Ridge").__module__
'sklearn.linear_model._ridge'
>>> public_module("KMeans")
'sklearn.cluster'
"""

from __future__ import annotations

import functools
import importlib
import warnings

#: gpuml estimator name -> (scikit-learn's defining module, its public package)
DEFINING = {
    "LinearRegression": ("sklearn.linear_model._base", "sklearn.linear_model"),
    "Ridge": ("sklearn.linear_model._ridge", "sklearn.linear_model"),
    "LogisticRegression": ("sklearn.linear_model._logistic", "sklearn.linear_model"),
    "KMeans": ("sklearn.cluster._kmeans", "sklearn.cluster"),
    "PCA": ("sklearn.decomposition._pca", "sklearn.decomposition"),
    "NearestNeighbors": ("sklearn.neighbors._unsupervised", "sklearn.neighbors"),
    "KNeighborsClassifier": ("sklearn.neighbors._classification", "sklearn.neighbors"),
    "KNeighborsRegressor": ("sklearn.neighbors._regression", "sklearn.neighbors"),
    "StandardScaler": ("sklearn.preprocessing._data", "sklearn.preprocessing"),
    "MLPClassifier": ("sklearn.neural_network._multilayer_perceptron", "sklearn.neural_network"),
    "MLPRegressor": ("sklearn.neural_network._multilayer_perceptron", "sklearn.neural_network"),
}

#: The scikit-learn releases gpuml is tested with (oldest and newest in CI).
SUPPORTED_VERSIONS = ("1.6", "1.9")


def sklearn_class(name: str) -> type:
    """scikit-learn's own class ``name`` (never a proxy or a gpuml class)."""
    module, _ = DEFINING[name]
    cls = getattr(importlib.import_module(module), name)
    return getattr(cls, "_gpuml_original", cls)  # a proxy patched into the defining module too


def public_module(name: str) -> str:
    """The public scikit-learn package that exports ``name`` (``sklearn.cluster``)."""
    return DEFINING[name][1]


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


def version_supported(version: str | None = None) -> bool:
    """Whether this scikit-learn release (default: the installed one) is within
    :data:`SUPPORTED_VERSIONS`."""
    if version is None:
        import sklearn

        version = sklearn.__version__
    low, high = (_minor(v) for v in SUPPORTED_VERSIONS)
    return low <= _minor(version) <= high


@functools.cache
def check_version() -> None:
    """Warn once when scikit-learn is outside the supported range (gpuml keeps working)."""
    import sklearn

    if not version_supported():
        low, high = SUPPORTED_VERSIONS
        warnings.warn(
            f"gpuml is tested with scikit-learn {low} to {high}; this is {sklearn.__version__}. "
            "It keeps working, but a call may fail or differ: please report it.",
            UserWarning,
            stacklevel=3,
        )
