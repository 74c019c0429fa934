"""Top-k selection by group minima: the same k smallest scores as a full sort."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gpuml.ops.knn import smallest


@pytest.mark.parametrize(
    "r, k",
    [(7, 7), (100, 1), (1000, 3), (2047, 5), (4096, 10), (20_000, 1), (20_001, 10), (30_000, 64)],
)
@pytest.mark.parametrize("ties", [False, True])
def test_smallest_picks_the_k_smallest(r, k, ties, device, dtype):
    rng = np.random.default_rng(r + k)
    s = rng.integers(0, 50, (9, r)) if ties else rng.standard_normal((9, r))
    scores = torch.as_tensor(s.astype(dtype), device=device)
    cols = smallest(scores, k)
    assert cols.shape == (9, k)
    assert all(len(set(row)) == k for row in cols.tolist())  # k distinct columns per row
    picked = scores.gather(1, cols).sort(1).values
    expected = scores.sort(1).values[:, :k]
    assert torch.equal(picked, expected)  # the same values; ties may pick other columns


def test_smallest_prunes_to_groups(monkeypatch):
    # on a long row the full-width top-k runs on the group minima, never on all r scores
    widths = []
    real = torch.topk

    def spy(t, k, **kw):
        widths.append(t.shape[1])
        return real(t, k, **kw)

    monkeypatch.setattr(torch, "topk", spy)
    smallest(torch.randn(4, 16384), 10)
    assert max(widths) < 16384 // 4
