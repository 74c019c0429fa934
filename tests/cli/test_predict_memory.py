"""`gpuml predict` streams its output: its peak memory stays within the limit, whatever the output's size.

Measured in a subprocess (a fresh process) as tests/data/test_memory.py measures fits: the peak
anonymous resident memory, excluding the page cache of the input and of the output file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from gpuml.cli._model import save_model
from gpuml.decomposition import PCA
from gpuml.preprocessing import StandardScaler

LIMIT = 8 * 2**20  # 8 MiB working memory
N, D = 300_000, 16  # 38 MB of float64 in, as much out: 4.6x the limit each
#: Measured (StandardScaler, 2 cores): 7.0 MiB to .npy, 9.0 MiB to .csv (pyarrow's buffers); before the
#: output was streamed, 112.6 MiB and 154.6 MiB. The constant covers allocator slack and a block in flight.
SLACK = 4 * 2**20

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    X = np.random.default_rng(0).standard_normal((N, D)) * 3 + 7
    np.save(root / "x.npy", X)
    return root, X


@pytest.mark.parametrize("make,fmt", [(lambda: StandardScaler(device="cpu"), "npy"),
                                      (lambda: PCA(D, device="cpu"), "csv")], ids=["StandardScaler-npy", "PCA-csv"])
def test_predict_streams_within_the_limit_and_is_exact(big_file, make, fmt):
    root, X = big_file
    est = make().fit(X[:5000])
    save_model(str(root / "m.gpuml"), est, {"target": None, "columns": None})
    out = root / f"out.{fmt}"
    script = os.path.join(os.path.dirname(__file__), "_peak_predict.py")
    run = subprocess.run([sys.executable, script, str(root / "m.gpuml"), str(root / "x.npy"), str(out), str(LIMIT)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["rc"] == 0
    print(f"{type(est).__name__} -> .{fmt}: peak extra anonymous memory {got['peak_extra'] / 2**20:.1f} MiB "
          f"(limit {LIMIT / 2**20:.0f} MiB, output {N * D * 8 / 2**20:.0f} MiB)")
    assert got["peak_extra"] <= LIMIT + SLACK, got
    if fmt == "npy":
        np.testing.assert_allclose(np.load(out, mmap_mode="r")[::997], est.transform(X[::997]), rtol=1e-12,
                                   atol=1e-12)
