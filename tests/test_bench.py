"""The benchmark suite runs end to end (tiny sizes) and judges what it measures."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gpuml.bench import _cases, _runner, markdown, verdicts, write
from gpuml.bench._machine import ceilings, machine_info
from gpuml.cli.main import main

TINY = {"n": 3000, "d": 8, "k": 4, "iters": 3, "q": 200, "h": 32, "batch": 100, "epochs": 30}


@pytest.fixture(scope="module")
def tiny_result(tmp_path_factory):
    scratch = str(tmp_path_factory.mktemp("bench"))
    devices = _runner.devices_present()
    ceil = ceilings(devices, scratch, {"matmul_n_cpu": 128, "matmul_n_gpu": 256, "copy_bytes": 1 << 20,
                                       "disk_bytes": 2 << 20})
    results = []
    for case in _cases.cases(scratch):
        case.sizes["quick"] = {k: v for k, v in TINY.items() if k in case.sizes["quick"]}
        results.append(_runner.run_case(case, "quick", devices, ceil, log=lambda s: None))
    return {"preset": "quick", "machine": machine_info(), "ceilings": ceil, "cases": results,
            "devices": [str(d) for d in devices]}


def test_every_case_runs_on_every_engine_and_agrees(tiny_result):
    names = [c["case"] for c in tiny_result["cases"]]
    assert len(names) == 13 and "streamed Ridge (Parquet)" in names and "MLPClassifier" in names
    for c in tiny_result["cases"]:
        engines = {r["engine"] for r in c["rows"]}
        assert "gpuml:cpu" in engines, c
        for r in c["rows"]:
            assert "error" not in r, r
            assert r["seconds"] > 0
            if "agrees" in r:
                assert r["agrees"], r
            if r["engine"].startswith("gpuml"):
                assert r["floor_seconds"] > 0 and 0 < r["floor_fraction"]
        if not c["case"].startswith("streamed"):
            assert "sklearn:cpu" in engines and "speedup_vs_sklearn" in next(
                r for r in c["rows"] if r["engine"] == "gpuml:cpu")


def test_ceilings_are_measured(tiny_result):
    cpu = tiny_result["ceilings"]["cpu"]
    assert cpu["matmul_fp32"] > 1e6 and cpu["matmul_fp64"] > 1e6 and cpu["copy"] > 1e6
    assert tiny_result["ceilings"]["disk"]["read"] > 1e6
    if torch.cuda.is_available():
        assert tiny_result["ceilings"]["cuda:0"]["h2d_pinned"] > 1e8


def test_outputs(tiny_result, tmp_path):
    paths = write(tiny_result, str(tmp_path))
    assert paths[0].endswith(".json") and paths[1].endswith(".md")
    data = json.loads(open(paths[0]).read())
    assert data["machine"]["torch"] == torch.__version__ and len(data["cases"]) == 13
    md = markdown(tiny_result)
    assert "| case | size | engine |" in md and "Ceilings measured in the same run" in md
    assert any("gpuml on the CPU takes" in v for v in verdicts(tiny_result))


def test_a_wrong_answer_is_reported_as_a_failure(tiny_result):
    bad = json.loads(json.dumps(tiny_result, default=float))
    row = next(r for r in bad["cases"][0]["rows"] if r["engine"] == "gpuml:cpu")
    row.update(agrees=False, agreement="coef rel diff 1e+00")
    assert any(v.startswith("FAIL LinearRegression") for v in verdicts(bad))


@pytest.fixture
def bench_env(monkeypatch):
    """`gpuml bench` sets SCIPY_ARRAY_API for itself; undo it after, for the other tests."""
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")


def test_cli_rerenders_a_saved_result(tiny_result, tmp_path, capsys, bench_env):
    path = write(tiny_result, str(tmp_path))[0]
    assert main(["bench", "--report", path]) == 0
    assert "gpuml bench --preset quick" in capsys.readouterr().out


def test_unknown_case_is_an_error(capsys, bench_env):
    assert main(["bench", "--case", "RandomForest"]) == 1
    assert "unknown case" in capsys.readouterr().err


def test_timed_median_syncs_and_returns_the_result():
    med, times, result = _runner.timed(lambda: np.float64(3.0), "cpu", repeats=3, warmup=True)
    assert len(times) == 3 and med == sorted(times)[1] and result == 3.0


@pytest.fixture
def two_cases(monkeypatch, tmp_path):
    """`run` over a case whose data cannot be made, then a real (tiny) case; cheap ceilings."""
    import dataclasses

    def cannot_make(rng, size):
        raise MemoryError("no room for the data")

    def tiny(scratch):
        real = next(c for c in _cases.cases(scratch) if c.name == "StandardScaler")
        real.sizes["quick"] = {"n": 3000, "d": 8}
        return [dataclasses.replace(real, name="broken", make=cannot_make), real]

    monkeypatch.setattr(_runner, "cases", tiny)
    monkeypatch.setitem(_runner.CEILING_SIZES, "quick", {"matmul_n_cpu": 128, "matmul_n_gpu": 256,
                                                         "copy_bytes": 1 << 20, "disk_bytes": 2 << 20})


def test_run_reports_a_case_that_cannot_start_and_goes_on(two_cases):
    seen = []
    result = _runner.run("quick", log=lambda s: None, on_case=lambda r: seen.append(len(r["cases"])))
    assert seen == [1, 2]  # the result so far, after every case
    broken, scaler = result["cases"]
    assert broken["rows"][0]["error"] == "MemoryError: no room for the data"
    assert any(r["engine"] == "gpuml:cpu" and r["seconds"] > 0 for r in scaler["rows"])
    assert "no room for the data" in markdown(result)


def test_cli_keeps_the_finished_cases_when_stopped(two_cases, monkeypatch, tmp_path, bench_env):
    def stop(*args, **kwargs):  # Ctrl-C during case 2 (a time limit kills outright: the same files stay)
        raise KeyboardInterrupt

    real = _runner.run_case
    monkeypatch.setattr(_runner, "run_case", lambda case, *a, **k: stop() if case.name == "StandardScaler"
                        else real(case, *a, **k))
    assert main(["bench", "--out", str(tmp_path)]) != 0  # "gpuml: interrupted"
    (saved,) = tmp_path.glob("*.json")
    assert [c["case"] for c in json.loads(saved.read_text())["cases"]] == ["broken"]
    assert not list(tmp_path.glob("*.partial*"))
