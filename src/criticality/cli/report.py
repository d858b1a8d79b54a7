"""``criticality report OUT``: re-render figures and report.html from OUT/results.json."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "report"
HELP = "re-render the figures and report.html of a finished run without recomputing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="output folder of a run (holds results.json)")


def run(args: argparse.Namespace) -> int:
    from criticality.experiments import render

    print(f"report: {render(args.out)}")
    return 0
