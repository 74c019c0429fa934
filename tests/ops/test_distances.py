"""Squared distances by one matrix product: exact at every magnitude of float32 data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gpuml.ops import sq_distances


@pytest.mark.parametrize("magnitude", [3e18, 1e-17, 1.0])
def test_sq_distances_neither_overflow_nor_underflow(magnitude):
    # float32 rows whose squared norms come near overflow (3e18: |x|^2 about 1e38) or underflow
    # (1e-17: 1e-34, near float32's smallest normal) are rescaled by a power of two before the
    # product; at 1.0 the product runs on the rows as they are
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((300, 5)) * magnitude).astype(np.float32)
    P = X[:4] + np.float32(magnitude / 10)
    got = sq_distances(torch.from_numpy(X), torch.from_numpy(P)).double().numpy()
    ref = ((X.astype(np.float64)[:, None, :] - P.astype(np.float64)[None, :, :]) ** 2).sum(-1)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * ref.max())
