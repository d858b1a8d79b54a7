"""``criticality report OUT``: re-render figures and report.html from OUT/results.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from criticality.cli._integrations import (
    add_tensorboard_argument,
    check_exports,
    write_tables,
    write_tensorboard,
)

NAME = "report"
HELP = "re-render the figures and report.html of a finished run without recomputing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="output folder of a run (holds results.json)")
    parser.add_argument("--open", action="store_true", help="open the report in the browser")
    parser.add_argument(
        "--format",
        choices=("csv", "parquet"),
        default=None,
        help="also write tidy tables (measures, stages, trajectories) to OUT/tables",
    )
    add_tensorboard_argument(parser)


def run(args: argparse.Namespace) -> int:
    from criticality.experiments import render

    check_exports(args, args.out)  # a bad place for tables or TensorBoard fails before rendering
    path = render(args.out)
    print(f"report: {path}")
    write_tables(args.out, args.format)
    write_tensorboard(args, args.out)
    if args.open:
        import webbrowser

        if not webbrowser.open(path.resolve().as_uri()):
            print(f"no browser found: open {path} yourself")
    return 0
