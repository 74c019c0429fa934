"""Chan's merge: the moments of two halves merged equal the moments of the whole."""

from __future__ import annotations

import numpy as np
import torch

from gpuml.ops import Gram


def _state(g, X, y=None, w=None):
    return g.update(g.init(X.shape[1], X.device), X, y, w)


def test_merge_equals_whole_weighted_and_far_from_origin():
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.standard_normal((500, 4)) + 1e6)  # large mean: centering matters
    y = torch.from_numpy(rng.standard_normal((500, 2)))
    w = torch.from_numpy(rng.uniform(0, 3, 500))
    g = Gram(torch.float64, n_targets=2)
    whole = _state(g, X, y, w)
    merged = g.merge(_state(g, X[:123], y[:123], w[:123]), _state(g, X[123:], y[123:], w[123:]))
    for a, b in [(merged.cxx, whole.cxx), (merged.cxy, whole.cxy), (merged.mean_x, whole.mean_x)]:
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-6)
    # against float64 NumPy on the centered data
    Xc = X.numpy() - np.average(X.numpy(), axis=0, weights=w.numpy())
    np.testing.assert_allclose(whole.cxx.numpy(), (Xc * w.numpy()[:, None]).T @ Xc, rtol=1e-9)


def test_diagonal_matches_full():
    X = torch.randn(300, 5, dtype=torch.float64)
    full, diag = _state(Gram(torch.float64), X), _state(Gram(torch.float64, diagonal=True), X)
    torch.testing.assert_close(diag.cxx, torch.diagonal(full.cxx))


def test_caller_data_is_not_modified():
    X = torch.randn(50, 3, dtype=torch.float64)
    before = X.clone()
    _state(Gram(torch.float64), X)
    torch.testing.assert_close(X, before, rtol=0, atol=0)


def test_merge_with_empty_state_is_identity():
    g = Gram(torch.float64)
    X = torch.randn(20, 3, dtype=torch.float64)
    s = _state(g, X)
    m = g.merge(g.init(3, X.device), s)
    torch.testing.assert_close(m.cxx, s.cxx)
    torch.testing.assert_close(m.mean_x, s.mean_x)
