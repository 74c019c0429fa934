#!/usr/bin/env python
"""scikit-learn's own test modules for the estimators gpuml.accel covers, run three ways.

    python benchmarks/sklearn_suite.py --mode sklearn   # plain scikit-learn: the baseline
    python benchmarks/sklearn_suite.py --mode accel     # gpuml.accel installed, fallback on
    python benchmarks/sklearn_suite.py --mode native    # gpuml.accel installed, GPUML_FALLBACK=0

Options: ``--modules k_means pca`` (short names below, or dotted module names), ``--out DIR``
(default ``benchmarks/results``), ``-n N`` (pytest-xdist workers, default 2; 0 runs in-process),
``-k EXPR`` (pytest's selection), ``--test-timeout S`` (per test, needs pytest-timeout),
``--module-timeout S`` (per module, the run is killed and what finished is kept).

Each module runs in its own ``python -m pytest --pyargs sklearn.<...>.tests.<module>`` from an empty
temporary folder with an empty ini file, so this repository's pytest settings (addopts, filterwarnings)
do not apply and scikit-learn's own ``sklearn/conftest.py`` (``global_random_seed``, thread limits
per xdist worker, network skips) does. This file is also the pytest plugin (``-p sklearn_suite``):

- ``--suite-accel`` calls ``gpuml.accel.install()`` in ``pytest_configure`` (first), in the controller
  and in every xdist worker (workers get the same ``-p``/options), before any test module is imported;
  every test's report records whether the proxies were in place in the process that ran it;
- ``--suite-log FILE`` makes the controller write one JSON line per test phase report.

Outcomes per test: ``error`` (setup or teardown failed, or a collection error), ``failed`` (the call
failed, a strict xpass, or the xdist worker crashed on it), ``passed``, ``skipped``, ``xfailed``,
``xpassed``. **Pass share = passed / (passed + failed + error)**: skipped, xfailed and xpassed tests
are left out of both sides (and reported). Failures are grouped by a reason: the exception type and
the first line of its message, with numbers, addresses and quoted names normalized.

Writes ``sklearn-suite-<mode>.json`` (counts, shares, groups with example test ids, every failing
test id) and ``sklearn-suite-<mode>.md``; ``sklearn-suite.md`` puts the modes found side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# the covered estimators' test modules (issue 11)
MODULES = {
    "k_means": "sklearn.cluster.tests.test_k_means",
    "pca": "sklearn.decomposition.tests.test_pca",
    "ridge": "sklearn.linear_model.tests.test_ridge",
    "base": "sklearn.linear_model.tests.test_base",
    "logistic": "sklearn.linear_model.tests.test_logistic",
    "neighbors": "sklearn.neighbors.tests.test_neighbors",
    "data": "sklearn.preprocessing.tests.test_data",
}
MODES = ("sklearn", "accel", "native")
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
COVERED = (
    ("sklearn.linear_model", "LinearRegression"),
    ("sklearn.linear_model", "Ridge"),
    ("sklearn.linear_model", "LogisticRegression"),
    ("sklearn.cluster", "KMeans"),
    ("sklearn.decomposition", "PCA"),
    ("sklearn.neighbors", "NearestNeighbors"),
    ("sklearn.neighbors", "KNeighborsClassifier"),
    ("sklearn.neighbors", "KNeighborsRegressor"),
    ("sklearn.preprocessing", "StandardScaler"),
    ("sklearn.neural_network", "MLPClassifier"),
    ("sklearn.neural_network", "MLPRegressor"),
)


# --------------------------------------------------------------------------------------------------
# the pytest plugin half (loaded with -p sklearn_suite; this folder is put on PYTHONPATH)
# --------------------------------------------------------------------------------------------------


def pytest_addoption(parser):
    group = parser.getgroup("gpuml-suite", "gpuml: scikit-learn's suite under gpuml.accel")
    group.addoption("--suite-accel", action="store_true", default=False, help="install gpuml.accel first")
    group.addoption("--suite-log", default=None, help="write one JSON line per test report here")
    group.addoption("--suite-device", default=None, help="gpuml.set_config(device=...) after installing accel")


_STATE: dict = {"log": None, "accel": False}


def _proxied() -> list[str]:
    """The covered sklearn classes that are gpuml proxies in this process (by module of the class)."""
    import importlib

    out = []
    for mod, name in COVERED:
        try:
            cls = getattr(importlib.import_module(mod), name)
        except Exception:  # noqa: BLE001 - a missing module is just not proxied
            continue
        # a proxy wears sklearn's __module__ and __qualname__; it holds the class it stands for
        if getattr(cls, "_gpuml_original", None) is not None or (cls.__module__ or "").startswith("gpuml"):
            out.append(name)
    return out


@pytest.hookimpl(tryfirst=True)  # before sklearn's conftest, before collection
def pytest_configure(config):
    if config.getoption("suite_accel"):
        import gpuml.accel

        gpuml.accel.install()
        _STATE["accel"] = True
        workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
        if os.environ.get("PYTEST_XDIST_WORKER") and workers:
            # as sklearn/conftest.py limits BLAS and OpenMP to cores // workers in each xdist worker (and
            # this repository's tests/conftest.py torch): torch's own thread pool too, else 2 workers x
            # 2 torch threads on 2 cores spin in barriers and small kernels run many times slower
            import torch

            torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(workers)))
        device = config.getoption("suite_device")
        if device:
            gpuml.set_config(device=device)  # this thread's context: the one pytest runs the tests in
    path = config.getoption("suite_log")
    if path and not hasattr(config, "workerinput"):  # the controller (or a run without xdist) writes
        _STATE["log"] = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        _STATE["log"].write(
            json.dumps({"kind": "start", "accel": _STATE["accel"], "proxied": _proxied(), "pid": os.getpid()}) + "\n"
        )


def pytest_unconfigure(config):
    log = _STATE.get("log")
    if log is not None:
        log.close()
        _STATE["log"] = None


def pytest_runtest_setup(item):
    # the process that runs the test says whether the proxies are in place (xdist ships user_properties)
    if _STATE["accel"] and not any(k == "gpuml_proxied" for k, _ in item.user_properties):
        item.user_properties.append(("gpuml_proxied", len(_proxied())))


def _accel_calls():
    """The calls gpuml.accel recorded so far in this process, or None when it keeps no record."""
    try:
        from gpuml.accel import _report
    except Exception:  # noqa: BLE001
        return None
    try:
        return list(_report._calls) if hasattr(_report, "_calls") else list(_report.calls())
    except Exception:  # noqa: BLE001
        return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Counts the covered calls the test made, where they ran, and why on scikit-learn."""
    before = _accel_calls() if _STATE["accel"] else None
    try:
        return (yield)
    finally:
        after = _accel_calls() if before is not None else None
        if after is not None:
            new = after[len(before):]
            native = sum(getattr(c, "engine", "") == "gpuml" for c in new)
            reasons = Counter(
                normalize(f"{getattr(c, 'estimator', '?')}.{getattr(c, 'method', '?')}: {getattr(c, 'reason', '')}",
                          200)
                for c in new
                if getattr(c, "engine", "") != "gpuml"
            )
            counts = {"gpuml": native, "sklearn": len(new) - native, "reasons": dict(reasons.most_common(5))}
            item.user_properties.append(("gpuml_calls", counts))


def _crash_message(longrepr) -> tuple[str, str]:
    """(message, location) of a failure's longrepr: the exception's text and where it was raised."""
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message), f"{_short_path(crash.path)}:{crash.lineno}"
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, lineno, reason)
        return str(longrepr[2]), f"{_short_path(str(longrepr[0]))}:{longrepr[1]}"
    text = str(longrepr) if longrepr is not None else ""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    # the last "E   ..." lines of a traceback text hold the exception
    e_lines = [ln[1:].strip() for ln in lines if ln.startswith("E ")]
    if e_lines:
        return "\n".join(e_lines), ""
    return (lines[-1] if lines else ""), ""


def _stack(longrepr, last: int = 10) -> list[str]:
    """The failure's frames, "path:line", innermost last (the last ``last`` of them)."""
    chain = getattr(longrepr, "chain", None)
    tracebacks = [element[0] for element in chain] if chain else [getattr(longrepr, "reprtraceback", None)]
    frames = []
    for tb in tracebacks:
        for entry in getattr(tb, "reprentries", []) or []:
            loc = getattr(entry, "reprfileloc", None)
            if loc is not None:
                frames.append(f"{_short_path(loc.path)}:{loc.lineno}")
    return frames[-last:]


def _gpuml_frame(longrepr) -> str:
    """The innermost traceback frame inside gpuml, "path:line", or ""."""
    tracebacks = []
    chain = getattr(longrepr, "chain", None)
    if chain:
        tracebacks = [element[0] for element in chain]
    elif getattr(longrepr, "reprtraceback", None) is not None:
        tracebacks = [longrepr.reprtraceback]
    found = ""
    for tb in tracebacks:
        for entry in getattr(tb, "reprentries", []) or []:
            loc = getattr(entry, "reprfileloc", None)
            if loc is not None and "gpuml" in str(loc.path).replace("\\", "/").split("/site-packages/")[-1]:
                found = f"{_short_path(loc.path)}:{loc.lineno}"
    return found


def _short_path(path: str) -> str:
    path = str(path).replace("\\", "/")
    for marker in ("/site-packages/", "/src/"):
        if marker in path:
            return path.split(marker)[-1]
    return path


def pytest_runtest_logreport(report):
    log = _STATE.get("log")
    if log is None:
        return
    record = {
        "kind": "test",
        "nodeid": report.nodeid,
        "when": report.when,
        "outcome": report.outcome,
        "duration": round(getattr(report, "duration", 0.0) or 0.0, 4),
    }
    if hasattr(report, "wasxfail"):
        record["wasxfail"] = str(report.wasxfail)[:200]
    props = dict(getattr(report, "user_properties", []) or [])
    if "gpuml_proxied" in props:
        record["proxied"] = props["gpuml_proxied"]
    if "gpuml_calls" in props and report.when == "call":
        record["calls"] = props["gpuml_calls"]
    if report.failed or report.skipped:
        message, location = _crash_message(report.longrepr)
        record["message"] = message[:2000]
        record["location"] = location
        if report.failed:
            record["gpuml_frame"] = _gpuml_frame(report.longrepr)
            record["stack"] = _stack(report.longrepr)
            text = str(report.longrepr)
            record["traceback"] = "\n".join(text.splitlines()[-30:])[-4000:]
        if report.when not in ("setup", "call", "teardown"):  # xdist: "worker crashed while running"
            record["crashed"] = True
    log.write(json.dumps(record) + "\n")


def pytest_collectreport(report):
    log = _STATE.get("log")
    if log is None or not report.failed:
        return
    message, location = _crash_message(report.longrepr)
    text = str(report.longrepr)
    log.write(
        json.dumps(
            {
                "kind": "collect",
                "nodeid": report.nodeid or "<collection>",
                "outcome": "failed",
                "message": message[:2000],
                "location": location,
                "gpuml_frame": _gpuml_frame(report.longrepr),
                "traceback": "\n".join(text.splitlines()[-30:])[-4000:],
            }
        )
        + "\n"
    )


# --------------------------------------------------------------------------------------------------
# outcomes, reasons, summaries
# --------------------------------------------------------------------------------------------------

_NUM = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_QUOTED = re.compile(r"'[^'\s]*/[^'\s]*'|\"[^\"\s]*/[^\"\s]*\"")  # paths
_SET = re.compile(r"\{[^{}]*\}")  # {'full', 'auto', ...}: a set's order changes from run to run
_EXC = re.compile(
    r"^([A-Za-z_][\w.]*(?:Error|Exception|Warning|Interrupt|Exit|Failed|Skipped|Timeout|Crash\w*))\s*:?\s*(.*)$", re.S
)


def reason_of(message: str, crashed: bool = False) -> str:
    """A short, normalized grouping key: exception type + first line of its message."""
    if crashed:
        return "xdist worker crashed"
    message = (message or "").strip()
    if message.startswith("assert ") or message.startswith("assert\n") or message == "assert":
        kind, rest = "AssertionError", message
    else:
        m = _EXC.match(message)
        kind, rest = (m.group(1).split(".")[-1], m.group(2)) if m else ("", message)
    first = next((ln.strip() for ln in rest.splitlines() if ln.strip()), "")
    first = first.split("; fallback is off")[0]  # gpuml.accel's UnsupportedError: the reason is before it
    first = normalize(first)
    return f"{kind}: {first}" if kind and first else (kind or first or "(no message)")


def normalize(line: str, width: int = 140) -> str:
    """One line with its numbers, addresses, long quoted names and cost estimates blanked."""
    line = re.sub(r"\s*\(est\. [^)]*\)", "", line)  # device="auto"'s estimates: "(est. 0.7 ms vs ...)"
    line = _HEX.sub("<hex>", line)
    line = _SET.sub("{…}", line)
    line = _QUOTED.sub("'…'", line)
    line = _NUM.sub("N", line)
    line = re.sub(r"\s+", " ", line).strip()
    return line if len(line) <= width else line[: width - 1] + "…"


def outcome_of(phases: dict) -> tuple[str, dict | None]:
    """A test's outcome from its phase reports, and the report that decided a failure."""
    setup, call, teardown = phases.get("setup"), phases.get("call"), phases.get("teardown")
    other = [r for w, r in phases.items() if w not in ("setup", "call", "teardown")]
    if other and other[0]["outcome"] == "failed":
        return "failed", other[0]
    if setup is not None and setup["outcome"] == "failed":
        return "error", setup
    if setup is not None and setup["outcome"] == "skipped":
        return ("xfailed" if "wasxfail" in setup else "skipped"), None
    outcome, decisive = "passed", None
    if call is not None:
        if "wasxfail" in call:
            outcome = "xfailed" if call["outcome"] == "skipped" else "xpassed"
        elif call["outcome"] == "failed":
            outcome, decisive = "failed", call
        elif call["outcome"] == "skipped":
            outcome = "skipped"
    elif setup is None:
        outcome = "error"  # no report at all: should not happen
    if teardown is not None and teardown["outcome"] == "failed" and outcome not in ("failed",):
        return "error", teardown
    return outcome, decisive


def summarize_log(path: Path) -> dict:
    """Per-test outcomes and counts of one module's JSON lines."""
    phases: dict[str, dict] = defaultdict(dict)
    collect_errors: dict[str, dict] = {}
    start = None
    proxied_min = None
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a killed run
            if rec["kind"] == "start":
                start = rec
            elif rec["kind"] == "collect":
                collect_errors.setdefault(rec["nodeid"], rec)
            else:
                phases[rec["nodeid"]][rec["when"]] = rec
                if "proxied" in rec:
                    proxied_min = rec["proxied"] if proxied_min is None else min(proxied_min, rec["proxied"])
    tests = {}
    failures = []
    duration = 0.0
    for nodeid, ph in phases.items():
        outcome, decisive = outcome_of(ph)
        duration += sum(r.get("duration", 0.0) for r in ph.values())
        tests[nodeid] = outcome
        if decisive is not None:
            failures.append(
                {
                    "nodeid": nodeid,
                    "outcome": outcome,
                    "when": decisive["when"],
                    "reason": reason_of(decisive.get("message", ""), decisive.get("crashed", False)),
                    "message": decisive.get("message", ""),
                    "location": decisive.get("location", ""),
                    "gpuml_frame": decisive.get("gpuml_frame", ""),
                    "stack": decisive.get("stack", []),
                    "traceback": decisive.get("traceback", ""),
                }
            )
    for nodeid, rec in collect_errors.items():
        tests[nodeid] = "error"
        failures.append(
            {
                "nodeid": nodeid,
                "outcome": "error",
                "when": "collect",
                "reason": "collection: " + reason_of(rec.get("message", "")),
                "message": rec.get("message", ""),
                "location": rec.get("location", ""),
                "gpuml_frame": rec.get("gpuml_frame", ""),
                "traceback": rec.get("traceback", ""),
            }
        )
    counts = Counter(tests.values())
    counts = {k: counts.get(k, 0) for k in OUTCOMES}
    # the covered calls (accel and native modes): per test, from the call phase
    calls = {"gpuml": 0, "sklearn": 0}
    fallback_calls: Counter = Counter()  # reason -> calls
    fallback_tests: Counter = Counter()  # reason -> tests
    touched = []  # tests that made a covered call
    all_native = []  # ... every one of them on gpuml
    for nodeid, ph in phases.items():
        rec = (ph.get("call") or {}).get("calls")
        if rec is None:
            continue
        calls["gpuml"] += rec["gpuml"]
        calls["sklearn"] += rec["sklearn"]
        if rec["gpuml"] + rec["sklearn"]:
            touched.append(nodeid)
            if rec["sklearn"] == 0:
                all_native.append(nodeid)
        for reason, n in rec["reasons"].items():
            key = normalize(reason, 200)
            fallback_calls[key] += n
            fallback_tests[key] += 1
    have_calls = any("calls" in (ph.get("call") or {}) for ph in phases.values())
    skip_reasons = Counter()
    for nodeid, ph in phases.items():
        if tests[nodeid] == "skipped":
            rep = ph.get("call") if ph.get("call", {}).get("outcome") == "skipped" else ph.get("setup", {})
            skip_reasons[reason_of(rep.get("message", ""))] += 1
    return {
        "tests": tests,
        "counts": counts,
        "failures": failures,
        "collect_errors": len(collect_errors),
        "test_seconds": round(duration, 1),
        "skip_reasons": dict(skip_reasons.most_common(10)),
        "covered_calls": (
            {
                "calls_on_gpuml": calls["gpuml"],
                "calls_on_sklearn": calls["sklearn"],
                "tests_with_covered_calls": len(touched),
                "tests_all_calls_on_gpuml": len(all_native),
                "tests_with_covered_calls_passed": sum(tests[t] == "passed" for t in touched),
                "tests_all_calls_on_gpuml_passed": sum(tests[t] == "passed" for t in all_native),
                "fallback_reasons": [
                    {"reason": r, "calls": n, "tests": fallback_tests[r]} for r, n in fallback_calls.most_common(25)
                ],
            }
            if have_calls
            else None
        ),
        "accel_in_controller": (start or {}).get("accel"),
        "proxied_in_controller": (start or {}).get("proxied"),
        "proxied_in_workers_min": proxied_min,
    }


def share(counts: dict) -> float | None:
    denominator = counts["passed"] + counts["failed"] + counts["error"]
    return counts["passed"] / denominator if denominator else None


_GOT = re.compile(r"\bGot .*? instead\b")


def family(reason: str) -> str:
    """The group of a reason: scikit-learn's InvalidParameterError "... Got 'lsqr' instead." for every value."""
    return _GOT.sub("Got … instead", reason)


def group_failures(failures: list[dict], examples: int = 3) -> list[dict]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for f in failures:
        groups[family(f["reason"])].append(f)
    out = []
    for reason, items in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        first = items[0]
        frames = Counter(f["gpuml_frame"] for f in items if f["gpuml_frame"])
        variants = Counter(m.group(0)[4:-8] for f in items for m in [_GOT.search(f["reason"])] if m)
        out.append(
            {
                "reason": reason,
                "count": len(items),
                "variants": dict(variants.most_common(12)),
                "tests": len({f["nodeid"].split("[")[0] for f in items}),
                "examples": [f["nodeid"] for f in items[:examples]],
                "message": first["message"][:600],
                "location": first["location"],
                "gpuml_frames": dict(frames.most_common(3)),
                "stack": first.get("stack", []),
                "traceback": first["traceback"],
            }
        )
    return out


# --------------------------------------------------------------------------------------------------
# the driver
# --------------------------------------------------------------------------------------------------


def _has_module(python: str, name: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({name!r}) is None)"
    return subprocess.run([python, "-c", code], capture_output=True).returncode == 0


def _sklearn_dir(python: str) -> str:
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        import importlib.util

        spec = importlib.util.find_spec("sklearn")  # no import: quick
        if spec is not None and spec.submodule_search_locations:
            return os.path.abspath(list(spec.submodule_search_locations)[0])
    out = subprocess.run(
        [python, "-c", "import os, sklearn; print(os.path.dirname(sklearn.__file__))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def run_module(
    module: str,
    mode: str,
    *,
    python: str,
    workers: int,
    select: str | None,
    test_timeout: float | None,
    module_timeout: float | None,
    extra: list[str],
    logdir: Path,
    env_extra: dict | None = None,
    device: str | None = None,
) -> dict:
    """Run one test module in a subprocess; returns its summary."""
    stem = _log_stem(mode, device, module)
    log = logdir / f"{stem}.jsonl"
    out_txt = logdir / f"{stem}.txt"
    log.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="sklearn-suite-") as tmp:
        ini = Path(tmp) / "pytest.ini"
        ini.write_text("[pytest]\n", encoding="utf-8")
        site = os.path.dirname(_sklearn_dir(python))
        cmd = [
            python, "-m", "pytest", "--pyargs", module,
            # an empty ini: none of this repository's settings; the rootdir is the folder that holds
            # sklearn, so test ids read sklearn/cluster/tests/test_k_means.py::test_...; conftest
            # files load below confcutdir only: sklearn's own sklearn/conftest.py is below it
            "-c", str(ini), "--rootdir", site, "--confcutdir", site,
            "-o", "addopts=", "-p", "no:cacheprovider", "-p", "sklearn_suite",
            "--suite-log", str(log), "-q", "--no-header", "-rN", "--tb=long",
        ]  # fmt: skip
        if workers > 0:
            cmd += ["-n", str(workers)]
        else:
            cmd += ["-p", "no:xdist"]
        if mode in ("accel", "native"):
            cmd.append("--suite-accel")
            if device:
                cmd += ["--suite-device", device]
        if select:
            cmd += ["-k", select]
        if test_timeout:
            cmd += ["--timeout", str(test_timeout)]
        cmd += extra
        env = dict(os.environ)
        # this folder (the plugin) and this checkout's gpuml first, as benchmarks/gpu.sh does
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), str(REPO / "src"), env.get("PYTHONPATH", "")) if p)
        for name in list(env):  # when run from inside a pytest(-xdist) process: none of its state
            if name.startswith("PYTEST_XDIST_") or name in ("PYTEST_CURRENT_TEST", "PYTEST_ADDOPTS"):
                del env[name]
        # the plugin installs accel, explicitly, in accel and native mode only; no state of an
        # accelerated parent process (its call spool) either
        for name in ("GPUML_ACCEL", "GPUML_FALLBACK", "GPUML_ACCEL_SPOOL", "GPUML_ACCEL_OWNER"):
            env.pop(name, None)
        if mode == "native":
            env["GPUML_FALLBACK"] = "0"
        env.setdefault("GPUML_ACCEL_REPORT", "0")
        env.setdefault("GPUML_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"gpuml-suite-cache-{os.getuid()}"))
        env.update(env_extra or {})
        t0 = time.perf_counter()
        killed = False
        with open(out_txt, "w", encoding="utf-8") as fh:
            proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                rc = proc.wait(timeout=module_timeout)
            except subprocess.TimeoutExpired:
                killed = True
                os.killpg(proc.pid, 9)  # the pytest process group we started (controller and workers)
                rc = proc.wait()
        wall = time.perf_counter() - t0
    meta = {
        "module": module,
        "returncode": rc,
        "killed_after_timeout": killed,
        "wall_seconds": round(wall, 1),
        "load_average": round(os.getloadavg()[0], 1),  # the machine's, at the end: timings on a busy one
        "command": " ".join(cmd[1:]),
    }
    (logdir / f"{stem}.meta.json").write_text(json.dumps(meta) + "\n", encoding="utf-8")
    return summarize_run(log, out_txt, meta)


def _log_stem(mode: str, device: str | None, module: str) -> str:
    """accel-test_pca, accel-cpu-test_pca: the file names of one module's logs."""
    label = f"{mode}-{device}" if device and mode != "sklearn" else mode
    return f"{label}-{module.rsplit('.', 1)[-1]}"


def summarize_run(log: Path, out_txt: Path, meta: dict) -> dict:
    """One module's summary from its JSON lines, its pytest output and how the run went."""
    summary = summarize_log(log)
    summary.update(meta)
    summary["share"] = share(summary["counts"])
    summary["output"] = str(out_txt)
    if not summary["tests"] and meta["returncode"] not in (0, 1, 5):
        tail = out_txt.read_text(encoding="utf-8", errors="replace").splitlines()[-15:] if out_txt.exists() else []
        summary["harness_error"] = "\n".join(tail)
    return summary


def _versions(python: str) -> dict:
    code = (
        "import json, sys, importlib\n"
        "out = {'python': sys.version.split()[0]}\n"
        "for m in ('sklearn', 'numpy', 'scipy', 'torch', 'pytest', 'xdist', 'pandas', 'pyarrow', 'polars',"
        " 'matplotlib', 'pytest_timeout', 'gpuml'):\n"
        "    try:\n"
        "        mod = importlib.import_module(m); out[m] = getattr(mod, '__version__', 'present')\n"
        "    except Exception:\n"
        "        out[m] = None\n"
        "print(json.dumps(out))\n"
    )
    res = subprocess.run([python, "-c", code], capture_output=True, text=True)
    try:
        return json.loads(res.stdout.strip().splitlines()[-1])
    except Exception:  # noqa: BLE001
        return {"error": res.stderr[-500:]}


def _git_commit() -> str | None:
    res = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return res.stdout.strip() or None


def resolve_modules(names: list[str] | None) -> list[str]:
    if not names:
        return list(MODULES.values())
    out = []
    for name in names:
        key = name.removeprefix("test_")
        if key in MODULES:
            out.append(MODULES[key])
        elif name.startswith("sklearn."):
            out.append(name)
        else:
            matches = [m for m in MODULES.values() if m.endswith(name) or name in m]
            if len(matches) != 1:
                raise SystemExit(f"unknown module {name!r}: use one of {', '.join(MODULES)} or a dotted name")
            out.append(matches[0])
    return out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _ratio(a: int, b: int) -> str:
    return f"{a} / {b} ({_pct(a / b if b else None)})"


def _label(result: dict) -> str:
    return result["mode"] + (f" device={result['device']}" if result.get("device") else "")


MODE_TEXT = {
    "sklearn": "plain scikit-learn",
    "accel": "`gpuml.accel.install()` first (pytest plugin, in every xdist worker), fallback on",
    "native": "`gpuml.accel.install()` first, `GPUML_FALLBACK=0`: a call gpuml does not support raises, "
    "so a pass means no covered call needed scikit-learn's fallback (or the test made none)",
}


def markdown(result: dict, top: int = 15) -> str:
    mode = result["mode"]
    lines = [
        f"# scikit-learn's test modules, `{_label(result)}`",
        "",
        f"- {result['date']}, commit {result.get('commit')}, {result['machine']}, "
        f"{result['workers']} xdist workers" + (f", `-k {result['select']}`" if result.get("select") else "")
        + "".join(f", {k}={v}" for k, v in (result.get("environment") or {}).items()),
        "- " + ", ".join(f"{k} {v}" for k, v in result["versions"].items() if v),
        f"- mode: {MODE_TEXT[mode]}" + (f"; `gpuml.set_config(device={result['device']!r})`"
                                        if result.get("device") else ""),
        "- pass share = passed / (passed + failed + error); skipped, xfailed, xpassed are left out of it",
        "",
        "| module | tests | passed | failed | error | skipped | xfailed | xpassed | pass share | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for m in result["modules"]:
        c = m["counts"]
        flag = " (killed at timeout)" if m["killed_after_timeout"] else ""
        lines.append(
            f"| {m['module'].replace('sklearn.', '')} | {sum(c.values())} | "
            + " | ".join(str(c[k]) for k in OUTCOMES)
            + f" | {_pct(m['share'])} | {m['wall_seconds']}{flag} |"
        )
    t = result["total"]
    c = t["counts"]
    lines.append(
        f"| **all** | {sum(c.values())} | " + " | ".join(str(c[k]) for k in OUTCOMES)
        + f" | **{_pct(t['share'])}** | {t['wall_seconds']} |"
    )  # fmt: skip
    if any(m.get("covered_calls") for m in result["modules"]):
        lines += [
            "",
            "## Covered calls (a proxy's fit, predict, transform...; recorded by gpuml.accel in the test's process)",
            "",
            "| module | calls on gpuml / all | tests with a covered call | ... all of them on gpuml | ... and passed |",
            "|---|---|---|---|---|",
        ]
        fallback: Counter = Counter()
        fallback_tests: Counter = Counter()
        for m in result["modules"]:
            cc = m.get("covered_calls")
            if not cc:
                continue
            n_all = cc["calls_on_gpuml"] + cc["calls_on_sklearn"]
            lines.append(
                f"| {m['module'].replace('sklearn.', '')} | {_ratio(cc['calls_on_gpuml'], n_all)} | "
                f"{cc['tests_with_covered_calls']} | {cc['tests_all_calls_on_gpuml']} | "
                f"{cc['tests_all_calls_on_gpuml_passed']} |"
            )
            for f in cc["fallback_reasons"]:
                fallback[f["reason"]] += f["calls"]
                fallback_tests[f["reason"]] += f["tests"]
        if fallback:
            lines += ["", "## Why covered calls ran on scikit-learn (top 15, by calls)", ""]
            lines += ["| calls | tests | estimator.method: reason |", "|---|---|---|"]
            for r, n in fallback.most_common(15):
                lines.append(f"| {n} | {fallback_tests[r]} | {r.replace('|', chr(92) + '|')} |")
    groups = result["groups"]
    if groups:
        lines += ["", f"## Failures by reason ({len(groups)} reasons; the top {min(top, len(groups))})", ""]
        lines += ["| count | test functions | reason | examples | in gpuml at |", "|---|---|---|---|---|"]
        for g in groups[:top]:
            reason = g["reason"]
            if g.get("variants"):
                reason += " (Got " + ", ".join(f"{v} ×{n}" for v, n in list(g["variants"].items())[:6]) + ")"
            reason = reason.replace("|", "\\|")
            ex = "<br>".join(f"`{e.split('::', 1)[-1]}`" for e in g["examples"][:2])
            frame = ", ".join(f"`{f}`" for f in g["gpuml_frames"]) or "-"
            lines.append(f"| {g['count']} | {g['tests']} | {reason} | {ex} | {frame} |")
    skips = Counter()
    for m in result["modules"]:
        skips.update(m["skip_reasons"])
    if skips:
        lines += ["", "## Skip reasons (top 8)", ""]
        lines += [f"- {n}: {r}" for r, n in skips.most_common(8)]
    return "\n".join(lines) + "\n"


def _order(stem: str) -> tuple:
    mode, _, device = stem.removeprefix("sklearn-suite-").partition("-")
    return (MODES.index(mode) if mode in MODES else 9, device)


def combined_markdown(outdir: Path) -> str | None:
    results = {}
    for p in sorted(outdir.glob("sklearn-suite-*.json"), key=lambda p: _order(p.stem)):
        r = json.loads(p.read_text(encoding="utf-8"))
        if r.get("mode") in MODES and not r.get("select"):
            results[_label(r)] = r
    if not results:
        return None
    modules = []
    for r in results.values():
        for m in r["modules"]:
            if m["module"] not in modules:
                modules.append(m["module"])
    lines = [
        "# scikit-learn's own test modules under gpuml.accel",
        "",
        "`python benchmarks/sklearn_suite.py --mode {sklearn,accel,native} [--device cpu]`. Pass share = passed / "
        "(passed + failed + error): skipped, xfailed and xpassed tests are left out. `native` is accel with "
        "`GPUML_FALLBACK=0` (a call gpuml does not support raises instead of running on scikit-learn). "
        "`device=cpu`: `gpuml.set_config(device='cpu')` in every test process, so that gpuml computes the calls "
        "that `device='auto'` would hand to scikit-learn's CPU kernels (small data, no accelerator).",
        "",
    ]
    for label, r in results.items():
        lines.append(f"- `{label}`: {r['date']}, commit {r.get('commit')}, {r['machine']}, {r['workers']} workers, "
                     f"{r['total']['wall_seconds']} s in all")  # fmt: skip
    lines += ["", "Pass share (passed / counted) per module:", ""]
    lines += ["| module |" + "".join(f" {label} |" for label in results), "|---|" + "---|" * len(results)]
    by = {label: {m["module"]: m for m in r["modules"]} for label, r in results.items()}
    for module in modules + ["all"]:
        row = f"| {module.replace('sklearn.', '')} |" if module != "all" else "| **all** |"
        for label, r in results.items():
            m = r["total"] if module == "all" else by[label].get(module)
            if m is None:
                row += " - |"
                continue
            c = m["counts"]
            killed = " (killed at timeout)" if m.get("killed_after_timeout") else ""
            row += f" {_pct(m['share'])} ({c['passed']} / {c['passed'] + c['failed'] + c['error']}){killed} |"
        lines.append(row)
    lines += ["", "Wall seconds per module: " + "; ".join(
        f"`{label}` " + ", ".join(f"{m['module'].rsplit('.', 1)[-1]} {m['wall_seconds']}" for m in r["modules"])
        for label, r in results.items()) + "."]  # fmt: skip
    # what gpuml serves natively: from the covered calls recorded in accel mode (fallback on: every call is
    # recorded) and the tests that pass in native mode with all their covered calls on gpuml
    for device in sorted({r.get("device") or "" for r in results.values()}):
        suffix = f" device={device}" if device else ""
        a, n = results.get("accel" + suffix), results.get("native" + suffix)
        if not a:
            continue
        lines += ["", f"Served by gpuml, `accel{suffix}` / `native{suffix}`:", ""]
        lines += ["| module | accel: covered calls on gpuml | accel: tests with a covered call | "
                  "native: of those, passed with every covered call on gpuml |", "|---|---|---|---|"]  # fmt: skip
        n_by = {m["module"]: m for m in n["modules"]} if n else {}
        tot = [0, 0, 0, 0]
        for m in a["modules"]:
            cc = m.get("covered_calls") or {}
            if not cc:
                continue
            calls = cc["calls_on_gpuml"] + cc["calls_on_sklearn"]
            touched = cc["tests_with_covered_calls"]
            served = ((n_by.get(m["module"]) or {}).get("covered_calls") or {}).get("tests_all_calls_on_gpuml_passed")
            tot[0] += cc["calls_on_gpuml"]
            tot[1] += calls
            tot[2] += touched
            tot[3] += served or 0
            name = m["module"].replace("sklearn.", "")
            lines.append(f"| {name} | {_ratio(cc['calls_on_gpuml'], calls)} | {touched} | "
                         + (_ratio(served, touched) if served is not None else "-") + " |")  # fmt: skip
        lines.append(f"| **all** | {_ratio(tot[0], tot[1])} | {tot[2]} | " + (_ratio(tot[3], tot[2]) if n else "-")
                     + " |")  # fmt: skip
        if n:
            a_not = {t: o for m in a["modules"] for t, o in m.get("not_passed", {}).items()}
            n_not = {t: o for m in n["modules"] for t, o in m.get("not_passed", {}).items()}
            lost = sorted(t for t, o in n_not.items() if o in ("failed", "error") and t not in a_not)
            a_passed = a["total"]["counts"]["passed"]
            lines += [
                "",
                f"Of the {a_passed} tests that pass in `accel{suffix}`, {len(lost)} fail or error in "
                f"`native{suffix}`.",
            ]
    for label, r in results.items():
        if r["mode"] != "sklearn" and r["groups"]:
            lines += ["", f"Top failure reasons, `{label}` (all of them: `sklearn-suite-*.md`):", ""]
            for g in r["groups"][:8]:
                lines.append(f"- {g['count']} × {g['reason']} (e.g. `{g['examples'][0].split('::', 1)[-1]}`)")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mode", choices=MODES, required=True)
    ap.add_argument("--modules", nargs="+", help=f"short names ({', '.join(MODULES)}) or dotted module names")
    ap.add_argument("--out", default=str(HERE / "results"), help="folder for sklearn-suite-<mode>.json/.md")
    ap.add_argument("-n", "--workers", type=int, default=2, help="pytest-xdist workers (0: in-process)")
    ap.add_argument("-k", dest="select", default=None, help="pytest -k expression")
    ap.add_argument("--test-timeout", type=float, default=None, help="seconds per test (pytest-timeout)")
    ap.add_argument("--module-timeout", type=float, default=None, help="seconds per module; the rest is lost")
    ap.add_argument("--float32", action="store_true", help="SKLEARN_RUN_FLOAT32_TESTS=1: global_dtype float32 too")
    ap.add_argument("--array-api", action="store_true", help="SCIPY_ARRAY_API=1: the array API tests too")
    ap.add_argument(
        "--device",
        default=None,
        help="accel and native: gpuml.set_config(device=...) in every test process; 'cpu' makes gpuml compute\n"
        "the calls that device='auto' hands to scikit-learn's CPU kernels on a machine without an accelerator",
    )
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--logdir", default=None, help="per-module JSON lines and pytest output (default: a temp dir)")
    ap.add_argument("--name", default=None, help="file name stem instead of sklearn-suite-<mode>")
    ap.add_argument("--from-logs", action="store_true",
                    help="run nothing: summarize the JSON lines already in --logdir again")  # fmt: skip
    ap.add_argument("pytest_args", nargs="*", help="after --: more pytest arguments")
    args = ap.parse_args(argv)
    if args.from_logs and not args.logdir:
        ap.error("--from-logs needs --logdir")

    modules = resolve_modules(args.modules)
    outdir = Path(args.out)
    outdir.mkdir(parents=True, exist_ok=True)
    logdir = Path(args.logdir or tempfile.mkdtemp(prefix=f"sklearn-suite-{args.mode}-"))
    logdir.mkdir(parents=True, exist_ok=True)
    if args.test_timeout and not _has_module(args.python, "pytest_timeout"):
        print("--test-timeout needs pytest-timeout; running without a per-test timeout", file=sys.stderr)
        args.test_timeout = None
    if args.workers > 0 and not _has_module(args.python, "xdist"):
        print("pytest-xdist is not installed: running in-process", file=sys.stderr)
        args.workers = 0

    env_extra = {}
    if args.float32:
        env_extra["SKLEARN_RUN_FLOAT32_TESTS"] = "1"
    if args.array_api:
        env_extra["SCIPY_ARRAY_API"] = "1"
    results = []
    commit = _git_commit()  # the checkout the run starts from (its src/ is the gpuml under test)
    t0 = time.perf_counter()
    for module in modules:
        if args.from_logs:
            stem = _log_stem(args.mode, args.device, module)
            meta_path = logdir / f"{stem}.meta.json"
            if not (logdir / f"{stem}.jsonl").exists():
                continue
            meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {
                "module": module, "returncode": None, "killed_after_timeout": False, "wall_seconds": None,
                "command": None}  # fmt: skip
            results.append(summarize_run(logdir / f"{stem}.jsonl", logdir / f"{stem}.txt", meta))
            continue
        print(f"[{args.mode}] {module} ...", flush=True)
        r = run_module(
            module,
            args.mode,
            python=args.python,
            workers=args.workers,
            select=args.select,
            test_timeout=args.test_timeout,
            module_timeout=args.module_timeout,
            extra=args.pytest_args,
            logdir=logdir,
            env_extra=env_extra,
            device=args.device,
        )
        c = r["counts"]
        print(
            f"[{args.mode}] {module}: " + ", ".join(f"{k} {c[k]}" for k in OUTCOMES)
            + f"; share {_pct(r['share'])}; {r['wall_seconds']} s"
            + ("; KILLED at timeout" if r["killed_after_timeout"] else "")
            + (f"\n{r['harness_error']}" if r.get("harness_error") else ""),
            flush=True,
        )  # fmt: skip
        if args.mode != "sklearn" and r.get("proxied_in_workers_min") is not None and r["proxied_in_workers_min"] == 0:
            print(f"[{args.mode}] WARNING: the proxies were not in place in some test process", flush=True)
        results.append(r)

    total_counts = {k: sum(r["counts"][k] for r in results) for k in OUTCOMES}
    failures = [f for r in results for f in r["failures"]]
    suffix = f"-{args.device}" if args.device and args.mode != "sklearn" else ""
    stem = args.name or f"sklearn-suite-{args.mode}{suffix}"
    result = {
        "mode": args.mode,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "workers": args.workers,
        "select": args.select,
        "device": args.device if args.mode != "sklearn" else None,
        "environment": env_extra,
        "share_definition": "passed / (passed + failed + error); skipped, xfailed, xpassed excluded",
        "versions": _versions(args.python),
        "total": {
            "counts": total_counts,
            "share": share(total_counts),
            "wall_seconds": round(time.perf_counter() - t0, 1)
            if not args.from_logs
            else round(sum(r.get("wall_seconds") or 0 for r in results), 1),
        },
        "groups": group_failures(failures),
        "modules": [
            {k: v for k, v in r.items() if k not in ("failures", "output", "tests")}
            # the tests that failed, errored or passed unexpectedly (xpassed), with their outcome
            | {"not_passed": {t: o for t, o in sorted(r["tests"].items()) if o in ("failed", "error", "xpassed")}}
            for r in results
        ],
    }
    previous = outdir / f"{stem}.json"
    if args.from_logs and previous.exists():  # the run's own date, commit and versions
        old = json.loads(previous.read_text(encoding="utf-8"))
        result.update({k: old[k] for k in ("date", "commit", "machine", "workers", "versions") if k in old})
    (outdir / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    (outdir / f"{stem}.md").write_text(markdown(result), encoding="utf-8")
    if args.name is None:
        combined = combined_markdown(outdir)
        if combined:
            (outdir / "sklearn-suite.md").write_text(combined, encoding="utf-8")
    print(
        f"[{args.mode}] all: " + ", ".join(f"{k} {total_counts[k]}" for k in OUTCOMES)
        + f"; share {_pct(result['total']['share'])}; {result['total']['wall_seconds']} s"
        f"\nwrote {outdir / (stem + '.json')} and .md; logs in {logdir}"
    )  # fmt: skip
    # 0 whatever the tests' outcomes (they are the figures); 2 when a module could not be run at all
    return 2 if any(r.get("harness_error") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
