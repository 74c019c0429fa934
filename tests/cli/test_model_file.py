"""Model files say what they are: checked before anything is unpickled, one line when wrong."""

from __future__ import annotations

import json
import os
import pickle
import re

import numpy as np
import pytest

from gpuml.cli import _model
from gpuml.cli.main import main
from gpuml.linear_model import Ridge


@pytest.fixture
def fitted(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    np.save(tmp_path / "x.npy", X)
    est = Ridge(device="cpu").fit(X, X @ [1.0, 2.0, 3.0])
    path = tmp_path / "m.gpuml"
    _model.save_model(str(path), est, {"target": None, "columns": None})
    return tmp_path, path, est, X


def _predict(root, model, capsys) -> tuple[int, list[str]]:
    capsys.readouterr()
    rc = main(["predict", str(model), str(root / "x.npy"), "--out", str(root / "p.npy"), "--quiet"])
    return rc, capsys.readouterr().err.strip().splitlines()


def test_round_trip_carries_version_and_estimator(fitted):
    _, path, est, X = fitted
    from gpuml import __version__

    got = _model.load_model(str(path))
    assert got["header"]["gpuml_version"] == __version__ and got["header"]["estimator"] == "Ridge"
    assert got["header"]["format"] == _model.FORMAT
    np.testing.assert_array_equal(got["estimator"].predict(X), est.predict(X))


def _old_format(path, est):  # what gpuml fit wrote before model format 2
    with open(path, "wb") as fh:
        pickle.dump({"format": "gpuml-model/1", "gpuml_version": "0.1.0", "estimator": est, "target": None},
                    fh, protocol=pickle.HIGHEST_PROTOCOL)


def _newer(path, est):
    body = path.read_bytes()
    header_line = body[len(_model.MAGIC):].split(b"\n", 1)[0]
    header = json.loads(header_line)
    header.update(format=_model.FORMAT + 1, gpuml_version="9.0.0")
    path.write_bytes(body.replace(header_line, json.dumps(header).encode()))


def _foreign(path, est):
    with open(path, "wb") as fh:
        pickle.dump({"weights": [1, 2, 3]}, fh)


def _truncated(path, est):
    path.write_bytes(path.read_bytes()[:-100])


def _damaged(path, est):
    body = bytearray(path.read_bytes())
    body[-50] ^= 0xFF
    path.write_bytes(bytes(body))


def _bad_header(path, est):
    path.write_bytes(_model.MAGIC + b"{not json\n" + b"x" * 100)


def _mislabelled(path, est):
    from gpuml.linear_model import LinearRegression

    _model.save_model(str(path), LinearRegression(), {})
    body = path.read_bytes()
    path.write_bytes(body.replace(b'"estimator": "LinearRegression"', b'"estimator": "Ridge"'))


def _text(path, est):
    path.write_text("alpha=1.0\n")


@pytest.mark.parametrize("spoil,message", [
    (_old_format, r"m.gpuml was written by an older gpuml \(model format 1\).*fit the model again"),
    (_newer, r"m.gpuml was written by a newer gpuml \(9.0.0, model format 3\).*upgrade gpuml"),
    (_foreign, r"m.gpuml is not a gpuml model file$"),
    (_text, r"m.gpuml is not a gpuml model file$"),
    (_truncated, r"m.gpuml is truncated or damaged: [\d,]+ bytes of model where the header says [\d,]+"),
    (_damaged, r"m.gpuml is damaged: its checksum does not match"),
    (_bad_header, r"m.gpuml: the model file's header is damaged"),
    (_mislabelled, r"m.gpuml says it holds a Ridge but holds a LinearRegression"),
], ids=["old", "newer", "foreign-pickle", "text", "truncated", "damaged", "bad-header", "mislabelled"])
def test_a_wrong_model_file_is_one_line(fitted, capsys, spoil, message):
    root, path, est, _ = fitted
    spoil(path, est)
    rc, err = _predict(root, path, capsys)
    assert rc == 1 and len(err) == 1, err
    assert re.search(message, err[0]) and err[0].startswith("gpuml: error: "), err[0]
    assert not (root / "p.npy").exists()


def test_a_foreign_pickle_is_never_unpickled(fitted, monkeypatch):
    root, path, est, _ = fitted
    _foreign(path, est)
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(ValueError, match="not a gpuml model file"):
        _model.load_model(str(path))


@pytest.mark.parametrize("which", ["missing", "folder"])
def test_a_missing_model_or_a_folder_is_one_line(fitted, capsys, which):
    root, path, _, _ = fitted
    target = root / "nope.gpuml" if which == "missing" else root
    rc, err = _predict(root, target, capsys)
    assert rc == 1 and len(err) == 1, err
    assert ("no such model file" if which == "missing" else "is a folder, not a gpuml model file") in err[0]


def test_another_gpuml_version_warns_and_predicts(fitted, capsys, monkeypatch):
    root, path, est, X = fitted
    monkeypatch.setattr("gpuml.__version__", "0.0.1")
    _model.save_model(str(path), est, {"target": None, "columns": None})
    monkeypatch.undo()
    rc, err = _predict(root, path, capsys)
    assert rc == 0 and any("written by gpuml 0.0.1; this is gpuml" in line for line in err), err
    np.testing.assert_array_equal(np.load(root / "p.npy"), est.predict(X))
    assert os.path.exists(path)
