"""MLPClassifier and MLPRegressor: scikit-learn's numbers, memory recovery, batch-size search, types."""

from __future__ import annotations

import functools
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn import neural_network as skn
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import gpuml
from gpuml.data import DeviceMemoryError
from gpuml.neural_network import MLPClassifier, MLPRegressor, _base, _train
from gpuml.neural_network._network import Layout, Network

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X_DIGITS, Y_DIGITS = load_digits(return_X_y=True)
X_DIGITS = StandardScaler().fit_transform(X_DIGITS)
X_IRIS, Y_IRIS = load_iris(return_X_y=True)
X_IRIS = StandardScaler().fit_transform(X_IRIS)
X_SMALL, Y_SMALL = X_DIGITS[:400], Y_DIGITS[:400]


def _skip_f64_on_mps(device):
    if device == "mps":
        pytest.skip("MPS has no float64")


def _weights(est):
    return est.coefs_ + est.intercepts_


def _assert_same_weights(a, b, rtol=1e-9, atol=1e-12):
    for wa, wb in zip(_weights(a), _weights(b)):
        np.testing.assert_allclose(wa, wb, rtol=rtol, atol=atol)


# -- scikit-learn's numbers ------------------------------------------------------------

def _reg_data():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


CONFIGS = {
    "adam-multiclass": (lambda: (X_SMALL, Y_SMALL), "clf", dict(hidden_layer_sizes=(32, 16), max_iter=4)),
    "sgd-nesterov-tanh-weighted": (lambda: (X_SMALL, Y_SMALL % 2), "clf",
                                   dict(solver="sgd", activation="tanh", max_iter=4, batch_size=64)),
    "sgd-invscaling-logistic-multilabel": (
        lambda: (X_SMALL, np.stack([Y_SMALL % 2, Y_SMALL > 4, Y_SMALL == 3], 1).astype(int)), "clf",
        dict(solver="sgd", activation="logistic", learning_rate="invscaling", nesterovs_momentum=False,
             max_iter=4)),
    "adam-early-stopping": (lambda: (X_SMALL, Y_SMALL), "clf",
                            dict(max_iter=15, early_stopping=True, n_iter_no_change=2, learning_rate_init=0.01)),
    "regression-early-stopping-noshuffle": (_reg_data, "reg", dict(max_iter=12, early_stopping=True, shuffle=False)),
    "regression-sgd-adaptive": (_reg_data, "reg", dict(solver="sgd", learning_rate="adaptive", tol=1e-2,
                                                       n_iter_no_change=2, max_iter=30)),
    "poisson": (lambda: (_reg_data()[0], np.exp(_reg_data()[1])), "reg", dict(loss="poisson", max_iter=5)),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_float64_training_is_scikit_learns_to_rounding(name, device):
    """Same draws, same math: precision="float64" reproduces scikit-learn's weights and curves."""
    _skip_f64_on_mps(device)
    data, kind, params = CONFIGS[name]
    X, y = data()
    sw = np.random.RandomState(0).randint(0, 4, len(y)).astype(float) if "weighted" in name else None
    Sk, Ours = (skn.MLPClassifier, MLPClassifier) if kind == "clf" else (skn.MLPRegressor, MLPRegressor)
    ref = Sk(random_state=0, **params).fit(X, y, sample_weight=sw)
    est = Ours(random_state=0, precision="float64", device=device, **params).fit(X, y, sample_weight=sw)
    # the CPU runs NumPy's arithmetic to the last bits; an accelerator's float64 kernels round differently
    _assert_same_weights(est, ref, *((1e-9, 1e-12) if device == "cpu" else (1e-6, 1e-9)))
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-10 if device == "cpu" else 1e-7)
    assert (est.n_iter_, est.t_, est.n_layers_, est.n_outputs_, est.out_activation_) == (
        ref.n_iter_, ref.t_, ref.n_layers_, ref.n_outputs_, ref.out_activation_)
    if ref.validation_scores_ is None:
        assert est.validation_scores_ is None and est.best_loss_ == pytest.approx(ref.best_loss_)
    else:
        np.testing.assert_allclose(est.validation_scores_, ref.validation_scores_, rtol=1e-7)
        assert est.best_loss_ is None
    np.testing.assert_allclose(est.predict(X), ref.predict(X), rtol=1e-6, atol=1e-9)


@functools.cache
def _split(name):
    loader = {"digits": load_digits, "breast_cancer": load_breast_cancer, "diabetes": load_diabetes}[name]
    X, y = loader(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0,
                                          stratify=None if name == "diabetes" else y)
    scaler = StandardScaler().fit(Xtr)
    Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
    if name == "diabetes":
        mean, std = ytr.mean(), ytr.std()
        ytr, yte = (ytr - mean) / std, (yte - mean) / std
    return Xtr, Xte, ytr, yte


@functools.cache
def _sklearn_score(name, kind, max_iter):
    Xtr, Xte, ytr, yte = _split(name)
    Sk = skn.MLPClassifier if kind == "clf" else skn.MLPRegressor
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return Sk(hidden_layer_sizes=(64,), max_iter=max_iter, random_state=0).fit(Xtr, ytr).score(Xte, yte)


@pytest.mark.parametrize("name", ["digits", "breast_cancer"])
def test_accuracy_parity(name, device, dtype):
    # Measured (CPU, float32 and float64 data, precision="auto"): digits 0.9644 vs scikit-learn's
    # 0.9644; breast_cancer 0.9580 vs 0.9580.
    Xtr, Xte, ytr, yte = _split(name)
    est = MLPClassifier((64,), max_iter=50, random_state=0, device=device)
    score = est.fit(Xtr.astype(dtype), ytr).score(Xte.astype(dtype), yte)
    # on the CPU at most one test row apart (float32 rounding); bf16 autocast elsewhere: 2%
    assert abs(score - _sklearn_score(name, "clf", 50)) <= (1.01 / len(yte) if device == "cpu" else 0.02)
    assert est.coefs_[0].dtype == dtype and est.predict_proba(Xte.astype(dtype)).dtype == dtype


def test_r2_parity(device, dtype):
    # Measured (CPU): R² 0.3508 for both (float32 and float64 data) vs scikit-learn's 0.3508.
    Xtr, Xte, ytr, yte = _split("diabetes")
    est = MLPRegressor(hidden_layer_sizes=(64,), max_iter=50, random_state=0, device=device)
    r2 = est.fit(Xtr.astype(dtype), ytr).score(Xte.astype(dtype), yte)
    assert abs(r2 - _sklearn_score("diabetes", "reg", 50)) <= (1e-3 if device == "cpu" else 0.05)
    assert est.predict(Xte.astype(dtype)).dtype == dtype


def test_lbfgs_close_to_scikit_learns(device):
    Xtr, Xte, ytr, yte = _split("breast_cancer")
    ref = skn.MLPClassifier((16,), solver="lbfgs", max_iter=100, random_state=0).fit(Xtr, ytr)
    est = MLPClassifier((16,), solver="lbfgs", max_iter=100, random_state=0, device=device).fit(Xtr, ytr)
    assert abs(est.score(Xte, yte) - ref.score(Xte, yte)) <= 0.03
    assert 0 < est.n_iter_ <= 100 and est.loss_ < 0.1
    assert not hasattr(est, "partial_fit")
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        MLPClassifier((16,), solver="lbfgs", max_iter=3, random_state=0, device=device).fit(Xtr, ytr)


# -- warm_start and partial_fit, as scikit-learn ---------------------------------------

@pytest.mark.parametrize("kind", ["clf", "reg"])
def test_partial_fit_and_warm_start_follow_scikit_learn(kind, device):
    _skip_f64_on_mps(device)
    X, y = (X_SMALL, Y_SMALL) if kind == "clf" else _reg_data()
    Sk, Ours = (skn.MLPClassifier, MLPClassifier) if kind == "clf" else (skn.MLPRegressor, MLPRegressor)
    kw = dict(classes=np.unique(y)) if kind == "clf" else {}
    ref, est = Sk(solver="sgd", random_state=0), Ours(solver="sgd", random_state=0, precision="float64", device=device)
    for i in range(3):  # partial_fit: one epoch per call on changing data, the optimizer carried over
        rows = slice(50 * i, 50 * i + 200)
        ref.partial_fit(X[rows], y[rows], **kw)
        est.partial_fit(X[rows], y[rows], **kw)
    _assert_same_weights(est, ref)
    assert (est.n_iter_, est.t_) == (ref.n_iter_, ref.t_) == (1, 600)
    ref = Sk(max_iter=2, warm_start=True, random_state=np.random.RandomState(3))
    est = Ours(max_iter=2, warm_start=True, random_state=np.random.RandomState(3), precision="float64",
               device=device)
    for _ in range(2):  # warm start: a new optimizer per fit, t_ and loss_curve_ carried on
        ref.fit(X, y)
        est.fit(X, y)
    ref.partial_fit(X, y)
    est.partial_fit(X, y)
    _assert_same_weights(est, ref)
    assert (est.n_iter_, est.t_, len(est.loss_curve_)) == (ref.n_iter_, ref.t_, len(ref.loss_curve_))


def test_partial_fit_and_warm_start_errors():
    with pytest.raises(ValueError, match="classes"):
        MLPClassifier(solver="sgd").partial_fit(X_IRIS, Y_IRIS)
    clf = MLPClassifier(solver="sgd", max_iter=2).partial_fit(X_IRIS[:10], Y_IRIS[:10], classes=[0, 1, 2])
    with pytest.raises(ValueError):
        clf.partial_fit(X_IRIS[:10], Y_IRIS[:10], classes=[1, 2, 3])
    with pytest.raises(ValueError, match="not in `self.classes_`"):
        clf.partial_fit(X_IRIS[:10], Y_IRIS[:10] + 5)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        MLPRegressor(early_stopping=True, max_iter=3, random_state=0).fit(X_IRIS, Y_IRIS).partial_fit(X_IRIS, Y_IRIS)
    warm = MLPClassifier(max_iter=2, warm_start=True, random_state=0).fit(X_IRIS, Y_IRIS)
    with pytest.raises(ValueError, match="same classes as in the previous call"):
        warm.fit(X_IRIS, Y_IRIS % 2)
    warm.set_params(hidden_layer_sizes=(7,))
    with pytest.raises(ValueError, match="layer sizes"):
        warm.fit(X_IRIS, Y_IRIS)
    model = MLPRegressor(max_iter=5, warm_start=True, n_iter_no_change=np.inf, random_state=0)
    with pytest.warns(ConvergenceWarning):
        model.fit(X_IRIS, Y_IRIS)
    model.set_params(max_iter=8)
    with pytest.warns(ConvergenceWarning):
        model.fit(X_IRIS, Y_IRIS)
    assert model.n_iter_ == 8 and model.t_ == 13 * len(X_IRIS)


# -- memory: out-of-memory recovery, micro-batches, batch_size="max" -------------------

def _fit_f64(device, **kw):
    params = dict(hidden_layer_sizes=(32,), max_iter=3, batch_size=100, random_state=0, precision="float64",
                  device=device)
    return MLPClassifier(**{**params, **kw}).fit(X_SMALL, Y_SMALL)


@pytest.mark.parametrize("error", [torch.OutOfMemoryError, MemoryError])
def test_out_of_memory_in_a_step_retries_with_the_same_result(error, device, monkeypatch):
    _skip_f64_on_mps(device)
    plain = _fit_f64(device)
    real, seen = _train.grad_chunk, []

    def first_full_batch_fails(net, X, Y, w):
        seen.append(len(X))
        if len(seen) == 1:
            assert len(X) == 100
            raise error("out of memory (injected)")
        return real(net, X, Y, w)

    monkeypatch.setattr(_train, "grad_chunk", first_full_batch_fails)
    retried = _fit_f64(device)
    assert seen[:3] == [100, 50, 50] and max(seen[1:]) == 50  # the step is redone in halves
    _assert_same_weights(retried, plain, rtol=1e-10, atol=1e-13)
    assert retried.loss_curve_ == pytest.approx(plain.loss_curve_, rel=1e-12)


def test_out_of_memory_down_to_one_row_is_a_clear_error(monkeypatch):
    def never(net, X, Y, w):
        raise torch.OutOfMemoryError("out of memory (injected)")

    monkeypatch.setattr(_train, "grad_chunk", never)
    with pytest.raises(DeviceMemoryError, match="One row"):
        _fit_f64("cpu", max_iter=1)


def test_micro_batches_give_the_same_weights(device, monkeypatch):
    _skip_f64_on_mps(device)
    plain = _fit_f64(device)
    real, sizes = _train.grad_chunk, []
    monkeypatch.setattr(_train, "grad_chunk", lambda net, X, Y, w: sizes.append(len(X)) or real(net, X, Y, w))
    with gpuml.config_context(memory_limit=40_000):  # a few rows of activations at a time
        small = _fit_f64(device)
    assert 1 < max(sizes) < 100
    _assert_same_weights(small, plain, rtol=1e-10, atol=1e-13)
    with gpuml.config_context(memory_limit=40_000):
        np.testing.assert_allclose(small.predict_proba(X_SMALL), plain.predict_proba(X_SMALL), rtol=1e-10)


def _bytes_per_row(est, dtype=torch.float64):
    units = [est.n_features_in_, *est.hidden_layer_sizes, est.n_outputs_]
    return Network(Layout(units), "relu", "softmax", "log_loss", dtype, dtype, torch.device("cpu")).bytes_per_row()


def test_batch_size_max_is_the_largest_batch_within_the_budget():
    est = _fit_f64("cpu", batch_size="max")
    assert est.batch_size_ == len(X_SMALL)  # the data is the cap
    limit = 100_000
    with gpuml.config_context(memory_limit=limit):
        est = _fit_f64("cpu", batch_size="max")
    fit_rows = limit // _bytes_per_row(est)
    assert 0.9 * 7 / 8 * fit_rows <= est.batch_size_ <= 0.9 * fit_rows
    assert est.loss_curve_[-1] < est.loss_curve_[0]


@pytest.mark.parametrize("limit,expected", [(600_000, 600), (10**8, 700)])
def test_batch_size_search_on_a_simulated_device(limit, expected, monkeypatch):
    """A device using 1,000 bytes a row that runs out of memory above 700 rows."""
    trials = []

    def simulated(trainer, rows, budget):
        trials.append(rows)
        if rows > 700:
            raise torch.OutOfMemoryError("out of memory (simulated)")
        return rows * 1000

    monkeypatch.setattr(_train, "step_peak_bytes", simulated)
    with gpuml.config_context(memory_limit=limit):
        est = MLPClassifier((8,), batch_size="max", max_iter=1, random_state=0, device="cpu")
        est.fit(X_DIGITS, Y_DIGITS)
    assert 0.9 * 7 / 8 * expected <= est.batch_size_ <= 0.9 * expected
    assert len(trials) <= 12


def test_rows_stay_on_the_host_when_they_do_not_fit_half_the_resident_budget():
    X, Y = torch.zeros(1000, 8, dtype=torch.float64), torch.zeros(1000, 1)
    meta = torch.device("meta")  # stands for an accelerator
    Xd, Yd, _, moved = _train.place(X, Y, None, meta, torch.float32, 2 * (1000 * 8 * 4 + 4000) + 2)
    assert Xd.device == meta and Xd.dtype == torch.float32 and Yd.device == meta and moved == 1000 * 8 * 4 + 4000
    Xh, Yh, _, moved = _train.place(X, Y, None, meta, torch.float32, 1000 * 8 * 4)
    assert Xh.device.type == "cpu" and Xh.dtype == torch.float64 and moved == 0
    rows = np.arange(500, 1000)
    data = _train.TrainData(Xh + torch.arange(1000.0)[:, None], Yh, None, torch.device("cpu"), rows=rows)
    Xb, Yb, wb = data.fetch(torch.tensor([0, 499]), torch.float32, torch.float32)  # positions in the subset
    assert Xb[:, 0].tolist() == [500.0, 999.0] and Xb.dtype == torch.float32 and wb is None


def test_search_rows():
    def oom_above(limit):
        def fits(r):
            if r > limit:
                raise MemoryError
            return True
        return fits

    assert _train.search_rows(oom_above(1000), start=10, cap=50) == 50
    assert 787 <= _train.search_rows(oom_above(1000), start=5000, cap=10**6) <= 900
    assert _train.search_rows(oom_above(1), start=64, cap=100) == 1
    with pytest.raises(DeviceMemoryError):
        _train.search_rows(oom_above(0), start=64, cap=100)


# -- data, types, module export, pickling -----------------------------------------------

def test_tensors_in_tensors_out(device, dtype):
    X = torch.as_tensor(X_SMALL.astype(dtype), device=device)
    y = torch.as_tensor(Y_SMALL, device=device)
    est = MLPClassifier((16,), max_iter=3, random_state=0, device=device).fit(X, y)
    ref = MLPClassifier((16,), max_iter=3, random_state=0, device=device).fit(X_SMALL.astype(dtype), Y_SMALL)
    _assert_same_weights(est, ref, rtol=1e-6, atol=1e-7)
    proba, pred = est.predict_proba(X), est.predict(X)
    assert isinstance(proba, torch.Tensor) and proba.device == X.device and proba.dtype == X.dtype
    assert isinstance(pred, torch.Tensor) and pred.device == X.device
    np.testing.assert_allclose(proba.cpu().numpy(), ref.predict_proba(X_SMALL.astype(dtype)), rtol=1e-5, atol=1e-6)
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=2, random_state=0, device=device)
    out = reg.fit(X, y.to(X.dtype)).predict(X)
    assert isinstance(out, torch.Tensor) and out.shape == (len(X),)


def test_to_torch_matches_predictions(device, dtype):
    X = X_IRIS.astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    cases = [
        (MLPClassifier((8, 4), max_iter=5, random_state=0, device=device).fit(X, Y_IRIS), "predict_proba", None),
        (MLPClassifier((8,), activation="tanh", max_iter=5, random_state=0, device=device).fit(X, Y_IRIS % 2),
         "predict_proba", 1),
        (MLPRegressor(hidden_layer_sizes=(8,), activation="logistic", max_iter=5, random_state=0,
                      device=device).fit(X, X[:, 0]), "predict", None),
        (MLPRegressor("poisson", hidden_layer_sizes=(8,), max_iter=5, random_state=0, device=device).fit(X, Y_IRIS),
         "predict", None),
    ]
    for est, method, column in cases:
        module = est.to_torch()
        assert isinstance(module, torch.nn.Sequential)
        with torch.no_grad():
            out = module(torch.as_tensor(X, device=module[0].weight.device)).cpu().numpy()
        expected = getattr(est, method)(X)
        expected = expected[:, column] if column is not None else expected
        np.testing.assert_allclose(out.reshape(expected.shape), expected, **tol)


def test_pickle_round_trip_and_continued_partial_fit(device):
    est = MLPClassifier((16,), solver="sgd", max_iter=3, random_state=0, device=device).fit(X_SMALL, Y_SMALL)
    clone = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(clone.predict_proba(X_SMALL), est.predict_proba(X_SMALL))
    est.partial_fit(X_SMALL, Y_SMALL)
    clone.partial_fit(X_SMALL, Y_SMALL)  # the optimizer's momentum survived the round trip
    _assert_same_weights(clone, est, rtol=0, atol=0)


def test_bfloat16_training_path(monkeypatch):
    """precision="auto" on a bfloat16 device (forced on the CPU here): close to float32."""
    Xtr, Xte, ytr, yte = _split("digits")
    params = dict(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=5, random_state=0, device="cpu")
    ref = MLPClassifier(**params).fit(Xtr, ytr).score(Xte, yte)
    monkeypatch.setattr(_base, "lowp_dtype", lambda device: torch.bfloat16)
    seen = set()
    real = _train.grad_chunk
    monkeypatch.setattr(_train, "grad_chunk", lambda net, X, *a: seen.add(X.dtype) or real(net, X, *a))
    est = MLPClassifier(**params).fit(Xtr, ytr)
    assert seen == {torch.bfloat16}  # the rows really went through the bfloat16 path
    assert abs(est.score(Xte, yte) - ref) <= 0.03
    assert est.coefs_[0].dtype == np.float64


def test_verbose_prints_one_line_per_epoch(capsys):
    MLPClassifier((8,), max_iter=2, verbose=True, random_state=0, device="cpu").fit(X_IRIS, Y_IRIS)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Iteration 1, loss = ") and out[0].endswith("samples/s")
    assert out[1].startswith("Iteration 2, loss = ")


def test_clear_errors():
    with pytest.raises(ValueError, match="hidden_layer_sizes must be > 0"):
        MLPClassifier(hidden_layer_sizes=(4, 0)).fit(X_IRIS, Y_IRIS)
    with pytest.raises(ValueError, match="validation set is too small"):
        MLPRegressor(early_stopping=True).fit(X_IRIS[:5], Y_IRIS[:5])
    with pytest.raises(TypeError, match="no float64"):
        MLPRegressor(precision="float64")._precisions(torch.device("mps"))
    huge = np.finfo(np.float64).max * np.random.RandomState(0).uniform(size=(10, 2))
    with pytest.raises(ValueError, match="non-finite parameter weights"):
        MLPRegressor(device="cpu").fit(huge, np.arange(10.0))
