"""Checkpoints of a training run: model, optimizer, regularizer, RNG states, step, history.

Saved atomically (write, then rename) to ``DIR/last.pt``; the one before it is kept as
``DIR/previous.pt``. Read back with ``torch.load(weights_only=True)``: only tensors and plain
Python values are stored. A damaged ``last.pt`` (cut short, overwritten, not ours) is moved aside
to ``last.pt.damaged`` with a warning and the run falls back to ``previous.pt``; if that is
damaged too, loading stops with an error saying how to start over.
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from criticality._files import DamagedFileError, load_tensors

FILE = "last.pt"
PREVIOUS = "previous.pt"
#: Keys every checkpoint written by :func:`criticality.training.fit` has.
REQUIRED = ("step", "model", "optimizer", "rng", "loss", "penalty", "callbacks")

log = logging.getLogger(__name__)


class DamagedCheckpointError(ValueError):
    """No readable checkpoint is left in a folder that holds some."""


def rng_state() -> dict[str, Any]:
    """The states of Python's, NumPy's and torch's (CPU and CUDA) global generators."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    return {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(np.asarray(keys).copy()), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, gauss_np = state["numpy"]
    np.random.set_state((kind, keys.numpy(), pos, has_gauss, gauss_np))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(directory: Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``directory/last.pt`` atomically; the old one becomes
    ``previous.pt``."""
    directory.mkdir(parents=True, exist_ok=True)
    path, tmp = directory / FILE, directory / f"{FILE}.tmp"
    torch.save(payload, tmp)
    if path.is_file():
        os.replace(path, directory / PREVIOUS)  # between the renames, previous.pt is the last
    os.replace(tmp, path)
    return path


def load(directory: Path | None) -> dict[str, Any] | None:
    """The last readable checkpoint in ``directory``, or ``None`` when there is none.

    Raises:
        DamagedCheckpointError: checkpoints exist but none can be read.
    """
    if directory is None:
        return None
    found = [directory / name for name in (FILE, PREVIOUS) if (directory / name).is_file()]
    problems = []
    for path in found:
        try:
            return _read(path)
        except DamagedCheckpointError as err:
            problems.append(str(err))
            aside = path.with_name(path.name + ".damaged")
            os.replace(path, aside)
            log.warning("%s; moved it to %s and fell back to the one before", err, aside.name)
    if problems:
        raise DamagedCheckpointError(
            f"no readable checkpoint in {directory} ({'; '.join(problems)}); start the run "
            "over: delete that folder, or rerun with --fresh"
        )
    return None


def _read(path: Path) -> dict[str, Any]:
    """One checkpoint file; :class:`DamagedCheckpointError` if it is not a whole one of ours.

    torch's own message is not passed on: for a file we did not write it suggests
    ``weights_only=False``, which would run whatever code the file holds.
    """
    try:
        ckpt = load_tensors(path)  # weights_only=True: a crafted file runs nothing
    except DamagedFileError as err:
        raise DamagedCheckpointError(
            f"{path} is damaged or not a criticality checkpoint ({err.reason})"
        ) from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED):
        raise DamagedCheckpointError(f"{path} is not a criticality training checkpoint")
    return ckpt
