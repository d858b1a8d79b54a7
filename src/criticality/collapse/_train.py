"""How one generation's network is trained: :func:`criticality.training.fit` with a method."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from criticality.regularizers import CriticalityRegularizer
from criticality.training import fit


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """Training of each generation.

    Attributes:
        steps: optimizer steps per generation.
        batch_size: examples per step.
        lr: Adam's learning rate.
        method: a training method (``"plain"``, ``"critical_global"``, ``"critical_stagewise"``).
        method_options: options of the method.
    """

    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    method: str = "plain"
    method_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)


_CRITICAL = {"weight": 5.0, "sub_batch": 16, "norm": "rms"}


def train(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    spec: TrainSpec,
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    seed: int,
    checkpoint_dir: Path | None,
    stages_of: Callable[[nn.Module, torch.Tensor], tuple[list[nn.Module], torch.Tensor]]
    | None = None,
) -> None:
    """Train ``model`` on ``(inputs, targets)`` with ``spec``'s method.

    ``stages_of(model, x) -> (stages, h)`` gives the chain a criticality loss term acts on
    and its input (e.g. the stages after a language model's embedding and the embedded batch);
    default: the model's stages and ``x``.
    """
    if spec.method == "plain":
        regularizer = None
    elif spec.method in ("critical_global", "critical_stagewise"):
        options = {**_CRITICAL, **dict(spec.method_options)}
        reg = CriticalityRegularizer(
            mode="global" if spec.method == "critical_global" else "stagewise", seed=seed, **options
        )
        regularizer = _OnStages(reg, stages_of)
    else:
        raise ValueError(
            f"unknown training method {spec.method!r}; known: plain, critical_global, "
            "critical_stagewise"
        )
    fit(
        model,
        (inputs, targets),
        steps=spec.steps,
        batch_size=spec.batch_size,
        lr=spec.lr,
        loss_fn=loss_fn,
        regularizer=regularizer,
        seed=seed,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=max(spec.steps // 4, 1) if checkpoint_dir is not None else None,
        progress=False,
    )


class _OnStages(nn.Module):
    """A loss term applied to the chain ``stages_of(model, x)`` instead of ``(model, x)``."""

    def __init__(
        self,
        term: nn.Module,
        stages_of: Callable[[nn.Module, torch.Tensor], tuple[list[nn.Module], torch.Tensor]] | None,
    ) -> None:
        super().__init__()
        self.term, self.stages_of = term, stages_of

    def forward(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.stages_of is None:
            return self.term(model, x)
        chain, h = self.stages_of(model, x)
        return self.term(chain, h)
