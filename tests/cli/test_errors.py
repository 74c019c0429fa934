"""Every failure a user meets is one plain line and exit status 1; tracebacks only with --debug."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import numpy as np
import pytest

from gpuml.cli import fit as fit_cmd
from gpuml.cli.main import main, message


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 32))
    np.save(tmp_path / "d33.npy", np.c_[X, X @ rng.standard_normal(32)])  # 32 features and a target
    np.save(tmp_path / "y.npy", X[:, 0])  # only the target
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY\x01\x00\x20\x00{'descr': '<f8', 'shape': (3,  \n" + b"\0" * 64)
    (tmp_path / "dup.csv").write_text("a,a,y\n1,2,3\n4,5,6\n7,8,9\n")
    (tmp_path / "labels.csv").write_text("a,b,y\n1,2,cat\n4,5,dog\n7,8,cat\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "folder.npy").mkdir()
    return tmp_path


#: What the command line guarantees: one line, and for these inputs a known error (not "internal error").
PLAIN = "gpuml: error: "


def _run(argv, capsys) -> tuple[int, list[str]]:
    capsys.readouterr()
    rc = main(argv)
    return rc, capsys.readouterr().err.strip().splitlines()


FIT = ["fit", "--out", "{root}/m.gpuml", "--quiet"]


@pytest.mark.parametrize("args", [
    ["{root}/labels.csv", "--model", "Ridge", "--target", "y"],  # a string target for a regressor
    ["{root}/y.npy", "--model", "Ridge", "--target", "0"],  # a .npy holding only the target
    ["{root}/y.npy", "--model", "KMeans"],
    ["{root}/broken.npy", "--model", "KMeans"],
    ["{root}/dup.csv", "--model", "Ridge", "--target", "y"],  # duplicate column names
    ["{root}/missing.npy", "--model", "Ridge", "--target", "0"],
    ["{root}/empty", "--model", "KMeans"],  # a folder with no data
    ["{root}/folder.npy", "--model", "KMeans"],  # a folder where a file was meant
    ["{root}/d33.npy", "--model", "Ridge", "--target", "zz"],
    ["{root}/d33.npy", "--model", "Ridge", "--target", "-1", "--memory-limit", "abc"],
], ids=["string-target", "target-only-npy", "target-only-npy-unsupervised", "broken-header", "duplicate-columns",
        "missing-file", "empty-folder", "folder-for-file", "target-name-for-npy", "bad-memory-limit"])
def test_fit_failures_are_one_line(files, capsys, args):
    rc, err = _run([a.format(root=files) for a in FIT[:1] + args + FIT[1:]], capsys)
    assert rc == 1 and len(err) == 1 and err[0].startswith(PLAIN), err
    assert not (files / "m.gpuml").exists()


def test_a_target_column_out_of_range_is_one_line(files, capsys):
    rc, err = _run(["fit", str(files / "d33.npy"), "--model", "Ridge", "--target", "99",
                    "--out", str(files / "m.gpuml"), "--quiet"], capsys)
    assert rc == 1 and len(err) == 1 and "99" in err[0], err
    assert not (files / "m.gpuml").exists()


def test_predict_on_a_broken_file_is_one_line(files, capsys):
    assert main(["fit", str(files / "d33.npy"), "--model", "Ridge", "--target", "-1", "--out",
                 str(files / "m.gpuml"), "--quiet"]) == 0
    for data in ("broken.npy", "missing.npy", "folder.npy", "y.npy"):
        rc, err = _run(["predict", str(files / "m.gpuml"), str(files / data), "--out", str(files / "p.npy")], capsys)
        assert rc == 1 and len(err) == 1 and err[0].startswith(PLAIN), (data, err)
    assert not (files / "p.npy").exists()


def test_an_unexpected_error_is_one_line_and_debug_shows_it(files, capsys, monkeypatch):
    def bug(*args, **kwargs):
        raise AttributeError("'NoneType' object has no attribute 'shape'")

    monkeypatch.setattr(fit_cmd, "_model_class", bug)
    argv = ["fit", str(files / "d33.npy"), "--model", "Ridge", "--out", str(files / "m.gpuml")]
    rc, err = _run(argv, capsys)
    assert rc == 1 and err == ["gpuml: internal error: AttributeError: 'NoneType' object has no attribute "
                               "'shape' (run with --debug for the traceback)"]
    with pytest.raises(AttributeError):
        main(["--debug", *argv])


def test_no_traceback_reaches_the_user(files):
    """The whole program, as a user runs it: a KeyError deep in pyarrow is still one line."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-m", "gpuml", "fit", str(files / "dup.csv"), "--model", "Ridge",
                          "--target", "y", "--out", str(files / "m.gpuml"), "--quiet"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_messages_are_one_plain_line():
    assert message(KeyError("Column a does not exist in schema")) == "Column a does not exist in schema"
    assert message(OSError(errno.EIO, "Input/output error", "/data/x.npy")) == "/data/x.npy: Input/output error"
    assert message(ValueError("first\n  second\n")) == "first; second"
    assert message(ValueError()) == "ValueError"
