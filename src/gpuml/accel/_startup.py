"""Run by ``gpuml-accel.pth`` at Python's start when ``GPUML_ACCEL`` is set: install accel.

The .pth line imports this module only when the variable is set and not "0", so a Python
without it pays nothing; with it, the cost is ``import gpuml`` (NumPy), since gpuml's
estimators and torch are imported only when a proxy is first called.
"""

from __future__ import annotations

import os

try:
    if os.environ.get("GPUML_ACCEL", "0").strip().lower() not in ("", "0", "false", "no", "off"):
        from . import install  # (checked again: importing this module, as a doctest run does, installs nothing)

        install()
except Exception as exc:  # never break a Python's start: say why accel is off, and go on
    import sys

    print(f"gpuml.accel: not active ({type(exc).__name__}: {exc})", file=sys.stderr)
