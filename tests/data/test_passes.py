"""Passes over row chunks: results do not depend on the chunking; OOM halves the chunk."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.preprocessing import scale

import gpuml
import gpuml.ops.knn
from gpuml.cluster import KMeans
from gpuml.data import ArraySource, DeviceMemoryError, plan_rows, run_pass
from gpuml.decomposition import PCA
from gpuml.linear_model import LinearRegression, LogisticRegression, Ridge
from gpuml.neighbors import NearestNeighbors
from gpuml.ops import Gram
from gpuml.preprocessing import StandardScaler

X_DIG, Y_DIG = load_digits(return_X_y=True)
TINY = "64KB"  # the digits (1797 x 64 float64, 920 KB) then take dozens of chunks

FITS = {
    "LinearRegression": (lambda d: LinearRegression(device=d), True, lambda e: np.r_[e.coef_, e.intercept_]),
    "Ridge": (lambda d: Ridge(alpha=3.0, device=d), True, lambda e: np.r_[e.coef_, e.intercept_]),
    "PCA": (lambda d: PCA(5, device=d), False, lambda e: np.r_[e.explained_variance_, np.abs(e.components_).ravel()]),
    "StandardScaler": (lambda d: StandardScaler(device=d), False, lambda e: np.r_[e.mean_, e.scale_]),
    "KMeans": (lambda d: KMeans(10, init=X_DIG[:10], n_init=1, device=d), False,
               lambda e: np.r_[e.cluster_centers_.ravel(), e.inertia_]),
    # on standardized digits, regularized: a well-conditioned optimum both fits reach
    "LogisticRegression": (lambda d: LogisticRegression(C=0.01, tol=1e-9, max_iter=1000, device=d), True,
                           lambda e: np.r_[e.coef_.ravel(), e.intercept_]),
}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", FITS)
def test_chunked_fit_equals_in_memory_fit(name, device, dtype):
    make, needs_y, summary = FITS[name]
    X = (scale(X_DIG) if name == "LogisticRegression" else X_DIG).astype(dtype)
    y = Y_DIG if name == "LogisticRegression" else Y_DIG.astype(float)
    whole = summary(make(device).fit(X, y if needs_y else None))
    with gpuml.config_context(memory_limit=TINY):
        chunked = summary(make(device).fit(X, y if needs_y else None))
    # float64 accumulators make the closed-form and Lloyd fits independent of the chunking to
    # rounding (measured: <= 2e-13). LogisticRegression's L-BFGS stops within its tolerance of the
    # optimum: 4e-10 apart in float64, and 8e-5 in float32, whose logits are computed in float32
    rtol = {np.float32: 5e-4, np.float64: 1e-8}[dtype] if name == "LogisticRegression" else 1e-10
    np.testing.assert_allclose(chunked, whole, rtol=rtol, atol=rtol * np.abs(whole).max())


def test_chunked_kneighbors_equals_in_memory(device, dtype):
    X = X_DIG.astype(dtype)
    d0, i0 = NearestNeighbors(n_neighbors=7, device=device).fit(X).kneighbors(X[:300])
    with gpuml.config_context(memory_limit=TINY):
        d1, i1 = NearestNeighbors(n_neighbors=7, device=device).fit(X).kneighbors(X[:300])
    np.testing.assert_allclose(d1, d0, rtol=1e-6, atol=1e-6)  # distances recomputed exactly
    # digits has exact ties, which either fit may break its own way: check that the
    # returned rows are at the returned distances instead of comparing ids
    realized = np.linalg.norm(X[i1].astype(np.float64) - X[:300, None, :].astype(np.float64), axis=2)
    np.testing.assert_allclose(realized, d1, rtol=1e-5, atol=1e-5)


def test_no_query_by_index_block_larger_than_budget(monkeypatch):
    # the (queries x indexed rows) score block is never materialized whole
    budget = 256 * 1024
    seen = []
    real = gpuml.ops.knn.pairwise_scores

    def spy(Q, X, norms):
        out = real(Q, X, norms)
        seen.append(out.numel() * out.element_size())
        return out

    monkeypatch.setattr(gpuml.ops.knn, "pairwise_scores", spy)
    X = np.random.default_rng(0).standard_normal((4000, 16))
    with gpuml.config_context(memory_limit=budget):
        NearestNeighbors(n_neighbors=5, device="cpu").fit(X).kneighbors(X)
    assert len(seen) > 10
    assert max(seen) <= budget, (max(seen), budget)
    assert max(seen) < 4000 * 4000 * 8 / 50


class FlakyGram(Gram):
    """A Gram pass whose allocations 'fail' on chunks above ``limit`` rows (the CPU twin
    of a CUDA out-of-memory error)."""

    def __init__(self, limit, exc=torch.OutOfMemoryError):
        super().__init__(torch.float64, n_targets=1)
        self.limit, self.exc, self.failures, self.rows = limit, exc, 0, []

    def update(self, state, X, y, w):
        if X.shape[0] > self.limit:
            self.failures += 1
            raise self.exc("CUDA out of memory. Tried to allocate 2.00 GiB (fake)")
        self.rows.append(X.shape[0])
        return super().update(state, X, y, w)


@pytest.mark.parametrize("exc", [torch.OutOfMemoryError, MemoryError])
def test_out_of_memory_halves_the_chunk_and_gives_the_same_result(exc):
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((1000, 5)), rng.standard_normal(1000)
    src, dev = ArraySource(X, y), torch.device("cpu")
    ref = run_pass(src, Gram(torch.float64, n_targets=1), dev)
    flaky = FlakyGram(limit=70, exc=exc)
    got = run_pass(src, flaky, dev)
    assert flaky.failures >= 1 and max(flaky.rows) <= 70 and sum(flaky.rows) == 1000
    torch.testing.assert_close(got.cxx, ref.cxx, rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(got.cxy, ref.cxy, rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(got.mean_x, ref.mean_x, rtol=1e-12, atol=1e-12)


def test_gives_up_with_a_clear_error_when_one_row_does_not_fit():
    with pytest.raises(DeviceMemoryError, match="One row of this pass needs about"):
        run_pass(ArraySource(np.ones((10, 3)), np.ones(10)), FlakyGram(limit=0), torch.device("cpu"))


def test_other_runtime_errors_are_not_swallowed():
    class Broken(Gram):
        def update(self, state, X, y, w):
            raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        run_pass(ArraySource(np.ones((10, 3))), Broken(torch.float64), torch.device("cpu"))


def test_plan_rows_respects_the_budget():
    assert plan_rows(10_000, 100, 1_000_000) == 100
    assert plan_rows(10, 100, 50) == 1  # always at least one row
    assert plan_rows(10**12, 100, 50) == 50  # never more than the data


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no cuda device visible to PyTorch")
def test_real_cuda_out_of_memory_recovers():
    # a pass whose chunk is planned far too large for the free memory must still finish
    free = torch.cuda.mem_get_info()[0]
    n = 4096
    X = torch.randn(n, 8, device="cuda", dtype=torch.float64)
    ref = run_pass(ArraySource(X), Gram(torch.float64), torch.device("cuda"))

    class Hungry(Gram):
        def update(self, state, Xc, y, w):
            _ = torch.empty(int(free * 2 * Xc.shape[0] / n), dtype=torch.uint8, device="cuda")  # OOM when big
            return super().update(state, Xc, y, w)

    with gpuml.config_context(memory_limit=free * 4):
        got = run_pass(ArraySource(X), Hungry(torch.float64), torch.device("cuda"))
    torch.testing.assert_close(got.cxx, ref.cxx)


def test_prefetched_chunks_and_the_one_being_computed_stay_within_the_budget():
    # a file source read ahead in a thread: the chunk being computed, PREFETCH_DEPTH queued
    # and the one the reader holds while the queue is full are all alive at once
    import time
    import weakref

    from gpuml.data import Chunk, Source

    alive, totals, d, limit = [0], [], 100, 2_000_000

    class Fresh(Source):
        n_features, dtype, io_bound, validate, _n_rows = d, np.dtype(np.float64), True, False, 20_000

        def chunks(self, rows):
            for s in range(0, self._n_rows, rows):
                X = np.ones((min(rows, self._n_rows - s), d))
                alive[0] += 1
                weakref.finalize(X, lambda: alive.__setitem__(0, alive[0] - 1))
                yield Chunk(X, None, None, s)

    class Slow(Gram):
        def bytes_per_row(self, n_features, itemsize):
            return 8

        def update(self, state, X, y, w):
            time.sleep(0.02)  # the reader fills the queue meanwhile
            totals.append(alive[0] * X.nbytes + 8 * len(X))
            return state

    with gpuml.config_context(memory_limit=limit):
        run_pass(Fresh(), Slow(torch.float64), torch.device("cpu"))
    assert len(totals) > 4
    assert max(totals) <= limit // 2, (max(totals), limit // 2)
