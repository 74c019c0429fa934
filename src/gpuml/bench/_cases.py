"""Benchmark cases: what is timed, on which data, its work (FLOPs, bytes) and how agreement is judged.

Each case builds its data once per preset and offers the same task to every engine:
gpuml on each device present, scikit-learn on the CPU (NumPy), and scikit-learn's
array-API path on torch tensors where scikit-learn supports it. Data is float32.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PRESETS = ("quick", "cpu", "gpu")


@dataclass
class Case:
    """One benchmark case.

    ``run(engine, device, data)`` returns a zero-argument callable doing the timed work and
    giving back what ``agree`` compares; ``work(size, result)`` gives (FLOPs, bytes moved).
    """

    name: str
    sizes: dict[str, dict[str, int]]
    make: Callable[[np.random.Generator, dict], dict]
    run: Callable[[str, str, dict], Callable[[], Any]]
    work: Callable[[dict, Any], tuple[float, float]]
    agree: Callable[[Any, Any], tuple[str, float, bool]]
    array_api: bool = False  # scikit-learn supports torch tensors for this estimator
    sklearn: bool = True  # a scikit-learn CPU run exists (not for raw streaming)
    streamed: bool = False
    notes: str = ""
    extra: dict = field(default_factory=dict)


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def _np(x) -> np.ndarray:
    import torch

    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _as(engine: str, device: str, *arrays):
    """The data as the engine takes it: NumPy for sklearn, torch tensors on the device otherwise."""
    import torch

    if engine in ("sklearn", "auto", "accel"):  # "auto": gpuml on NumPy data, choosing its own engine
        return arrays
    return tuple(torch.from_numpy(a).to(device) for a in arrays)


def _regression(rng, s):
    X = rng.standard_normal((s["n"], s["d"]), dtype=np.float32)
    y = (X @ rng.standard_normal(s["d"]).astype(np.float32) + rng.standard_normal(s["n"], dtype=np.float32))
    return {"X": X, "y": y}


def _estimator(engine: str, device: str, gpuml_cls: Callable, sk_cls: Callable, **params):
    """The estimator of ``engine``: gpuml's on a device or "auto"; scikit-learn's own class
    (never a proxy, should the bench itself run under accel); "accel": scikit-learn's class
    as ``gpuml.accel`` proxies it, the user's unchanged code."""
    from .._sklearn import sklearn_class

    if engine == "gpuml":
        return gpuml_cls(device=device, **params)
    if engine == "auto":
        return gpuml_cls(device="auto", **params)
    if engine == "accel":
        from ..accel._proxy import proxy_of

        return proxy_of(sklearn_class(sk_cls.__name__))(**params)
    return sklearn_class(sk_cls.__name__)(**params)


def _ctx(engine: str):
    import contextlib

    import sklearn

    return sklearn.config_context(array_api_dispatch=True) if engine == "array_api" else contextlib.nullcontext()


def _fit_attr(gpuml_cls, sk_cls, attr: str, needs_y: bool = True, **params):
    def run(engine, device, data):
        X, y = _as(engine, device, data["X"], data["y"])

        def go():
            with _ctx(engine):
                est = _estimator(engine, device, gpuml_cls, sk_cls, **params)
                est.fit(X, y) if needs_y else est.fit(X)
            return _np(getattr(est, attr))

        return go

    return run


def _coef_agree(a, b):
    r = _rel(a, b)
    return f"coef rel diff {r:.1e}", r, r < 1e-3


def _gram_work(s, _):
    return 2.0 * s["n"] * s["d"] ** 2, 4.0 * s["n"] * s["d"]


def cases(scratch: str) -> list[Case]:
    """All cases; ``scratch`` is a folder for the streamed cases' files."""
    from sklearn import cluster as skc
    from sklearn import decomposition as skd
    from sklearn import linear_model as skl
    from sklearn import neighbors as skn
    from sklearn import preprocessing as skp

    from .. import cluster, decomposition, linear_model, neighbors, preprocessing

    lin_sizes = {"quick": {"n": 100_000, "d": 32}, "cpu": {"n": 1_000_000, "d": 64},
                 "gpu": {"n": 5_000_000, "d": 128}}

    def kmeans_data(rng, s):
        centers = rng.standard_normal((s["k"], s["d"])).astype(np.float32) * 3
        X = centers[rng.integers(0, s["k"], s["n"])] + rng.standard_normal((s["n"], s["d"]), dtype=np.float32)
        return {"X": X, "y": None, "init": X[: s["k"]].copy()}

    def kmeans_fit(engine, device, data):
        (X,) = _as(engine, device, data["X"])
        s = data["size"]

        def go():
            est = _estimator(engine, device, cluster.KMeans, skc.KMeans, n_clusters=s["k"], init=data["init"],
                             n_init=1, max_iter=s["iters"], tol=0.0)
            est.fit(X)
            return est.inertia_, est.n_iter_

        return go

    def kmeans_predict(engine, device, data):
        (X,) = _as(engine, device, data["X"])
        s = data["size"]
        est = _estimator(engine, device, cluster.KMeans, skc.KMeans, n_clusters=s["k"], init=data["init"],
                         n_init=1, max_iter=2).fit(data["X"][: 10 * s["k"]])
        return lambda: _np(est.predict(X))

    def knn(engine, device, data):
        X, Q = _as(engine, device, data["X"], data["Q"])
        est = _estimator(engine, device, neighbors.NearestNeighbors, skn.NearestNeighbors, n_neighbors=10,
                         **({} if engine == "gpuml" else {"algorithm": "brute"})).fit(X)
        return lambda: _np(est.kneighbors(Q)[0])

    def logistic_data(rng, s):
        d = _regression(rng, s)
        d["y"] = (d["y"] > np.median(d["y"])).astype(np.int64)
        return d

    def logistic(engine, device, data):
        X, y = _as(engine, device, data["X"], data["y"])

        def go():
            with _ctx(engine):
                est = _estimator(engine, device, linear_model.LogisticRegression, skl.LogisticRegression,
                                 C=1.0, max_iter=500, tol=1e-6)
                est.fit(X, y)
            return _np(est.coef_), int(np.asarray(_np(est.n_iter_)).max())

        return go

    def pca_run(engine, device, data):
        (X,) = _as(engine, device, data["X"])

        def go():
            with _ctx(engine):
                est = _estimator(engine, device, decomposition.PCA, skd.PCA, n_components=min(16, X.shape[1]),
                                 svd_solver="covariance_eigh")
                est.fit(X)
            return _np(est.explained_variance_)

        return go

    def streamed(kind: str, model: str):
        def make(rng, s):
            path = os.path.join(scratch, f"stream-{s['n']}x{s['d']}.{kind}")
            if not os.path.exists(path):
                _write_file(path, kind, rng, s)
            return {"X": None, "y": None, "path": path, "bytes": os.path.getsize(path),
                    "centers": rng.standard_normal((8, s["d"]))}

        def run(engine, device, data):
            from ..data import NpySource, ParquetSource
            from ..device import resolve_device

            def open_source():
                return NpySource(data["path"], target=-1) if kind == "npy" else ParquetSource(data["path"], target="y")

            dev = resolve_device(device)

            def go():
                from ..data import run_pass
                from ..device import accumulator_dtype
                from ..ops import LloydStep
                from ._machine import drop_cache

                drop_cache(data["path"])  # a cold read; the source (and its memory map) is opened afresh
                src = open_source()
                if model == "Ridge":  # a Ridge fit is one pass
                    return _np(linear_model.Ridge(alpha=1.0, device=dev).fit(src).coef_)
                # one Lloyd iteration: one pass assigning every row to 8 fixed centers
                import torch

                centers = torch.from_numpy(data["centers"]).to(dev)
                return float(run_pass(src, LloydStep(centers, accumulator_dtype(dev)), dev).inertia)

            return go

        return make, run

    def mlp_data(rng, s):
        X = rng.standard_normal((s["n"], s["d"]), dtype=np.float32)
        W = rng.standard_normal((s["d"], 10)).astype(np.float32)
        return {"X": X, "y": np.argmax(X @ W + rng.standard_normal((s["n"], 10), dtype=np.float32), 1)}

    def mlp(engine, device, data):
        s = data["size"]
        params = dict(hidden_layer_sizes=(s["h"],), batch_size=s["batch"], max_iter=s["epochs"], tol=0.0,
                      n_iter_no_change=s["epochs"] + 1, random_state=0, learning_rate_init=1e-3)
        if engine == "torch_loop":
            return _torch_loop(device, data, params)
        from sklearn.neural_network import MLPClassifier as SkMLP

        from ..neural_network import MLPClassifier

        X, y = _as(engine, device, data["X"], data["y"])

        def go():
            est = MLPClassifier(device=device, precision="float32", **params) if engine == "gpuml" \
                else SkMLP(**params)
            est.fit(X, y)
            return float(np.mean(_np(est.predict(X)) == data["y"]))

        return go

    stream_sizes = {"quick": {"n": 400_000, "d": 31}, "cpu": {"n": 4_000_000, "d": 31},
                    "gpu": {"n": 8_000_000, "d": 63}}
    out = [
        Case("LinearRegression", lin_sizes, _regression,
             _fit_attr(linear_model.LinearRegression, skl.LinearRegression, "coef_"), _gram_work, _coef_agree),
        Case("Ridge", lin_sizes, _regression, _fit_attr(linear_model.Ridge, skl.Ridge, "coef_", alpha=1.0),
             _gram_work, _coef_agree, array_api=True),
        Case("LogisticRegression",
             {"quick": {"n": 50_000, "d": 32}, "cpu": {"n": 300_000, "d": 64},
              "gpu": {"n": 2_000_000, "d": 128}},
             logistic_data, logistic,
             lambda s, r: (4.0 * s["n"] * s["d"] * (r[1] + 1), 4.0 * s["n"] * s["d"] * (r[1] + 1)),
             lambda a, b: (f"coef rel diff {_rel(a[0], b[0]):.1e}", _rel(a[0], b[0]), _rel(a[0], b[0]) < 1e-2),
             array_api=True, notes="each runs L-BFGS to convergence (tol=1e-6): time to the same optimum"),
        Case("KMeans.fit",
             {"quick": {"n": 100_000, "d": 16, "k": 16, "iters": 10}, "cpu": {"n": 1_000_000, "d": 32, "k": 32,
              "iters": 20}, "gpu": {"n": 4_000_000, "d": 64, "k": 256, "iters": 20}},
             kmeans_data, kmeans_fit,
             lambda s, r: (2.0 * s["n"] * s["d"] * s["k"] * r[1], 4.0 * s["n"] * s["d"] * r[1]),
             lambda a, b: (f"inertia ratio {a[0] / b[0]:.6f}", abs(a[0] / b[0] - 1), abs(a[0] / b[0] - 1) < 1e-3),
             notes="same initial centers, tol=0: the same iterations"),
        Case("KMeans.predict",
             {"quick": {"n": 200_000, "d": 16, "k": 16}, "cpu": {"n": 2_000_000, "d": 32, "k": 32},
              "gpu": {"n": 10_000_000, "d": 64, "k": 256}},
             kmeans_data, kmeans_predict, lambda s, r: (2.0 * s["n"] * s["d"] * s["k"], 4.0 * s["n"] * s["d"]),
             lambda a, b: (f"labels agree {np.mean(a == b):.5f}", 1 - np.mean(a == b), np.mean(a == b) > 0.999)),
        Case("PCA",
             {"quick": {"n": 100_000, "d": 64}, "cpu": {"n": 500_000, "d": 128}, "gpu": {"n": 4_000_000, "d": 256}},
             _regression, pca_run, _gram_work,
             lambda a, b: (f"explained variance rel diff {_rel(a, b):.1e}", _rel(a, b), _rel(a, b) < 1e-3),
             array_api=True),
        Case("NearestNeighbors.kneighbors",
             {"quick": {"n": 20_000, "q": 2_000, "d": 32}, "cpu": {"n": 200_000, "q": 10_000, "d": 32},
              "gpu": {"n": 1_000_000, "q": 20_000, "d": 64}},
             lambda rng, s: {"X": rng.standard_normal((s["n"], s["d"]), dtype=np.float32),
                             "Q": rng.standard_normal((s["q"], s["d"]), dtype=np.float32), "y": None},
             knn, lambda s, r: (2.0 * s["n"] * s["q"] * s["d"], 4.0 * (s["n"] + s["q"]) * s["d"]),
             lambda a, b: (f"distance rel diff {_rel(a, b):.1e}", _rel(a, b), _rel(a, b) < 1e-4)),
        Case("StandardScaler", lin_sizes, _regression,
             _fit_attr(preprocessing.StandardScaler, skp.StandardScaler, "scale_", needs_y=False),
             lambda s, r: (3.0 * s["n"] * s["d"], 4.0 * s["n"] * s["d"]),
             lambda a, b: (f"scale rel diff {_rel(a, b):.1e}", _rel(a, b), _rel(a, b) < 1e-5)),
        Case("MLPClassifier",
             {"quick": {"n": 20_000, "d": 64, "h": 256, "batch": 256, "epochs": 3},
              "cpu": {"n": 100_000, "d": 64, "h": 256, "batch": 256, "epochs": 5},
              "gpu": {"n": 1_000_000, "d": 128, "h": 1024, "batch": 4096, "epochs": 5}},
             mlp_data, mlp,
             lambda s, r: (6.0 * s["n"] * s["epochs"] * (s["d"] * s["h"] + s["h"] * 10), 4.0 * s["n"] * s["d"]),
             lambda a, b: (f"train accuracy {a:.4f} vs {b:.4f}", abs(a - b), abs(a - b) < 0.03),
             notes="adam, fixed epochs; also a plain hand-written PyTorch loop on the same device and data",
             extra={"torch_loop": True, "no_auto": True}),
    ]
    for kind in ("npy", "parquet"):
        for model in ("Ridge", "KMeans"):
            make, run = streamed(kind, model)
            out.append(Case(
                f"streamed {model} ({'.npy' if kind == 'npy' else 'Parquet'})", stream_sizes, make, run,
                lambda s, r: (2.0 * s["n"] * s["d"] ** 2, None),
                lambda a, b: ("-", 0.0, True), sklearn=False, streamed=True,
                notes="one pass from a file whose cache was dropped; the floor is the file's raw read time",
                extra={"kind": kind}))
    return out


def _torch_loop(device: str, data: dict, params: dict) -> Callable[[], float]:
    """The baseline gpuml's MLP is held to: a plain PyTorch training loop, written as a user
    would (same network, Adam, batch size, epochs, L2 penalty, shuffling; one sync per epoch)."""
    import torch

    X = torch.from_numpy(data["X"]).to(device)
    y = torch.from_numpy(data["y"]).to(device)
    h, batch, epochs = params["hidden_layer_sizes"][0], params["batch_size"], params["max_iter"]

    def go() -> float:
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], h), torch.nn.ReLU(), torch.nn.Linear(h, 10)).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=params["learning_rate_init"], betas=(0.9, 0.999), eps=1e-8)
        n = X.shape[0]
        for _ in range(epochs):
            perm = torch.randperm(n, device=device)
            total = torch.zeros((), device=device)
            for i in range(0, n, batch):
                idx = perm[i:i + batch]
                out = net(X[idx])
                loss = torch.nn.functional.cross_entropy(out, y[idx])
                loss = loss + 1e-4 * sum((p * p).sum() for p in net.parameters() if p.ndim == 2) / (2 * len(idx))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.detach() * len(idx)
            float(total)  # one sync per epoch, as a loop that logs its loss does
        with torch.no_grad():
            return float((net(X).argmax(1) == y).float().mean())

    return go


def _write_file(path: str, kind: str, rng: np.random.Generator, s: dict) -> None:
    """Write the streamed cases' file in blocks (never the whole matrix in memory)."""
    n, d = s["n"], s["d"]
    w = rng.standard_normal(d)
    block = 1 << 18
    if kind == "npy":
        mm = np.lib.format.open_memmap(path + ".partial", mode="w+", dtype=np.float64, shape=(n, d + 1))
        for i in range(0, n, block):
            X = rng.standard_normal((min(block, n - i), d))
            mm[i:i + len(X), :d] = X
            mm[i:i + len(X), d] = X @ w
        mm.flush()
        del mm
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema([(f"f{j}", pa.float64()) for j in range(d)] + [("y", pa.float64())])
        with pq.ParquetWriter(path + ".partial", schema) as writer:
            for i in range(0, n, block):
                X = rng.standard_normal((min(block, n - i), d))
                cols = {f"f{j}": X[:, j] for j in range(d)} | {"y": X @ w}
                writer.write_table(pa.table(cols, schema=schema))
    os.replace(path + ".partial", path)
