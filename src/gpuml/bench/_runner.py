"""Run the cases on every engine, side by side in one process, and judge them."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..device._measure import sync
from ._cases import PRESETS, Case, cases
from ._machine import ceilings, machine_info, read_rate

CEILING_SIZES = {
    "quick": {"matmul_n_cpu": 1024, "matmul_n_gpu": 4096, "copy_bytes": 64 << 20, "disk_bytes": 64 << 20},
    "cpu": {"matmul_n_cpu": 2048, "matmul_n_gpu": 4096, "copy_bytes": 256 << 20, "disk_bytes": 512 << 20},
    "gpu": {"matmul_n_cpu": 2048, "matmul_n_gpu": 8192, "copy_bytes": 1 << 30, "disk_bytes": 2 << 30},
}
REPEATS = {"quick": 2, "cpu": 3, "gpu": 3}


def devices_present() -> list[torch.device]:
    out = [torch.device("cpu")]
    if torch.cuda.is_available():
        out.append(torch.device("cuda", 0))
    if hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
        out.append(torch.device("mps"))
    return out


def timed(fn: Callable[[], Any], device: str, repeats: int, warmup: bool) -> tuple[float, list[float], Any]:
    """Median seconds of ``repeats`` calls (after one warm-up call when ``warmup``), the device
    synchronized before every clock read; also the last call's result."""
    if warmup:
        fn()
    times, result = [], None
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        result = fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times), times, result


def _floor(case: Case, size: dict, result: Any, device: torch.device, ceil: dict, data: dict) -> float | None:
    """The fastest this could run on ``device``: work over the measured rates."""
    rates = ceil[str(device)]
    if case.streamed:
        t = data["raw_read_seconds"]
        if device.type == "cuda":
            t = max(t, data["bytes"] / rates["h2d_pinned"])
        return t
    flops, nbytes = case.work(size, result)
    return max(flops / rates["matmul_fp32"], nbytes / rates["copy"])


def run_case(case: Case, preset: str, devices: list[torch.device], ceil: dict, seed: int = 0,
             log: Callable[[str], None] = print) -> dict:
    size = dict(case.sizes[preset])
    data = case.make(np.random.default_rng(seed), size)
    data["size"] = size
    repeats = REPEATS[preset]
    engines: list[tuple[str, str]] = []
    if case.sklearn:
        engines.append(("sklearn", "cpu"))
    engines += [("gpuml", str(d)) for d in devices]
    if case.array_api:
        engines += [("array_api", str(d)) for d in devices if d.type != "cpu"]
    if case.sklearn and not case.extra.get("no_auto"):
        engines += [("auto", "auto"), ("accel", "auto")]  # accel: the same call through the proxy
    if case.extra.get("torch_loop"):
        engines += [("torch_loop", str(d)) for d in devices]
    rows, ref = [], None
    if case.streamed:  # the raw read of this very file, cold, just before the engines read it
        raw = [data["bytes"] / read_rate(data["path"]) for _ in range(repeats)]
        data["raw_read_seconds"] = statistics.median(raw)
        rows.append({"engine": "raw-read:disk", "seconds": data["raw_read_seconds"], "times": raw})
    for engine, dev in engines:
        label = f"{engine}:{dev}"
        log(f"  {case.name}: {label}")
        try:
            fn = case.run(engine, dev, data)
            big_sklearn = engine == "sklearn" and preset == "gpu"
            median, times, result = timed(fn, dev, 1 if big_sklearn else repeats, warmup=not big_sklearn)
        except Exception as exc:  # an engine that cannot run the case is reported, not fatal
            rows.append({"engine": label, "error": f"{type(exc).__name__}: {exc}"[:300]})
            continue
        row = {"engine": label, "seconds": median, "times": times}
        if engine == "sklearn":
            ref = result
        elif ref is not None:
            text, value, ok = case.agree(result, ref)
            row.update(agreement=text, agreement_value=value, agrees=bool(ok))
        if engine == "gpuml":
            floor = _floor(case, size, result, torch.device(dev), ceil, data)
            row.update(floor_seconds=floor, floor_fraction=floor / median if floor else None)
        rows.append(row)
    sk = next((r["seconds"] for r in rows if r["engine"] == "sklearn:cpu" and "seconds" in r), None)
    for r in rows:
        if sk is not None and "seconds" in r and r["engine"] != "sklearn:cpu":
            r["speedup_vs_sklearn"] = sk / r["seconds"]
    extra = {"bytes": data["bytes"]} if case.streamed else {}
    return {"case": case.name, "size": size, "notes": case.notes, "rows": rows, **extra}


def run(preset: str = "quick", names: list[str] | None = None, log: Callable[[str], None] = print,
        on_case: Callable[[dict], None] | None = None) -> dict:
    """Measure the ceilings, then every case; returns the full result (what the JSON holds).

    ``on_case`` receives the result so far after each case (the CLI saves it, so a run
    stopped by a time limit keeps the cases it finished). A case that cannot even make
    its data is reported with its error, and the others still run.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    devices = devices_present()
    with tempfile.TemporaryDirectory(prefix="gpuml-bench-") as scratch:
        all_cases = cases(scratch)
        if names:
            known = {c.name.lower(): c for c in all_cases}
            unknown = [n for n in names if not any(n.lower() in k for k in known)]
            if unknown:
                raise ValueError(f"unknown case(s) {unknown}; cases: {', '.join(c.name for c in all_cases)}")
            all_cases = [c for c in all_cases if any(n.lower() in c.name.lower() for n in names)]
        log(f"measuring ceilings on {', '.join(map(str, devices))} ...")
        ceil = ceilings(devices, scratch, CEILING_SIZES[preset])
        result = {"preset": preset, "machine": machine_info(), "ceilings": ceil, "cases": [],
                  "devices": [str(d) for d in devices]}
        for case in all_cases:
            t = time.perf_counter()
            try:
                done = run_case(case, preset, devices, ceil, log=log)
            except Exception as exc:  # e.g. no memory for the case's data
                done = {"case": case.name, "size": dict(case.sizes[preset]), "notes": case.notes,
                        "rows": [{"engine": "-", "error": f"{type(exc).__name__}: {exc}"[:300]}]}
            done["wall_seconds"] = time.perf_counter() - t
            result["cases"].append(done)
            if on_case is not None:
                on_case(result)
    return result
