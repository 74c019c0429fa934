"""`--out` never destroys an input, is checked before the work, and is whole or absent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gpuml.cli.main import main
from gpuml.decomposition import PCA

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 5)) * [1, 2, 3, 4, 5] + 10
    np.save(tmp_path / "d.npy", X)
    assert main(["fit", str(tmp_path / "d.npy"), "--model", "PCA", "--param", "n_components=3",
                 "--out", str(tmp_path / "m.gpuml"), "--quiet"]) == 0
    return tmp_path, X


def _one_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gpuml: error: "), err
    return err[0]


def _snapshot(root) -> dict[str, bytes]:
    return {p: (root / p).read_bytes() for p in sorted(os.listdir(root)) if (root / p).is_file()}


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink", "relative"])
@pytest.mark.parametrize("command", ["fit", "predict-data", "predict-model"])
def test_an_out_that_is_an_input_is_refused(data, capsys, monkeypatch, how, command):
    root, _ = data
    victim = root / ("m.gpuml" if command == "predict-model" else "d.npy")
    out = {"same": victim, "symlink": root / "link.npy", "hardlink": root / "hard.npy",
           "relative": "./d.npy" if command != "predict-model" else "./m.gpuml"}[how]
    if how == "symlink":
        os.symlink(victim, out)
    elif how == "hardlink":
        os.link(victim, out)
    monkeypatch.chdir(root)
    before = _snapshot(root)
    capsys.readouterr()
    fitted = []
    monkeypatch.setattr(PCA, "fit", lambda self, *a, **k: fitted.append(1) or pytest.fail("fitted"))
    if command == "fit":
        argv = ["fit", "d.npy", "--model", "PCA", "--out", str(out)]
    else:
        argv = ["predict", "m.gpuml", "d.npy", "--out", str(out)]
    assert main(argv) == 1
    assert "refusing to overwrite it" in _one_error(capsys)
    assert _snapshot(root) == before and not fitted


def test_an_out_inside_a_data_folder_is_refused(tmp_path, capsys):
    rng = np.random.default_rng(0)
    (tmp_path / "shards").mkdir()
    for i in range(2):
        np.save(tmp_path / "shards" / f"{i}.npy", rng.standard_normal((100, 3)))
    assert main(["fit", str(tmp_path / "shards"), "--model", "KMeans", "--param", "n_clusters=2",
                 "--out", str(tmp_path / "shards" / "k.gpuml"), "--quiet"]) == 0  # a model file is no shard
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "shards" / "k.gpuml"), str(tmp_path / "shards"),
                 "--out", str(tmp_path / "shards" / "2.npy")]) == 1
    assert "inside the input folder" in _one_error(capsys)
    assert sorted(os.listdir(tmp_path / "shards")) == ["0.npy", "1.npy", "k.gpuml"]


@pytest.mark.parametrize("where,message", [
    ("{root}/nowhere/m.gpuml", "no such folder for the output"),
    ("{root}/d.npy/m.gpuml", "not a folder, cannot hold the output"),
    ("{root}", "is a folder; give a file name"),
])
def test_an_unusable_out_is_noticed_before_the_fit(data, capsys, monkeypatch, where, message):
    root, _ = data
    fitted = []
    monkeypatch.setattr(PCA, "fit", lambda self, *a, **k: fitted.append(1))
    capsys.readouterr()
    assert main(["fit", str(root / "d.npy"), "--model", "PCA", "--out", where.format(root=root)]) == 1
    assert message in _one_error(capsys) and not fitted


def _tmpfs(path, *options) -> None:
    path.mkdir()
    opts = ",".join(("size=256k", *options))
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root and mount(8) for a small tmpfs")


@pytest.fixture
def small_disk(tmp_path):
    path = tmp_path / "small"
    _tmpfs(path)
    yield path
    subprocess.run(["umount", str(path)], check=True)


@pytest.mark.parametrize("out", ["p.npy", "p.csv", "p.parquet", "m.gpuml"])
def test_disk_full_is_said_plainly_and_leaves_nothing(data, small_disk, capsys, out):
    root, _ = data
    big = np.random.default_rng(1).standard_normal((20_000, 5))
    np.save(root / "big.npy", big)
    if out == "m.gpuml":  # a kNN model keeps its index: 800 kB
        argv = ["fit", str(root / "big.npy"), "--model", "KNeighborsRegressor", "--target", "-1",
                "--out", str(small_disk / out), "--quiet"]
    else:
        argv = ["predict", str(root / "m.gpuml"), str(root / "big.npy"), "--out", str(small_disk / out),
                "--quiet"]
    capsys.readouterr()
    assert main(argv) == 1
    assert _one_error(capsys) == f"gpuml: error: no space left on device while writing {small_disk / out}"
    assert os.listdir(small_disk) == []


def test_a_read_only_folder_is_noticed_before_the_fit(data, tmp_path, capsys, monkeypatch):
    root, _ = data
    ro = tmp_path / "ro"
    _tmpfs(ro, "ro")
    try:
        fitted = []
        monkeypatch.setattr(PCA, "fit", lambda self, *a, **k: fitted.append(1))
        capsys.readouterr()
        assert main(["fit", str(root / "d.npy"), "--model", "PCA", "--out", str(ro / "m.gpuml")]) == 1
        assert f"cannot write to the folder {ro}: Read-only file system" in _one_error(capsys) and not fitted
    finally:
        subprocess.run(["umount", str(ro)], check=True)


SLOW_WRITE = textwrap.dedent("""
    import signal, sys, time
    from gpuml.cli import _writers, main

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even where the test runner ignores SIGINT

    write = _writers.NpyWriter.write

    def slow(self, block):  # the first block written, then a pause long enough to be signalled
        write(self, block)
        self.fh.flush()
        print("writing", flush=True)
        time.sleep(60)

    _writers.NpyWriter.write = slow
    sys.exit(main.main(sys.argv[1:]))
""")


@pytest.mark.parametrize("sig,code,said", [(signal.SIGTERM, 143, "gpuml: terminated"),
                                            (signal.SIGINT, 130, "gpuml: interrupted")])
def test_a_signal_during_the_write_removes_the_temporary_file(data, sig, code, said):
    root, _ = data
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITE, "predict", str(root / "m.gpuml"),
                             str(root / "d.npy"), "--out", str(root / "p.npy"), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "writing"
        assert any(name.endswith(".partial.npy") for name in os.listdir(root))  # mid-write
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == code and err.strip().splitlines()[-1] == said, err
    assert sorted(os.listdir(root)) == ["d.npy", "m.gpuml"]


@pytest.mark.parametrize("fmt", ["npy", "csv", "parquet"])
def test_predict_streams_chunk_by_chunk_and_equals_the_whole(data, monkeypatch, fmt):
    root, X = data
    from gpuml.cli import _writers

    blocks = []
    for cls in (_writers.NpyWriter, _writers.ArrowWriter):
        write = cls.write
        monkeypatch.setattr(cls, "write", lambda self, b, write=write: blocks.append(len(b)) or write(self, b))
    out = root / f"p.{fmt}"
    assert main(["predict", str(root / "m.gpuml"), str(root / "d.npy"), "--out", str(out),
                 "--memory-limit", "16KB", "--quiet"]) == 0
    assert len(blocks) > 10 and sum(blocks) == len(X)  # written as it was made, not at the end
    from gpuml.cli._model import load_model

    ref = load_model(str(root / "m.gpuml"))["estimator"].transform(X)  # (n, 3)
    if fmt == "npy":
        got = np.load(out)
    elif fmt == "csv":
        got = np.loadtxt(out, delimiter=",", skiprows=1)
    else:
        got = np.column_stack([c.to_numpy() for c in pq.read_table(out).columns])
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)  # csv: shortest round-trip repr


@pytest.mark.parametrize("model,method", [("KMeans", "transform"), ("LogisticRegression", "predict_proba")])
def test_method_chooses_what_is_written(tmp_path, model, method):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 3))
    np.save(tmp_path / "d.npy", np.c_[X, (X[:, 0] > 0).astype(float)])
    fit = ["fit", str(tmp_path / "d.npy"), "--model", model, "--target", "-1", "--device", "cpu",
           "--out", str(tmp_path / "m.gpuml"), "--quiet"]
    if model == "KMeans":
        fit += ["--param", "n_clusters=4", "--param", "random_state=0"]
    assert main(fit) == 0
    assert main(["predict", str(tmp_path / "m.gpuml"), str(tmp_path / "d.npy"), "--out", str(tmp_path / "p.npy"),
                 "--method", method, "--memory-limit", "4KB", "--quiet"]) == 0
    from gpuml.cli._model import load_model

    est = load_model(str(tmp_path / "m.gpuml"))["estimator"]
    got = np.load(tmp_path / "p.npy")
    assert got.shape == (600, 4 if model == "KMeans" else 2)
    np.testing.assert_allclose(got, getattr(est, method)(X), rtol=1e-12, atol=1e-12)


def test_a_method_the_model_lacks_is_one_line(data, capsys):
    root, _ = data
    capsys.readouterr()
    assert main(["predict", str(root / "m.gpuml"), str(root / "d.npy"), "--out", str(root / "p.npy"),
                 "--method", "predict_proba"]) == 1
    assert _one_error(capsys) == "gpuml: error: PCA has no predict_proba method"


@pytest.mark.filterwarnings("error")
def test_streamed_predict_keeps_feature_names(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 2))
    pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1], "y": X @ [1.0, 2.0]}), tmp_path / "d.parquet",
                   row_group_size=100)
    assert main(["fit", str(tmp_path / "d.parquet"), "--model", "Ridge", "--target", "y", "--device", "cpu",
                 "--out", str(tmp_path / "m.gpuml"), "--quiet"]) == 0
    assert main(["predict", str(tmp_path / "m.gpuml"), str(tmp_path / "d.parquet"), "--out",
                 str(tmp_path / "p.parquet"), "--memory-limit", "2KB", "--quiet"]) == 0
    from gpuml.cli._model import load_model

    est = load_model(str(tmp_path / "m.gpuml"))["estimator"]
    assert list(est.feature_names_in_) == ["a", "b"]
    np.testing.assert_allclose(pq.read_table(tmp_path / "p.parquet").column("prediction").to_numpy(),
                               X @ est.coef_ + est.intercept_, rtol=1e-12, atol=1e-12)
