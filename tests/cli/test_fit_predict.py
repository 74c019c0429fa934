"""`gpuml fit` and `gpuml predict`: streamed, atomic outputs, one-line errors."""

from __future__ import annotations

import os

import numpy as np
import pytest

from gpuml.cli._model import load_model
from gpuml.cli.main import main
from gpuml.linear_model import Ridge

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 4))
    y = X @ np.array([1.0, -2.0, 3.0, 0.5]) + 1
    pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "d": X[:, 3], "y": y,
                             "label": np.where(y > 1, "hi", "lo")}), tmp_path / "d.parquet", row_group_size=700)
    np.save(tmp_path / "d.npy", np.c_[X, y])
    return tmp_path, X, y


def _err(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def test_fit_then_predict_parquet(data, capsys):
    root, X, y = data
    model, out = root / "m.gpuml", root / "p.parquet"
    assert main(["fit", str(root / "d.parquet"), "--model", "ridge", "--target", "y", "--columns", "a,b,c,d",
                 "--param", "alpha=0.5", "--out", str(model)]) == 0
    assert "fitted Ridge(alpha=0.5" in capsys.readouterr().err
    assert main(["predict", str(model), str(root / "d.parquet"), "--out", str(out), "--quiet"]) == 0
    got = pq.read_table(out).column("prediction").to_numpy()
    ref = Ridge(alpha=0.5, device="cpu").fit(X, y).predict(X)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("ext", ["npy", "csv"])
def test_kmeans_on_npy_with_target_column(data, ext, capsys):
    root, X, _ = data
    model, out = root / "k.gpuml", root / f"k.{ext}"
    assert main(["fit", str(root / "d.npy"), "--model", "KMeans", "--target", "-1", "--param", "n_clusters=3",
                 "--param", "random_state=0", "--out", str(model), "--quiet"]) == 0
    assert main(["predict", str(model), str(root / "d.npy"), "--out", str(out), "--quiet"]) == 0
    labels = np.load(out) if ext == "npy" else np.loadtxt(out, skiprows=1)
    est = load_model(str(model))["estimator"]
    np.testing.assert_array_equal(labels, est.predict(X))


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_classifier_with_string_labels(data):
    root, X, y = data
    model = root / "c.gpuml"
    assert main(["fit", str(root / "d.parquet"), "--model", "LogisticRegression", "--target", "label",
                 "--columns", "a,b,c,d", "--out", str(model), "--quiet"]) == 0
    est = load_model(str(model))["estimator"]
    assert list(est.classes_) == ["hi", "lo"]
    assert est.score(X, np.where(y > 1, "hi", "lo")) > 0.95


@pytest.mark.parametrize(
    "argv,message",
    [
        (["fit", "{root}/missing.parquet", "--model", "ridge", "--target", "y", "--out", "{root}/m"], "no such file"),
        (["fit", "{root}/d.parquet", "--model", "ridge", "--target", "zz", "--out", "{root}/m"], "no column 'zz'"),
        (["fit", "{root}/d.parquet", "--model", "ridge", "--target", "y", "--out", "{root}/m"],
         "'label' of .* is not numeric"),
        (["fit", "{root}/d.parquet", "--model", "forest", "--target", "y", "--out", "{root}/m"], "unknown model"),
        (["fit", "{root}/d.parquet", "--model", "ridge", "--out", "{root}/m"], "needs --target"),
        (["fit", "{root}/d.parquet", "--model", "ridge", "--target", "y", "--columns", "a",
          "--param", "alpah=1", "--out", "{root}/m"], "bad --param"),
        (["fit", "{root}/bad.parquet", "--model", "kmeans", "--out", "{root}/m"], "not a readable Parquet"),
        (["predict", "{root}/d.npy", "{root}/d.npy", "--out", "{root}/p.npy"], "not a gpuml model"),
        (["predict", "{root}/k.gpuml", "{root}/three.parquet", "--out", "{root}/p.npy"], "3 features, but KMeans"),
        (["predict", "{root}/k.gpuml", "{root}/d.npy", "--out", "{root}/p.xlsx"], "unknown output format"),
    ],
    ids=["missing-file", "missing-column", "non-numeric", "unknown-model", "no-target", "bad-param",
         "corrupt-parquet", "not-a-model", "feature-mismatch", "bad-output"],
)
def test_errors_are_one_line_and_leave_no_file(data, capsys, argv, message):
    root, X, _ = data
    (root / "bad.parquet").write_bytes(b"PAR1 this is not really parquet")
    pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2]}), root / "three.parquet")
    main(["fit", str(root / "d.npy"), "--model", "kmeans", "--target", "-1", "--param", "n_clusters=2",
          "--out", str(root / "k.gpuml"), "--quiet"])
    before = set(os.listdir(root))
    capsys.readouterr()
    assert main([a.format(root=root) for a in argv]) == 1
    err = _err(capsys)
    assert len(err) == 1 and err[0].startswith("gpuml: error: "), err
    import re

    assert re.search(message, err[0]), err[0]
    assert set(os.listdir(root)) == before  # nothing written, no partial file left


def test_failed_write_leaves_no_partial_file(data, monkeypatch):
    root, X, _ = data
    from gpuml.cli import _writers

    def boom(self, block):
        self.fh.write(b"half")
        raise OSError("the device went away")

    monkeypatch.setattr(_writers.NpyWriter, "write", boom)
    main(["fit", str(root / "d.npy"), "--model", "kmeans", "--target", "-1", "--out", str(root / "k.gpuml"),
          "--quiet"])
    before = set(os.listdir(root))
    assert main(["predict", str(root / "k.gpuml"), str(root / "d.npy"), "--out", str(root / "p.npy")]) == 1
    assert set(os.listdir(root)) == before
