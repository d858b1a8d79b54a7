"""Callbacks of :func:`criticality.training.fit`, and the one that watches criticality.

A callback sees a :class:`TrainState` after each optimizer step. Its ``records()`` end up in
``FitResult.logs[callback.name]``; ``state_dict()`` / ``load_state_dict()`` make it resumable.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from criticality import measures as _measures  # noqa: F401  (registers the measures)
from criticality.measures import get_measure, run_measure
from criticality.stages import stages

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainState:
    """What a callback sees (mutable: it is the loop's live state).

    Attributes:
        model: the model being trained.
        optimizer: its optimizer.
        step: optimizer steps done so far.
        total_steps: steps the run will have done at its end.
        loss: task loss of the last step.
        penalty: regularizer penalty of the last step (0 without one).
        device: where the model lives.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    step: int
    total_steps: int
    loss: float = float("nan")
    penalty: float = 0.0
    device: torch.device = dataclasses.field(default_factory=lambda: torch.device("cpu"))


class Callback:
    """Base: hooks that do nothing; subclasses override what they need."""

    name = "callback"

    def on_fit_start(self, state: TrainState) -> None:
        """Called once before the first step of this call (after a resume, too)."""

    def on_step_end(self, state: TrainState) -> None:
        """Called after each optimizer step; ``state.step`` counts the step just done."""

    def on_fit_end(self, state: TrainState) -> None:
        """Called once after the last step."""

    def records(self) -> list[dict[str, Any]]:
        """What the callback recorded, as JSON-ready dicts."""
        return []

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class CriticalityMonitor(Callback):
    """Measure criticality on a fixed probe set every ``every`` steps; record the trajectory.

    Each record is ``{"step": s, NAME: headline mean, NAME + "_ci": [low, high], ...}`` for each
    measure ``NAME`` (``"lyapunov"``: ``λ_1``; any measure registered in
    :mod:`criticality.measures`). Steps 0 and the last step are always measured.

    Args:
        probe: probe inputs, shape ``(P, ...)``; the same ones every time.
        every: measure after every ``every``-th step.
        measures: registered measure names.
        options: extra keyword arguments per measure, e.g. ``{"lyapunov": {"norm": "rms"}}``.
        seed: seed passed to every measure.
        taps: stage taps for models without an adapter (see :func:`criticality.stages`).
    """

    name = "criticality"

    def __init__(
        self,
        probe: torch.Tensor,
        *,
        every: int = 100,
        measures: Sequence[str] = ("lyapunov",),
        options: Mapping[str, Mapping[str, Any]] | None = None,
        seed: int = 0,
        taps: Sequence[str] | None = None,
    ) -> None:
        if every < 1:
            raise ValueError(f"every must be a positive number of steps, got {every}")
        for measure in measures:
            get_measure(measure)  # raises with the known names
        self.probe, self.every, self.measures = probe, every, tuple(measures)
        self.options = {k: dict(v) for k, v in (options or {}).items()}
        self.seed, self.taps = seed, taps
        self.trajectory: list[dict[str, Any]] = []

    def measure(self, model: nn.Module, step: int, device: torch.device) -> dict[str, Any]:
        """Measure now and append the record."""
        stage_list = stages(model, self.taps)
        record: dict[str, Any] = {"step": step}
        probe = self.probe.to(device)
        for name in self.measures:
            result = run_measure(
                name, stage_list, probe, seed=self.seed, **self.options.get(name, {})
            )
            head = result.headline()
            record[name], record[f"{name}_ci"] = head.mean, [head.ci_low, head.ci_high]
        self.trajectory.append(record)
        logger.info("step %d: %s", step, {k: v for k, v in record.items() if k in self.measures})
        return record

    def _due(self, step: int) -> bool:
        return not self.trajectory or self.trajectory[-1]["step"] != step

    def on_fit_start(self, state: TrainState) -> None:
        if not self.trajectory:
            self.measure(state.model, state.step, state.device)

    def on_step_end(self, state: TrainState) -> None:
        if state.step % self.every == 0 and self._due(state.step):
            self.measure(state.model, state.step, state.device)

    def on_fit_end(self, state: TrainState) -> None:
        if self._due(state.step):
            self.measure(state.model, state.step, state.device)

    def records(self) -> list[dict[str, Any]]:
        return list(self.trajectory)

    def state_dict(self) -> dict[str, Any]:
        return {"trajectory": list(self.trajectory)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.trajectory = list(state["trajectory"])
