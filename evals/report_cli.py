"""`deepmmsearch report`: the report over evaluation run folders (`evals.report`).

    deepmmsearch report runs/eval/direct-7b-infoseek runs/eval/agent-7b-infoseek --out runs/report
    deepmmsearch report runs/eval/* --out runs/report   # every run folder; open runs/report/report.md
    deepmmsearch report runs/eval/* --training runs/sft/tiny-cpu runs/rl/tiny-cpu --out runs/report   # + curves

Writes report.md, report.json, plots/*.png and viewer/index.html under --out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def handle(args: argparse.Namespace) -> int:
    """Build the report for parsed arguments; print where it is."""
    from evals.report import build_report

    try:
        report = build_report(args.run_dirs, args.out, args.training)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return EXIT_BAD_INPUT
    print(f"report: {report}\nviewer: {report.parent / 'viewer' / 'index.html'}")  # noqa: T201
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `report` to the `deepmmsearch` command."""
    p = subparsers.add_parser(
        "report",
        help="accuracy table, tool use, plots and a trajectory viewer over evaluation runs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run folders written by `deepmmsearch eval`"
    )
    p.add_argument("--out", type=Path, required=True, help="report folder (created)")
    p.add_argument(
        "--training",
        type=Path,
        nargs="+",
        default=[],
        metavar="TRAIN_DIR",
        help="SFT / GRPO run folders (deepmmsearch sft / rl --out): their curves and step times go into the report",
    )
    p.set_defaults(handler=handle)
    return p
