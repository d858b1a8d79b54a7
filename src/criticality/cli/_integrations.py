"""Options that several subcommands share: TensorBoard and table export of a finished run."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_tensorboard_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tensorboard",
        type=Path,
        metavar="DIR",
        help="also write the run's criticality scalars and spectrum histograms to DIR for "
        "TensorBoard (needs the tensorboard package: pip install 'criticality[tensorboard]')",
    )


def check_exports(args: argparse.Namespace, out: Path) -> None:
    """Before any rendering: ``--format`` tables and ``--tensorboard DIR`` can be written where
    they go, so that a bad place fails at once, not after the report was re-drawn."""
    if getattr(args, "format", None) is not None:
        from criticality.integrations.frames import check_export

        check_export(out, args.format)
    folder = getattr(args, "tensorboard", None)
    if folder is None:
        return
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ValueError(
            "--tensorboard needs the tensorboard package: pip install 'criticality[tensorboard]'"
        ) from None
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--tensorboard {folder} is a file, not a folder: pass another DIR")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(
            f"--tensorboard {folder} cannot be made ({err.strerror}): pass another DIR"
        ) from None
    if not os.access(folder, os.W_OK):
        raise ValueError(f"--tensorboard {folder} is not writable: pass another DIR")


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
