"""KMeans: what runs natively, what falls back to scikit-learn (and says why), shared state.

KMeans computes every parameter value natively; only sparse input runs on scikit-learn.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import cluster as sk

import gpuml
import gpuml.accel
from gpuml._sklearn import sklearn_class
from gpuml.cluster import KMeans

RNG = np.random.RandomState(0)
# three separated blobs, then hostile: offset 1e4 and column scales 1 .. 1e6
BLOBS = np.vstack([RNG.normal(c, 0.3, size=(60, 4)) for c in (0.0, 3.0, 6.0)])
SCALES = np.array([1.0, 1e2, 1e4, 1e6])
HOSTILE = 1e4 + BLOBS * SCALES
INIT = BLOBS[[0, 60, 120]]


def test_sparse_fit_runs_on_sklearn_with_the_reason():
    Xs = sp.csr_matrix(np.abs(BLOBS))
    ours = KMeans(3, init=np.abs(INIT), n_init=1).fit(Xs)
    ref = sk.KMeans(3, init=np.abs(INIT), n_init=1).fit(Xs)
    assert ours.engine_ == "sklearn" and "sparse input" in ours.engine_reason_
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=1e-12)
    np.testing.assert_array_equal(ours.predict(Xs), ref.predict(Xs))  # predict on sparse too
    np.testing.assert_allclose(ours.transform(Xs[:5]), ref.transform(Xs[:5]), rtol=1e-12)


def test_sparse_with_an_explicit_device_or_fallback_off_is_an_error():
    Xs = sp.csr_matrix(BLOBS)
    with pytest.raises(gpuml.UnsupportedError, match="sparse input.*device='auto'"):
        KMeans(3, device="cpu").fit(Xs)
    with gpuml.config_context(fallback=False), pytest.raises(gpuml.UnsupportedError, match="fallback is off"):
        KMeans(3).fit(Xs)
    fitted = KMeans(3, random_state=0, device="cpu").fit(BLOBS)  # a gpuml fit, sparse at predict
    with pytest.raises(gpuml.UnsupportedError, match="sparse input"):
        fitted.predict(Xs)
    fitted.set_params(device="auto")
    np.testing.assert_array_equal(fitted.predict(Xs), fitted.predict(BLOBS))


def test_scikit_learn_parameter_validation():
    # scikit-learn's own constraints: what it rejects fails with its error
    with pytest.raises(ValueError, match="'algorithm' parameter of KMeans must be"):
        KMeans(algorithm="full").fit(BLOBS)
    with pytest.raises(ValueError, match="'n_init' parameter of KMeans"):
        KMeans(n_init=0).fit(BLOBS)


def test_as_sklearn_answers_every_method_as_gpuml():
    ours = KMeans(3, random_state=0, device="cpu").fit(BLOBS)
    assert ours.engine_ == "gpuml"
    est = ours.as_sklearn()
    assert type(est) is sk.KMeans
    np.testing.assert_array_equal(est.predict(BLOBS), ours.predict(BLOBS))
    np.testing.assert_allclose(est.transform(BLOBS), ours.transform(BLOBS), rtol=1e-10)
    np.testing.assert_allclose(est.score(BLOBS), ours.score(BLOBS), rtol=1e-10)
    assert list(est.get_feature_names_out()) == list(ours.get_feature_names_out()) == ["kmeans0", "kmeans1",
                                                                                         "kmeans2"]
    np.testing.assert_array_equal(est.predict(sp.csr_matrix(BLOBS)), ours.labels_)


def test_from_sklearn_predicts_as_sklearn():
    ref = sk.KMeans(3, random_state=0, n_init=1).fit(HOSTILE)
    ours = KMeans.from_sklearn(ref, device="cpu")
    np.testing.assert_array_equal(ours.predict(HOSTILE), ref.predict(HOSTILE))
    np.testing.assert_allclose(ours.transform(HOSTILE), ref.transform(HOSTILE), rtol=1e-9)
    np.testing.assert_allclose(ours.score(HOSTILE), ref.score(HOSTILE), rtol=1e-9)
    assert ours.as_sklearn()._tol == ref._tol


@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
def test_elkan_is_lloyds_result_on_hostile_data(algorithm):
    # "elkan" is Lloyd's result: the same run from the same start as scikit-learn's, float64;
    # centers to 1e-9 of each column's spread, the same labels and iterations
    init = 1e4 + INIT * SCALES
    ours = KMeans(3, init=init, n_init=1, algorithm=algorithm, device="cpu").fit(HOSTILE)
    ref = sk.KMeans(3, init=init, n_init=1, algorithm=algorithm).fit(HOSTILE)
    assert ours.engine_ == "gpuml"
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=0, atol=1e-9 * SCALES.max())
    np.testing.assert_allclose(ours.inertia_, ref.inertia_, rtol=1e-9)
    assert ours.n_iter_ == ref.n_iter_


def test_verbose_prints_scikit_learns_messages(capsys):
    KMeans(3, init="random", n_init=1, tol=0, random_state=0, verbose=1, device="cpu").fit(HOSTILE)
    out = capsys.readouterr().out
    assert "Initialization complete" in out and "Iteration 0, inertia" in out and "strict convergence" in out


def test_elkan_with_one_cluster_warns_as_scikit_learn():
    with pytest.warns(RuntimeWarning, match="algorithm='elkan' doesn't make sense for a single cluster"):
        KMeans(1, algorithm="elkan", device="cpu").fit(BLOBS)


def _engines(report, method):
    return {c.engine for c in report.calls() if c.method == method}


@pytest.mark.xdist_group("accel")
def test_proxy_fits_natively_and_every_method_works(accel):
    import sklearn.cluster

    Sk = sklearn_class("KMeans")  # scikit-learn's own class (sk.KMeans is the proxy now)
    with gpuml.config_context(fallback=False):  # every call on gpuml, or an error
        est = sklearn.cluster.KMeans(3, random_state=0, algorithm="elkan").fit(HOSTILE)
        labels = est.predict(HOSTILE)
        dist = est.transform(HOSTILE)
        score = est.score(HOSTILE)
    assert type(est).__module__ == "sklearn.cluster._kmeans" and _engines(accel, "fit") == {"gpuml"}
    ref = Sk(3, init=est.cluster_centers_, n_init=1, max_iter=1).fit(HOSTILE)  # same centers
    np.testing.assert_array_equal(labels, est.labels_)
    np.testing.assert_array_equal(labels, Sk.predict(est, HOSTILE))  # scikit-learn's own code, our state
    np.testing.assert_allclose(dist, Sk.transform(est, HOSTILE), rtol=1e-9)
    np.testing.assert_allclose(score, Sk.score(est, HOSTILE), rtol=1e-9)
    assert ref.n_iter_ == 1
    np.testing.assert_array_equal(est.fit_predict(HOSTILE), est.labels_)
    assert est.fit_transform(HOSTILE).shape == (len(HOSTILE), 3)
    assert list(est.get_feature_names_out()) == ["kmeans0", "kmeans1", "kmeans2"]
    np.testing.assert_array_equal(est.predict(sp.csr_matrix(HOSTILE)), est.predict(HOSTILE))  # on scikit-learn
