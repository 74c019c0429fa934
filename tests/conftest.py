"""Device and dtype fixtures: every numeric test runs on each device present.

``cpu`` always; ``cuda`` and ``mps`` are skipped, with the reason, when absent.
float64 tests on MPS are skipped (the device has no float64).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
import torch

import gpuml

# device="auto" caches the machine's measured rates: keep the tests' cache out of the user's home
os.environ.setdefault("GPUML_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"gpuml-test-cache-{os.getuid()}"))

# tests that install gpuml.accel in this process would print its report when pytest exits
os.environ.setdefault("GPUML_ACCEL_REPORT", "0")

if os.environ.get("PYTEST_XDIST_WORKER"):
    # one thread per xdist worker: workers already use every core, and OpenMP threads fighting
    # over cores spin in barriers, which makes small kernels many times slower
    torch.set_num_threads(1)


def _has(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    return True


DEVICES = [
    pytest.param(kind, marks=pytest.mark.skipif(not _has(kind), reason=f"no {kind} device visible to PyTorch"))
    for kind in ("cpu", "cuda", "mps")
]


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    """Each device present: "cpu", "cuda", "mps"."""
    return request.param


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request, device):
    """float32 and float64 (float64 skipped on MPS, which lacks it)."""
    if device == "mps" and request.param is np.float64:
        pytest.skip("MPS has no float64")
    return request.param


@pytest.fixture(autouse=True)
def _fresh_config():
    """Every test starts from the default settings."""
    with gpuml.config_context(device="auto", allow_tf32=False, memory_limit=None):
        yield


@pytest.fixture
def accel(monkeypatch):
    """gpuml.accel installed for one test (it patches scikit-learn process-wide: mark such tests
    ``xdist_group("accel")``); yields the call records; the environment it sets is undone."""
    import gpuml.accel
    from gpuml.accel import _report

    for key in ("GPUML_ACCEL", "GPUML_ACCEL_SPOOL", "GPUML_ACCEL_OWNER", "GPUML_ACCEL_VERBOSE"):
        monkeypatch.setenv(key, "")  # recorded, so that what install() sets is undone
        monkeypatch.delenv(key)
    monkeypatch.setenv("GPUML_ACCEL_REPORT", "0")
    gpuml.accel.install()
    _report.reset()
    try:
        yield _report
    finally:
        gpuml.accel.uninstall()
        _report.reset()


#: Tests whose reference is the newest scikit-learn's behaviour, skipped on a release without it
#: (``make test-oldest``), each with why; what gpuml does there is said in the reason.
_NEWER_SKLEARN_ONLY = {
    "test_logistic_l2_and_no_penalty_spellings_are_native": "1.6's own L-BFGS-B call warns from SciPy "
        "(disp/iprint) and its penalty warnings differ; gpuml gives 1.9's",
    "test_as_sklearn_answers_like_gpuml[LogisticRegression]": "1.6's LogisticRegression warns from SciPy "
        "(disp/iprint), which the test's warning comparison sees",
    "test_parameter_validation_is_sklearns": "1.6's LinearRegression has no tol to validate",
    "test_proxy_fits_natively_and_answers_every_method[LinearRegression]": "on a scikit-learn without "
        "LinearRegression(tol) the proxy runs it on scikit-learn (a different lstsq cutoff)",
    "test_sklearn_compatible[StandardScaler()-check_sample_weight_equivalence_on_sparse_data]": "sparse "
        "input runs on 1.6's own StandardScaler, which fails this 1.6 check itself (it cannot center sparse)",
}


def pytest_collection_modifyitems(config, items):
    from gpuml._sklearn import sklearn_class

    if "tol" in sklearn_class("LinearRegression")._get_param_names():  # the newest behaviour is there
        return
    for item in items:
        reason = _NEWER_SKLEARN_ONLY.get(item.name) or _NEWER_SKLEARN_ONLY.get(item.originalname or "")
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"older scikit-learn: {reason}"))
