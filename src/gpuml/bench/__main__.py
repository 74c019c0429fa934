"""``python -m gpuml.bench``: the same as ``gpuml bench``."""

import sys

from ..cli.main import main

sys.exit(main(["bench", *sys.argv[1:]]))
