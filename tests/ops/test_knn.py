"""Top-k selection by group minima: the same columns as a stable full sort."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gpuml.ops.knn import first_k, smallest


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
    # the first k columns of a stable sort: the k smallest scores, ties to the smaller column
    expected = torch.sort(scores, dim=1, stable=True).indices[:, :k].sort(1).values
    assert torch.equal(cols, expected)


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


def test_first_k_breaks_ties_by_position(device):
    v = torch.tensor([[2.0, 1.0, 2.0, 1.0, 2.0, 0.0], [5.0, 5.0, 5.0, 5.0, 5.0, 5.0]], device=device)
    assert first_k(v, 3).tolist() == [[1, 3, 5], [0, 1, 2]]
