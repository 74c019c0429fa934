"""The allow_tf32 setting: torch's precision API where it exists, scoped to gpuml's kernels,
thread-safe, and the user's own setting unchanged after a fit (the flags exist on CPU builds)."""

from __future__ import annotations

import threading
import types

import numpy as np
import pytest
import torch

import gpuml
from gpuml.cluster import KMeans
from gpuml.data import ArraySource, run_pass
from gpuml.ops import Gram

NEW_API = hasattr(torch.backends.cuda.matmul, "fp32_precision")  # torch >= 2.9
CPU = torch.device("cpu")


def matmul_precision():
    m = torch.backends.cuda.matmul
    return m.fp32_precision if NEW_API else m.allow_tf32


@pytest.fixture(autouse=True)
def _restore_user_setting():
    before = matmul_precision()
    yield
    if NEW_API:
        torch.backends.cuda.matmul.fp32_precision = before
    else:
        torch.backends.cuda.matmul.allow_tf32 = before


class Spy(Gram):
    """A Gram pass that records the matmul precision its kernels run under."""

    def __init__(self, seen, wait=None):
        super().__init__(torch.float64)
        self.seen, self.wait = seen, wait

    def update(self, state, X, y, w):
        self.seen.append(matmul_precision())
        if self.wait is not None:
            self.wait()
        return super().update(state, X, y, w)


@pytest.mark.skipif(not NEW_API, reason="torch < 2.9 has no fp32_precision")
@pytest.mark.parametrize("user", ["tf32", "ieee"])
def test_a_user_precision_set_with_the_new_api_is_kept(user):
    # torch >= 2.9 refuses to mix the new and legacy APIs: gpuml used the legacy flags and
    # every fit failed once the user had set fp32_precision
    torch.backends.cuda.matmul.fp32_precision = user
    X = np.random.default_rng(0).standard_normal((200, 3))
    KMeans(2, n_init=1, random_state=0, device="cpu").fit(X)
    with gpuml.config_context(allow_tf32=user != "tf32"):
        KMeans(2, n_init=1, random_state=0, device="cpu").fit(X)
    assert torch.backends.cuda.matmul.fp32_precision == user


@pytest.mark.parametrize("allow", [True, False])
def test_the_setting_holds_inside_the_kernels_and_is_restored(allow):
    before, seen = matmul_precision(), []
    with gpuml.config_context(allow_tf32=allow):
        run_pass(ArraySource(np.ones((10, 3))), Spy(seen), CPU)
    on = ("tf32" if allow else "ieee") if NEW_API else allow
    assert seen == [on]
    assert matmul_precision() == before


def test_two_threads_leave_the_user_setting_and_never_compute_a_strict_pass_in_tf32():
    # A (allow_tf32=True) starts; B (False) starts while A runs; A ends; B ends. With
    # save-and-restore per pass, B saved A's TF32 and restored it: TF32 on for the process.
    before = matmul_precision()
    a_in, b_in, a_done = threading.Event(), threading.Event(), threading.Event()
    seen_a, seen_b, errors = [], [], []

    def run(allow, seen, wait, done):
        try:
            with gpuml.config_context(allow_tf32=allow):
                run_pass(ArraySource(np.ones((10, 3))), Spy(seen, wait), CPU)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
        finally:
            done()

    a = threading.Thread(target=run, args=(True, seen_a, lambda: (a_in.set(), b_in.wait(5)), a_done.set))
    b = threading.Thread(target=run, args=(False, seen_b, lambda: (b_in.set(), a_done.wait(5)), lambda: None))
    a.start()
    assert a_in.wait(5)
    b.start()
    a.join(10)
    b.join(10)
    assert not errors, errors
    strict = "ieee" if NEW_API else False
    assert seen_b == [strict]  # B's kernels ran without TF32 although A allowed it
    assert matmul_precision() == before


def test_nested_blocks_restore_once():
    from gpuml.device import compute_context

    before = matmul_precision()
    with gpuml.config_context(allow_tf32=True), compute_context(CPU):
        inner = []
        run_pass(ArraySource(np.ones((4, 2))), Spy(inner), CPU)
        assert matmul_precision() == ("tf32" if NEW_API else True)
    assert inner == [("tf32" if NEW_API else True)]
    assert matmul_precision() == before


def test_older_torch_uses_the_legacy_flag(monkeypatch):
    # torch 2.4-2.8: torch.backends.cuda.matmul has allow_tf32 only
    legacy = types.SimpleNamespace(allow_tf32=False)
    monkeypatch.setattr(torch.backends.cuda, "matmul", legacy)
    seen = []

    class LegacySpy(Gram):
        def update(self, state, X, y, w):
            seen.append(legacy.allow_tf32)
            return super().update(state, X, y, w)

    with gpuml.config_context(allow_tf32=True):
        run_pass(ArraySource(np.ones((10, 3))), LegacySpy(torch.float64), CPU)
    assert seen == [True] and legacy.allow_tf32 is False
    assert not hasattr(legacy, "fp32_precision")
