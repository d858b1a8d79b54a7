"""Callbacks of :func:`criticality.training.fit`, and the one that watches criticality.

A callback sees a :class:`TrainState` after each optimizer step. Its ``records()`` end up in
``FitResult.logs[callback.name]``; ``state_dict()`` / ``load_state_dict()`` make it resumable.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

# importing the package registers every measure
from criticality.measures import get_measure, run_measure
from criticality.stages import stages

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainState:
    """What a callback sees (mutable: it is the loop's live state), and what carries a run from
    one call of :func:`~criticality.training.fit` (one task) to the next.

    Attributes:
        model: the model being trained.
        optimizer: its optimizer (its ``state`` holds per-parameter moments a method may reset).
        step: optimizer steps done so far in the whole run (across tasks).
        total_steps: the value ``step`` will have at the end of this call.
        task: index of the task (call of ``fit``) being trained, from 0.
        task_step: steps done so far in this call.
        loss: task loss of the last step.
        penalty: sum of the method's loss terms at the last step (0 without any).
        device: where the model lives.
        batch: the last step's ``(x, y)``.
        output: the model's output on ``batch`` before the last update (detached): predictions
            made before the example was learned, as online accuracy needs.
        method: the training method's name (``"custom"`` for parts built by the caller).
        loss_terms: the method's loss terms (carried to the next task).
        method_callbacks: the method's callbacks (carried to the next task).
        settings: the run's settings a checkpoint must match to be resumed (method, options,
            optimizer, batch size, seed, parameter shapes).
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    step: int
    total_steps: int
    task: int = 0
    task_step: int = 0
    loss: float = float("nan")
    penalty: float = 0.0
    device: torch.device = dataclasses.field(default_factory=lambda: torch.device("cpu"))
    batch: tuple[torch.Tensor, torch.Tensor] | None = None
    output: torch.Tensor | None = None
    method: str = "plain"
    loss_terms: tuple[Any, ...] = ()
    method_callbacks: tuple[Callback, ...] = ()
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)


class Callback:
    """Base: hooks that do nothing; subclasses override what they need."""

    name = "callback"

    def on_fit_start(self, state: TrainState) -> None:
        """Called once before the first step of each call of ``fit`` (each task; after a
        resume, too)."""

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


class MeasurementSink(Protocol):
    """Where a :class:`CriticalityMonitor` sends each measurement as it is made (TensorBoard,
    a metrics logger): handed in from outside, so that training imports no integration."""

    def write(self, results: Mapping[str, Any], step: int) -> None:
        """Record one measurement (measure name -> result) at ``step``."""

    def close(self) -> None:
        """Flush and release what the sink holds (called at the end of ``fit``)."""


class CriticalityMonitor(Callback):
    """Measure criticality on a fixed probe set every ``every`` steps; record the trajectory.

    Each record is ``{"step": s, "task": t, NAME: headline mean, NAME + "_ci": [low, high], ...}``
    for each measure ``NAME`` (``"lyapunov"``: ``λ_1``; any measure registered in
    :mod:`criticality.measures`); ``step`` counts steps across tasks. The start and the end of
    every call of ``fit`` (every task boundary) are always measured.

    Args:
        probe: probe inputs, shape ``(P, ...)``; the same ones every time.
        every: measure after every ``every``-th step.
        measures: registered measure names.
        options: extra keyword arguments per measure, e.g. ``{"lyapunov": {"norm": "rms"}}``.
        seed: seed passed to every measure.
        taps: stage taps for models without an adapter (see :func:`criticality.stages`).
        sinks: where every measurement also goes, as it is made: objects with
            ``write(results, step)`` (``results``: measure name -> result) and ``close()``,
            e.g. ``TensorBoardSink("runs/tb")`` of :mod:`criticality.integrations.tensorboard`
            (scalars ``criticality/lambda_1``, ``criticality/ln_g/STAGE``, ... and spectrum
            histograms). Closed at the end of ``fit``.
        tensorboard: one more sink (the older name of the TensorBoard one); a folder is
            refused with the line to write instead.
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
        sinks: Sequence[MeasurementSink] = (),
        tensorboard: MeasurementSink | None = None,
    ) -> None:
        if every < 1:
            raise ValueError(f"every must be a positive number of steps, got {every}")
        for measure in measures:
            get_measure(measure)  # raises with the known names
        self.probe, self.every, self.measures = probe, every, tuple(measures)
        self.options = {k: dict(v) for k, v in (options or {}).items()}
        self.seed, self.taps = seed, taps
        self.trajectory: list[dict[str, Any]] = []
        if isinstance(tensorboard, (str, Path)):
            sink = f"TensorBoardSink({str(tensorboard)!r})"
            raise TypeError(
                "CriticalityMonitor takes a sink, not a folder: from criticality.integrations."
                f"tensorboard import TensorBoardSink; CriticalityMonitor(..., sinks=[{sink}])"
            )
        self.sinks = [*sinks, *([tensorboard] if tensorboard is not None else [])]
        for sink in self.sinks:
            if not callable(getattr(sink, "write", None)):
                raise TypeError(f"a sink needs write(results, step), got {type(sink).__name__}")

    def measure(
        self, model: nn.Module, step: int, device: torch.device, task: int = 0
    ) -> dict[str, Any]:
        """Measure now and append the record."""
        stage_list = stages(model, self.taps)
        record: dict[str, Any] = {"step": step, "task": task}
        probe = self.probe.to(device)
        results = {}
        for name in self.measures:
            result = run_measure(
                name, stage_list, probe, seed=self.seed, **self.options.get(name, {})
            )
            head = result.headline()
            record[name], record[f"{name}_ci"] = head.mean, [head.ci_low, head.ci_high]
            results[name] = result
        self.trajectory.append(record)
        for sink in self.sinks:
            sink.write(results, step)
        logger.info("step %d: %s", step, {k: v for k, v in record.items() if k in self.measures})
        return record

    def _due(self, step: int) -> bool:
        return not self.trajectory or self.trajectory[-1]["step"] != step

    def on_fit_start(self, state: TrainState) -> None:
        if state.task_step == 0 and self._due(state.step):  # a task's start, not a resume
            self.measure(state.model, state.step, state.device, state.task)

    def on_step_end(self, state: TrainState) -> None:
        if state.step % self.every == 0 and self._due(state.step):
            self.measure(state.model, state.step, state.device, state.task)

    def on_fit_end(self, state: TrainState) -> None:
        if self._due(state.step):
            self.measure(state.model, state.step, state.device, state.task)
        for sink in self.sinks:
            close = getattr(sink, "close", None)
            if callable(close):
                close()

    def records(self) -> list[dict[str, Any]]:
        return list(self.trajectory)

    def state_dict(self) -> dict[str, Any]:
        return {"trajectory": list(self.trajectory)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.trajectory = list(state["trajectory"])
