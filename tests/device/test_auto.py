"""device="auto": the cost model's decisions on injected rates, the rates cache, the record of choices."""

from __future__ import annotations

import dataclasses
import json
import logging

import numpy as np
import pytest
import torch

from gpuml.decomposition import PCA
from gpuml.device import _auto
from gpuml.device._auto import Rates, Work, choose
from gpuml.linear_model import LinearRegression, Ridge

FAST_GPU = Rates(cpu_flops=1e11, cpu_bw=2e10, cpu_op=3e-6, gpu_flops=5e13, gpu_bw=3e12, gpu_op=8e-6, h2d=2.5e10)
SLOW_GPU = Rates(cpu_flops=1e11, cpu_bw=2e10, cpu_op=3e-6, gpu_flops=2e11, gpu_bw=5e10, gpu_op=4e-5, h2d=3e9)
NO_GPU = Rates(cpu_flops=1e11, cpu_bw=2e10, cpu_op=3e-6)


def pca(n, d, on_device=None):
    """PCA's work: one Gram pass (scikit-learn's CPU PCA is faster than gpuml's: ratio < 1)."""
    return Work("PCA", n, d, 2.0 * n * d * d, 1.0, 4, on_device)


def test_fast_gpu_takes_large_work_and_leaves_small_work_to_the_cpu():
    assert choose(pca(10_000_000, 256), FAST_GPU).label() == "cuda:0/gpuml"
    small = choose(pca(2_000, 20), FAST_GPU)
    assert small.label() == "cpu/sklearn"
    assert small.reason.startswith("cpu/sklearn: 2,000 x 20 is below the GPU crossover")
    assert "(est. " in small.reason and "gpu/gpuml" in small.reason


def test_slow_gpu_loses_to_the_cpu():
    assert choose(pca(1_000_000, 64), SLOW_GPU).device == "cpu"
    assert choose(Work("KMeans", 1_000_000, 32, 2e6 * 32 * 32, 23), SLOW_GPU).device == "cpu"


def test_no_gpu_chooses_between_cpu_engines_by_measured_ratio():
    # scikit-learn's KMeans beats gpuml's CPU kernels (ratio < 1); gpuml's LinearRegression beats sklearn's
    assert choose(Work("KMeans", 100_000, 16, 3.2e7, 23), NO_GPU).label() == "cpu/sklearn"
    assert choose(Work("LinearRegression", 100_000, 16, 5.1e7, 1), NO_GPU).label() == "cpu/gpuml"
    assert "no accelerator" in choose(pca(100, 3), NO_GPU).reason
    assert choose(pca(100, 3), NO_GPU, allow_sklearn=False).label() == "cpu/gpuml"


def test_data_already_on_the_gpu_weighs_toward_it():
    n, d = 30_000, 64
    assert choose(pca(n, d), SLOW_GPU).device == "cpu"
    on_gpu = choose(pca(n, d, on_device="cuda:0"), SLOW_GPU)
    assert on_gpu.device == "cuda:0" and "already on cuda:0" in on_gpu.reason


def test_rates_are_calibrated_once_cached_and_invalidated_by_versions(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUML_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_auto, "_memo", {})
    calls = []
    monkeypatch.setattr(_auto, "calibrate", lambda acc: calls.append(acc) or NO_GPU)
    first = _auto.rates(None)
    assert first == NO_GPU and len(calls) == 1
    assert len(list(tmp_path.glob("rates-*.json"))) == 1
    monkeypatch.setattr(_auto, "_memo", {})  # a new process: read from the cache file
    assert _auto.rates(None) == NO_GPU and len(calls) == 1
    monkeypatch.setattr(_auto, "_memo", {})
    monkeypatch.setattr(torch, "__version__", "99.0.0")  # another torch: measured again
    _auto.rates(None)
    assert len(calls) == 2 and len(list(tmp_path.glob("rates-*.json"))) == 2


def _rates_json(**changes) -> str:
    obj = {**dataclasses.asdict(NO_GPU), **changes}
    return json.dumps({k: v for k, v in obj.items() if v != "drop"})


@pytest.mark.parametrize("text", [
    _rates_json(cpu_flops="fast"),  # a string rate: a TypeError in every later cost estimate
    _rates_json(cpu_flops=0),  # zero: a division by zero
    _rates_json(cpu_bw=-2e10),
    _rates_json(cpu_op=float("nan")),
    _rates_json(cpu_flops=float("inf")),
    _rates_json(cpu_flops=True),
    _rates_json(cpu_flops=[1e11]),
    _rates_json(gpu_flops=5e13),  # half a GPU on a machine without one
    _rates_json(h2d="drop"),  # a missing field
    _rates_json(extra=1),
    _rates_json()[:40],  # truncated JSON
    "[1, 2, 3]",
    "\udcff\udcfe",  # not UTF-8 text
], ids=["string", "zero", "negative", "nan", "inf", "bool", "list", "half-gpu", "missing", "extra", "truncated",
        "not-a-dict", "binary"])
def test_a_bad_rates_file_is_measured_again_and_rewritten(tmp_path, monkeypatch, text):
    monkeypatch.setenv("GPUML_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_auto, "_memo", {})
    calls = []
    monkeypatch.setattr(_auto, "calibrate", lambda acc: calls.append(acc) or NO_GPU)
    path = tmp_path / f"rates-{_auto.machine_key(None)}.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    assert _auto.rates(None) == NO_GPU and calls == [None]
    assert _auto.parse_rates(json.loads(path.read_text()), None) == NO_GPU  # rewritten with the measurement
    monkeypatch.setattr(_auto, "_memo", {})  # the next process reads the good file
    assert _auto.rates(None) == NO_GPU and calls == [None]


def test_default_fits_work_after_a_bad_rates_file(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUML_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_auto, "_memo", {})
    monkeypatch.setattr(_auto, "calibrate", lambda acc: NO_GPU)
    monkeypatch.setattr("gpuml.device.accelerator", lambda: None)
    (tmp_path / f"rates-{_auto.machine_key(None)}.json").write_text(_rates_json(cpu_flops=0))
    X = np.random.default_rng(0).standard_normal((200, 3))
    assert Ridge().fit(X, X[:, 0]).engine_ in ("gpuml", "sklearn")


def test_a_bad_measurement_is_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUML_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_auto, "_memo", {})
    monkeypatch.setattr(_auto, "calibrate", lambda acc: Rates(cpu_flops=float("inf"), cpu_bw=2e10, cpu_op=3e-6))
    _auto.rates(None)
    assert list(tmp_path.iterdir()) == []


def test_cache_dir_setting_wins_over_the_environment(tmp_path, monkeypatch):
    import gpuml

    monkeypatch.setenv("GPUML_CACHE_DIR", str(tmp_path / "env"))
    assert _auto.cache_dir() == str(tmp_path / "env")
    with gpuml.config_context(cache_dir=str(tmp_path / "setting")):
        assert _auto.cache_dir() == str(tmp_path / "setting")


def test_real_calibration_is_quick_and_sane():
    import time

    t = time.perf_counter()
    r = _auto.calibrate(None)
    assert time.perf_counter() - t < 5
    assert r.cpu_flops > 1e8 and r.cpu_bw > 1e8 and 0 < r.cpu_op < 1e-2


def test_estimators_record_what_they_ran_on_and_why(monkeypatch, caplog):
    monkeypatch.setattr(_auto, "rates", lambda acc: NO_GPU)
    X = np.random.default_rng(0).standard_normal((500, 4)) * [1.0, 2.0, 3.0, 4.0]
    with caplog.at_level(logging.INFO, logger="gpuml"):
        auto = PCA(2, svd_solver="full").fit(X)  # (sklearn's "covariance_eigh" is never delegated)
    assert auto.engine_ == "sklearn" and auto.device_ == "cpu"
    assert auto.engine_reason_.startswith("cpu/sklearn: ") and auto.engine_reason_ in caplog.text
    explicit = PCA(2, svd_solver="full", device="cpu").fit(X)
    assert (explicit.engine_, explicit.engine_reason_) == ("gpuml", "cpu/gpuml: asked for explicitly (device='cpu')")
    # the delegated fit is still a gpuml model with scikit-learn's fitted attributes
    assert isinstance(auto, PCA)
    np.testing.assert_allclose(np.abs(auto.components_), np.abs(explicit.components_), rtol=1e-8, atol=1e-10)
    # and its transforms of NumPy data come from scikit-learn's fitted estimator as well
    calls = []
    real = auto._sklearn_fitted.transform
    auto._sklearn_fitted.transform = lambda Z: calls.append(1) or real(Z)
    np.testing.assert_allclose(np.abs(auto.transform(X)), np.abs(explicit.transform(X)), rtol=1e-8, atol=1e-8)
    auto.transform(torch.from_numpy(X))  # a tensor stays with gpuml's kernels
    assert calls == [1]
    # where gpuml's CPU kernels are faster, "auto" keeps them, deciding (and logging) once per fit
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="gpuml"):
        ridge = Ridge().fit(X, X[:, 0])
    assert ridge.engine_ == "gpuml" and "_early_device" not in vars(ridge)
    assert [r.getMessage() for r in caplog.records] == [f"Ridge: {ridge.engine_reason_}"]


def test_tensor_input_is_never_handed_to_sklearn(monkeypatch):
    monkeypatch.setattr(_auto, "rates", lambda acc: NO_GPU)
    X = torch.randn(500, 4, dtype=torch.float64)
    est = LinearRegression().fit(X, X @ torch.ones(4, dtype=torch.float64))
    assert est.engine_ == "gpuml"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no cuda device visible to PyTorch")
def test_auto_picks_the_gpu_for_large_work_on_a_real_gpu():
    X = torch.randn(2_000_000, 128, device="cuda")
    est = Ridge().fit(X, X[:, 0])
    assert est.device_.startswith("cuda"), est.engine_reason_
