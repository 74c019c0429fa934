"""Settings: set_config, get_config, config_context."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import gpuml
from gpuml._config import parse_bytes
from gpuml.device import explain_device, resolve_device


def test_defaults():
    cfg = gpuml.get_config()
    assert cfg == {"device": "auto", "allow_tf32": False, "memory_limit": None, "cache_dir": None,
                   "fallback": True}


def test_context_restores_and_set_config_persists():
    with gpuml.config_context(device="cpu", memory_limit="2MiB", allow_tf32=True):
        assert gpuml.get_config() == {"device": "cpu", "allow_tf32": True, "memory_limit": 2 * 2**20,
                                      "cache_dir": None, "fallback": True}
    assert gpuml.get_config()["device"] == "auto"
    gpuml.set_config(memory_limit="1GB")
    try:
        assert gpuml.get_config()["memory_limit"] == 10**9
        gpuml.set_config(device="cpu")  # memory_limit left as it was
        assert gpuml.get_config()["memory_limit"] == 10**9
    finally:
        gpuml.set_config(device="auto", memory_limit=None)


def test_context_is_per_thread():
    seen = {}

    def other():
        seen["device"] = gpuml.get_config()["device"]

    with gpuml.config_context(device="cpu"):
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert seen["device"] == "auto"


@pytest.mark.parametrize(
    "value,expected", [(1024, 1024), ("512MB", 512 * 10**6), ("1.5GiB", int(1.5 * 2**30)), ("64kb", 64000)]
)
def test_parse_bytes(value, expected):
    assert parse_bytes(value) == expected


@pytest.mark.parametrize("bad", ["lots", "abc", "-5MB", -5, 0, -1, 0.5, True, np.bool_(True), "12XB", "inf",
                                 float("inf"), float("-inf"), float("nan"), np.float64("nan"), [512], b"512MB"])
def test_bad_memory_limit(bad):
    with pytest.raises(ValueError, match="memory_limit must be a positive byte count") as info:
        gpuml.set_config(memory_limit=bad)
    assert repr(bad) in str(info.value)  # the message names the value
    with pytest.raises(ValueError, match="memory_limit"):
        with gpuml.config_context(memory_limit=bad):
            pass
    assert gpuml.get_config()["memory_limit"] is None


def test_memory_limit_below_one_row_of_a_pass_says_what_one_row_needs():
    from gpuml.data import ArraySource, run_pass
    from gpuml.ops import Gram

    X = np.ones((10, 50))
    with gpuml.config_context(memory_limit=200):
        with pytest.raises(ValueError, match=r"memory_limit=200 bytes is below what one row of this pass needs: "
                                             r"about [0-9,]+ bytes"):
            run_pass(ArraySource(X), Gram(torch.float64), torch.device("cpu"))
    one_row = Gram(torch.float64).bytes_per_row(50, 8)
    with gpuml.config_context(memory_limit=2 * one_row):  # exactly one row fits: fine
        run_pass(ArraySource(X), Gram(torch.float64), torch.device("cpu"))


def test_bad_settings():
    with pytest.raises(TypeError, match="colour"):
        gpuml.set_config(colour="blue")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="Unknown gpuml setting"):
        with gpuml.config_context(nope=1):
            pass
    with pytest.raises(ValueError, match="device"):
        gpuml.set_config(device="gpu-please")
    with pytest.raises(ValueError, match="allow_tf32"):
        gpuml.set_config(allow_tf32="yes")


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    with gpuml.config_context(device="cpu"):
        assert resolve_device(None) == torch.device("cpu")
    auto = resolve_device("auto")
    assert auto.type == ("cuda" if torch.cuda.is_available() else auto.type)
    dev, why = explain_device("auto")
    assert why.startswith(f"{dev}: device='auto'")


def test_estimator_device_none_follows_the_global_setting():
    from gpuml.preprocessing import StandardScaler

    est = StandardScaler()
    with gpuml.config_context(device="cpu"):
        assert est._device() == torch.device("cpu")
    with gpuml.config_context(device="cuda:7"):
        with pytest.raises(ValueError):
            est.fit([[1.0], [2.0]])


def test_fallback_setting_and_environment(monkeypatch):
    with gpuml.config_context(fallback=False):
        assert gpuml.get_config()["fallback"] is False
    with pytest.raises(ValueError, match="fallback must be True or False"):
        gpuml.set_config(fallback="no")
    from gpuml._config import _env_flag

    monkeypatch.setenv("GPUML_FALLBACK", "0")
    assert _env_flag("GPUML_FALLBACK", True) is False
    monkeypatch.setenv("GPUML_FALLBACK", "1")
    assert _env_flag("GPUML_FALLBACK", True) is True


def test_settings_reach_joblib_workers_and_threads():
    """scikit-learn's Parallel carries gpuml's settings beside its own, to processes and threads."""
    from sklearn.utils.parallel import Parallel, delayed

    def device():
        return gpuml.get_config()["device"], gpuml.get_config()["memory_limit"]

    with gpuml.config_context(device="cpu", memory_limit="64MB"):
        for backend in ("loky", "threading"):
            got = Parallel(n_jobs=2, backend=backend)(delayed(device)() for _ in range(4))
            assert got == [("cpu", 64 * 10**6)] * 4, backend
