"""How one generation's network is trained: :func:`criticality.training.fit` with any method of
the training-method registry (:mod:`criticality.training.methods`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from criticality.training import fit
from criticality.training.callbacks import Callback, TrainState
from criticality.training.methods import build_method

#: ``(model, x) -> (stages, h)``: the chain a loss term acts on and its input.
StagesOf = Callable[[nn.Module, torch.Tensor], tuple[list[nn.Module], torch.Tensor]]


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """Training of each generation.

    Attributes:
        steps: optimizer steps per generation (unless ``epochs`` is given).
        batch_size: examples per step.
        lr: Adam's learning rate (a method may set its own optimizer).
        method: a registered training method (``criticality.training.methods.list_methods()``).
        method_options: options of that method (each must be one of its options).
        shared: settings offered to every method; a method takes those it declares
            (e.g. ``sub_batch``).
        epochs: passes over each generation's pool instead of a fixed number of steps
            (``ceil(epochs · M / batch_size)`` steps for a pool of ``M``): the Koyejo lab's
            schedule, one epoch over the growing pool under accumulate
            (``KoyejoLab-Collapse-or-Thrive/src/globals.py``, ``"num_train_epochs": 1``), so
            that later data are seen as often as earlier ones. ``None``: ``steps``.
    """

    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    method: str = "plain"
    method_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    shared: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    epochs: float | None = None

    def __post_init__(self) -> None:
        if self.epochs is not None and not (math.isfinite(self.epochs) and self.epochs > 0):
            raise ValueError(f"epochs must be a positive number or None, got {self.epochs}")

    def steps_for(self, pool_size: int) -> int:
        """Optimizer steps of a generation whose pool holds ``pool_size`` examples."""
        if self.epochs is None:
            return self.steps
        return max(1, math.ceil(self.epochs * pool_size / self.batch_size))


def train(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    spec: TrainSpec,
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    seed: int,
    checkpoint_dir: Path | None,
    stages_of: StagesOf | None = None,
    callbacks: Sequence[Callback] = (),
) -> None:
    """Train ``model`` on ``(inputs, targets)`` with ``spec``'s method, resumable.

    Args:
        model: the network, trained in place.
        inputs: training inputs ``(M, ...)``.
        targets: training targets ``(M, ...)``.
        spec: steps, batch size, learning rate and method.
        loss_fn: ``(model output, targets) -> scalar``.
        seed: seeds the batch order and the method's randomness.
        checkpoint_dir: resume from / checkpoint into this folder (four times per generation).
        stages_of: for models whose inputs are no space to perturb (token ids): the chain each
            of the method's loss terms acts on, and its input (e.g. the stages after a language
            model's embedding and the embedded batch, gradients flowing into the embedding).
        callbacks: extra callbacks of the fit (e.g. :class:`BestOnValidation`).
    """
    _fit(model, (inputs, targets), spec.steps_for(len(inputs)), spec, loss_fn=loss_fn, seed=seed,
         checkpoint_dir=checkpoint_dir, stages_of=stages_of, callbacks=callbacks)  # fmt: skip


def train_stream(
    model: nn.Module,
    step: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
    spec: TrainSpec,
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    seed: int,
    checkpoint_dir: Path | None,
) -> None:
    """As :func:`train`, on a fresh batch ``step(i) -> (x, y)`` at every step (``spec.steps``
    steps; ``spec.epochs`` has no pool to count and must be ``None``)."""
    if spec.epochs is not None:
        raise ValueError("a sample stream has no pool to take epochs over: give steps")
    _fit(model, step, spec.steps, spec, loss_fn=loss_fn, seed=seed,
         checkpoint_dir=checkpoint_dir, stages_of=None, callbacks=())  # fmt: skip


def _fit(
    model: nn.Module,
    data: Any,
    steps: int,
    spec: TrainSpec,
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    seed: int,
    checkpoint_dir: Path | None,
    stages_of: StagesOf | None,
    callbacks: Sequence[Callback],
) -> None:
    parts = build_method(
        spec.method, model, seed=seed, shared=spec.shared, **dict(spec.method_options)
    )
    if stages_of is not None:
        parts = dataclasses.replace(
            parts, loss_terms=tuple(_OnStages(t, stages_of) for t in parts.loss_terms)
        )
    fit(
        model,
        data,
        steps=steps,
        batch_size=spec.batch_size,
        lr=spec.lr,
        loss_fn=loss_fn,
        method=parts,
        seed=seed,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=max(steps // 4, 1) if checkpoint_dir is not None else None,
        progress=False,
        callbacks=callbacks,
    )


class BestOnValidation(Callback):
    """Keep the weights with the lowest next-token loss on real validation windows.

    Checked every ``every`` steps and after the last one; at the end of the fit the best
    weights are put back (Lightning's ``ModelCheckpoint(monitor="val_loss", mode="min",
    save_top_k=1)`` in the reference, ``curse_recurse/main.py`` lines 231–238). Resumable: the
    best weights travel in the fit's checkpoints.

    Args:
        windows: real validation token ids ``(M, T + 1)``.
        every: steps between checks.
    """

    name = "best_on_validation"

    def __init__(self, windows: torch.Tensor, *, every: int) -> None:
        if every < 1:
            raise ValueError(f"every must be a positive number of steps, got {every}")
        self.windows, self.every = windows, every
        self.best = float("inf")
        self.best_state: dict[str, torch.Tensor] | None = None
        self.history: list[dict[str, float]] = []

    def _check(self, state: TrainState) -> None:
        from criticality.collapse.charlm import window_nll

        loss = float(window_nll(state.model, self.windows.to(state.device)).mean())
        self.history.append({"step": float(state.step), "val_loss": loss})
        if loss < self.best:
            self.best = loss
            self.best_state = {k: v.detach().clone() for k, v in state.model.state_dict().items()}

    def on_step_end(self, state: TrainState) -> None:
        if state.task_step % self.every == 0 and state.step < state.total_steps:
            self._check(state)

    def on_fit_end(self, state: TrainState) -> None:
        self._check(state)
        assert self.best_state is not None
        state.model.load_state_dict(self.best_state)

    def records(self) -> list[dict[str, Any]]:
        return list(self.history)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_state": self.best_state, "history": self.history}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best = float(state["best"])
        self.best_state = state["best_state"]
        self.history = list(state["history"])


class _OnStages(nn.Module):
    """A loss term applied to the chain ``stages_of(model, x)`` instead of ``(model, x)``."""

    def __init__(self, term: Callable[..., torch.Tensor], stages_of: StagesOf) -> None:
        super().__init__()
        self.stages_of = stages_of
        # Registered as a child when it is a module, so that its state (e.g. the regularizer's
        # call count) is saved in checkpoints with this wrapper's.
        self.term = term

    def forward(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        chain, h = self.stages_of(model, x)
        return self.term(chain, h)
