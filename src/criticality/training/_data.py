"""Batch sources of :func:`criticality.training.fit`: the batch of every step, by step number.

A source is called with the step number within the current call of ``fit`` and returns that
step's ``(x, y)``. In-memory data is drawn from a permutation seeded per epoch, so a resumed run
sees exactly the batches it would have seen; only the batch is ever gathered, never a copy of the
whole dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch.utils.data import Dataset, TensorDataset, default_collate

Batch = tuple[torch.Tensor, torch.Tensor]
#: What ``fit`` trains on: tensors ``(X, y)``, a ``TensorDataset``, a sized map-style dataset of
#: ``(input, target)`` items, any iterable of ``(x, y)`` batches (a ``DataLoader``), or a
#: callable ``step -> (x, y)``.
TrainData = tuple[torch.Tensor, torch.Tensor] | Dataset[Any] | Iterable[Any] | Callable[[int], Any]


class BatchSource:
    """The batch of step ``i`` (0-based, within one call of ``fit``).

    Attributes:
        per_epoch: steps per pass over the data (``None`` for streams without a length).
    """

    per_epoch: int | None = None

    def __call__(self, step: int) -> Batch:
        raise NotImplementedError


def batch_source(data: TrainData, batch_size: int, seed: int, device: torch.device) -> BatchSource:
    """The :class:`BatchSource` for ``data`` (see :data:`TrainData`); batches land on ``device``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    if (
        isinstance(data, tuple)
        and len(data) == 2
        and all(isinstance(t, torch.Tensor) for t in data)
    ):
        return TensorBatches(data[0], data[1], batch_size, seed, device)
    if isinstance(data, TensorDataset) and len(data.tensors) == 2:
        return TensorBatches(data.tensors[0], data.tensors[1], batch_size, seed, device)
    if isinstance(data, Dataset) and hasattr(data, "__len__"):
        return DatasetBatches(data, batch_size, seed, device)
    if callable(data):
        return CallableBatches(data, device)
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes, torch.Tensor)):
        return IterableBatches(data, device)
    raise TypeError(
        "train data must be a pair of tensors (X, y), a TensorDataset(X, y), a sized map-style "
        "Dataset of (input, target) pairs, an iterable of (x, y) batches (e.g. a DataLoader) or "
        f"a callable step -> (x, y); got {type(data).__name__}"
    )


def _epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    # Not criticality.seeding.mix_seed: every trained network's batch order comes from here,
    # so the mix would move the golden numbers and the committed studies (results/).
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=gen)


class TensorBatches(BatchSource):
    """Mini-batch ``i`` of epoch ``e`` comes from a permutation seeded by ``(seed, e)``.

    Args:
        x: inputs, shape ``(N, ...)``; moved to ``device`` once (no copy if already there).
        y: targets, shape ``(N, ...)``.
        batch_size: inputs per batch; the last batch of an epoch may be smaller.
        seed: seed of the shuffles.
        device: where the batches go.
    """

    def __init__(
        self, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int, device: torch.device
    ) -> None:
        if x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise ValueError(
                f"X and y need the same non-zero length, got {x.shape[0]} and {y.shape[0]}"
            )
        self.x, self.y, self.batch_size, self.seed = x.to(device), y.to(device), batch_size, seed
        self.per_epoch = -(-x.shape[0] // batch_size)
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.int64)

    def __call__(self, step: int) -> Batch:
        epoch, i = divmod(step, self.per_epoch or 1)
        if epoch != self._epoch:
            self._epoch, self._perm = epoch, _epoch_permutation(self.x.shape[0], self.seed, epoch)
        idx = self._perm[i * self.batch_size : (i + 1) * self.batch_size].to(self.x.device)
        return self.x[idx], self.y[idx]


class DatasetBatches(BatchSource):
    """Like :class:`TensorBatches` for a sized map-style dataset: only the batch's items are
    read and collated (``torch.utils.data.default_collate``)."""

    def __init__(self, data: Dataset[Any], batch_size: int, seed: int, device: torch.device):
        n = len(data)  # type: ignore[arg-type]
        if n == 0:
            raise ValueError("the training dataset is empty")
        self.data, self.n, self.batch_size, self.seed, self.device = (
            data,
            n,
            batch_size,
            seed,
            device,
        )
        self.per_epoch = -(-n // batch_size)
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.int64)

    def __call__(self, step: int) -> Batch:
        epoch, i = divmod(step, self.per_epoch or 1)
        if epoch != self._epoch:
            self._epoch, self._perm = epoch, _epoch_permutation(self.n, self.seed, epoch)
        idx = self._perm[i * self.batch_size : (i + 1) * self.batch_size].tolist()
        return _on_device(default_collate([self.data[j] for j in idx]), self.device)


class CallableBatches(BatchSource):
    """``fn(step) -> (x, y)``: a stream that makes each batch when it is reached."""

    def __init__(self, fn: Callable[[int], Any], device: torch.device) -> None:
        self.fn, self.device = fn, device

    def __call__(self, step: int) -> Batch:
        return _on_device(self.fn(step), self.device)


class IterableBatches(BatchSource):
    """Batches in the order an iterable yields them (a ``DataLoader``, a generator).

    Steps must be asked for in order; a resumed run skips the batches it had already used, which
    reproduces the run exactly only if the iterable yields the same batches again. A re-iterable
    source (a ``DataLoader``) starts a new pass when it runs out; a one-shot iterator that runs
    out before the last step is an error.
    """

    def __init__(self, data: Iterable[Any], device: torch.device) -> None:
        self.data, self.device = data, device
        self.per_epoch = len(data) if hasattr(data, "__len__") else None  # type: ignore[arg-type]
        self._it: Iterator[Any] | None = None
        self._next = 0

    def __call__(self, step: int) -> Batch:
        if self._it is None or step < self._next:
            self._it, self._next = iter(self.data), 0
        while self._next <= step:
            batch = self._pull(step)
            self._next += 1
        return _on_device(batch, self.device)

    def _pull(self, step: int) -> Any:
        assert self._it is not None
        try:
            return next(self._it)
        except StopIteration:
            fresh = iter(self.data)
            if fresh is self._it:  # a one-shot iterator: nothing more to give
                raise ValueError(
                    f"the batch source ran out at step {step}; pass fewer steps, or a "
                    "re-iterable source such as a DataLoader"
                ) from None
            self._it = fresh
            return next(self._it)


def _on_device(batch: Any, device: torch.device) -> Batch:
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError(f"each batch must be a pair (x, y) of tensors, got {type(batch).__name__}")
    x, y = batch
    return torch.as_tensor(x).to(device), torch.as_tensor(y).to(device)


def check_data(source: BatchSource, *, classes: bool) -> None:
    """Refuse in-memory data no step could train on, before the first step.

    Inputs holding NaN or inf are refused (they would surface as a loss of NaN, which reads
    like a learning rate too high); with ``classes`` (the default cross-entropy) so are labels
    that cannot be class indices. Streams are checked batch by batch instead (:func:`fit`'s
    first step, and any non-finite loss).
    """
    if not isinstance(source, TensorBatches):
        return
    x, y = source.x, source.y
    if x.is_floating_point() and not torch.isfinite(x).all():
        bad = (~torch.isfinite(x.reshape(x.shape[0], -1))).any(dim=1).nonzero()[:, 0]
        raise ValueError(
            f"the training inputs hold NaN or inf values in {bad.numel()} of {x.shape[0]} rows "
            f"(the first: {bad[:5].tolist()}); drop those rows or clean them (torch.nan_to_num) "
            "before training"
        )
    if classes:
        _check_label_dtype(y, ndim_out=None)
        if not y.is_floating_point() and y.numel() and int(y.min()) < 0:
            raise ValueError(
                f"the labels hold {int(y.min())}: class indices start at 0 (cross-entropy, the "
                "default loss); map the labels to 0 .. C-1, or pass a loss_fn"
            )


def check_labels(y: torch.Tensor, output: torch.Tensor) -> None:
    """Labels of a batch must be class indices ``0 .. C-1`` of the model's ``C`` outputs (or
    class probabilities of the output's shape) for the default cross-entropy."""
    _check_label_dtype(y, ndim_out=output.ndim)
    if y.is_floating_point():
        if y.shape != output.shape:
            raise ValueError(
                f"float labels of shape {tuple(y.shape)} are neither class indices nor class "
                f"probabilities of the output's shape {tuple(output.shape)}; pass y.long() for "
                "class indices, or a loss_fn for other targets"
            )
        return
    n_classes = output.shape[1] if output.ndim > 1 else 1
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(
            f"the labels range over {int(y.min())} .. {int(y.max())}, but the model has "
            f"{n_classes} outputs (classes 0 .. {n_classes - 1}); give the model one output "
            "per class, or map the labels into that range"
        )


def _check_label_dtype(y: torch.Tensor, ndim_out: int | None) -> None:
    if y.dtype == torch.bool or y.is_complex():
        raise TypeError(
            f"labels of dtype {y.dtype} cannot be class indices; pass y.long() (cross-entropy, "
            "the default loss, takes class indices 0 .. C-1), or a loss_fn for other targets"
        )
    if y.is_floating_point() and (y.ndim == 1 or (ndim_out is not None and y.ndim != ndim_out)):
        raise TypeError(
            f"labels of dtype {y.dtype} with shape {tuple(y.shape)}: cross-entropy (the default "
            "loss) takes class indices of dtype torch.long; pass y.long(), or a loss_fn for "
            "regression targets"
        )
