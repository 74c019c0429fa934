"""`gpuml bench`: measured speed against scikit-learn and the machine's ceilings."""

from __future__ import annotations

import os


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmark gpuml against scikit-learn and the hardware's limits")
    p.add_argument("--preset", default="quick", choices=["quick", "cpu", "gpu"],
                   help="quick: <1 min on 2 cores; cpu: <10 min; gpu: sized for an H100-class GPU")
    p.add_argument("--case", action="append", metavar="NAME", help="run only cases whose name contains NAME")
    p.add_argument("--out", default=None, help="folder for the JSON, Markdown and PNG results")
    p.add_argument("--report", metavar="JSON", help="re-render a saved JSON result (table, Markdown, PNG)")
    p.set_defaults(func=_main)


def _main(args) -> int:
    import json

    from rich.console import Console

    from ..bench import print_table, run, write

    console = Console(stderr=True)
    if args.report:
        with open(args.report) as fh:
            result = json.load(fh)
    else:
        save = (lambda partial: write(partial, args.out, chart=False)) if args.out else None  # kept if stopped
        result = run(args.preset, args.case, log=lambda s: console.print(s, style="dim"), on_case=save)
    print_table(result)
    if args.out or args.report:
        out = args.out or os.path.dirname(os.path.abspath(args.report))
        for path in write(result, out):
            console.print(f"wrote {path}")
    return 0


def enable_array_api() -> None:
    """scikit-learn's array-API path needs SCIPY_ARRAY_API=1 before SciPy is imported."""
    os.environ.setdefault("SCIPY_ARRAY_API", "1")
