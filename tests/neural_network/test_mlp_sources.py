"""MLPClassifier / MLPRegressor from gpuml.data sources: in memory when they fit, streamed otherwise."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import torch
from sklearn.datasets import load_diabetes, load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import gpuml
from gpuml._config import parse_bytes
from gpuml.data import (
    ArraySource,
    CsvSource,
    IterableSource,
    NpyShardsSource,
    NpySource,
    ParquetSource,
)
from gpuml.neural_network import MLPClassifier, MLPRegressor, _stream, _train

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X_DIG, Y_DIG = load_digits(return_X_y=True)
XTR, XTE, YTR, YTE = train_test_split(X_DIG, Y_DIG, random_state=0)
_SCALER = StandardScaler().fit(XTR)
XTR, XTE = _SCALER.transform(XTR), _SCALER.transform(XTE)
X_SMALL, Y_SMALL = XTR[:400], YTR[:400]
X_REG, Y_REG = load_diabetes(return_X_y=True)
X_REG, Y_REG = StandardScaler().fit_transform(X_REG), (Y_REG - Y_REG.mean()) / Y_REG.std()
#: small enough that none of these data sets fits (the 400 x 64 float64 rows take 200 KB and
#: half the resident budget is 128 KB): they are streamed in chunks of a few dozen rows
LIMIT = "256KB"
KINDS = ["array", "npy", "npy-target-column", "shards", "parquet", "csv", "iterable", "iterable-function"]


def _source(kind: str, tmp_path, X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None):
    """X and y (and w, for array and iterable sources) written as a source of ``kind``."""
    if kind == "array":
        return ArraySource(X, y, w)
    if kind == "npy":
        np.save(tmp_path / "X.npy", X)
        np.save(tmp_path / "y.npy", y)
        return NpySource(tmp_path / "X.npy", y=tmp_path / "y.npy")
    if kind == "npy-target-column":
        np.save(tmp_path / "Xy.npy", np.c_[X, y])
        return NpySource(tmp_path / "Xy.npy", target=-1)
    if kind == "shards":
        (tmp_path / "shards").mkdir()
        for i, part in enumerate(np.array_split(np.c_[X, y], 3)):
            np.save(tmp_path / "shards" / f"part{i}.npy", part)
        return NpyShardsSource(tmp_path / "shards", target=-1)
    if kind in ("parquet", "csv"):
        table = pa.table({**{f"x{j}": X[:, j] for j in range(X.shape[1])}, "y": y})
        if kind == "csv":
            pacsv.write_csv(table, tmp_path / "data.csv")
            return CsvSource(tmp_path / "data.csv", target="y")
        pq.write_table(table, tmp_path / "data.parquet", row_group_size=128)
        return ParquetSource(tmp_path / "data.parquet", target="y")
    parts = [(X[s:s + 100], y[s:s + 100]) + (() if w is None else (w[s:s + 100],)) for s in range(0, len(X), 100)]
    if kind == "iterable":
        return IterableSource(parts)
    assert kind == "iterable-function"
    return IterableSource(lambda: iter(parts))


def _spy(src) -> list[int]:
    """Record the rows of every read request made to ``src`` (and to its shards: by ``take``;
    their ``chunks`` are memory-map views, read by the piece the source asks for)."""
    sizes: list[int] = []
    for s in [src, *getattr(src, "shards", [])]:
        for name in ("chunks", "take") if s is src else ("take",):
            real = getattr(s, name)

            def wrapped(arg, real=real, name=name):
                sizes.append(int(arg) if name == "chunks" else len(arg))
                return real(arg)

            setattr(s, name, wrapped)
    return sizes


def _weights(est) -> list[np.ndarray]:
    return est.coefs_ + est.intercepts_


def _assert_same(a, b, rtol=1e-12, atol=1e-14) -> None:
    for wa, wb in zip(_weights(a), _weights(b)):
        np.testing.assert_allclose(wa, wb, rtol=rtol, atol=atol)


def _skip_f64_on_mps(device):
    if device == "mps":
        pytest.skip("MPS has no float64")


# -- a source that fits: read once, trained on exactly as arrays ----------------------

@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("task", ["classifier", "regressor"])
def test_source_that_fits_trains_exactly_as_arrays(kind, task, device, tmp_path):
    _skip_f64_on_mps(device)
    if task == "classifier":
        make, X, y = MLPClassifier, X_SMALL, Y_SMALL
    else:
        make, X, y = MLPRegressor, X_REG, Y_REG
    params = dict(hidden_layer_sizes=(16,), max_iter=3, random_state=0, device=device)
    ref = make(**params).fit(X, y)
    est = make(**params).fit(_source(kind, tmp_path, X, y), None)
    _assert_same(est, ref)
    assert est.loss_curve_ == pytest.approx(ref.loss_curve_, rel=1e-12)
    assert est.n_features_in_ == X.shape[1] and est.n_iter_ == 3
    if task == "classifier":
        np.testing.assert_array_equal(est.classes_, ref.classes_)
        np.testing.assert_array_equal(est.predict(XTE), ref.predict(XTE))
    if kind in ("parquet", "csv"):
        assert list(est.feature_names_in_) == [f"x{j}" for j in range(X.shape[1])]


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_source_that_fits_other_solvers_weights_and_early_stopping(solver, tmp_path):
    w = np.random.default_rng(0).uniform(0.5, 2, len(X_SMALL))
    params = dict(hidden_layer_sizes=(8,), solver=solver, max_iter=5, random_state=0, device="cpu",
                  early_stopping=solver == "sgd", validation_fraction=0.2)
    ref = MLPClassifier(**params).fit(X_SMALL, Y_SMALL, sample_weight=w)
    est = MLPClassifier(**params).fit(_source("iterable", tmp_path, X_SMALL, Y_SMALL, w))
    _assert_same(est, ref, rtol=1e-10)
    if solver == "sgd":
        assert est.validation_scores_ == pytest.approx(ref.validation_scores_)


def test_partial_fit_from_a_source_that_fits(tmp_path):
    params = dict(hidden_layer_sizes=(16,), random_state=0, device="cpu")
    ref, est = MLPClassifier(**params), MLPClassifier(**params)
    src = _source("parquet", tmp_path, X_SMALL, Y_SMALL)
    for _ in range(2):
        ref.partial_fit(X_SMALL, Y_SMALL, classes=np.arange(10))
        est.partial_fit(src, classes=np.arange(10))
    _assert_same(est, ref)
    multilabel = np.stack([Y_SMALL % 2, Y_SMALL > 4, Y_SMALL == 3], 1).astype(int)
    ref = MLPClassifier(**params).partial_fit(X_SMALL, multilabel, classes=np.arange(3))
    est = MLPClassifier(**params).partial_fit(ArraySource(X_SMALL, multilabel), classes=np.arange(3))
    _assert_same(est, ref)
    assert est.n_outputs_ == 3


# -- a source that does not fit: streamed ----------------------------------------------

@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
@pytest.mark.parametrize("kind", ["npy", "shards", "parquet", "csv", "iterable-function"])
def test_streamed_fit_reads_chunks_and_scores_as_in_memory(kind, device, tmp_path):
    params = dict(hidden_layer_sizes=(64,), learning_rate_init=0.01, max_iter=20, random_state=0, device=device)
    in_memory = MLPClassifier(**params).fit(XTR, YTR).score(XTE, YTE)
    src = _source(kind, tmp_path, XTR, YTR)
    sizes = _spy(src)
    with gpuml.config_context(memory_limit=LIMIT):
        est = MLPClassifier(**params).fit(src)
        again = MLPClassifier(**params).fit(src)
    streamed = est.score(XTE, YTE)
    assert streamed > 0.95 and abs(streamed - in_memory) <= 0.03, (streamed, in_memory)
    _assert_same(est, again, rtol=0, atol=0)  # the same random_state: the same chunk orders and shuffles
    # read piece by piece: many reads per epoch, none near the whole file
    assert len(sizes) > 2 * params["max_iter"]
    limit_rows = parse_bytes(LIMIT) // (XTR.shape[1] * 8)
    assert max(sizes) <= limit_rows < len(XTR), (max(sizes), limit_rows)
    assert not np.allclose(_weights(est)[0], _weights(MLPClassifier(**params).fit(XTR, YTR))[0])


def test_streamed_chunk_order_changes_every_epoch(tmp_path):
    src = _source("npy", tmp_path, X_SMALL, Y_SMALL)
    starts: list[int] = []
    real = src.take

    def take(ids):
        starts.append(int(ids[0]))
        return real(ids)

    src.take = take
    with gpuml.config_context(memory_limit=LIMIT):
        MLPClassifier((8,), max_iter=3, random_state=0, device="cpu").fit(src)
    n_chunks = len(set(starts))
    epochs = [starts[i:i + n_chunks] for i in range(0, len(starts), n_chunks)]
    assert n_chunks > 3 and len(epochs) == 3
    assert all(sorted(e) == sorted(set(starts)) for e in epochs)  # every chunk once per epoch
    assert len({tuple(e) for e in epochs}) == 3 and all(e != sorted(e) for e in epochs)


@pytest.mark.parametrize("batch_size", [7, 150, 400])
def test_streamed_without_shuffle_takes_the_in_memory_steps(batch_size, device, monkeypatch):
    # rows in file order: the same batches, whether they lie in one chunk or straddle several
    _skip_f64_on_mps(device)
    chunks, real = [], _stream._Steps.update

    def update(self, state, X, Y, w):
        chunks.append(len(X))
        return real(self, state, X, Y, w)

    monkeypatch.setattr(_stream._Steps, "update", update)
    w = np.random.default_rng(0).uniform(0.5, 2, len(X_REG))
    params = dict(hidden_layer_sizes=(16,), max_iter=3, shuffle=False, batch_size=batch_size, random_state=0,
                  precision="float64", device=device)
    ref = MLPRegressor(**params).fit(X_REG, Y_REG, sample_weight=w)
    with gpuml.config_context(memory_limit="64KB"):
        est = MLPRegressor(**params).fit(ArraySource(X_REG, Y_REG, w))
    _assert_same(est, ref, rtol=1e-9, atol=1e-12)
    assert est.loss_curve_ == pytest.approx(ref.loss_curve_, rel=1e-9)
    assert est.t_ == ref.t_ == 3 * len(X_REG)
    assert len(chunks) >= 6 and sum(chunks) == 3 * len(X_REG)  # streamed: several chunks per epoch
    if batch_size > 7:
        assert any(c % batch_size for c in chunks)  # so some batches straddle two chunks


def test_streamed_out_of_memory_in_a_straddling_batch_redoes_that_piece(monkeypatch):
    params = dict(hidden_layer_sizes=(16,), max_iter=1, shuffle=False, batch_size=150, random_state=0,
                  precision="float64", device="cpu")
    ref = MLPRegressor(**params).fit(X_REG, Y_REG)
    state = {"chunks": 0, "failed": False}
    real_update, real_grad = _stream._Steps.update, _train.grad_chunk

    def update(self, st, X, Y, w):
        state["chunks"] += 1
        return real_update(self, st, X, Y, w)

    def grad_chunk(net, X, Y, w):
        # the first piece of the second chunk continues a batch begun in the first one; it fails
        # after adding into the gradient sums (as an allocation in the backward pass may)
        if state["chunks"] == 2 and not state["failed"]:
            state["failed"] = True
            real_grad(net, X, Y, w)
            raise torch.OutOfMemoryError("out of memory (injected)")
        return real_grad(net, X, Y, w)

    monkeypatch.setattr(_stream._Steps, "update", update)
    monkeypatch.setattr(_train, "grad_chunk", grad_chunk)
    with gpuml.config_context(memory_limit="64KB"):
        est = MLPRegressor(**params).fit(ArraySource(X_REG, Y_REG))
    assert state["failed"] and state["chunks"] >= 2
    _assert_same(est, ref, rtol=1e-9, atol=1e-12)


def test_streamed_lbfgs_and_max_batch(device, tmp_path):
    _skip_f64_on_mps(device)
    params = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=15, random_state=0, precision="float64",
                  device=device)
    ref = MLPClassifier(**params).fit(X_SMALL, Y_SMALL)
    src = _source("parquet", tmp_path, X_SMALL, Y_SMALL)
    with gpuml.config_context(memory_limit=LIMIT):
        est = MLPClassifier(**params).fit(src)
        big = MLPClassifier((8,), batch_size="max", max_iter=2, random_state=0, device=device).fit(src)
    _assert_same(est, ref, rtol=1e-9, atol=1e-12)  # one pass per loss evaluation: the same objective
    assert 1 <= big.batch_size_ < len(X_SMALL) and big.n_iter_ == 2  # the limit binds: not every row


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_streamed_string_labels_and_partial_fit(tmp_path):
    names = np.array([f"digit {k}" for k in range(10)])
    src = _source("parquet", tmp_path, X_SMALL, names[Y_SMALL])
    params = dict(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0, device="cpu")
    with gpuml.config_context(memory_limit=LIMIT):
        est = MLPClassifier(max_iter=10, **params).fit(src)
        inc = MLPClassifier(**params)
        for _ in range(10):
            inc.partial_fit(src, classes=names)
    for e in (est, inc):
        np.testing.assert_array_equal(e.classes_, names)
        assert (e.predict(XTE) == names[YTE]).mean() > 0.84  # float64 training on the CPU: 0.849
    assert inc.t_ == 10 * len(X_SMALL)


def test_one_shot_iterable_source():
    def one_shot(y):
        return IterableSource((X_SMALL[s:s + 50], y[s:s + 50]) for s in range(0, len(X_SMALL), 50))

    params = dict(hidden_layer_sizes=(8,), random_state=0, device="cpu")
    y_reg = Y_SMALL / 9.0
    reg = MLPRegressor(max_iter=1, **params).fit(one_shot(y_reg))
    assert reg.n_iter_ == 1 and reg.t_ == len(X_SMALL)
    ref = MLPRegressor(max_iter=1, shuffle=False, **params).fit(X_SMALL, y_reg)
    assert reg.coefs_[0].shape == ref.coefs_[0].shape
    with pytest.raises(ValueError, match="one-shot iterator"):
        MLPRegressor(max_iter=2, **params).fit(one_shot(y_reg))
    with pytest.raises(ValueError, match="one-shot iterator"):
        MLPRegressor(solver="lbfgs", max_iter=1, **params).fit(one_shot(y_reg))
    with pytest.raises(ValueError, match="one-shot iterator.*partial_fit"):
        MLPClassifier(max_iter=1, **params).fit(one_shot(Y_SMALL))
    clf = MLPClassifier(**params)
    src = one_shot(Y_SMALL)
    clf.partial_fit(src, classes=np.arange(10))
    assert clf.t_ == len(X_SMALL)
    with pytest.raises(ValueError, match="already read"):
        clf.partial_fit(src)


# -- what a source cannot do ----------------------------------------------------------

def test_bad_sources_are_clear_errors(tmp_path):
    np.save(tmp_path / "X.npy", X_SMALL)
    no_target = NpySource(tmp_path / "X.npy")
    for est in (MLPClassifier(device="cpu"), MLPRegressor(device="cpu")):
        with pytest.raises(ValueError, match="target"):
            est.fit(no_target)
        with pytest.raises(ValueError, match="target"):
            est.partial_fit(no_target, **({"classes": np.arange(10)} if isinstance(est, MLPClassifier) else {}))
    src = _source("npy", tmp_path, X_SMALL, Y_SMALL)
    with pytest.raises(ValueError, match="y comes from the source"):
        MLPClassifier(device="cpu").fit(src, Y_SMALL)
    with pytest.raises(ValueError, match="sample weights of a source"):
        MLPClassifier(device="cpu").fit(src, None, sample_weight=np.ones(len(X_SMALL)))
    with pytest.raises(ValueError, match="features"):
        MLPClassifier(max_iter=1, device="cpu").fit(X_SMALL[:, :10], Y_SMALL).partial_fit(src)
    with gpuml.config_context(memory_limit=LIMIT):
        with pytest.raises(ValueError, match="early_stopping=True"):
            MLPClassifier(early_stopping=True, device="cpu").fit(src)
        known = Y_SMALL < 9
        clf = MLPClassifier((8,), device="cpu").partial_fit(ArraySource(X_SMALL[known], Y_SMALL[known]),
                                                           classes=np.arange(9))
        with pytest.raises(ValueError, match="classes not in"):  # label 9, met chunk by chunk
            clf.partial_fit(src)
        with pytest.raises(ValueError, match="poisson"):
            MLPRegressor(loss="poisson", device="cpu").fit(ArraySource(X_SMALL, Y_SMALL - 5.0))
        with pytest.raises(ValueError, match="y comes from the source"):
            MLPRegressor(device="cpu").fit(src, Y_SMALL)
    bad = X_SMALL.copy()
    bad[300, 3] = np.nan
    with gpuml.config_context(memory_limit=LIMIT), pytest.raises(ValueError, match="NaN"):
        MLPClassifier(device="cpu").fit(_source("npy", tmp_path, bad, Y_SMALL))
    with pytest.raises(ValueError, match="NaN"):
        MLPClassifier(device="cpu").fit(ArraySource(bad, Y_SMALL))


def test_predict_from_a_source(tmp_path):
    est = MLPClassifier((8,), max_iter=2, random_state=0, device="cpu").fit(X_SMALL, Y_SMALL)
    src = _source("npy", tmp_path, XTE, YTE)
    np.testing.assert_array_equal(est.predict(src), est.predict(XTE))
    np.testing.assert_allclose(est.predict_proba(src), est.predict_proba(XTE))
