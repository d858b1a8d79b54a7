"""A plain PyTorch training loop with a regularizer, callbacks, checkpoints and resume.

``fit`` trains for a fixed number of optimizer steps. Batches are drawn by step number from a
permutation seeded per epoch, and checkpoints hold the model, optimizer, regularizer, RNG states
and the loss history, so a run interrupted and resumed from its last checkpoint continues exactly
as if it had not stopped (bit for bit on the CPU).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from criticality.training import _checkpoint
from criticality.training._data import Batches, TrainData, as_tensors
from criticality.training.callbacks import Callback, TrainState

logger = logging.getLogger(__name__)

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
Regularizer = Callable[[nn.Module, torch.Tensor], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What a training run did.

    Attributes:
        steps: optimizer steps done in total (before and after any resume).
        loss: task loss of every step, shape ``(steps,)``.
        penalty: regularizer penalty of every step, shape ``(steps,)`` (zeros without one).
        resumed_from: the step the run resumed from (0 for a fresh run).
        seconds: wall time of this call.
        logs: records of each callback by its ``name`` (e.g. the criticality trajectory).
    """

    steps: int
    loss: np.ndarray
    penalty: np.ndarray
    resumed_from: int
    seconds: float
    logs: dict[str, list[dict[str, Any]]]

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["loss"], out["penalty"] = self.loss.tolist(), self.penalty.tolist()
        return out


def make_optimizer(
    params: Iterable[nn.Parameter],
    optimizer: str | OptimizerFactory,
    lr: float,
    weight_decay: float,
) -> torch.optim.Optimizer:
    """``"adam"`` (Adam), ``"adamw"``, ``"sgd"`` (momentum 0.9) or a factory ``params -> opt``."""
    if callable(optimizer):
        return optimizer(params)
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be 'adam', 'adamw', 'sgd' or a factory, got {optimizer!r}")


def total_steps(steps: int | None, epochs: float | None, per_epoch: int) -> int:
    """Steps of a run given either ``steps`` or ``epochs`` (not both)."""
    if (steps is None) == (epochs is None):
        raise ValueError("pass exactly one of steps= or epochs=")
    n = steps if steps is not None else round(float(epochs or 0) * per_epoch)
    if n < 0:
        raise ValueError(f"the number of steps must be >= 0, got {n}")
    return n


def fit(
    model: nn.Module,
    train_data: TrainData,
    *,
    steps: int | None = None,
    epochs: float | None = None,
    batch_size: int = 64,
    lr: float = 1e-3,
    optimizer: str | OptimizerFactory = "adam",
    weight_decay: float = 0.0,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    regularizer: Regularizer | None = None,
    callbacks: Sequence[Callback] = (),
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> FitResult:
    """Train ``model`` for a fixed number of steps; resume from ``checkpoint_dir`` if it holds one.

    Each step: ``loss = loss_fn(model(x), y) + regularizer(model, x)``, backward, optimizer
    step. The model is in ``train()`` mode while stepping.

    Args:
        model: the network; trained in place (moved to ``device``).
        train_data: ``(X, y)`` tensors, a ``TensorDataset`` or a sized map-style dataset.
        steps: optimizer steps in total; or ``epochs`` (passes over the data, may be fractional).
        epochs: see ``steps``.
        batch_size: inputs per step.
        lr: learning rate of the named optimizers.
        optimizer: ``"adam"``, ``"adamw"``, ``"sgd"`` or a factory ``params -> Optimizer``.
        weight_decay: L2 weight decay of the named optimizers.
        loss_fn: ``(outputs, targets) -> scalar``; default cross-entropy.
        regularizer: ``(model, x) -> scalar`` added to the loss, e.g. a
            :class:`~criticality.regularizers.CriticalityRegularizer`; saved in checkpoints when
            it is an ``nn.Module``.
        callbacks: :class:`~criticality.training.callbacks.Callback` objects.
        checkpoint_dir: save ``last.pt`` here every ``checkpoint_every`` steps and at the end,
            and resume from it when it exists.
        checkpoint_every: steps between checkpoints (default: only at the end).
        seed: seeds the batch order and torch's global generator (dropout) of a fresh run.
        device: ``"cpu"``, ``"cuda"``...; default: where the model's parameters are.
        progress: show a progress bar; default only when stderr is a terminal.

    Returns:
        A :class:`FitResult`.
    """
    dev = torch.device(device) if device is not None else _model_device(model)
    model.to(dev)
    x, y = as_tensors(train_data)
    batches = Batches(x.to(dev), y.to(dev), batch_size, seed)  # moved once, not per step
    n_steps = total_steps(steps, epochs, batches.per_epoch)
    opt = make_optimizer(model.parameters(), optimizer, lr, weight_decay)
    loss_fn = loss_fn or nn.functional.cross_entropy
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    losses, penalties, start = _start(ckpt_dir, model, opt, regularizer, callbacks, seed)
    state = TrainState(model, opt, start, n_steps, device=dev)
    began = time.perf_counter()
    for cb in callbacks:
        cb.on_fit_start(state)
    with _progress_bar(progress, n_steps, start) as bar:
        while state.step < n_steps:
            xb, yb = batches(state.step)
            state.loss, state.penalty = _step(model, opt, loss_fn, regularizer, xb, yb, state.step)
            losses.append(state.loss)
            penalties.append(state.penalty)
            state.step += 1
            for cb in callbacks:
                cb.on_step_end(state)
            bar.update(1)
            if ckpt_dir is not None and checkpoint_every and state.step % checkpoint_every == 0:
                _save(ckpt_dir, state, regularizer, callbacks, losses, penalties)
    for cb in callbacks:
        cb.on_fit_end(state)
    if ckpt_dir is not None:
        _save(ckpt_dir, state, regularizer, callbacks, losses, penalties)
    return FitResult(
        steps=state.step,
        loss=np.asarray(losses, dtype=np.float64),
        penalty=np.asarray(penalties, dtype=np.float64),
        resumed_from=start,
        seconds=time.perf_counter() - began,
        logs={cb.name: cb.records() for cb in callbacks},
    )


def _step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    regularizer: Regularizer | None,
    x: torch.Tensor,
    y: torch.Tensor,
    step: int,
) -> tuple[float, float]:
    """One optimizer step; returns the task loss and the penalty."""
    model.train()
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    penalty = regularizer(model, x) if regularizer is not None else loss.new_zeros(())
    total = loss + penalty
    if not torch.isfinite(total):
        raise FloatingPointError(
            f"the loss became {total.item()} at step {step}; lower the learning rate or the "
            f"regularizer's weight"
        )
    total.backward()
    opt.step()
    return loss.item(), penalty.item()


def _start(
    ckpt_dir: Path | None,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    regularizer: Regularizer | None,
    callbacks: Sequence[Callback],
    seed: int,
) -> tuple[list[float], list[float], int]:
    """Load the last checkpoint into the run's objects, or seed a fresh run."""
    ckpt = _checkpoint.load(ckpt_dir)
    if ckpt is None:
        torch.manual_seed(seed)
        return [], [], 0
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    if isinstance(regularizer, nn.Module) and ckpt["regularizer"] is not None:
        regularizer.load_state_dict(ckpt["regularizer"])
    for cb in callbacks:
        cb.load_state_dict(ckpt["callbacks"].get(cb.name, cb.state_dict()))
    _checkpoint.set_rng_state(ckpt["rng"])
    logger.info("resuming from step %d (%s)", ckpt["step"], ckpt_dir)
    return list(ckpt["loss"]), list(ckpt["penalty"]), int(ckpt["step"])


def _save(
    ckpt_dir: Path,
    state: TrainState,
    regularizer: Regularizer | None,
    callbacks: Sequence[Callback],
    losses: list[float],
    penalties: list[float],
) -> None:
    payload = {
        "step": state.step,
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "regularizer": regularizer.state_dict() if isinstance(regularizer, nn.Module) else None,
        "callbacks": {cb.name: cb.state_dict() for cb in callbacks},
        "rng": _checkpoint.rng_state(),
        "loss": list(losses),
        "penalty": list(penalties),
    }
    path = _checkpoint.save(ckpt_dir, payload)
    logger.info("checkpoint at step %d: %s", state.step, path)


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _progress_bar(progress: bool | None, total: int, initial: int) -> Any:
    from tqdm.auto import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    return tqdm(total=total, initial=initial, disable=not show, desc="fit", unit="step")
