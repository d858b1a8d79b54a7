"""``criticality demo``: the built-in demonstration behind ``make demo``."""

from __future__ import annotations

import argparse
from pathlib import Path

from criticality.cli._checks import add_fresh_argument

NAME = "demo"
HELP = "run the demonstration: every registered experiment's demo preset, one report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder")
    parser.add_argument("--tiny", action="store_true", help="a seconds-long version (for tests)")
    parser.add_argument(
        "--parts", help="comma-separated experiments to include (default: every demo part)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="probe seed of every part: its probe inputs, data subsets and the measures' random "
        "directions (each part's replicate seeds are its own `seeds`; the report's footer lists "
        "both)",
    )
    add_fresh_argument(parser)


def run(args: argparse.Namespace) -> int:
    from criticality.experiments import demo

    parts = tuple(p.strip() for p in args.parts.split(",")) if args.parts else ()
    cfg = demo.DemoConfig(parts=parts, preset="tiny" if args.tiny else "demo", probe_seed=args.seed)
    path = demo.run(cfg, args.out)
    print(f"report: {path}")
    return 0
