"""`gpuml fit` and `gpuml predict`: stream a file through an estimator."""

from __future__ import annotations

import ast
import os
from typing import Any

MODELS = {
    "LinearRegression": "gpuml.linear_model", "Ridge": "gpuml.linear_model",
    "LogisticRegression": "gpuml.linear_model", "KMeans": "gpuml.cluster", "PCA": "gpuml.decomposition",
    "KNeighborsClassifier": "gpuml.neighbors", "KNeighborsRegressor": "gpuml.neighbors",
    "StandardScaler": "gpuml.preprocessing", "MLPClassifier": "gpuml.neural_network",
    "MLPRegressor": "gpuml.neural_network",
}
METHODS = ("predict", "transform", "predict_proba", "decision_function")
#: What a folder of data is read from: an output with these inside an input folder would join its data.
DATA_EXTENSIONS = (".npy", ".parquet", ".pq")
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
    p.add_argument("--memory-limit", default=None, help="working memory per pass, e.g. 512MB")
    p.add_argument("--out", required=True, help="the model file to write")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_fit)

    q = sub.add_parser("predict", help="predict with a saved model over a data file, streamed")
    q.add_argument("model", help="a model file written by gpuml fit")
    q.add_argument("data", help=".npy, .parquet, .csv, or a folder of .npy or .parquet files")
    q.add_argument("--out", required=True, help="predictions: .parquet, .csv or .npy")
    q.add_argument("--method", choices=METHODS, default=None,
                   help="what to write (default: predict, or transform for a transformer)")
    q.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N, mps")
    q.add_argument("--memory-limit", default=None, help="working memory per pass, e.g. 512MB")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.set_defaults(func=_predict)


def _console():
    from rich.console import Console

    return Console(stderr=True)


def refuse_inputs(out: str, data: str, model: str | None = None) -> None:
    """Raise ValueError when ``out`` is, or resolves to (through links), the data or the
    model, or is a data file inside the data folder (it would be read as part of it)."""
    real = os.path.realpath(out)
    for path in (data, model):
        if path is not None and (real == os.path.realpath(path) or (
                os.path.exists(out) and os.path.exists(path) and os.path.samefile(out, path))):
            raise ValueError(f"--out {out} is the input {path}; refusing to overwrite it")
    folder = os.path.realpath(data)
    if os.path.isdir(folder) and real.startswith(folder + os.sep) and real.lower().endswith(DATA_EXTENSIONS):
        raise ValueError(f"--out {out} is inside the input folder {data}, where it would be read as data")


def _fit(args) -> int:
    from .._config import config_context
    from .._files import atomic_output
    from ..data import open_source
    from ._model import write_model
    from ._progress import pass_bar

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
    refuse_inputs(args.out, args.data)
    with config_context(memory_limit=args.memory_limit), atomic_output(args.out) as tmp:  # usable --out, first
        source = open_source(args.data, target=args.target, columns=_columns(args.columns))
        console = _console()
        with pass_bar(console, not args.quiet) as bar:
            est.fit(source, None)  # y comes from the source's target column
        meta = {"target": args.target, "columns": source.feature_names, "data": os.path.abspath(args.data)}
        write_model(tmp, est, meta)
    rows = source.rows_known
    secs = bar.seconds if bar else float("nan")
    console.print(f"fitted {est!r} on {'?' if rows is None else f'{rows:,}'} rows x {source.n_features} features"
                  + (f" in {secs:.2f} s ({bar.passes} passes, {bar.rows / max(secs, 1e-9):,.0f} rows/s)"
                     if bar else ""))
    console.print(f"model written to {args.out}")
    return 0


def _predict(args) -> int:
    from .. import __version__
    from .._config import config_context
    from .._files import atomic_output
    from ..data import open_source
    from ._model import load_model
    from ._progress import pass_bar
    from ._writers import check_format, stream_outputs

    refuse_inputs(args.out, args.data, args.model)
    check_format(args.out)
    payload = load_model(args.model)
    est = payload["estimator"]
    console = _console()
    written_by = payload["header"].get("gpuml_version")
    if written_by != __version__:
        console.print(f"gpuml: warning: {args.model} was written by gpuml {written_by}; this is gpuml {__version__}")
    method = args.method or next((m for m in ("predict", "transform") if hasattr(est, m)), None)
    if method is None or not hasattr(est, method):
        raise ValueError(f"{type(est).__name__} has no {method or 'predict or transform'} method")
    if args.device is not None:
        est.set_params(device=args.device)
    with config_context(memory_limit=args.memory_limit), atomic_output(args.out) as tmp:
        source = open_source(args.data, columns=payload.get("columns"))
        target = payload.get("target")
        if target is not None and payload.get("columns") is None and source.n_features == est.n_features_in_ + 1:
            source = open_source(args.data, target=target)  # .npy with the target column: leave it out
        with pass_bar(console, not args.quiet, passes=False) as bar:
            rows = stream_outputs(getattr(est, method), source, args.out, tmp, bar)
    console.print(f"{method} on {rows:,} rows" + (f" in {bar.seconds:.2f} s" if bar else "")
                  + f"; written to {args.out}")
    return 0
