"""Behaviour every estimator shares: bad input, types in and out, pickling, pipelines."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from gpuml.cluster import KMeans
from gpuml.decomposition import PCA
from gpuml.linear_model import LinearRegression, LogisticRegression, Ridge
from gpuml.neighbors import KNeighborsClassifier, KNeighborsRegressor, NearestNeighbors
from gpuml.preprocessing import StandardScaler

X_IRIS, Y_IRIS = load_iris(return_X_y=True)

# (factory, needs y, the method that uses the fitted model)
CASES = [
    (lambda d: LinearRegression(device=d), True, "predict"),
    (lambda d: Ridge(device=d), True, "predict"),
    (lambda d: LogisticRegression(max_iter=300, device=d), True, "predict_proba"),
    (lambda d: KMeans(3, random_state=0, device=d), False, "transform"),
    (lambda d: PCA(2, device=d), False, "transform"),
    (lambda d: NearestNeighbors(n_neighbors=3, device=d), False, "kneighbors"),
    (lambda d: KNeighborsClassifier(3, device=d), True, "predict_proba"),
    (lambda d: KNeighborsRegressor(3, device=d), True, "predict"),
    (lambda d: StandardScaler(device=d), False, "transform"),
]
IDS = [type(f("cpu")).__name__ for f, _, _ in CASES]


def _fit(make, needs_y, device, X=X_IRIS, y=Y_IRIS):
    return make(device).fit(X, y if needs_y else None)


def _first(out):
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("make,needs_y,method", CASES, ids=IDS)
class TestBadInput:
    """The same kind of error scikit-learn gives: ValueError with a clear message."""

    @pytest.mark.parametrize(
        "bad,match",
        [
            (np.array([[1.0, np.nan], [2.0, 3.0], [4.0, 5.0]]), "NaN"),
            (np.array([[1.0, np.inf], [2.0, 3.0], [4.0, 5.0]]), "infinity"),
            (np.empty((0, 2)), "0 sample"),
            (np.array([1.0, 2.0, 3.0]), "Expected 2D array"),
            ([["a", "b"], ["c", "d"], ["e", "f"]], "could not convert|dtype|string"),
            ([[1.0, 2.0], [3.0], [4.0, 5.0]], "inhomogeneous|sequence"),
        ],
        ids=["nan", "inf", "empty", "1d", "strings", "ragged"],
    )
    def test_bad_X_at_fit(self, make, needs_y, method, bad, match):
        y = [0, 1, 0][: len(bad)] if needs_y else None
        with pytest.raises(ValueError, match=match):
            make("cpu").fit(bad, y)

    @pytest.mark.parametrize(
        "bad,match",
        [
            (torch.tensor([[1.0, float("nan")], [2.0, 3.0], [4.0, 5.0]]), "NaN"),
            (torch.tensor([1.0, 2.0, 3.0]), "Expected 2D array"),
            (torch.empty((0, 2)), "0 sample"),
        ],
        ids=["nan", "1d", "empty"],
    )
    def test_bad_tensor_at_fit(self, make, needs_y, method, bad, match):
        y = torch.tensor([0, 1, 0])[: len(bad)] if needs_y else None
        with pytest.raises(ValueError, match=match):
            make("cpu").fit(bad, y)

    def test_feature_count_mismatch(self, make, needs_y, method):
        est = _fit(make, needs_y, "cpu")
        with pytest.raises(ValueError, match="4 features"):
            getattr(est, method)(X_IRIS[:, :3])
        with pytest.raises(ValueError, match="4 features"):
            getattr(est, method)(torch.from_numpy(X_IRIS[:, :3]))

    def test_nan_at_predict(self, make, needs_y, method):
        est = _fit(make, needs_y, "cpu")
        X = X_IRIS[:5].copy()
        X[0, 0] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            getattr(est, method)(X)

    def test_xy_length_mismatch(self, make, needs_y, method):
        if not needs_y:
            pytest.skip("unsupervised: y is ignored")
        with pytest.raises(ValueError, match="inconsistent numbers of samples"):
            make("cpu").fit(X_IRIS, Y_IRIS[:-1])
        with pytest.raises(ValueError, match="inconsistent numbers of samples"):
            make("cpu").fit(torch.from_numpy(X_IRIS), torch.from_numpy(Y_IRIS[:-1]))

    def test_unknown_device(self, make, needs_y, method):
        with pytest.raises(ValueError, match="device"):
            _fit(make, needs_y, "tpu:0")

    def test_absent_device(self, make, needs_y, method):
        if torch.cuda.is_available():
            pytest.skip("a CUDA device is present")
        with pytest.raises(ValueError, match="sees no cuda"):
            _fit(make, needs_y, "cuda")


def test_single_class_is_an_error():
    with pytest.raises(ValueError, match="at least 2 classes"):
        LogisticRegression(device="cpu").fit(X_IRIS[:10], np.zeros(10))


@pytest.mark.parametrize("Est", [KNeighborsClassifier, KNeighborsRegressor, NearestNeighbors])
def test_more_neighbors_than_samples(Est):
    est = Est(n_neighbors=20, device="cpu").fit(X_IRIS[:10], Y_IRIS[:10])
    call = est.kneighbors if Est is NearestNeighbors else est.predict
    with pytest.raises(ValueError, match="n_neighbors"):
        call(X_IRIS[:3])


def test_float64_on_a_device_without_it_is_an_error():
    # MPS has no float64: a clear error, never a silent downcast.
    est = StandardScaler()
    with pytest.raises(TypeError, match="no float64"):
        est._dtype(np.zeros((2, 2)), torch.device("mps"))


@pytest.mark.parametrize("make,needs_y,method", CASES, ids=IDS)
def test_pickle_round_trip(make, needs_y, method, device):
    est = _fit(make, needs_y, device)
    before = _first(getattr(est, method)(X_IRIS))
    clone = pickle.loads(pickle.dumps(est))
    after = _first(getattr(clone, method)(X_IRIS))
    np.testing.assert_allclose(after, before, rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("ignore:X has feature names")
@pytest.mark.parametrize("make,needs_y,method", CASES, ids=IDS)
def test_types_follow_the_input(make, needs_y, method, device, dtype):
    X = X_IRIS.astype(dtype)
    est = _fit(make, needs_y, device, X=X)
    out_np = _first(getattr(est, method)(X))
    assert isinstance(out_np, np.ndarray)
    if out_np.dtype.kind == "f":
        assert out_np.dtype == dtype
    out_pd = _first(getattr(est, method)(pd.DataFrame(X, columns=list("abcd"))))
    assert isinstance(out_pd, np.ndarray)
    Xt = torch.from_numpy(X).to(device)
    out_t = _first(getattr(est, method)(Xt))
    assert isinstance(out_t, torch.Tensor) and out_t.device == Xt.device
    # the same fitted model and kernels on the same values: equal to the dtype's rounding
    eps = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out_t.cpu().numpy(), out_np, rtol=eps, atol=eps)
    for name, value in vars(est).items():  # public fitted attributes are NumPy, not tensors
        if name.endswith("_") and not name.startswith("_"):
            assert not isinstance(value, torch.Tensor), name


@pytest.mark.parametrize("make,needs_y,method", CASES, ids=IDS)
def test_fit_on_tensors_matches_fit_on_arrays(make, needs_y, method, device, dtype):
    X = X_IRIS.astype(dtype)
    a = _fit(make, needs_y, device, X=X)
    b = _fit(make, needs_y, device, X=torch.from_numpy(X).to(device), y=torch.from_numpy(Y_IRIS).to(device))
    np.testing.assert_allclose(
        np.asarray(torch.as_tensor(_first(getattr(b, method)(X)))),
        np.asarray(torch.as_tensor(_first(getattr(a, method)(X)))),
        rtol=1e-4 if dtype == np.float32 else 1e-9, atol=1e-5 if dtype == np.float32 else 1e-9,
    )


def test_pipeline_and_grid_search(device):
    pipe = make_pipeline(StandardScaler(device=device), PCA(3, device=device),
                         LogisticRegression(max_iter=500, device=device))
    assert pipe.fit(X_IRIS, Y_IRIS).score(X_IRIS, Y_IRIS) > 0.9
    grid = GridSearchCV(KNeighborsClassifier(device=device),
                        {"n_neighbors": [1, 5, 15], "weights": ["uniform", "distance"]}, cv=3)
    grid.fit(X_IRIS, Y_IRIS)
    assert grid.best_score_ > 0.9
    assert set(grid.best_params_) == {"n_neighbors", "weights"}
    ridge = GridSearchCV(Ridge(device=device), {"alpha": [0.1, 1.0, 10.0]}, cv=3).fit(X_IRIS, Y_IRIS)
    assert ridge.best_params_["alpha"] in (0.1, 1.0, 10.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no cuda device visible to PyTorch")
@pytest.mark.parametrize("make,needs_y,method", CASES, ids=IDS)
def test_cuda_tensor_fit_copies_no_data_to_host(make, needs_y, method, monkeypatch):
    X = torch.randn(5000, 4, device="cuda")
    y = (X[:, 0] > 0).long()
    big = X.numel() // 2
    real_cpu = torch.Tensor.cpu

    def guarded_cpu(self, *a, **k):
        assert self.numel() < big, f"copied a tensor of shape {tuple(self.shape)} to the host"
        return real_cpu(self, *a, **k)

    monkeypatch.setattr(torch.Tensor, "cpu", guarded_cpu)
    est = make("cuda").fit(X, y if needs_y else None)
    out = _first(getattr(est, method)(X))
    assert out.device.type == "cuda"


def test_exported_names():
    import gpuml.cluster
    import gpuml.decomposition
    import gpuml.linear_model
    import gpuml.neighbors
    import gpuml.neural_network
    import gpuml.preprocessing

    assert gpuml.__all__ == ["UnsupportedError", "UnsupportedInputError", "__version__", "config_context",
                             "get_config", "set_config"]
    assert gpuml.linear_model.__all__ == ["LinearRegression", "LogisticRegression", "Ridge"]
    assert gpuml.cluster.__all__ == ["KMeans"]
    assert gpuml.decomposition.__all__ == ["PCA"]
    assert gpuml.neighbors.__all__ == ["KNeighborsClassifier", "KNeighborsRegressor", "NearestNeighbors"]
    assert gpuml.preprocessing.__all__ == ["StandardScaler"]
    assert gpuml.neural_network.__all__ == ["MLPClassifier", "MLPRegressor"]
    for mod in (gpuml, gpuml.linear_model, gpuml.cluster, gpuml.decomposition, gpuml.neighbors, gpuml.preprocessing,
                gpuml.neural_network):
        assert sorted(mod.__all__) == mod.__all__
        for name in mod.__all__:
            assert hasattr(mod, name)


# -- feature names and X, whichever engine "auto" picks ----------------------------------------
def _force_engine(monkeypatch, engine):
    """Make "auto" choose ``engine`` ("sklearn" or "gpuml") on the CPU for every fit."""
    from gpuml.device import _auto

    def choose(work, rates, accelerator="cpu", *, allow_sklearn=True):
        pick = engine if allow_sklearn else "gpuml"
        return _auto.Decision("cpu", pick, f"cpu/{pick}: forced by the test", {})

    monkeypatch.setattr(_auto, "choose", choose)


NAMED_CASES = CASES[:4] + [(lambda d: PCA(2, svd_solver="full", device=d), False, "transform")] + CASES[5:]


@pytest.mark.parametrize("engine", ["sklearn", "gpuml"])
@pytest.mark.parametrize("make,needs_y,method", NAMED_CASES, ids=IDS)
def test_feature_names_are_kept_and_checked_whichever_engine_fits(make, needs_y, method, engine, monkeypatch):
    """As scikit-learn: names kept; predicting on the same frame is silent, on an array warns,
    on reordered or renamed columns is an error. Before, a DataFrame fit handed to
    scikit-learn lost its names: every predict warned and reordered columns were accepted."""
    _force_engine(monkeypatch, engine)
    df = pd.DataFrame(X_IRIS, columns=["sl", "sw", "pl", "pw"])
    est = make(None).fit(df, Y_IRIS if needs_y else None)
    if type(est).__name__ != "StandardScaler":  # (never delegated)
        assert est.engine_ == engine
    assert list(est.feature_names_in_) == ["sl", "sw", "pl", "pw"]
    call = getattr(est, method)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expected = _first(call(df))
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        np.testing.assert_allclose(_first(call(X_IRIS)), expected)
    with pytest.raises(ValueError, match="feature names"):
        call(df[["sw", "sl", "pl", "pw"]])
    with pytest.raises(ValueError, match="feature names"):
        call(df.rename(columns={"pw": "petal_width"}))
    # a later fit on a plain array forgets the names, on either engine
    est.fit(X_IRIS, Y_IRIS if needs_y else None)
    assert not hasattr(est, "feature_names_in_")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        call(X_IRIS)


@pytest.mark.parametrize("engine", ["sklearn", "gpuml"])
@pytest.mark.parametrize("solver", ["full", "covariance_eigh"])
def test_pca_copy_false_fit_transform_equals_sklearn_and_leaves_X(engine, solver, monkeypatch):
    """Before: the delegated fit centered X in place, then gpuml transformed the centered X
    (off by up to 4.5). Now the result is scikit-learn's (to 1e-10) and X is never
    modified, whichever engine runs (gpuml's copy=False is documented as never writing X)."""
    from sklearn.decomposition import PCA as SkPCA

    _force_engine(monkeypatch, engine)
    X = X_IRIS + 10.0
    X_before = X.copy()
    ours = PCA(2, copy=False, svd_solver=solver).fit_transform(X)
    np.testing.assert_array_equal(X, X_before)
    ref = SkPCA(2, copy=False, svd_solver=solver).fit_transform(X.copy())
    np.testing.assert_allclose(np.abs(ours), np.abs(ref), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("Est", [LinearRegression, Ridge])
def test_copy_x_false_never_modifies_X(Est, monkeypatch):
    _force_engine(monkeypatch, "sklearn")
    X = X_IRIS + 10.0
    X_before = X.copy()
    est = Est(copy_X=False).fit(X, Y_IRIS)
    assert est.engine_ == "sklearn"
    np.testing.assert_array_equal(X, X_before)
