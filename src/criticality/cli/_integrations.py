"""Options that several subcommands share: TensorBoard and table export of a finished run."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_tensorboard_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tensorboard",
        type=Path,
        metavar="DIR",
        help="also write the run's criticality scalars and spectrum histograms to DIR for "
        "TensorBoard (needs the tensorboard package: pip install 'criticality[tensorboard]')",
    )


def write_tensorboard(args: argparse.Namespace, out: Path) -> None:
    """Export the finished run ``out`` to ``--tensorboard DIR`` if it was given."""
    if getattr(args, "tensorboard", None) is None:
        return
    from criticality.integrations.tensorboard import export_run

    folders = export_run(out, args.tensorboard)
    print(f"tensorboard: {len(folders)} runs in {args.tensorboard} (tensorboard --logdir ...)")


def write_tables(out: Path, fmt: str | None) -> None:
    """Write the run's tidy tables as CSV or Parquet into ``OUT/tables``."""
    if fmt is None:
        return
    from criticality.integrations.frames import write_frames

    for path in write_frames(out, fmt):  # type: ignore[arg-type]
        print(f"table: {path}")
