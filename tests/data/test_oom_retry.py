"""The out-of-memory retry (``gpuml.device.retry_smaller``), shared by passes and the MLP:
the failed attempt is freed before a smaller one starts, the result is the no-OOM result,
and one row that does not fit is a DeviceMemoryError."""

from __future__ import annotations

import warnings
import weakref

import numpy as np
import pytest
import torch

import gpuml
from gpuml.data import ArraySource, DeviceMemoryError, run_pass
from gpuml.device import retry_smaller
from gpuml.neural_network import MLPClassifier, _train
from gpuml.ops import Gram

CPU = torch.device("cpu")
ERRORS = [lambda: torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (fake)"),
          lambda: RuntimeError("CUDA error: out of memory (fake)"), lambda: MemoryError()]


class Tracker:
    """Allocates a buffer in each attempt, fails above ``limit`` rows, and checks at every
    attempt that the buffers of the failed ones are gone."""

    def __init__(self, limit, error):
        self.limit, self.error, self.failed, self.alive_at_retry = limit, error, [], []

    def attempt(self, rows):
        self.alive_at_retry.append(sum(ref() is not None for ref in self.failed))
        buf = torch.empty(rows, 1000)  # the failed attempt's working memory
        if rows > self.limit:
            self.failed.append(weakref.ref(buf))
            raise self.error()
        return buf


@pytest.mark.parametrize("error", ERRORS)
def test_a_failed_pass_chunk_is_freed_before_the_retry_and_the_result_is_exact(error):
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((1000, 5)) + 1e3, rng.standard_normal(1000)
    src = ArraySource(X, y)
    ref = run_pass(src, Gram(torch.float64, n_targets=1), CPU)
    tracker = Tracker(70, error)

    class Flaky(Gram):
        def update(self, state, X, y, w):
            tracker.attempt(len(X))
            return super().update(state, X, y, w)

    got = run_pass(src, Flaky(torch.float64, n_targets=1), CPU)
    assert len(tracker.failed) >= 1
    assert tracker.alive_at_retry == [0] * len(tracker.alive_at_retry)  # nothing kept by a traceback
    for name in ("cxx", "cxy", "mean_x", "mean_y"):
        torch.testing.assert_close(getattr(got, name), getattr(ref, name), rtol=1e-12, atol=1e-9)


def test_one_row_that_does_not_fit_is_a_device_memory_error():
    tracker = Tracker(0, ERRORS[0])

    class Never(Gram):
        def update(self, state, X, y, w):
            tracker.attempt(len(X))

    with pytest.raises(DeviceMemoryError, match="One row of this pass needs about .* bytes.*OutOfMemoryError"):
        run_pass(ArraySource(np.ones((10, 3))), Never(torch.float64), CPU)
    assert tracker.alive_at_retry == [0] * len(tracker.alive_at_retry)


def test_retry_smaller_keeps_the_size_that_worked_and_passes_other_errors():
    tracker = Tracker(100, ERRORS[1])
    out, rows = retry_smaller(tracker.attempt, 1000, CPU, one_row="no row fits")
    assert rows == 62 and out.shape == (62, 1000) and len(tracker.failed) == 4
    assert tracker.alive_at_retry == [0] * 5
    with pytest.raises(ValueError, match="not memory"):
        retry_smaller(lambda r: (_ for _ in ()).throw(ValueError("not memory")), 8, CPU, one_row="x")


X_MLP = np.random.default_rng(0).standard_normal((400, 8))
Y_MLP = (X_MLP[:, 0] + X_MLP[:, 1] > 0).astype(int)


def _fit(X):
    warnings.simplefilter("ignore")  # max_iter=2: not converged
    return MLPClassifier((16,), max_iter=2, batch_size=100, random_state=0, precision="float64",
                         shuffle=False, device="cpu").fit(X, None if isinstance(X, ArraySource) else Y_MLP)


@pytest.mark.parametrize("streamed", [False, True])
def test_a_failed_mlp_step_is_freed_before_the_retry_and_the_weights_are_exact(streamed, monkeypatch):
    # in memory: Trainer.gradient; streamed (the source does not fit the resident budget):
    # the per-chunk steps of _stream._Steps, which also restore the gradient sums
    X = ArraySource(X_MLP, Y_MLP) if streamed else X_MLP
    with gpuml.config_context(memory_limit=40_000 if streamed else None):
        plain = _fit(X)
        real, tracker = _train.grad_chunk, Tracker(8 if streamed else 30, ERRORS[0])

        def flaky(net, Xc, Yc, w):
            tracker.attempt(len(Xc))
            return real(net, Xc, Yc, w)

        monkeypatch.setattr(_train, "grad_chunk", flaky)
        retried = _fit(X)
    assert len(tracker.failed) >= 1
    assert tracker.alive_at_retry == [0] * len(tracker.alive_at_retry)
    for a, b in zip(retried.coefs_ + retried.intercepts_, plain.coefs_ + plain.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
