"""``criticality scan``: measure a zoo of models, store each row, report the statistics."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from criticality.cli._checks import add_fresh_argument
from criticality.cli._fields import add_field, finite_float, split

NAME = "scan"
HELP = "measure many zoo models (resumable) and relate criticality to accuracy and year"


#: ``ScanConfig``'s field of the probe seed (``seed`` in older configs).
def _probe_field() -> str:
    from criticality.experiments.zoo.scan import ScanConfig

    names = {f.name for f in dataclasses.fields(ScanConfig)}
    return "probe_seed" if "probe_seed" in names else "seed"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The fields of :class:`~criticality.experiments.zoo.scan.ScanConfig`, with its defaults."""
    from criticality.experiments.zoo.scan import ScanConfig

    parser.add_argument("patterns", nargs="*", default=["*"], help="model name patterns (all)")
    add_field(parser, ScanConfig, "zoo", choices=("torchvision", "timm", "builtin"))
    parser.add_argument("--pretrained", action="store_true", help="measure pretrained weights")
    parser.add_argument(
        "--paired", action="store_true", help="with --pretrained: also the random-init twins"
    )
    add_field(parser, ScanConfig, "weights_dir")
    add_field(parser, ScanConfig, "measures", help="comma-separated measure names, or 'all'")
    add_field(parser, ScanConfig, "probes")
    add_field(parser, ScanConfig, "n_probes", type=int)
    add_field(
        parser, ScanConfig, "image_size", type=int, help="probe size in px (0: each model's own)"
    )
    add_field(parser, ScanConfig, "k", type=int)
    add_field(parser, ScanConfig, "ftle_iter", type=int)
    add_field(
        parser, ScanConfig, "time_limit", type=finite_float, help="seconds per model (0: none)"
    )
    add_field(parser, ScanConfig, "max_params", type=int)
    add_field(parser, ScanConfig, "threads", type=int)
    add_field(parser, ScanConfig, "executor", choices=("local", "ray"))
    add_field(parser, ScanConfig, "address")
    add_field(parser, ScanConfig, "device")
    add_field(parser, ScanConfig, "retry_failed", action="store_true")
    add_field(parser, ScanConfig, _probe_field(), "--seed", "--probe-seed", type=int)
    add_fresh_argument(parser)
    parser.add_argument("--out", type=Path, help="output folder (default runs/scan-ZOO)")


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~criticality.experiments.zoo.scan.ScanConfig` of the command line."""
    from criticality.experiments.zoo.scan import ScanConfig

    if args.paired and not args.pretrained:
        raise ValueError("--paired adds random-init twins to --pretrained; pass both")
    weights = ("pretrained", "random") if args.paired else ("pretrained",)
    probe = _probe_field()
    return ScanConfig(
        zoo=args.zoo,
        patterns=tuple(args.patterns),
        weights=weights if args.pretrained else ("random",),
        weights_dir=str(args.weights_dir) if args.weights_dir else None,
        measures=split(args.measures),
        probes=args.probes,
        n_probes=args.n_probes,
        image_size=args.image_size or None,
        k=args.k,
        ftle_iter=args.ftle_iter,
        time_limit=args.time_limit or None,
        max_params=args.max_params,
        executor=args.executor,
        address=args.address,
        device=args.device,
        threads=args.threads,
        retry_failed=args.retry_failed,
        **{probe: getattr(args, probe)},
    )


def run(args: argparse.Namespace) -> int:
    from criticality.experiments.zoo.scan import run as run_scan

    cfg = config_from_args(args)
    path = run_scan(cfg, args.out or Path("runs") / f"scan-{args.zoo}")
    print(f"report: {path}")
    return 0
