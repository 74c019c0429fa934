"""Row argmin for the Lloyd step: the same values and first indices as torch's min."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gpuml.ops.kmeans import block_sums, nearest_center, row_argmin_


@pytest.mark.parametrize("k", [1, 2, 7, 32, 300])
@pytest.mark.parametrize("ties", [False, True])
def test_row_argmin_matches_min(k, ties, device, dtype):
    rng = np.random.default_rng(k)
    s = rng.integers(-3, 3, (5000, k)) if ties else rng.standard_normal((5000, k)) * 1e3
    scores = torch.as_tensor(s.astype(dtype), device=device)
    expected = scores.min(1)  # the first index of the minimum, as documented by torch
    values, indices = row_argmin_(scores.clone())
    assert indices.dtype == torch.int64
    assert torch.equal(values, expected.values)
    assert torch.equal(indices, expected.indices)


@pytest.mark.parametrize("offset", [0.0, 1e4, 1e19])
def test_nearest_center_is_the_float64_nearest(offset, device):
    # ranked on rows shifted to the centers' mean (and scaled near float32's overflow):
    # the float64 argmin on the same float32 values, distances computed directly
    rng = np.random.default_rng(0)
    scale = 1e18 if offset == 1e19 else 1.0
    C = (rng.standard_normal((7, 3)) * 4 * scale + offset).astype(np.float32)
    X = (C[rng.integers(0, 7, 20_000)] + rng.standard_normal((20_000, 3)).astype(np.float32) * scale)
    X = X.astype(np.float32)
    d64 = ((X.astype(np.float64)[:, None] - C.astype(np.float64)[None]) ** 2).sum(-1)
    labels, d2 = nearest_center(torch.as_tensor(X, device=device), torch.as_tensor(C, device=device))
    np.testing.assert_array_equal(labels.cpu().numpy(), d64.argmin(1))
    np.testing.assert_allclose(d2.cpu().numpy(), d64.min(1), rtol=1e-6)


def test_block_sums_do_not_depend_on_the_chunking(device):
    # float32 sums only within 1024-row blocks aligned to row ids, float64 beyond: one
    # chunk of 2**20 rows and chunks of 5000 rows give the float64 sums to float32's
    # rounding of a block sum, and equal each other as closely
    rng = np.random.default_rng(1)
    X = torch.as_tensor((rng.standard_normal((1 << 20, 2)) + 2.0).astype(np.float32), device=device)
    labels = torch.as_tensor(rng.integers(0, 3, 1 << 20), device=device)
    whole = block_sums(X, labels, 3, 0, torch.float64)
    parts = sum(block_sums(X[s:s + 5000], labels[s:s + 5000], 3, s, torch.float64) for s in range(0, 1 << 20, 5000))
    exact = torch.zeros(3, 2, dtype=torch.float64, device=device).index_add_(0, labels, X.double())
    np.testing.assert_allclose(whole.cpu().numpy(), exact.cpu().numpy(), rtol=1e-7)
    np.testing.assert_allclose(parts.cpu().numpy(), whole.cpu().numpy(), rtol=1e-7)
