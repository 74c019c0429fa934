"""Fitting a .npy file several times larger than the memory limit stays within the limit.

Measured in a subprocess (a fresh process, so nothing else's allocations count):
on the CPU the peak anonymous resident memory, excluding the file's page cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from gpuml.cluster import KMeans
from gpuml.device import CPU_CHUNK_CAP, CPU_RESIDENT_CAP
from gpuml.linear_model import Ridge

LIMIT = 8 * 2**20  # 8 MiB working memory
N, D = 300_000, 15  # 300,000 x 16 float64: 38 MB on disk, 4.6x the limit

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D)) + rng.uniform(-5, 5, D)
    y = X @ rng.standard_normal(D) + rng.standard_normal(N)
    path = tmp_path_factory.mktemp("big") / "xy.npy"
    np.save(path, np.c_[X, y])
    return path, X, y


def _run(path, model, limit=LIMIT):
    script = os.path.join(os.path.dirname(__file__), "_peak_memory.py")
    out = subprocess.run([sys.executable, script, str(path), str(limit), model],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("model", ["Ridge", "KMeans"])
def test_streamed_fit_stays_within_the_limit_and_is_exact(big_file, model):
    path, X, y = big_file
    assert os.path.getsize(path) >= 4 * LIMIT
    got = _run(path, model)
    if model == "Ridge":
        ref = Ridge(alpha=1.0, device="cpu").fit(X, y).coef_
    else:
        ref = KMeans(4, init=X[:4], n_init=1, max_iter=3, tol=0, device="cpu").fit(X).cluster_centers_
    np.testing.assert_allclose(got["result"], ref, rtol=1e-9, atol=1e-9)
    # KMeans also returns labels_ (int32 per row): the chunks' labels, their concatenation,
    # and the nearest-center work of the final assignment pass
    outputs = N * 16 if model == "KMeans" else 0
    allowed = LIMIT + outputs
    print(f"{model}: peak extra anonymous memory {got['peak_extra'] / 2**20:.1f} MiB "
          f"(limit {LIMIT / 2**20:.0f} MiB, file {os.path.getsize(path) / 2**20:.0f} MiB)")
    assert got["peak_extra"] <= allowed, (got["peak_extra"], allowed)


def test_default_budget_on_the_cpu_streams_a_file_instead_of_copying_it(tmp_path):
    # with no memory_limit, KMeans read a file below half the host's free memory into RAM
    # (joined from parts: twice its size at the peak; 2.56 GB of data peaked at 11.9 GB).
    # On the CPU the resident copy is capped (CPU_RESIDENT_CAP): a larger file streams from
    # its memory map, and a pass's working memory is within CPU_CHUNK_CAP.
    n, d = 1_100_000, 15
    rng = np.random.default_rng(0)
    path = tmp_path / "xy.npy"
    xy = np.lib.format.open_memmap(path, "w+", np.float64, (n, d + 1))
    for s in range(0, n, 100_000):
        xy[s:s + 100_000] = rng.standard_normal((min(100_000, n - s), d + 1))
    xy.flush()
    size = os.path.getsize(path)
    assert size > CPU_RESIDENT_CAP // 2
    got = _run(path, "KMeans", "default")
    X = np.asarray(xy[:, :-1])
    del xy
    ref = KMeans(4, init=X[:4], n_init=1, max_iter=3, tol=0, device="cpu").fit(X).cluster_centers_
    np.testing.assert_allclose(got["result"], ref, rtol=1e-9, atol=1e-9)
    allowed = CPU_CHUNK_CAP + n * 16  # a pass's working memory, and the labels (as above)
    print(f"default budget: peak extra {got['peak_extra'] / 2**20:.1f} MiB for a {size / 2**20:.0f} MiB file")
    assert got["peak_extra"] <= allowed, (got["peak_extra"], allowed)
