"""benchmarks/sklearn_suite.py: its parsing of pytest's reports, and one small run under accel.

The run takes a few tests of scikit-learn's own test_k_means (a subprocess, no xdist) under
``gpuml.accel`` with ``device="cpu"`` and checks that the counts parse, that the proxies were in place in the process
that ran the tests, that gpuml served some of their calls, and that the selected tests pass.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "sklearn_suite.py"


def _load():
    spec = importlib.util.spec_from_file_location("_sklearn_suite_under_test", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


suite = _load()


def _rep(when, outcome, **kw):
    return {"when": when, "outcome": outcome, **kw}


@pytest.mark.parametrize(
    "phases, expected",
    [
        ({"setup": _rep("setup", "passed"), "call": _rep("call", "passed"), "teardown": _rep("teardown", "passed")},
         "passed"),
        ({"setup": _rep("setup", "passed"), "call": _rep("call", "failed"), "teardown": _rep("teardown", "passed")},
         "failed"),
        ({"setup": _rep("setup", "failed"), "teardown": _rep("teardown", "passed")}, "error"),
        ({"setup": _rep("setup", "skipped"), "teardown": _rep("teardown", "passed")}, "skipped"),
        ({"setup": _rep("setup", "skipped", wasxfail=""), "teardown": _rep("teardown", "passed")}, "xfailed"),
        ({"setup": _rep("setup", "passed"), "call": _rep("call", "skipped", wasxfail="why")}, "xfailed"),
        ({"setup": _rep("setup", "passed"), "call": _rep("call", "passed", wasxfail="why")}, "xpassed"),
        ({"setup": _rep("setup", "passed"), "call": _rep("call", "skipped")}, "skipped"),
        ({"setup": _rep("setup", "passed"), "call": _rep("call", "passed"), "teardown": _rep("teardown", "failed")},
         "error"),
        ({"???": _rep("???", "failed", crashed=True)}, "failed"),
    ],
)
def test_outcome_of(phases, expected):
    assert suite.outcome_of(phases)[0] == expected


@pytest.mark.parametrize(
    "message, reason",
    [
        ("ValueError: Expected 2D array, got 1D array instead:\narray=[1. 2.]",
         "ValueError: Expected ND array, got ND array instead:"),
        ("assert 0.93 == 1.0\n +  where ...", "AssertionError: assert N == N"),
        ("AssertionError: \nNot equal to tolerance rtol=1e-07, atol=0\n\nMismatched elements: 3 / 10 (30%)",
         "AssertionError: Not equal to tolerance rtol=N, atol=N"),
        ("gpuml._support.UnsupportedError: solver='saga' (gpuml supports 'lbfgs')",
         "UnsupportedError: solver='saga' (gpuml supports 'lbfgs')"),
        ("Failed: DID NOT RAISE <class 'ValueError'>", "Failed: DID NOT RAISE <class 'ValueError'>"),
        ("TypeError: object at 0x7f3a2b1c0d90 is not callable", "TypeError: object at <hex> is not callable"),
    ],
)
def test_reason_of(message, reason):
    assert suite.reason_of(message) == reason


def test_share_leaves_skips_out():
    counts = {"passed": 97, "failed": 2, "error": 1, "skipped": 50, "xfailed": 3, "xpassed": 1}
    assert suite.share(counts) == pytest.approx(0.97)
    assert suite.share(dict.fromkeys(counts, 0)) is None


# a few of test_k_means's tests, small and quick; device="cpu" makes gpuml compute them on any machine
# (device="auto" hands such small fits to scikit-learn's CPU kernels where there is no accelerator)
_SELECT = "test_kmeans_results and dense"


def _has_accel() -> bool:
    try:
        import gpuml.accel
    except ImportError:
        return False
    return hasattr(gpuml.accel, "install")


@pytest.mark.skipif(not _has_accel(), reason="gpuml.accel is not there yet")
def test_one_module_under_accel(tmp_path):
    r = suite.run_module(
        suite.MODULES["k_means"],
        "accel",
        python=sys.executable,
        workers=0,
        select=_SELECT,
        test_timeout=None,
        module_timeout=120,
        extra=[],
        logdir=tmp_path,
        device="cpu",
    )
    output = Path(r["output"]).read_text(errors="replace")[-3000:]
    assert r["returncode"] == 0, output
    counts = r["counts"]
    assert set(counts) == set(suite.OUTCOMES)
    assert counts["passed"] >= 4 and counts["passed"] == sum(counts.values()), (counts, output)
    assert r["share"] == 1.0
    assert r["collect_errors"] == 0
    # the selected tests, whatever path prefix scikit-learn has (make test-oldest installs it beside the venv)
    assert all(t.split("::")[-1].startswith("test_kmeans_results[") for t in r["tests"]), list(r["tests"])[:3]
    # the proxies were in place in the process that ran the tests, and gpuml ran some calls
    assert r["accel_in_controller"] is True
    assert r["proxied_in_workers_min"] and r["proxied_in_workers_min"] >= 8
    assert r["covered_calls"]["calls_on_gpuml"] > 0, r["covered_calls"]
    # the log lines are JSON, one per phase report
    lines = Path(r["output"]).with_suffix(".jsonl").read_text().splitlines()
    assert all(json.loads(line)["kind"] in ("start", "test", "collect") for line in lines)
