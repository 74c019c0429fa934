"""Run existing scikit-learn code unchanged, on gpuml where gpuml supports the call.

Activate it any of these ways, before or after the code imports scikit-learn:

- ``python -m gpuml.accel script.py [args]`` (or ``-m module``), ``gpuml run script.py``;
- ``%load_ext gpuml.accel`` in Jupyter or IPython;
- ``GPUML_ACCEL=1`` in the environment of any Python process;
- ``gpuml.accel.install()`` in the code.

scikit-learn's ``LinearRegression``, ``Ridge``, ``LogisticRegression``, ``KMeans``, ``PCA``,
``NearestNeighbors``, ``KNeighborsClassifier``, ``KNeighborsRegressor``, ``StandardScaler``,
``MLPClassifier`` and ``MLPRegressor`` become proxies: subclasses of scikit-learn's own
classes that run each call on gpuml (``device="auto"``: the accelerator, or the CPU when
that is faster) when gpuml supports its parameters and input, and on scikit-learn's own
code otherwise. At exit a table says where every call ran and why a call ran on
scikit-learn; nothing is printed when no covered estimator was used.

Examples
--------
>>> import gpuml.accel
>>> gpuml.accel.install()
>>> from sklearn.linear_model import Ridge
>>> import numpy as np
>>> est = Ridge().fit(np.eye(3), [1.0, 2.0, 3.0])
>>> isinstance(est, Ridge), type(est).__module__
(True, 'sklearn.linear_model._ridge')
>>> gpuml.accel.uninstall()
"""

from __future__ import annotations

import os

from . import _hook, _report

__all__ = ["install", "installed", "load_ipython_extension", "report", "uninstall",
           "unload_ipython_extension"]


def install() -> None:
    """Put gpuml's proxies in scikit-learn's modules, now and for later imports.

    Processes this one starts (joblib's workers, subprocesses) inherit ``GPUML_ACCEL=1``
    and are accelerated too; their calls appear in this process's report.
    """
    os.environ["GPUML_ACCEL"] = "1"
    _report.start()
    _hook.activate()


def uninstall() -> None:
    """Put scikit-learn's own classes back (estimators created meanwhile keep working)."""
    _hook.deactivate()
    os.environ.pop("GPUML_ACCEL", None)


def installed() -> bool:
    """Whether accel is active in this process."""
    return _hook.Finder.active


def report(*, profile: bool = False) -> str:
    """The table of where the calls so far ran ('' when there were none)."""
    return _report.render(_report.calls(), profile=profile)


def load_ipython_extension(ipython) -> None:
    """``%load_ext gpuml.accel``: install, and add the ``%gpuml_report`` line magic."""
    install()

    def gpuml_report(line: str = "") -> None:
        print(report(profile="--profile" in line) or "gpuml.accel: no call of a covered estimator yet")

    ipython.register_magic_function(gpuml_report, "line", "gpuml_report")
    ipython.register_magic_function(gpuml_report, "line", "gpuml.accel.report")


def unload_ipython_extension(ipython) -> None:
    uninstall()
