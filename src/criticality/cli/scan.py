"""``criticality scan``: measure a zoo of models, store each row, report the statistics."""

from __future__ import annotations

import argparse
from pathlib import Path

from criticality.cli._checks import add_fresh_argument

NAME = "scan"
HELP = "measure many zoo models (resumable) and relate criticality to accuracy and year"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("patterns", nargs="*", default=["*"], help="model name patterns (all)")
    parser.add_argument("--zoo", choices=("torchvision", "timm", "builtin"), default="torchvision")
    parser.add_argument("--pretrained", action="store_true", help="measure pretrained weights")
    parser.add_argument(
        "--paired", action="store_true", help="with --pretrained: also the random-init twins"
    )
    parser.add_argument("--weights-dir", type=Path, help="folder of NAME.pth state dicts")
    parser.add_argument("--measures", default="lyapunov,ftle", help="comma-separated, or 'all'")
    parser.add_argument("--probes", default="gaussian", help="gaussian, photos, a file or folder")
    parser.add_argument("--n-probes", type=int, default=4, help="probe inputs per model")
    parser.add_argument(
        "--image-size", type=int, default=64, help="probe size in px (0: each model's own)"
    )
    parser.add_argument("--k", type=int, default=2, help="Lyapunov exponents per model")
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds per model")
    parser.add_argument("--max-params", type=float, help="skip models above this many parameters")
    parser.add_argument("--threads", type=int, help="torch threads per model")
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument("--address", help="Ray cluster address (default: a local instance)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--retry-failed", action="store_true", help="measure failed rows again")
    parser.add_argument("--seed", type=int, default=0)
    add_fresh_argument(parser)
    parser.add_argument("--out", type=Path, help="output folder (default runs/scan-ZOO)")


def run(args: argparse.Namespace) -> int:
    from criticality.experiments.scan import ScanConfig
    from criticality.experiments.scan import run as run_scan

    if args.paired and not args.pretrained:
        raise ValueError("--paired adds random-init twins to --pretrained; pass both")
    weights = ("pretrained", "random") if args.paired else ("pretrained",)
    measures = ("all",) if args.measures == "all" else tuple(args.measures.split(","))
    cfg = ScanConfig(
        zoo=args.zoo,
        patterns=tuple(args.patterns),
        weights=weights if args.pretrained else ("random",),
        weights_dir=str(args.weights_dir) if args.weights_dir else None,
        measures=tuple(m.strip() for m in measures),
        probes=args.probes,
        n_probes=args.n_probes,
        image_size=args.image_size or None,
        k=args.k,
        time_limit=args.time_limit or None,
        max_params=int(args.max_params) if args.max_params else None,
        executor=args.executor,
        address=args.address,
        device=args.device,
        threads=args.threads,
        retry_failed=args.retry_failed,
        seed=args.seed,
    )
    path = run_scan(cfg, args.out or Path("runs") / f"scan-{args.zoo}")
    print(f"report: {path}")
    return 0
