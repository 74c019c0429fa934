"""Hostile data for the parity suite: the shapes real data comes in, not standard normals.

Every case starts from the same well-posed problem in standardized coordinates Z: three
blobs six standard deviations apart (class labels), a linear target of Z with small noise,
and known blob centres. A case then moves Z where real data sits: far from the origin,
features on scales 1e7 apart, GPS coordinates in degrees with spreads of ~100 m,
duplicated rows, a constant or a collinear column. The targets stay the same, so every
estimator has a well-defined answer and scikit-learn in float64 on the same values is the
reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_FEATURES = 4
#: blob centres in Z (k = 3), six standard deviations apart
CENTRES = np.array([[-6.0, 0.0, 0.0, 0.0], [6.0, 0.0, 0.0, 0.0], [0.0, 6.0, 0.0, 0.0]])
BETA = np.array([1.0, -2.0, 3.0, 0.5])


def _offset(power: float):
    return lambda Z: Z + 10.0**power * np.arange(1.0, Z.shape[1] + 1)


def _scaled(Z):
    return Z * np.logspace(0, 7, Z.shape[1])  # features from 1 to 1e7


def _gps(Z):
    # (lat, lon) of a pickup and a drop-off in Paris, in degrees, spreads of ~1e-3 (100 m)
    return np.array([48.8566, 2.3522, 48.8606, 2.3376]) + 1e-3 * Z


def _constant(Z):
    X = Z.copy()
    X[:, 2] = 1234.5
    return X


def _collinear(Z):
    X = Z.copy()
    X[:, 3] = X[:, 0] + 2.0 * X[:, 1]
    return X


#: name -> the map from standardized Z to the data
TRANSFORMS = {
    "offset_1e3": _offset(3),
    "offset_1e5": _offset(5),
    "offset_1e8": _offset(8),  # float64 only: float32 cannot hold a spread of 1 at 1e8
    "scaled_1_to_1e7": _scaled,
    "gps": _gps,
    "duplicated": lambda Z: Z,  # rows repeated, see make()
    "constant_column": _constant,
    "collinear_columns": _collinear,
}
FLOAT32_CASES = [c for c in TRANSFORMS if c != "offset_1e8"]


@dataclass
class Case:
    X: np.ndarray  # (n, d) in the requested dtype
    labels: np.ndarray  # (n,) int, the blob of each row
    y: np.ndarray  # (n,) float64 regression target
    init: np.ndarray  # (3, d) KMeans start: the blob centres moved off by half a std, in X's dtype
    spread: np.ndarray  # (d,) standard deviation of each column of X (in float64)


def make(name: str, n: int = 3000, dtype=np.float64, seed: int = 0) -> Case:
    """The case ``name`` with n rows in ``dtype`` (``np.int64`` rounds the values)."""
    rng = np.random.default_rng(seed)
    m = n // 3 if name == "duplicated" else n
    labels = rng.integers(0, 3, m)
    Z = CENTRES[labels] + rng.standard_normal((m, N_FEATURES))
    y = Z @ BETA + 0.1 * rng.standard_normal(m)
    if name == "duplicated":  # every row three times, in a shuffled order
        idx = rng.permutation(np.repeat(np.arange(m), 3))
        Z, labels, y = Z[idx], labels[idx], y[idx]
    T = TRANSFORMS[name]
    X = T(Z)
    init = T(CENTRES + 0.5)
    if np.dtype(dtype).kind in "iu":
        X, init = np.round(X), np.round(init)
    X = X.astype(dtype)
    return Case(X, labels, y, init.astype(dtype), X.astype(np.float64).std(0))
