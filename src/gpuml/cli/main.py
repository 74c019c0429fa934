"""The `gpuml` command: one module per command group, one error handler here."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from . import bench, demo, doctor, fit

    parser = argparse.ArgumentParser(prog="gpuml", description="scikit-learn's estimators on any PyTorch device.")
    parser.add_argument("--version", action="version", version=f"gpuml {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    bench.register(sub)
    demo.register(sub)
    doctor.register(sub)
    fit.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; known errors become one line on stderr and exit status 1."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "bench":
        from .bench import enable_array_api

        enable_array_api()  # before anything imports SciPy
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("gpuml: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, MemoryError, RuntimeError, ImportError) as exc:
        if args.debug:
            raise
        print(f"gpuml: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
