"""``device="auto"``: which engine runs a fit, chosen by a cost model on measured rates.

Three engines: gpuml's kernels on the accelerator, gpuml's kernels on the CPU, and
scikit-learn's own estimator on the CPU (delegation: the fitted model is still the
gpuml estimator, with scikit-learn's fitted attributes). The cost of a call is its
work (FLOPs, bytes, passes, transfers, and the fixed cost of each kernel launch)
against the machine's rates, which a micro-benchmark of about a second measures once
and caches per machine and software versions, in ``$GPUML_CACHE_DIR`` or the
``cache_dir`` setting, else ``~/.cache/gpuml``.

scikit-learn's CPU time is estimated as gpuml's CPU time times a per-estimator ratio
measured by the benchmark suite (``SKLEARN_RATIO``, from ``gpuml bench --preset cpu``).

Examples
--------
>>> r = Rates(cpu_flops=5e10, cpu_bw=1e10, cpu_op=3e-6, gpu_flops=5e13, gpu_bw=2e12, gpu_op=1e-5, h2d=2e10)
>>> choose(Work("PCA", n=1_000, d=10, flops=2e5, passes=1), r).label()
'cpu/sklearn'
>>> choose(Work("Ridge", n=10_000_000, d=256, flops=1.3e12, passes=1), r).label()
'cuda:0/gpuml'
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
from dataclasses import asdict, dataclass

import torch

from .._files import write_atomically
from ._measure import copy_bandwidth, h2d_bandwidth, matmul_rate, op_time

#: scikit-learn's CPU time over gpuml's CPU time, per estimator (benchmarks/results, cpu preset,
#: 2 cores). Below 1: scikit-learn is faster on the CPU, so "auto" delegates to it there.
SKLEARN_RATIO = {
    "LinearRegression": 11.5, "Ridge": 1.68, "LogisticRegression": 3.35, "KMeans": 0.67, "PCA": 0.75,
    "StandardScaler": 2.36, "NearestNeighbors": 1.14, "KNeighborsClassifier": 1.14,
    "KNeighborsRegressor": 1.14,
}
#: Kernel launches per chunk of a pass (a handful of tensor ops), for the fixed cost per call.
OPS_PER_CHUNK = 12
#: Rows per chunk assumed for the launch count (the planner's order of magnitude).
ROWS_PER_CHUNK = 65_536


@dataclass
class Rates:
    """Measured rates: FLOP/s, bytes/s, seconds per kernel launch; GPU fields None without one."""

    cpu_flops: float
    cpu_bw: float
    cpu_op: float
    gpu_flops: float | None = None
    gpu_bw: float | None = None
    gpu_op: float | None = None
    h2d: float | None = None
    gpu_name: str | None = None


@dataclass
class Work:
    """What a fit does: ``passes`` passes of ``flops`` FLOPs over n x d rows (itemsize bytes each)."""

    estimator: str
    n: int
    d: int
    flops: float
    passes: float = 1.0
    itemsize: int = 4
    on_device: str | None = None  # "cuda:0" when X is already a tensor there


@dataclass
class Decision:
    device: str
    engine: str  # "gpuml" or "sklearn"
    reason: str
    estimates: dict[str, float]

    def label(self) -> str:
        return f"{self.device}/{self.engine}"


def _pass_time(w: Work, flops_rate: float, bw: float, op: float) -> float:
    chunks = max(1.0, w.n / ROWS_PER_CHUNK)
    return max(w.flops / flops_rate, w.n * w.d * w.itemsize / bw) + chunks * OPS_PER_CHUNK * op


def estimate(w: Work, r: Rates, allow_sklearn: bool = True) -> dict[str, float]:
    """Estimated seconds per engine: "cpu/gpuml", "cpu/sklearn" (where it exists) and "gpu/gpuml"."""
    nbytes = w.n * w.d * w.itemsize
    back = nbytes / r.h2d if (w.on_device and not w.on_device.startswith("cpu") and r.h2d) else 0.0
    cpu = w.passes * _pass_time(w, r.cpu_flops, r.cpu_bw, r.cpu_op) + back
    out = {"cpu/gpuml": cpu}
    if allow_sklearn and w.estimator in SKLEARN_RATIO:
        out["cpu/sklearn"] = (cpu - back) * SKLEARN_RATIO[w.estimator] + back  # ratio: sklearn s / gpuml s
    if r.gpu_flops:
        to_gpu = 0.0 if (w.on_device and not w.on_device.startswith("cpu")) else nbytes / r.h2d
        out["gpu/gpuml"] = w.passes * _pass_time(w, r.gpu_flops, r.gpu_bw, r.gpu_op) + to_gpu
    return out


def _ms(t: float) -> str:
    return f"{t * 1e3:.3g} ms" if t < 1 else f"{t:.3g} s"


def choose(w: Work, r: Rates, accelerator: str = "cuda:0", *, allow_sklearn: bool = True) -> Decision:
    """The engine with the smallest estimated time, and why, in one line."""
    est = estimate(w, r, allow_sklearn)
    best = min(est, key=est.get)
    where, engine = best.split("/")
    device = accelerator if where == "gpu" else "cpu"
    others = ", ".join(f"{k} {_ms(v)}" for k, v in sorted(est.items(), key=lambda kv: kv[1]) if k != best)
    size = f"{w.n:,} x {w.d}"
    if where == "gpu":
        why = f"{size} is above the GPU crossover" if not w.on_device else f"the data is already on {w.on_device}"
    elif r.gpu_flops:
        why = f"{size} is below the GPU crossover"
    else:
        why = "no accelerator"
    if engine == "sklearn":
        why += "; scikit-learn's CPU kernels are faster here"
    versus = f" vs {others}" if others else ""
    return Decision(device, engine, f"{device}/{engine}: {why} (est. {_ms(est[best])}{versus})", est)


# -- calibration ---------------------------------------------------------------------------

def calibrate(accelerator: torch.device | None) -> Rates:
    """Measure the rates (about a second on a CPU, less on a GPU)."""
    cpu = torch.device("cpu")
    r = Rates(matmul_rate(cpu, torch.float32, 512), copy_bandwidth(cpu, 32 << 20), op_time(cpu))
    if accelerator is not None and accelerator.type == "cuda":
        r.gpu_flops = matmul_rate(accelerator, torch.float32, 4096)
        r.gpu_bw, r.gpu_op = copy_bandwidth(accelerator, 256 << 20), op_time(accelerator)
        r.h2d = h2d_bandwidth(accelerator, 64 << 20)
        r.gpu_name = torch.cuda.get_device_name(accelerator)
    elif accelerator is not None:  # MPS / XPU: no rates measured yet; treat as a fast device, documented
        r.gpu_flops, r.gpu_bw, r.gpu_op, r.h2d = r.cpu_flops * 10, r.cpu_bw * 5, r.cpu_op * 2, r.cpu_bw
        r.gpu_name = accelerator.type
    return r


def cache_dir() -> str:
    from .._config import get_config

    return (get_config().get("cache_dir") or os.environ.get("GPUML_CACHE_DIR")
            or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gpuml"))


def machine_key(accelerator: torch.device | None) -> str:
    """What the rates depend on: the machine and the software versions."""
    from .. import __version__

    gpu = torch.cuda.get_device_name(accelerator) if accelerator is not None and accelerator.type == "cuda" else \
        (accelerator.type if accelerator is not None else "none")
    parts = [platform.node(), platform.machine(), platform.processor(), str(os.cpu_count()), gpu,
             torch.__version__, __version__, str(torch.get_num_threads())]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


_memo: dict[str, Rates] = {}


def _positive(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def parse_rates(obj, accelerator: torch.device | None) -> Rates | None:
    """``obj`` (a cache file's JSON) as Rates when it is valid, else None.

    Valid: exactly Rates' fields, the CPU rates positive finite numbers, the accelerator's
    all such numbers with an accelerator and all null without one, the name a string or null.
    """
    fields = {f.name for f in dataclasses.fields(Rates)}
    if not isinstance(obj, dict) or set(obj) != fields:
        return None
    gpu = ("gpu_flops", "gpu_bw", "gpu_op", "h2d")
    if not all(_positive(obj[k]) for k in ("cpu_flops", "cpu_bw", "cpu_op")):
        return None
    if accelerator is None:
        ok = all(obj[k] is None for k in (*gpu, "gpu_name"))
    else:
        ok = all(_positive(obj[k]) for k in gpu) and isinstance(obj["gpu_name"], str)
    return Rates(**obj) if ok else None


def rates(accelerator: torch.device | None) -> Rates:
    """The machine's rates: from memory, else the cache file, else calibrated now and cached.

    A cache file that cannot be read as valid rates (truncated, wrong types, a rate that is
    not a positive finite number) is measured again and rewritten.
    """
    key = machine_key(accelerator)
    if key in _memo:
        return _memo[key]
    path = os.path.join(cache_dir(), f"rates-{key}.json")
    try:
        with open(path, encoding="utf-8") as fh:
            r = parse_rates(json.load(fh), accelerator)
    except (OSError, ValueError):  # missing, unreadable, not JSON (UnicodeDecodeError is a ValueError)
        r = None
    if r is None:
        r = calibrate(accelerator)
        if parse_rates(asdict(r), accelerator) is not None:  # only a sane measurement is kept
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                write_atomically(path, lambda tmp: _dump(asdict(r), tmp))
            except OSError:
                pass  # a read-only home: calibrate again next process
    _memo[key] = r
    return r


def _dump(obj: dict, path: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, allow_nan=False)
