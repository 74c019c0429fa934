"""A Pipeline of accelerated steps passes device tensors between its steps, and its results
equal scikit-learn's; any step gpuml would not run keeps scikit-learn's NumPy path."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.pipeline
import torch
from sklearn.preprocessing import FunctionTransformer

import gpuml.accel
import gpuml.decomposition
from gpuml._sklearn import sklearn_class
from gpuml.accel import _pipeline, _report

pytestmark = pytest.mark.xdist_group("accel")

_ENV = ("GPUML_ACCEL", "GPUML_ACCEL_SPOOL", "GPUML_ACCEL_OWNER", "GPUML_ACCEL_VERBOSE")


@pytest.fixture
def accel_on_device(monkeypatch):
    """accel installed, with the CPU standing in for the accelerator the hand-off needs."""
    for key in _ENV:
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    monkeypatch.setenv("GPUML_ACCEL_REPORT", "0")
    monkeypatch.setattr(_pipeline, "handoff_device", lambda: torch.device("cpu"))
    seen = []
    fit_transform = gpuml.decomposition.PCA.fit_transform
    transform = gpuml.decomposition.PCA.transform

    def spy_fit_transform(self, X, y=None):
        seen.append(type(X))
        return fit_transform(self, X, y)

    def spy_transform(self, X):
        seen.append(type(X))
        return transform(self, X)

    monkeypatch.setattr(gpuml.decomposition.PCA, "fit_transform", spy_fit_transform)
    monkeypatch.setattr(gpuml.decomposition.PCA, "transform", spy_transform)
    gpuml.accel.install()
    try:
        yield seen
    finally:
        gpuml.accel.uninstall()
        _report.reset()


def _data():
    rng = np.random.RandomState(0)
    X = rng.randn(400, 8) * np.logspace(0, 3, 8) + 1e3
    y = (X[:, 1] - 1e3 + X[:, 7] / 1e3 > 0).astype(int)
    return X, y


def _pipelines():
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    ours = sklearn.pipeline.make_pipeline(StandardScaler(), PCA(n_components=5), LogisticRegression())
    ref = sklearn.pipeline.Pipeline([(name, sklearn_class(type(step).__name__)(**step.get_params()))
                                     for name, step in ours.steps])
    return ours, ref


def test_consecutive_accelerated_steps_pass_device_tensors_and_equal_scikit_learn(accel_on_device):
    X, y = _data()
    ours, ref = _pipelines()
    assert "_gpuml_original" in type(ours).__dict__
    ours.fit(X, y)
    ref.fit(X, y)
    assert accel_on_device and set(accel_on_device) == {torch.Tensor}  # PCA got the scaler's output
    accel_on_device.clear()  # as a tensor on the device, not NumPy
    for method in ("predict", "predict_proba", "decision_function"):
        got, want = getattr(ours, method)(X), getattr(ref, method)(X)
        assert type(got) is np.ndarray, method
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8, err_msg=method)
    assert len(accel_on_device) >= 3 and set(accel_on_device) == {torch.Tensor}
    np.testing.assert_allclose(ours.score(X, y), ref.score(X, y))
    head = ours[:-1]
    np.testing.assert_allclose(np.abs(head.transform(X)), np.abs(ref[:-1].transform(X)), rtol=1e-6, atol=1e-8)


def test_a_step_gpuml_does_not_run_keeps_the_numpy_path(accel_on_device):
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression

    X, y = _data()
    pipe = sklearn.pipeline.make_pipeline(FunctionTransformer(), PCA(n_components=3), LogisticRegression())
    pipe.fit(X, y)
    assert accel_on_device and torch.Tensor not in accel_on_device
    accel_on_device.clear()
    pipe = sklearn.pipeline.make_pipeline(PCA(n_components=3), LogisticRegression()).set_output(transform="pandas")
    pipe.fit(X, y)
    assert accel_on_device and torch.Tensor not in accel_on_device


def test_no_hand_off_without_an_accelerator():
    from gpuml.device import accelerator

    if accelerator() is None:
        assert _pipeline.handoff_device() is None
    with gpuml.config_context(device="cpu"):
        assert _pipeline.handoff_device() is None
