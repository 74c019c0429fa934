"""`gpuml fit` and `gpuml predict`: stream a file through an estimator."""

from __future__ import annotations

import ast
import os
from typing import Any

import numpy as np

MODELS = {
    "LinearRegression": "gpuml.linear_model", "Ridge": "gpuml.linear_model",
    "LogisticRegression": "gpuml.linear_model", "KMeans": "gpuml.cluster", "PCA": "gpuml.decomposition",
    "KNeighborsClassifier": "gpuml.neighbors", "KNeighborsRegressor": "gpuml.neighbors",
    "StandardScaler": "gpuml.preprocessing", "MLPClassifier": "gpuml.neural_network",
    "MLPRegressor": "gpuml.neural_network",
}
SUPERVISED = {"LinearRegression", "Ridge", "LogisticRegression", "KNeighborsClassifier", "KNeighborsRegressor",
              "MLPClassifier", "MLPRegressor"}


def _model_class(name: str):
    import importlib

    match = {k.lower(): k for k in MODELS}.get(name.lower())
    if match is None:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return getattr(importlib.import_module(MODELS[match]), match), match


def _params(pairs: list[str]) -> dict[str, Any]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--param takes key=value, got {pair!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def _columns(text: str | None) -> list[str] | None:
    return [c.strip() for c in text.split(",") if c.strip()] if text else None


def register(sub) -> None:
    p = sub.add_parser("fit", help="fit a model on a data file, streamed, and save it")
    p.add_argument("data", help=".npy, .parquet, .csv, or a folder of .npy or .parquet files")
    p.add_argument("--model", required=True, help=", ".join(MODELS))
    p.add_argument("--target", help="target column (a name; a column number for .npy)")
    p.add_argument("--columns", help="comma-separated feature columns (Parquet, CSV)")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="estimator parameter (repeatable)")
    p.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N, mps")
    p.add_argument("--out", required=True, help="the model file to write")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_fit)

    q = sub.add_parser("predict", help="predict with a saved model over a data file, streamed")
    q.add_argument("model", help="a model file written by gpuml fit")
    q.add_argument("data", help=".npy, .parquet, .csv, or a folder of .npy or .parquet files")
    q.add_argument("--out", required=True, help="predictions: .parquet, .csv or .npy")
    q.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N, mps")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.set_defaults(func=_predict)


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _fit(args) -> int:
    from ..data import open_source
    from ._progress import pass_bar, save_model

    Est, name = _model_class(args.model)
    params = _params(args.param)
    if args.device is not None:
        params["device"] = args.device
    if name in SUPERVISED and args.target is None:
        raise ValueError(f"{name} needs --target COLUMN")
    try:
        est = Est(**params)
    except TypeError as exc:
        raise ValueError(f"bad --param for {name}: {exc}") from None
    source = open_source(args.data, target=args.target, columns=_columns(args.columns))
    console = _console()
    with pass_bar(console, not args.quiet) as bar:
        est.fit(source, None)  # y comes from the source's target column
    meta = {"target": args.target, "columns": source.feature_names, "data": os.path.abspath(args.data)}
    save_model(args.out, est, meta)
    rows = source.n_rows
    secs = bar.seconds if bar else float("nan")
    console.print(f"fitted {est!r} on {rows:,} rows x {source.n_features} features"
                  + (f" in {secs:.2f} s ({bar.passes} passes, {bar.rows / max(secs, 1e-9):,.0f} rows/s)"
                     if bar else ""))
    console.print(f"model written to {args.out}")
    return 0


def _predict(args) -> int:
    from .._files import write_atomically
    from ..data import open_source
    from ._progress import load_model, pass_bar

    if not args.out.lower().endswith((".npy", ".parquet", ".pq", ".csv")):
        raise ValueError(f"{args.out}: unknown output format; use .parquet, .csv or .npy")
    payload = load_model(args.model)
    est = payload["estimator"]
    if args.device is not None:
        est.set_params(device=args.device)
    source = open_source(args.data, columns=payload.get("columns"))
    target = payload.get("target")
    if target is not None and payload.get("columns") is None and source.n_features == est.n_features_in_ + 1:
        source = open_source(args.data, target=target)  # .npy with the target column: leave it out
    method = next((m for m in ("predict", "transform") if hasattr(est, m)), None)
    if method is None:
        raise ValueError(f"{type(est).__name__} has neither predict nor transform")
    console = _console()
    with pass_bar(console, not args.quiet) as bar:
        out = np.asarray(getattr(est, method)(source))
    write_atomically(args.out, lambda tmp: _write_table(out, tmp, args.out))
    console.print(f"{method} on {len(out):,} rows" + (f" in {bar.seconds:.2f} s" if bar else "")
                  + f"; written to {args.out}")
    return 0


def _write_table(out: np.ndarray, tmp: str, final: str) -> None:
    low = final.lower()
    if low.endswith(".npy"):
        with open(tmp, "wb") as fh:
            np.save(fh, out)
        return
    cols = {"prediction": out} if out.ndim == 1 else {f"x{j}": out[:, j] for j in range(out.shape[1])}
    if low.endswith((".parquet", ".pq")):
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table(cols), tmp)
    elif low.endswith(".csv"):
        import pyarrow as pa
        import pyarrow.csv as pc

        pc.write_csv(pa.table(cols), tmp)
    else:
        raise ValueError(f"{final}: unknown output format; use .parquet, .csv or .npy")
