"""Deterministic mini-batches by step number: a resumed run sees the same batches."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset, TensorDataset

TrainData = tuple[torch.Tensor, torch.Tensor] | Dataset[Any]


def as_tensors(data: TrainData) -> tuple[torch.Tensor, torch.Tensor]:
    """``(X, y)`` of a tensor pair, a ``TensorDataset`` or any sized map-style dataset.

    Returns:
        Inputs ``(N, ...)`` and targets ``(N, ...)`` (stacked items for a generic dataset).
    """
    if (
        isinstance(data, tuple)
        and len(data) == 2
        and all(isinstance(t, torch.Tensor) for t in data)
    ):
        x, y = data
    elif isinstance(data, TensorDataset) and len(data.tensors) == 2:
        x, y = data.tensors
    elif isinstance(data, Dataset) and hasattr(data, "__len__"):
        items = [data[i] for i in range(len(data))]
        x = torch.stack([torch.as_tensor(item[0]) for item in items])
        y = torch.stack([torch.as_tensor(item[1]) for item in items])
    else:
        raise TypeError(
            "train data must be a pair of tensors (X, y), a TensorDataset(X, y) or a sized "
            f"map-style Dataset of (input, target) pairs, got {type(data).__name__}"
        )
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(
            f"X and y need the same non-zero length, got {x.shape[0]} and {y.shape[0]}"
        )
    return x, y


class Batches:
    """Mini-batch ``i`` of epoch ``e`` comes from a permutation seeded by ``(seed, e)``.

    Args:
        x: inputs, shape ``(N, ...)``.
        y: targets, shape ``(N, ...)``.
        batch_size: inputs per batch; the last batch of an epoch may be smaller.
        seed: seed of the shuffles.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.per_epoch = -(-x.shape[0] // batch_size)
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.int64)

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch used at optimizer step ``step`` (0-based)."""
        epoch, i = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.x.shape[0], generator=gen)
        idx = self._perm[i * self.batch_size : (i + 1) * self.batch_size].to(self.x.device)
        return self.x[idx], self.y[idx]
