"""``criticality measure``: measure one model and write results, figures and a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from criticality.cli._fields import add_field, split

NAME = "measure"
HELP = "measure how close one model operates to criticality and write an HTML report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The fields of :class:`~criticality.experiments.measure.MeasureConfig`, with its defaults."""
    from criticality.experiments.measure import DTYPES, MeasureConfig

    add_field(parser, MeasureConfig, "model", required=True)
    add_field(parser, MeasureConfig, "pretrained", action="store_true")
    add_field(parser, MeasureConfig, "weights")
    add_field(parser, MeasureConfig, "inputs")
    add_field(parser, MeasureConfig, "n_probes", type=int)
    add_field(parser, MeasureConfig, "image_size", type=int)
    add_field(parser, MeasureConfig, "measures", help="comma-separated measure names, or 'all'")
    add_field(parser, MeasureConfig, "k", type=int)
    add_field(parser, MeasureConfig, "norm", choices=("l2", "rms"))
    add_field(parser, MeasureConfig, "dtype", choices=DTYPES)
    add_field(parser, MeasureConfig, "device")
    add_field(parser, MeasureConfig, "probe_seed", "--seed", "--probe-seed", type=int)
    parser.add_argument("--out", type=Path, help="output folder (default runs/measure-MODEL)")


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~criticality.experiments.measure.MeasureConfig` of the command line."""
    from criticality.experiments.measure import MeasureConfig

    return MeasureConfig(
        model=args.model,
        pretrained=args.pretrained,
        weights=str(args.weights) if args.weights else None,
        inputs=args.inputs,
        n_probes=args.n_probes,
        image_size=args.image_size,
        measures=split(args.measures),
        k=args.k,
        norm=args.norm,
        dtype=args.dtype,
        device=args.device,
        probe_seed=args.probe_seed,
    )


def run(args: argparse.Namespace) -> int:
    from criticality.experiments import measure
    from criticality.report import CriticalityReport
    from criticality.reporting import load_results

    cfg = config_from_args(args)
    out = args.out or Path("runs") / f"measure-{args.model.replace('/', '_')}"
    print(f"measuring {args.model} on {args.n_probes} probe inputs ...", file=sys.stderr)
    path = measure.run(cfg, out, command=" ".join(sys.argv))
    report = CriticalityReport.from_dict(load_results(out)["data"]["report"])
    print(report.interpretation())
    print(f"report: {path}")
    return 0
