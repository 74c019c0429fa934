"""The `gpuml` command line."""

from __future__ import annotations

import subprocess
import sys

from gpuml.cli import demo
from gpuml.cli.main import main


def test_demo_rows_cover_every_estimator():
    head, *rows = demo.run("cpu", scale=0.005)
    assert head["reason"].startswith("cpu: asked for explicitly")
    names = [r["estimator"] for r in rows]
    assert names == ["LinearRegression", "Ridge", "LogisticRegression", "KMeans (k=8)", "PCA (10 of 100)",
                     "KNeighborsClassifier", "StandardScaler"]
    for r in rows:
        assert r["gpuml_s"] > 0 and r["sklearn_s"] > 0 and r["device"] == "cpu"
        assert r["agreement"]


def test_demo_prints_a_table(capsys):
    assert main(["demo", "--device", "cpu", "--scale", "0.005"]) == 0
    out = capsys.readouterr().out
    assert "Device: cpu" in out and "StandardScaler" in out and "speedup" in out


def test_known_errors_are_one_line_and_exit_1(capsys):
    assert main(["demo", "--scale", "-1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["gpuml: error: --scale must be positive, got -1.0"]
    assert main(["demo", "--device", "cuda:99"]) == 1


def test_module_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "gpuml", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "gpuml 0.1.0"
