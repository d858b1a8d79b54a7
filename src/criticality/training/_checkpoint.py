"""Checkpoints of a training run: model, optimizer, regularizer, RNG states, step, history.

Saved atomically (write, then rename) to ``DIR/last.pt`` and read back with
``torch.load(weights_only=True)``: only tensors and plain Python values are stored.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

FILE = "last.pt"


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
    """Write ``payload`` to ``directory/last.pt`` atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    path, tmp = directory / FILE, directory / f"{FILE}.tmp"
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load(directory: Path | None) -> dict[str, Any] | None:
    """The last checkpoint in ``directory``, or ``None`` when there is none."""
    if directory is None or not (directory / FILE).is_file():
        return None
    return torch.load(directory / FILE, map_location="cpu", weights_only=True)
