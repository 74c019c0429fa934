"""`gpuml demo`: every estimator on synthetic data, gpuml beside scikit-learn."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Case:
    name: str
    shape: str
    run: Callable[[str], tuple[float, float, str]]  # device -> (gpuml s, sklearn s, agreement)


def _timed(fn: Callable[[], object], device: str) -> tuple[object, float]:
    """Run ``fn`` once, the device synchronized before each clock read."""
    from ..device._measure import sync

    sync(device)
    t = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - t


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, float) - b).max() / max(np.abs(b).max(), 1e-300))


def _cases(rng: np.random.Generator, scale: float) -> list[Case]:
    import sklearn.cluster as skc
    import sklearn.decomposition as skd
    import sklearn.linear_model as skl
    import sklearn.neighbors as skn
    import sklearn.preprocessing as skp

    from .. import cluster, decomposition, linear_model, neighbors, preprocessing

    def n(rows: int) -> int:
        return max(200, int(rows * scale))

    def regression(rows, d):
        X = rng.standard_normal((n(rows), d)).astype(np.float32)
        y = X @ rng.standard_normal(d).astype(np.float32) + 0.1 * rng.standard_normal(len(X)).astype(np.float32)
        return X, y

    def fit_pair(ours, theirs, X, y=None):
        a, ta = _timed(lambda: ours.fit(X, y), ours.device)
        b, tb = _timed(lambda: theirs.fit(X, y), "cpu")
        return a, b, ta, tb

    def linreg(device, Ours=linear_model.LinearRegression, Theirs=skl.LinearRegression, kw=None):
        X, y = regression(400_000, 64)
        a, b, ta, tb = fit_pair(Ours(device=device, **(kw or {})), Theirs(**(kw or {})), X, y)
        return ta, tb, f"R2 {a.score(X, y):.4f} vs {b.score(X, y):.4f}; coef rel diff {_rel(a.coef_, b.coef_):.1e}"

    def ridge(device):
        return linreg(device, linear_model.Ridge, skl.Ridge, {"alpha": 10.0})

    def logistic(device):
        X = rng.standard_normal((n(100_000), 32)).astype(np.float32)
        y = (X @ rng.standard_normal(32) + rng.standard_normal(len(X)) > 0).astype(int)
        a, b, ta, tb = fit_pair(linear_model.LogisticRegression(device=device), skl.LogisticRegression(), X, y)
        agree = f"accuracy {a.score(X, y):.4f} vs {b.score(X, y):.4f}"
        return ta, tb, f"{agree}; coef rel diff {_rel(a.coef_, b.coef_):.1e}"

    def kmeans(device):
        centers = rng.standard_normal((8, 16)) * 4
        X = (centers[rng.integers(0, 8, n(200_000))] + rng.standard_normal((n(200_000), 16))).astype(np.float32)
        a, b, ta, tb = fit_pair(cluster.KMeans(8, random_state=0, device=device), skc.KMeans(8, random_state=0), X)
        return ta, tb, f"inertia ratio {a.inertia_ / b.inertia_:.6f}; iterations {a.n_iter_} vs {b.n_iter_}"

    def pca(device):
        X = (rng.standard_normal((n(200_000), 100)) @ rng.standard_normal((100, 100))).astype(np.float32)
        a, b, ta, tb = fit_pair(decomposition.PCA(10, device=device), skd.PCA(10), X)
        return ta, tb, f"explained variance rel diff {_rel(a.explained_variance_, b.explained_variance_):.1e}"

    def knn(device):
        X = rng.standard_normal((n(20_000), 32)).astype(np.float32)
        y = (X[:, 0] + X[:, 1] > 0).astype(int)
        Q = X[: n(5_000)] + 0.1
        ours = neighbors.KNeighborsClassifier(5, device=device).fit(X, y)
        theirs = skn.KNeighborsClassifier(5, algorithm="brute").fit(X, y)
        pa, ta = _timed(lambda: ours.predict(Q), device)
        pb, tb = _timed(lambda: theirs.predict(Q), "cpu")
        da = ours.kneighbors(Q[:500])[0]
        db = theirs.kneighbors(Q[:500])[0]
        return ta, tb, f"predictions agree {np.mean(pa == pb):.4f}; distance rel diff {_rel(da, db):.1e}"

    def scaler(device):
        X = (rng.standard_normal((n(1_000_000), 32)) * 5 + 3).astype(np.float32)
        a, b, ta, tb = fit_pair(preprocessing.StandardScaler(device=device), skp.StandardScaler(), X)
        return ta, tb, f"scale rel diff {_rel(a.scale_, b.scale_):.1e}; mean rel diff {_rel(a.mean_, b.mean_):.1e}"

    rows = lambda r, d: f"{n(r):,} x {d}"  # noqa: E731
    return [
        Case("LinearRegression", rows(400_000, 64), linreg),
        Case("Ridge", rows(400_000, 64), ridge),
        Case("LogisticRegression", rows(100_000, 32), logistic),
        Case("KMeans (k=8)", rows(200_000, 16), kmeans),
        Case("PCA (10 of 100)", rows(200_000, 100), pca),
        Case("KNeighborsClassifier", f"{n(5_000):,} queries / {rows(20_000, 32)}", knn),
        Case("StandardScaler", rows(1_000_000, 32), scaler),
    ]


def run(device: str = "auto", scale: float = 1.0, seed: int = 0) -> list[dict]:
    """Run every case; returns one row per estimator (what the table prints)."""
    import warnings

    from ..device import explain_device

    dev, why = explain_device(device)
    rng = np.random.default_rng(seed)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case in _cases(rng, scale):
            case.run(str(dev))  # warm-up: first calls pay for lazy init (CUDA context, kernels)
            ours, theirs, agreement = case.run(str(dev))
            rows.append(dict(estimator=case.name, shape=case.shape, device=str(dev), gpuml_s=ours,
                             sklearn_s=theirs, speedup=theirs / ours, agreement=agreement))
    return [dict(reason=why)] + rows


def register(sub) -> None:
    p = sub.add_parser("demo", help="train every estimator with gpuml and scikit-learn, side by side")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N, mps, xpu")
    p.add_argument("--scale", type=float, default=1.0, help="multiply the number of rows (default 1)")
    p.set_defaults(func=_main)


def _main(args) -> int:
    from rich.console import Console
    from rich.table import Table

    if args.scale <= 0:
        raise ValueError(f"--scale must be positive, got {args.scale}")
    console = Console() if Console().is_terminal else Console(width=170)
    from ..device import explain_device

    console.print(f"Device: {explain_device(args.device)[1]}")
    console.print("Each case runs once to warm up, then is timed (fit; predict for k-neighbors).")
    head, *rows = run(args.device, args.scale)
    table = Table(title="gpuml vs scikit-learn on the same data")
    for col in ("estimator", "rows x features", "device", "gpuml s", "sklearn s", "speedup", "agreement"):
        table.add_column(col, justify="right" if col.endswith(("s", "speedup")) else "left")
    for r in rows:
        table.add_row(r["estimator"], r["shape"], r["device"], f"{r['gpuml_s']:.3f}", f"{r['sklearn_s']:.3f}",
                      f"{r['speedup']:.2f}x", r["agreement"])
    console.print(table)
    console.print("speedup = scikit-learn seconds / gpuml seconds (above 1: gpuml is faster).")
    return 0
