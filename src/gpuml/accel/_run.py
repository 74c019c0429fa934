"""``python -m gpuml.accel [options] script.py [args]`` and ``gpuml run``: a script or a
module under accel, as ``python script.py`` / ``python -m module`` would run it."""

from __future__ import annotations

import os
import runpy
import sys

USAGE = """usage: python -m gpuml.accel [-v] [--profile] [--no-report] [--device DEV]
                           (script.py | -m module | -c code) [args ...]

Run a Python script or module unchanged, with scikit-learn's covered estimators on gpuml.
  -v, --verbose   log each call as it happens (where it ran, how long, why on scikit-learn)
  --device DEV    where gpuml computes: auto (default), cpu, cuda, cuda:N, mps, xpu (sets GPUML_DEVICE)
  --profile       add time per call (mean and max) to the table printed at exit
  --no-report     print no table at exit
  -m module       run a module as `python -m module` does
  -c code         run the code as `python -c code` does
"""


def main(argv: list[str] | None = None, prog: str = "python -m gpuml.accel") -> int:
    """Parse the options, install accel, run the target; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    module = code = None
    while argv and argv[0].startswith("-"):
        opt = argv.pop(0)
        if opt in ("-v", "--verbose"):
            os.environ["GPUML_ACCEL_VERBOSE"] = "1"
        elif opt == "--profile":
            os.environ["GPUML_ACCEL_PROFILE"] = "1"
        elif opt == "--no-report":
            os.environ["GPUML_ACCEL_REPORT"] = "0"
        elif opt == "--device" and argv:
            os.environ["GPUML_DEVICE"] = argv.pop(0)
        elif opt in ("-h", "--help"):
            print(USAGE.replace("python -m gpuml.accel", prog), end="")
            return 0
        elif opt == "-m" and argv:
            module = argv.pop(0)
            break
        elif opt == "-c" and argv:
            code = argv.pop(0)
            break
        else:
            print(f"{prog}: unknown option {opt!r}\n" + USAGE.replace("python -m gpuml.accel", prog),
                  file=sys.stderr, end="")
            return 2
    if module is None and code is None and not argv:
        print(f"{prog}: give a script or -m module\n" + USAGE.replace("python -m gpuml.accel", prog),
              file=sys.stderr, end="")
        return 2
    if module is None and code is None and not os.path.isfile(argv[0]):
        print(f"{prog}: can't open file {argv[0]!r}: no such file", file=sys.stderr)
        return 2

    if os.environ.get("GPUML_DEVICE"):  # read at import by gpuml's settings: this process had them already
        from .._config import set_config

        try:
            set_config(device=os.environ["GPUML_DEVICE"])
        except ValueError as exc:
            print(f"{prog}: {exc}", file=sys.stderr)
            return 2

    from . import install

    install()
    if code is not None:
        sys.argv = ["-c", *argv]
        sys.path.insert(0, "")
        exec(compile(code, "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
    elif module is not None:
        sys.argv = [module, *argv]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(argv)
        sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))
        runpy.run_path(argv[0], run_name="__main__")
    return 0
