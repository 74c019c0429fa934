"""``gpuml run [-v] [--profile] script.py [args]``: a scikit-learn script under gpuml.accel."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a scikit-learn script unchanged, on gpuml where it can",
                       description="Run a Python script (or -m module) with gpuml.accel: scikit-learn's "
                                   "covered estimators run on gpuml; a table at exit says where each call ran.",
                       add_help=False)
    p.add_argument("target", nargs=argparse.REMAINDER, help="[-v] [--profile] [--no-report] script.py [args ...]")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..accel._run import main

    return main(args.target, prog="gpuml run")
