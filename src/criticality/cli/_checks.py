"""Checks of the common arguments (``--out``, ``--device``, ``--fresh``) before any work is done.

A run that would fail at its end (an output folder it cannot write) or at its first tensor (a
device that does not exist) fails here instead, with a message that says what to do.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

#: Commands whose ``out`` is a folder they read from, not one they create.
_READS_OUT = ("report",)


def add_fresh_argument(parser: argparse.ArgumentParser) -> None:
    """``--fresh``: discard the finished work in ``--out`` instead of resuming it."""
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="discard what --out holds from an earlier run and start over (a rerun with other "
        "settings is refused without it)",
    )


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse an unusable ``args.out`` or ``args.device`` with a ``ValueError``."""
    out = getattr(args, "out", None)
    if out is not None:
        check_out_dir(Path(out), create=args.command not in _READS_OUT)
    device = getattr(args, "device", None)
    if device is not None:
        check_device(str(device))


def check_out_dir(out: Path, *, create: bool = True) -> None:
    """``out`` must be (or become) a folder this process can write."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is an existing file, not a folder; pass a folder")
    if not out.exists():
        if not create:
            return
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ValueError(
                f"--out {out} cannot be created ({err.strerror}); pass another folder"
            ) from None
    try:  # os.access misses read-only mounts and ACLs: try a file
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-test.")
    except OSError as err:
        raise ValueError(
            f"--out {out} is not writable ({err.strerror}); pass a folder you can write"
        ) from None
    os.close(fd)
    os.unlink(probe)


def check_device(device: str) -> None:
    """``device`` must name a device torch has here (``cpu``, ``cuda``, ``cuda:1``, ``mps``)."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(
            f"--device {device!r} is not a device; use cpu, cuda, cuda:N or mps"
        ) from None
    if dev.type == "cpu":
        return
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"--device {device}: no CUDA GPU is available here; use --device cpu")
        if dev.index is not None and dev.index >= count:
            raise ValueError(
                f"--device {device}: this machine has {count} CUDA GPU(s), cuda:0 to "
                f"cuda:{count - 1}"
            )
        return
    if dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"--device {device}: MPS is not available here; use --device cpu")
        return
    raise ValueError(f"--device {device!r} is not supported; use cpu, cuda, cuda:N or mps")
