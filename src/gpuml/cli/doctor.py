"""`gpuml doctor` and `gpuml devices`: is this machine ready for GPU machine learning, and what does it have.

The facts, checks and JSON schemas live in :mod:`gpuml.device._doctor`; this module only prints.
"""

from __future__ import annotations

import json
import sys
from typing import Any

_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def register(sub) -> None:
    p = sub.add_parser("doctor", help="check this machine for GPU machine learning; a fix for each problem")
    p.add_argument("--json", action="store_true", help="print the report as JSON (exit status unchanged)")
    p.add_argument("--bf16", action="store_true", help="fail if a GPU in use cannot compute in bfloat16")
    p.set_defaults(func=_doctor)
    p = sub.add_parser("devices", help="list the devices (cpu and each accelerator): memory, capability, use")
    p.add_argument("--json", action="store_true", help="print the devices as JSON")
    p.set_defaults(func=_devices)


def _console():
    from rich.console import Console

    return Console() if Console().is_terminal else Console(width=140)


def _doctor(args) -> int:
    from ..device._doctor import gather_facts, report

    facts = gather_facts(wants_bf16=args.bf16)
    result = report(facts)
    if args.json:
        print(json.dumps(result, indent=2))
        return result["exit_code"]
    from rich.markup import escape

    console = _console()
    console.print(f"gpuml doctor: Python {facts.python} on {facts.system} {facts.machine}, "
                  f"torch {escape(facts.torch_version)}")
    for x in result["findings"]:
        level = x["level"]
        head = f"[{_STYLE[level]}]{level.upper():<4}[/] [dim]{x['check']:<15}[/]"
        console.print(f"{head} {escape(x['message'])}")
        if x["fix"]:
            console.print(f"{'':<20} [cyan]fix:[/] {escape(x['fix'])}")
    verdict = {"ok": "ready", "warn": "usable, with warnings", "fail": "broken"}[result["status"]]
    console.print(f"[{_STYLE[result['status']]}]{verdict}[/] (exit status {result['exit_code']})")
    return result["exit_code"]


def _bytes(n: Any) -> str:
    return "?" if n is None else f"{n / 2**30:.1f} GiB"


def _devices(args) -> int:
    from ..device._doctor import device_rows, gather_facts

    rows = device_rows(gather_facts())
    if args.json:
        print(json.dumps({"devices": rows}, indent=2))
        return 0
    from rich.table import Table

    table = Table(title="Devices")
    for col in ("device", "name", "free", "total", "capability", "precisions", "use", "note"):
        table.add_column(col, justify="right" if col in ("free", "total") else "left")
    for r in rows:
        table.add_row(r["device"] or "-", r["name"], _bytes(r["memory_free"]), _bytes(r["memory_total"]),
                      r["capability"], " ".join(r["precisions"]), r["use"], r["note"])
    _console().print(table)
    sys.stdout.flush()
    return 0
