"""``python -m gpuml.accel script.py [args]``: see :mod:`gpuml.accel._run`."""

import sys

from ._run import main

if __name__ == "__main__":
    sys.exit(main())
