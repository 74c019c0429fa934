"""Inputs converted as scikit-learn converts them, against scikit-learn in float64.

Integers and booleans are computed in float64, float16 and bfloat16 in float32 (chunk by
chunk: never a whole float32 copy), big-endian and Fortran-order data and memmaps like
any array; tensors that require grad are computed without autograd; complex data, empty
data and a non-numeric target of a regressor are scikit-learn's errors.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch
from sklearn import cluster as skc
from sklearn import linear_model as skl
from sklearn import neighbors as skn
from sklearn import preprocessing as skp

import gpuml
from gpuml.cluster import KMeans
from gpuml.data import ArraySource, IterableSource, NpySource, open_source, run_pass
from gpuml.linear_model import LinearRegression, LogisticRegression, Ridge
from gpuml.neighbors import KNeighborsClassifier, NearestNeighbors
from gpuml.neural_network import MLPRegressor
from gpuml.preprocessing import StandardScaler

N, D = 240, 4
_rng = np.random.default_rng(0)
XI = _rng.integers(0, 1000, (N, D))  # integers: exact in float16 too (|x| <= 2048)
COEF = np.array([0.5, 1.0, 1.5, 2.0])
Y = XI @ COEF + 3.0
CPU = "cpu"

# (input kind) -> a maker of gpuml's input from an int64 matrix, and the dtype it is computed in
def _npy(tmp, A, dtype):
    np.save(tmp / "x.npy", A.astype(dtype))
    return NpySource(tmp / "x.npy")


KINDS = {
    "int npy": (lambda tmp, A: _npy(tmp, A, np.int64), np.float64),
    "int32 memmap": (lambda tmp, A: np.load(_save(tmp, A.astype(np.int32)), mmap_mode="r"), np.float64),
    "float16 npy": (lambda tmp, A: _npy(tmp, A, np.float16), np.float32),
    "float16 array": (lambda tmp, A: A.astype(np.float16), np.float32),
    "big-endian npy": (lambda tmp, A: _npy(tmp, A, ">f8"), np.float64),
    "Fortran npy": (lambda tmp, A: _npy(tmp, np.asfortranarray(A), np.float32), np.float32),
    "big-endian array": (lambda tmp, A: A.astype(">f8"), np.float64),
    "Fortran array": (lambda tmp, A: np.asfortranarray(A.astype(np.float64)), np.float64),
    "requires_grad tensor": (lambda tmp, A: torch.tensor(A, dtype=torch.float64, requires_grad=True), np.float64),
    "int tensor": (lambda tmp, A: torch.as_tensor(A), np.float64),
    "bfloat16 tensor": (lambda tmp, A: torch.as_tensor(A[:, :], dtype=torch.bfloat16), np.float32),
}


def _save(tmp, A):
    np.save(tmp / "m.npy", A)
    return tmp / "m.npy"


def _values(X) -> np.ndarray:
    """The numbers X holds, in float64 (what scikit-learn is fitted on)."""
    if isinstance(X, torch.Tensor):
        return X.detach().double().numpy()
    if isinstance(X, NpySource):
        return np.asarray(X.X, dtype=np.float64)
    return np.asarray(X, dtype=np.float64)


def _tol(dtype):
    """Measured (coefficients, scales, centres, distances, relative to scikit-learn's): float64
    paths at most 2.1e-15, float32 ones (float16/bfloat16 inputs) at most 5.3e-8."""
    return dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-6, atol=1e-6)


def _data(kind):
    A = XI if kind != "bfloat16 tensor" else (XI // 8)  # bfloat16 holds integers up to 256 exactly
    return A


@pytest.mark.parametrize("kind", KINDS)
def test_linear_models_and_scaler_equal_sklearn(tmp_path, kind, device):
    make, dtype = KINDS[kind]
    if device == "mps" and dtype == np.float64:
        pytest.skip("MPS has no float64")
    A = _data(kind)
    X = make(tmp_path, A)
    V = _values(X)
    np.testing.assert_array_equal(V, A)  # the inputs hold exactly these integers
    y = V @ COEF + 3.0
    src_y = isinstance(X, NpySource)
    if src_y:
        X = NpySource(X.path, y=y)
    lr = LinearRegression(device=device).fit(X, None if src_y else y)
    np.testing.assert_allclose(lr.coef_, COEF, **_tol(dtype))  # integer arithmetic gave [0 1 1 2]
    assert lr.coef_.dtype == dtype
    ref = skl.Ridge(alpha=10.0).fit(V, y)
    got = Ridge(alpha=10.0, device=device).fit(X, None if src_y else y)
    np.testing.assert_allclose(got.coef_, ref.coef_, **_tol(dtype))
    np.testing.assert_allclose(got.intercept_, ref.intercept_, **_tol(dtype))
    ref = skp.StandardScaler().fit(V)
    got = StandardScaler(device=device).fit(X if not src_y else NpySource(X.path))
    np.testing.assert_allclose(got.mean_, ref.mean_, **_tol(dtype))
    np.testing.assert_allclose(got.scale_, ref.scale_, **_tol(dtype))


@pytest.mark.parametrize("kind", KINDS)
def test_kmeans_and_neighbors_equal_sklearn(tmp_path, kind, device):
    make, dtype = KINDS[kind]
    if device == "mps" and dtype == np.float64:
        pytest.skip("MPS has no float64")
    X = make(tmp_path, _data(kind))
    V = _values(X)
    init = V[:3].copy()
    ref = skc.KMeans(3, init=init, n_init=1, max_iter=50, tol=0).fit(V)
    got = KMeans(3, init=init, n_init=1, max_iter=50, tol=0, device=device).fit(X)  # crashed on integer .npy
    np.testing.assert_allclose(got.cluster_centers_, ref.cluster_centers_, **_tol(dtype))
    np.testing.assert_array_equal(got.labels_, ref.labels_)
    ref_d, _ = skn.NearestNeighbors(n_neighbors=3).fit(V).kneighbors(V[:40])
    got_d, _ = NearestNeighbors(n_neighbors=3, device=device).fit(X).kneighbors(V[:40])
    np.testing.assert_allclose(got_d, ref_d, **_tol(dtype))


def test_bool_data_is_float64():
    Xb = XI % 3 == 0
    V = Xb.astype(np.float64)
    y = V @ COEF
    for X in (Xb, torch.as_tensor(Xb)):
        got = LinearRegression(device=CPU).fit(X, y if isinstance(X, np.ndarray) else torch.as_tensor(y))
        np.testing.assert_allclose(got.coef_, COEF, rtol=1e-9)
        sc = StandardScaler(device=CPU).fit(X)
        np.testing.assert_allclose(sc.scale_, skp.StandardScaler().fit(V).scale_, rtol=1e-12)
        assert sc.scale_.dtype == np.float64


def test_requires_grad_is_computed_without_autograd():
    X = torch.tensor(XI, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(Y, requires_grad=True)
    w = torch.ones(N, dtype=torch.float64, requires_grad=True)
    est = Ridge(device=CPU).fit(X, y, sample_weight=w)
    pred = est.predict(X)
    assert not pred.requires_grad and pred.grad_fn is None  # was a graph through every pass
    for out in (StandardScaler(device=CPU).fit(X).transform(X), KMeans(2, n_init=1, device=CPU).fit(X).transform(X),
                NearestNeighbors(n_neighbors=2, device=CPU).fit(X).kneighbors(X)[0]):
        assert not out.requires_grad
    src = IterableSource([(X[:100], y[:100]), (X[100:], y[100:])])
    assert not Ridge(device=CPU).fit(src).predict(X).requires_grad
    assert X.grad is None


def test_float_dtype_is_scikit_learns_but_for_half_precision():
    from gpuml.data import float_dtype

    assert [float_dtype(d) for d in (np.int8, np.uint64, np.bool_, np.float32, ">f8", np.longdouble)] == [
        np.float64, np.float64, np.float64, np.float32, np.float64, np.float64]
    assert float_dtype(np.float16) == float_dtype(torch.float16) == float_dtype(torch.bfloat16) == np.float32
    assert float_dtype(torch.int32) == np.float64
    with pytest.raises(ValueError, match="Complex data not supported"):
        float_dtype(np.complex64)


def test_complex_is_an_error(tmp_path):
    Xc = XI.astype(np.complex128)
    np.save(tmp_path / "c.npy", Xc)
    for make in (lambda: Xc, lambda: torch.as_tensor(Xc), lambda: IterableSource([Xc[:10]])):
        with pytest.raises(ValueError, match="Complex data not supported"):
            StandardScaler(device=CPU).fit(make())
    with pytest.raises(ValueError, match="complex128.*Complex data not supported"):
        open_source(tmp_path / "c.npy")


def test_float16_file_is_converted_chunk_by_chunk(tmp_path):
    n, d = 100_000, 8
    np.save(tmp_path / "h.npy", np.ones((n, d), dtype=np.float16))
    src = NpySource(tmp_path / "h.npy")
    assert src.dtype == np.float32 and src.itemsize == 4  # the planner counts float32 rows
    assert [(c.X.dtype, len(c.X)) for c in src.chunks(40_000)] == [(np.float32, 40_000)] * 2 + [(np.float32, 20_000)]

    class Rows:  # records the chunks a pass computes on
        def init(self, n_features, device):
            return []

        def update(self, state, X, y, w):
            return state + [(X.dtype, len(X))]

        def merge(self, a, b):
            return a + b

        def bytes_per_row(self, n_features, itemsize):
            return n_features * itemsize

    with gpuml.config_context(memory_limit="1MB"):
        seen = run_pass(src, Rows(), torch.device("cpu"))
        tracemalloc.start()
        StandardScaler(device=CPU).fit(src)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert {dt for dt, _ in seen} == {torch.float32} and sum(r for _, r in seen) == n
    assert max(r for _, r in seen) < n // 4
    assert peak < n * d * 4 // 4, peak  # no whole float32 copy (3.2 MB) of the file: measured 0.2 MB


def test_empty_input_is_scikit_learns_error(tmp_path):
    np.save(tmp_path / "z.npy", np.zeros((0, 4)))
    np.save(tmp_path / "f.npy", np.zeros((5, 0)))
    for est in (KMeans(2, n_init=1, device=CPU), StandardScaler(device=CPU)):
        with pytest.raises(ValueError, match=r"Found array with 0 sample\(s\) \(shape=\(0, 4\)\)"):
            est.fit(open_source(tmp_path / "z.npy"))
        with pytest.raises(ValueError, match=r"0 feature\(s\)"):
            est.fit(open_source(tmp_path / "f.npy"))
    for est in (LogisticRegression(device=CPU), MLPRegressor(device=CPU), Ridge(device=CPU)):
        with pytest.raises(ValueError, match=r"Found array with 0 sample\(s\) \(shape=\(0, 3\)\)"):
            est.fit(open_source(tmp_path / "z.npy", target=-1))
    (tmp_path / "h.csv").write_text("a,b,y\n")
    with pytest.raises(ValueError, match=r"0 sample\(s\).*h.csv"):  # fitted zero coefficients
        Ridge(device=CPU).fit(open_source(tmp_path / "h.csv", target="y"))
    with pytest.raises(ValueError, match=r"0 sample\(s\)"):
        StandardScaler(device=CPU).fit(IterableSource([np.zeros((0, 3))]))


def test_string_target_of_a_regressor_is_scikit_learns_error(tmp_path):
    ys = np.array(["a", "b", "c"] * (N // 3))
    with pytest.raises(ValueError, match="could not convert string to float"):
        skl.Ridge().fit(XI, ys)
    for X in (XI.astype(float), torch.as_tensor(XI, dtype=torch.float64)):
        with pytest.raises(ValueError, match="could not convert string to float"):
            Ridge(device=CPU).fit(X, ys)
    (tmp_path / "s.csv").write_text("a,b,y\n1,2,x\n3,4,z\n5,6,x\n")
    with pytest.raises(ValueError, match="could not convert string to float.*s.csv"):
        Ridge(device=CPU).fit(open_source(tmp_path / "s.csv", target="y"))
    Xt = torch.as_tensor(XI, dtype=torch.float64)
    for X in (XI.astype(float), Xt):  # labels need not be numbers: a TypeError from torch for a tensor X
        est = KNeighborsClassifier(1, device=CPU).fit(X, ys)
        assert est.classes_.tolist() == ["a", "b", "c"] and est.predict(X[:6]).tolist() == ys[:6].tolist()
    big = Ridge(device=CPU).fit(Xt, Y.astype(">f8"))  # a big-endian y beside a tensor
    np.testing.assert_allclose(big.coef_, Ridge(device=CPU).fit(XI.astype(float), Y).coef_, rtol=1e-12)


def test_int_array_source_is_computed_in_float64():
    src = ArraySource(XI, Y)
    assert src.dtype == np.float64 and next(src.chunks(10)).X.dtype == np.float64
    assert src.take(np.array([3, 1])).X.dtype == np.float64
