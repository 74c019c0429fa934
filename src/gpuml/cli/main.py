"""The `gpuml` command: one module per command group, one error handler here."""

from __future__ import annotations

import argparse
import signal
import sys
import threading


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from . import bench, demo, doctor, fit, run

    parser = argparse.ArgumentParser(prog="gpuml", description="scikit-learn's estimators on any PyTorch device.")
    parser.add_argument("--version", action="version", version=f"gpuml {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    bench.register(sub)
    demo.register(sub)
    doctor.register(sub)
    fit.register(sub)
    run.register(sub)
    return parser


class Terminated(BaseException):
    """SIGTERM, raised as an exception so that ``finally`` blocks run (temporary files are removed)."""


def _terminate(signum, frame):
    raise Terminated


def message(exc: BaseException) -> str:
    """``exc`` as one plain line."""
    if isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])  # not the repr that str(KeyError) gives
    elif isinstance(exc, OSError) and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    else:
        text = str(exc)
    return "; ".join(line.strip() for line in text.splitlines() if line.strip()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the command line; a failure is one line on stderr and exit status 1.

    Known errors (bad input, files, memory, devices) print their message; anything else
    is an internal error, printed with its type. ``--debug`` shows the traceback instead.
    SIGINT exits with status 130 and SIGTERM with 143, after removing temporary files.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "run":  # the script's own errors and exit status are its own, as under python
        from ..accel._run import main as run_script

        return run_script(argv[1:], prog="gpuml run")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "bench":
        from .bench import enable_array_api

        enable_array_api()  # before anything imports SciPy
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("gpuml: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("gpuml: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except (ValueError, TypeError, OSError, MemoryError, RuntimeError, ImportError) as exc:
        if args.debug:
            raise
        print(f"gpuml: error: {message(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: still one line, with the type, and how to see more
        if args.debug:
            raise
        print(f"gpuml: internal error: {type(exc).__name__}: {message(exc)} (run with --debug for the traceback)",
              file=sys.stderr)
        return 1
    finally:
        if main_thread and previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
