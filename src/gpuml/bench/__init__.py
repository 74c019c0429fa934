"""The benchmark suite: machine ceilings, cases, runner and report (``gpuml bench``)."""

from ._report import markdown, print_table, verdicts, write
from ._runner import run

__all__ = ["markdown", "print_table", "run", "verdicts", "write"]
