"""gpuml.accel in this process: proxies are scikit-learn's classes, calls run where the
support table says, fitted state is shared, pickles name scikit-learn only."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
import sklearn.cluster
import sklearn.decomposition
import sklearn.linear_model
import sklearn.preprocessing
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

import gpuml
import gpuml.accel
from gpuml._sklearn import check_version, sklearn_class, version_supported
from gpuml.accel import _report

pytestmark = pytest.mark.xdist_group("accel")  # install() patches scikit-learn process-wide

_ENV = ("GPUML_ACCEL", "GPUML_ACCEL_SPOOL", "GPUML_ACCEL_OWNER", "GPUML_ACCEL_VERBOSE")


def _data(n=300, d=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d) * np.logspace(0, 4, d) + 1e4  # far from the origin, badly scaled
    return X, X @ rng.randn(d) + rng.randn(n)


def _where(calls, estimator, method):
    return [(c.engine, c.reason) for c in calls if c.estimator == estimator and c.method == method]


def test_proxy_is_scikit_learns_class(accel):
    Ridge = sklearn.linear_model.Ridge
    original = sklearn_class("Ridge")
    assert Ridge is not original and issubclass(Ridge, original)
    est = Ridge(alpha=2.0)
    assert isinstance(est, original) and isinstance(est, Ridge)
    assert type(est).__name__ == "Ridge" and type(est).__module__ == "sklearn.linear_model._ridge"
    assert repr(est) == "Ridge(alpha=2.0)" and "Ridge" in est._repr_html_()
    assert est.get_params() == original(alpha=2.0).get_params()
    assert type(clone(est)) is Ridge
    import copy

    fitted = Ridge().fit(*_data())
    for twin in (copy.copy(fitted), copy.deepcopy(fitted)):
        assert type(twin) is Ridge and np.array_equal(twin.coef_, fitted.coef_)
    with pytest.raises(InvalidParameterError) as ours:
        Ridge(alpha=-1.0).fit(*_data())
    with pytest.raises(InvalidParameterError) as theirs:
        original(alpha=-1.0).fit(*_data())
    assert str(ours.value) == str(theirs.value)


def test_a_supported_fit_runs_on_gpuml_and_equals_scikit_learn(accel):
    X, y = _data()
    est = sklearn.linear_model.Ridge(alpha=1.0).fit(X, y)
    ref = sklearn_class("Ridge")(alpha=1.0).fit(X, y)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-8)
    np.testing.assert_allclose(est.predict(X), ref.predict(X), rtol=1e-10)
    calls = accel.calls()
    assert [e for e, _ in _where(calls, "Ridge", "fit")] in (["gpuml"], ["sklearn"])  # auto's choice
    assert "_gpuml_est" in vars(est)


def test_sparse_input_falls_back_with_its_reason_and_state_is_shared(accel):
    X, y = _data()
    Xs = sp.csr_matrix(np.where(np.abs(X - 1e4) > 1, X, 0.0))
    est = sklearn.linear_model.Ridge().fit(Xs, y)  # fit on scikit-learn
    ref = sklearn_class("Ridge")().fit(Xs, y)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-10)
    engine, reason = _where(accel.calls(), "Ridge", "fit")[0]
    assert engine == "sklearn" and "sparse input" in reason
    dense = Xs.toarray()
    np.testing.assert_allclose(est.predict(dense), ref.predict(dense), rtol=1e-9)  # gpuml predicts it
    assert _where(accel.calls(), "Ridge", "predict")[0][0] == "gpuml"
    dense_fit = sklearn.linear_model.Ridge().fit(dense, y)  # and the other way round
    np.testing.assert_allclose(dense_fit.predict(Xs), sklearn_class("Ridge")().fit(dense, y).predict(Xs), rtol=1e-8)
    assert _where(accel.calls(), "Ridge", "predict")[-1] == ("sklearn", "gpuml does not compute sparse input "
                                                             "(gpuml computes on dense arrays)")


def test_fallback_off_makes_an_unsupported_call_an_error(accel):
    X, y = _data()
    with gpuml.config_context(fallback=False), pytest.raises(gpuml.UnsupportedInputError, match="sparse input"):
        sklearn.linear_model.Ridge().fit(sp.csr_matrix(X), y)  # a TypeError too, as scikit-learn's
    with gpuml.config_context(fallback=False), pytest.raises(TypeError):
        sklearn.linear_model.Ridge().fit(sp.csr_matrix(X), y)


def test_a_method_gpuml_lacks_runs_on_scikit_learn_from_gpumls_fit(accel):
    X, _ = _data(d=6)
    pca = sklearn.decomposition.PCA(n_components=3).fit(X)
    ref = sklearn_class("PCA")(n_components=3).fit(X)
    np.testing.assert_allclose(pca.score_samples(X), ref.score_samples(X), rtol=1e-6)
    np.testing.assert_allclose(pca.get_covariance(), ref.get_covariance(), rtol=1e-6, atol=1e-6)
    assert pca.get_feature_names_out().tolist() == ["pca0", "pca1", "pca2"]


def test_set_output_pipeline_and_cross_validation(accel):
    import pandas as pd

    X, y = _data()
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    out = sklearn.preprocessing.StandardScaler().set_output(transform="pandas").fit_transform(df)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list(df.columns)
    np.testing.assert_allclose(out.to_numpy(), sklearn_class("StandardScaler")().fit_transform(X), atol=1e-9)
    pipe = make_pipeline(sklearn.preprocessing.StandardScaler(), sklearn.linear_model.Ridge())
    ours = cross_val_score(pipe, X, y, cv=3)
    ref = cross_val_score(make_pipeline(sklearn_class("StandardScaler")(), sklearn_class("Ridge")()), X, y, cv=3)
    np.testing.assert_allclose(ours, ref, rtol=1e-8)


def test_grid_search_with_process_workers_runs_them_under_accel(accel):
    X, y = _data()
    gs = GridSearchCV(sklearn.linear_model.Ridge(), {"alpha": [0.1, 1.0]}, cv=2, n_jobs=2).fit(X, y)
    assert isinstance(gs.best_estimator_, sklearn.linear_model.Ridge)
    fits = _where(accel.calls(), "Ridge", "fit")
    assert len(fits) == 2 * 2 + 1  # every worker's fit, spooled back, and the refit


def test_pickle_loads_as_scikit_learn_without_gpuml(accel, tmp_path):
    X, y = _data()
    est = sklearn.linear_model.Ridge().fit(X, y)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(est))
    assert b"gpuml" not in path.read_bytes()
    assert type(pickle.loads(path.read_bytes())) is sklearn.linear_model.Ridge  # a proxy again, here
    np.save(tmp_path / "X.npy", X)
    code = (
        "import sys; sys.modules['gpuml'] = None\n"  # any import of gpuml fails
        "import pickle, numpy as np\n"
        f"m = pickle.loads(open({str(path)!r}, 'rb').read())\n"
        "assert '_gpuml_original' not in type(m).__dict__, type(m)\n"
        f"X = np.load({str(tmp_path / 'X.npy')!r})\n"
        "print(type(m).__module__, type(m).__name__, repr(m.predict(X)[:3].tolist()))\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("GPUML_ACCEL")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    module, name, preds = out.stdout.split(" ", 2)
    assert (module, name) == ("sklearn.linear_model._ridge", "Ridge")
    np.testing.assert_allclose(eval(preds), est.predict(X)[:3], rtol=1e-12)


def test_uninstall_puts_scikit_learns_classes_back(accel):
    assert "_gpuml_original" in sklearn.cluster.KMeans.__dict__
    gpuml.accel.uninstall()
    assert sklearn.cluster.KMeans is sklearn_class("KMeans") and not gpuml.accel.installed()
    gpuml.accel.install()
    assert "_gpuml_original" in sklearn.cluster.KMeans.__dict__


def test_fallback_never_finds_gpuml_again_when_scikit_learns_name_is_swapped(monkeypatch):
    """Regression: with gpuml's class in sklearn.cluster, the delegate recursed to RecursionError."""
    from gpuml.cluster import KMeans

    monkeypatch.setattr(sklearn.cluster, "KMeans", KMeans)
    X, _ = _data()
    est = KMeans(n_clusters=3, n_init=1, random_state=0)
    est._fit_sklearn(X)
    ref = sklearn_class("KMeans")(n_clusters=3, n_init=1, random_state=0).fit(X)
    np.testing.assert_array_equal(est.labels_, ref.labels_)


def test_ipython_load_ext_and_the_report_magics(monkeypatch, capsys):
    from IPython.core.interactiveshell import InteractiveShell

    for key in _ENV:
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    monkeypatch.setenv("GPUML_ACCEL_REPORT", "0")
    shell = InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "gpuml.accel")
        _report.reset()
        assert gpuml.accel.installed()
        cell = shell.run_cell("import numpy as np\nfrom sklearn.linear_model import Ridge\n"
                              "m = Ridge().fit(np.eye(4), [1.0, 2.0, 3.0, 4.0])\n"
                              "proxied = '_gpuml_original' in type(m).__dict__")
        assert cell.success and shell.user_ns["proxied"]
        capsys.readouterr()
        for magic in ("%gpuml_report", "%gpuml.accel.report --profile"):
            assert shell.run_cell(magic).success
            out = capsys.readouterr().out
            assert "Ridge" in out and "fit" in out, (magic, out)
        assert "mean" in out  # --profile
    finally:
        shell.run_line_magic("unload_ext", "gpuml.accel")
        InteractiveShell.clear_instance()
        _report.reset()
    assert not gpuml.accel.installed()


def test_supported_versions_and_the_warning_outside_them(monkeypatch):
    assert version_supported("1.6.1") and version_supported("1.9.0") and version_supported("1.8.dev0")
    assert not version_supported("1.5.2") and not version_supported("1.10.0") and not version_supported("2.0")
    monkeypatch.setattr(sklearn, "__version__", "1.5.2")
    check_version.cache_clear()
    try:
        with pytest.warns(UserWarning, match="tested with scikit-learn 1.6 to 1.9; this is 1.5.2"):
            check_version()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_version()  # once only
    finally:
        check_version.cache_clear()
