"""How one generation's network is trained: :func:`criticality.training.fit` with any method of
the training-method registry (:mod:`criticality.training.methods`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from criticality.training import fit
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
    """
    parts = build_method(
        spec.method, model, seed=seed, shared=spec.shared, **dict(spec.method_options)
    )
    if stages_of is not None:
        parts = dataclasses.replace(
            parts, loss_terms=tuple(_OnStages(t, stages_of) for t in parts.loss_terms)
        )
    steps = spec.steps_for(len(inputs))
    fit(
        model,
        (inputs, targets),
        steps=steps,
        batch_size=spec.batch_size,
        lr=spec.lr,
        loss_fn=loss_fn,
        method=parts,
        seed=seed,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=max(steps // 4, 1) if checkpoint_dir is not None else None,
        progress=False,
    )


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
