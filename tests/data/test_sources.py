"""Sources: every kind yields the same rows, and every estimator fits on every kind."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gpuml
from gpuml.cluster import KMeans
from gpuml.data import (
    ArraySource,
    CsvSource,
    IterableSource,
    NpyShardsSource,
    NpySource,
    ParquetSource,
    open_source,
)
from gpuml.decomposition import PCA
from gpuml.linear_model import LinearRegression, LogisticRegression, Ridge
from gpuml.neighbors import KNeighborsClassifier, KNeighborsRegressor, NearestNeighbors
from gpuml.preprocessing import StandardScaler

pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

N, D = 1500, 6


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D)) * [1, 2, 3, 4, 5, 6] + 10
    score = X @ rng.standard_normal(D)
    y = (score > np.median(score)).astype(np.int64)
    return X, y


@pytest.fixture(scope="module")
def files(tmp_path_factory, data):
    X, y = data
    root = tmp_path_factory.mktemp("sources")
    np.save(root / "xy.npy", np.c_[X, y])
    (root / "shards").mkdir()
    for i, part in enumerate(np.array_split(np.c_[X, y], 4)):
        np.save(root / "shards" / f"part-{i:02d}.npy", part)
    cols = {f"f{j}": X[:, j] for j in range(D)} | {"y": y}
    pq.write_table(pa.table(cols), root / "xy.parquet", row_group_size=400)
    (root / "pq").mkdir()
    for i, part in enumerate(np.array_split(np.arange(N), 3)):
        pq.write_table(pa.table({k: v[part] for k, v in cols.items()}), root / "pq" / f"p{i}.parquet")
    with open(root / "xy.csv", "w") as fh:
        fh.write(",".join(cols) + "\n")
        for i in range(N):
            fh.write(",".join(repr(float(X[i, j])) for j in range(D)) + f",{y[i]}\n")
    return root


def _sources(files, data):
    X, y = data
    blocks = [(X[s:s + 211], y[s:s + 211]) for s in range(0, N, 211)]
    return {
        "array": ArraySource(X, y),
        "npy": NpySource(files / "xy.npy", target=-1),
        "shards": NpyShardsSource(files / "shards", target=-1),
        "parquet": ParquetSource(files / "xy.parquet", target="y"),
        "parquet-folder": ParquetSource(files / "pq", target="y"),
        "csv": CsvSource(files / "xy.csv", target="y"),
        "iterable": IterableSource(blocks),
        "callable": IterableSource(lambda: iter(blocks)),
    }


KINDS = ["array", "npy", "shards", "parquet", "parquet-folder", "csv", "iterable", "callable"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rows", [1, 97, 400, 10_000])
def test_every_source_yields_the_same_rows(files, data, kind, rows):
    X, y = data
    src = _sources(files, data)[kind]
    chunks = list(src.chunks(rows))
    assert all(len(c.X) == rows for c in chunks[:-1]) and 0 < len(chunks[-1].X) <= rows
    assert [c.start for c in chunks] == list(range(0, N, rows))
    np.testing.assert_allclose(np.concatenate([np.asarray(c.X) for c in chunks]), X, rtol=1e-15)
    np.testing.assert_array_equal(np.concatenate([np.asarray(c.y) for c in chunks]).astype(np.int64), y)
    assert src.count_rows() == N and src.n_features == D


FITS = {
    "LinearRegression": (lambda d: LinearRegression(device=d), lambda e, X: e.predict(X)),
    "Ridge": (lambda d: Ridge(alpha=2.0, device=d), lambda e, X: e.predict(X)),
    "LogisticRegression": (lambda d: LogisticRegression(C=0.1, tol=1e-10, max_iter=500, device=d),
                           lambda e, X: e.predict_proba(X)),
    "KMeans": (lambda d: KMeans(4, random_state=0, device=d), lambda e, X: e.transform(X)),
    "PCA": (lambda d: PCA(3, device=d), lambda e, X: np.abs(e.transform(X))),
    "StandardScaler": (lambda d: StandardScaler(device=d), lambda e, X: e.transform(X)),
    "NearestNeighbors": (lambda d: NearestNeighbors(n_neighbors=4, device=d), lambda e, X: e.kneighbors(X[:50])[0]),
    "KNeighborsClassifier": (lambda d: KNeighborsClassifier(4, device=d), lambda e, X: e.predict_proba(X[:50])),
    "KNeighborsRegressor": (lambda d: KNeighborsRegressor(4, device=d), lambda e, X: e.predict(X[:50])),
}
SUPERVISED = {"LinearRegression", "Ridge", "LogisticRegression", "KNeighborsClassifier", "KNeighborsRegressor"}


@pytest.mark.parametrize("kind", ["npy", "shards", "parquet", "csv", "callable"])
@pytest.mark.parametrize("name", FITS)
def test_fit_on_a_source_equals_fit_on_the_array(files, data, kind, name, device):
    X, y = data
    make, use = FITS[name]
    yy = y.astype(float) if name in ("LinearRegression", "Ridge", "KNeighborsRegressor") else y
    ref = use(make(device).fit(X, yy if name in SUPERVISED else None), X)
    # a small memory limit: the file is streamed in many chunks, not read whole
    with gpuml.config_context(memory_limit="96KB"):
        est = make(device).fit(_sources(files, data)[kind], None)
        got = use(est, X)
        # and predicting from a source gives what predicting from the array gives
        if name in ("Ridge", "KMeans", "StandardScaler"):
            streamed = use(est, _sources(files, data)["npy" if kind == "csv" else kind])
            np.testing.assert_allclose(streamed, got, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)


def test_memmap_is_streamed_like_an_array(tmp_path, data):
    X, y = data
    path = tmp_path / "x.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    with gpuml.config_context(memory_limit="64KB"):
        a = Ridge(device="cpu").fit(mm, y.astype(float))
        pred = a.predict(mm)
    b = Ridge(device="cpu").fit(X, y.astype(float))
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-9)
    assert isinstance(pred, np.ndarray) and pred.shape == (N,)


def test_partial_fit_over_a_source_equals_fit(files, data):
    X, _ = data
    a = StandardScaler(device="cpu")
    for part in np.array_split(X, 3):
        a.partial_fit(IterableSource([part]))
    b = StandardScaler(device="cpu").fit(X)
    np.testing.assert_allclose(a.scale_, b.scale_, rtol=1e-12)
    assert a.n_samples_seen_ == N


def test_parquet_feature_names_are_checked(files, data):
    est = Ridge(device="cpu").fit(ParquetSource(files / "xy.parquet", target="y"))
    assert list(est.feature_names_in_) == [f"f{j}" for j in range(D)]
    other = ParquetSource(files / "xy.parquet", columns=["f1", "f0", "f2", "f3", "f4", "f5"])
    with pytest.raises(ValueError, match="feature names should match"):
        est.predict(other)


class TestBadSources:
    def test_missing_files(self, tmp_path):
        for make in (lambda p: NpySource(p), lambda p: ParquetSource(p), lambda p: CsvSource(p), open_source):
            with pytest.raises(FileNotFoundError, match="no such"):
                make(tmp_path / "missing.npy")

    def test_missing_and_non_numeric_columns(self, tmp_path):
        pq.write_table(pa.table({"a": [1.0, 2.0], "s": ["x", "y"]}), tmp_path / "t.parquet")
        with pytest.raises(ValueError, match="no column 'zz'"):
            ParquetSource(tmp_path / "t.parquet", target="zz")
        with pytest.raises(ValueError, match="'s' .* is not numeric"):
            ParquetSource(tmp_path / "t.parquet")
        assert ParquetSource(tmp_path / "t.parquet", columns=["a"]).n_features == 1

    def test_corrupt_parquet(self, tmp_path):
        (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
        with pytest.raises(ValueError, match="not a readable Parquet file"):
            ParquetSource(tmp_path / "bad.parquet")

    def test_nan_deep_in_a_csv_is_an_error_with_its_rows(self, tmp_path):
        lines = ["a,b"] + [f"{i},{i}" for i in range(5000)] + ["nan,1"]
        (tmp_path / "n.csv").write_text("\n".join(lines) + "\n")
        with gpuml.config_context(memory_limit="32KB"), pytest.raises(
                ValueError, match=r"Input X contains NaN \(row 5000 of .*n.csv, column 'a'\)"):
            StandardScaler(device="cpu").fit(CsvSource(tmp_path / "n.csv"))

    def test_text_in_a_numeric_csv_column(self, tmp_path):
        lines = ["a,b"] + [f"{i},{i}" for i in range(200_000)] + ["oops,1"]
        (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
        with pytest.raises(ValueError, match="t.csv"):
            StandardScaler(device="cpu").fit(CsvSource(tmp_path / "t.csv"))

    def test_one_shot_iterator_serves_one_pass_only(self, data):
        X, _ = data
        once = IterableSource(iter([X[:100], X[100:]]))
        StandardScaler(device="cpu").fit(once)  # one pass: fine
        with pytest.raises(ValueError, match="one-shot iterator"):
            PCA(2, device="cpu").fit(IterableSource(iter([X[:100], X[100:]])))

    def test_wrong_width_chunk(self, data):
        X, _ = data
        with pytest.raises(ValueError, match="features, expected 6"):
            StandardScaler(device="cpu").fit(IterableSource([X[:10], X[:10, :5]]))

    def test_y_with_a_source_is_an_error(self, data):
        X, y = data
        with pytest.raises(ValueError, match="y comes from the source"):
            Ridge(device="cpu").fit(ArraySource(X), y)
        with pytest.raises(ValueError, match="requires y"):
            Ridge(device="cpu").fit(ArraySource(X))

    def test_unknown_format(self, tmp_path):
        (tmp_path / "d.txt").write_text("1 2 3")
        with pytest.raises(ValueError, match="unknown data format"):
            open_source(tmp_path / "d.txt")


def test_tensor_source_on_device_is_not_copied(device):
    X = torch.randn(300, 4, device=device, dtype=torch.float64)
    chunks = list(ArraySource(X).chunks(100))
    assert all(c.X.data_ptr() == X[c.start].data_ptr() for c in chunks)


def test_negative_weights_from_a_source_are_an_error(data):
    X, y = data
    w = np.ones(len(X))
    w[700] = -1.0
    src = IterableSource([(X[:500], y[:500], w[:500]), (X[500:], y[500:], w[500:])])
    with pytest.raises(ValueError, match="sample weights must be finite and non-negative"):
        Ridge(device="cpu").fit(src)


@pytest.mark.parametrize("kind", KINDS)
def test_targets_read_alone_equal_the_chunks_targets(files, data, kind):
    _, y = data
    np.testing.assert_array_equal(np.asarray(_sources(files, data)[kind].targets()).astype(np.int64), y)


def test_shards_take_rows_in_any_order(files, data):
    X, y = data
    ids = np.array([1499, 3, 700, 375, 376, 0, 1125])  # across all four shards, unsorted
    c = NpyShardsSource(files / "shards", target=-1).take(ids)
    np.testing.assert_array_equal(c.X, X[ids])
    np.testing.assert_array_equal(c.y.astype(np.int64), y[ids])


def test_resident_on_the_cpu_shares_memory_but_copies_a_file(tmp_path, data):
    from gpuml.data import resident

    X, y = data
    held = resident(ArraySource(X, y), torch.device("cpu"), 1 << 30)  # in memory already: one view
    assert held.X.data_ptr() == X.ctypes.data and torch.equal(held.X, torch.from_numpy(X))
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    held = resident(ArraySource(mm, validate=True), torch.device("cpu"), 1 << 30)
    assert held.X.data_ptr() != mm.ctypes.data  # the file's rows are read into memory once
    np.testing.assert_array_equal(held.X.numpy(), X)
