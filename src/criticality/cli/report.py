"""``criticality report OUT``: re-render figures and report.html from OUT/results.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from criticality.cli._integrations import add_tensorboard_argument, write_tables, write_tensorboard

NAME = "report"
HELP = "re-render the figures and report.html of a finished run without recomputing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="output folder of a run (holds results.json)")
    parser.add_argument(
        "--format",
        choices=("csv", "parquet"),
        default=None,
        help="also write tidy tables (measures, stages, trajectories) to OUT/tables",
    )
    add_tensorboard_argument(parser)


def run(args: argparse.Namespace) -> int:
    from criticality.experiments import render

    print(f"report: {render(args.out)}")
    write_tables(args.out, args.format)
    write_tensorboard(args, args.out)
    return 0
