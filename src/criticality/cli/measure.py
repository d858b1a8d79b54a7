"""``criticality measure``: measure one model and write results, figures and a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "measure"
HELP = "measure how close one model operates to criticality and write an HTML report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from criticality.experiments.measure import DTYPES

    parser.add_argument("--model", required=True, help="model name (`criticality list models`)")
    parser.add_argument("--pretrained", action="store_true", help="load pretrained weights")
    parser.add_argument("--weights", type=Path, help="a local state-dict file to load")
    parser.add_argument(
        "--inputs",
        default="gaussian",
        help="probe source: gaussian (default), photos, sklearn, a .pt/.npy file, an image folder",
    )
    parser.add_argument("--n-probes", type=int, default=8, help="number of probe inputs")
    parser.add_argument("--image-size", type=int, help="override the model's input size (px)")
    parser.add_argument(
        "--measures", default="lyapunov,ftle", help="comma-separated measure names, or 'all'"
    )
    parser.add_argument("--k", type=int, default=4, help="number of Lyapunov exponents")
    parser.add_argument("--norm", choices=("l2", "rms"), default="l2", help="tangent norm")
    parser.add_argument("--dtype", choices=DTYPES, default="float32")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the probe inputs and the measures' random directions (probe_seed)",
    )
    parser.add_argument("--out", type=Path, help="output folder (default runs/measure-MODEL)")


def run(args: argparse.Namespace) -> int:
    from criticality.experiments import measure
    from criticality.report import CriticalityReport
    from criticality.reporting import load_results

    cfg = measure.MeasureConfig(
        model=args.model,
        pretrained=args.pretrained,
        weights=str(args.weights) if args.weights else None,
        inputs=args.inputs,
        n_probes=args.n_probes,
        image_size=args.image_size,
        measures=tuple(m.strip() for m in args.measures.split(",")),
        k=args.k,
        norm=args.norm,
        dtype=args.dtype,
        device=args.device,
        probe_seed=args.seed,
    )
    out = args.out or Path("runs") / f"measure-{args.model.replace('/', '_')}"
    print(f"measuring {args.model} on {args.n_probes} probe inputs ...", file=sys.stderr)
    path = measure.run(cfg, out, command=" ".join(sys.argv))
    report = CriticalityReport.from_dict(load_results(out)["data"]["report"])
    print(report.interpretation())
    print(f"report: {path}")
    return 0
