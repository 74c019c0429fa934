"""Row argmin for the Lloyd step: the same values and first indices as torch's min."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gpuml.ops.kmeans import row_argmin_


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
