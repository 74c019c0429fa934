"""Where each call ran: the records of accelerated calls and the table printed at exit.

Every call through a proxy is recorded (estimator, method, engine, device, seconds, and why
it ran on scikit-learn when it did). Processes started by the accelerated one (joblib's
workers, pytest-xdist's, subprocesses) inherit ``GPUML_ACCEL`` and append their records to a
spool folder that the first process reads at exit, so the table counts every call once.

Settings come from the environment, so that they reach the children as well:
``GPUML_ACCEL_VERBOSE=1`` logs each call as it happens (``-v``), ``GPUML_ACCEL_PROFILE=1``
adds per-call times to the table (``--profile``), ``GPUML_ACCEL_REPORT=0`` prints no table.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
import threading
from collections import defaultdict
from dataclasses import asdict, dataclass

_SPOOL, _OWNER = "GPUML_ACCEL_SPOOL", "GPUML_ACCEL_OWNER"


@dataclass(frozen=True)
class Call:
    """One call through a proxy."""

    estimator: str
    method: str
    engine: str  # "gpuml" or "sklearn"
    device: str
    seconds: float
    reason: str = ""  # why it ran on scikit-learn (empty on gpuml)


_calls: list[Call] = []
_lock = threading.Lock()


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value not in ("0", "false", "no", "off")


def _is_owner() -> bool:
    return os.environ.get(_OWNER) == str(os.getpid())


def start() -> None:
    """Make this process the one that prints the table (unless an accelerated parent does)."""
    if os.environ.get(_SPOOL) and os.path.isdir(os.environ[_SPOOL]) and not _is_owner():
        return  # a child of an accelerated process: its parent reports
    if not _is_owner():
        os.environ[_SPOOL] = tempfile.mkdtemp(prefix="gpuml-accel-")
        os.environ[_OWNER] = str(os.getpid())
        atexit.register(_at_exit)


def record(call: Call) -> None:
    """Keep ``call``; log it when verbose; a child process spools it for its parent."""
    with _lock:
        _calls.append(call)
    if _flag("GPUML_ACCEL_VERBOSE"):
        where = f"{call.device} ({'gpuml' if call.engine == 'gpuml' else 'scikit-learn'})"
        why = f": {call.reason}" if call.reason else ""
        print(f"gpuml.accel: {call.estimator}.{call.method} on {where} in {call.seconds * 1e3:.1f} ms{why}",
              file=sys.stderr, flush=True)
    spool = os.environ.get(_SPOOL)
    if spool and not _is_owner() and os.path.isdir(spool):
        try:
            with open(os.path.join(spool, f"{os.getpid()}.jsonl"), "a", encoding="utf-8") as f:
                f.write(json.dumps(asdict(call)) + "\n")
        except OSError:
            pass  # the parent has finished: nobody will read it


def calls() -> list[Call]:
    """Every call recorded so far: this process's and, in the reporting one, its children's."""
    with _lock:
        out = list(_calls)
    spool = os.environ.get(_SPOOL)
    if spool and _is_owner() and os.path.isdir(spool):
        for name in sorted(os.listdir(spool)):
            try:
                with open(os.path.join(spool, name), encoding="utf-8") as f:
                    out += [Call(**json.loads(line)) for line in f if line.strip()]
            except (OSError, ValueError, TypeError):
                continue  # a child killed mid-line: the rest still counts
    return out


def reset() -> None:
    """Forget the calls recorded so far (this process's and its children's)."""
    with _lock:
        _calls.clear()
    spool = os.environ.get(_SPOOL)
    if spool and _is_owner() and os.path.isdir(spool):
        for name in os.listdir(spool):
            os.remove(os.path.join(spool, name))


def summary(records: list[Call]) -> list[dict]:
    """One row per estimator, method and place it ran: count, total and max time, reasons."""
    rows: dict[tuple, dict] = defaultdict(lambda: {"count": 0, "seconds": 0.0, "max": 0.0, "reasons": []})
    for c in records:
        row = rows[(c.estimator, c.method, c.engine, c.device)]
        row["count"] += 1
        row["seconds"] += c.seconds
        row["max"] = max(row["max"], c.seconds)
        if c.reason and c.reason not in row["reasons"]:
            row["reasons"].append(c.reason)
    return [{"estimator": k[0], "method": k[1], "engine": k[2], "device": k[3], **v} for k, v in sorted(rows.items())]


def render(records: list[Call], *, profile: bool = False, width: int = 120) -> str:
    """The table of ``records`` as text ('' when there are none)."""
    if not records:
        return ""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="gpuml.accel: where the scikit-learn calls ran", title_justify="left")
    for col in ("estimator", "method", "ran on", "calls", "time"):
        table.add_column(col, justify="right" if col in ("calls", "time") else "left")
    if profile:
        table.add_column("mean", justify="right")
        table.add_column("max", justify="right")
    table.add_column("why on scikit-learn")
    for row in summary(records):
        where = f"{row['device']} ({'gpuml' if row['engine'] == 'gpuml' else 'scikit-learn'})"
        cells = [row["estimator"], row["method"], where, str(row["count"]), _seconds(row["seconds"])]
        if profile:
            cells += [_seconds(row["seconds"] / row["count"]), _seconds(row["max"])]
        table.add_row(*cells, "; ".join(row["reasons"]))
    n_gpuml = sum(c.engine == "gpuml" for c in records)
    table.caption = f"{n_gpuml} of {len(records)} calls ran on gpuml"
    console = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(table)
    return console.export_text()


def _seconds(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def _at_exit() -> None:
    spool = os.environ.get(_SPOOL)
    try:
        if _is_owner() and _flag("GPUML_ACCEL_REPORT", True):
            text = render(calls(), profile=_flag("GPUML_ACCEL_PROFILE"))
            if text:
                sys.stderr.write(text)
                sys.stderr.flush()
    finally:
        if spool and _is_owner():
            shutil.rmtree(spool, ignore_errors=True)
