"""``criticality demo``: the built-in demonstration behind ``make demo``."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from criticality.cli._checks import add_fresh_argument

NAME = "demo"
HELP = "run the demonstration: every registered experiment's demo preset, one report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder")
    parser.add_argument(
        "--preset",
        choices=("tiny", "demo", "full"),
        default="demo",
        help="every part's preset: demo (bounded, about seven minutes on 2 cores; the default), "
        "full (every part's long defaults: hours) or tiny (seconds, for tests)",
    )
    parser.add_argument("--tiny", action="store_true", help="the same as --preset tiny")
    parser.add_argument(
        "--committed",
        default="results",
        help="folder of committed studies shown beside the live parts (default: results, the "
        "repository's; 'none' shows none)",
    )
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
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="parts run side by side, each in its own process on one CPU thread (default: 2 "
        "for the demo and full presets, 1 for --tiny; 1 runs them one after the other)",
    )
    add_fresh_argument(parser)


def run(args: argparse.Namespace) -> int:
    from criticality.experiments import demo

    parts = tuple(p.strip() for p in args.parts.split(",")) if args.parts else ()
    committed = None if args.committed.lower() == "none" else args.committed
    preset = "tiny" if args.tiny else args.preset
    cfg = demo.DemoConfig(parts=parts, preset=preset, probe_seed=args.seed, committed=committed)
    if args.workers is not None:
        cfg = dataclasses.replace(cfg, workers=args.workers)
    elif preset == "tiny":
        cfg = dataclasses.replace(cfg, workers=1)
    path = demo.run(cfg, args.out)
    print(f"report: {path}")
    return 0
