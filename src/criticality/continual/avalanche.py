"""Criticality per experience inside an Avalanche strategy (optional: ``pip install
'criticality[avalanche]'``; checked with avalanche-lib 0.6.0 beside torch 2.14.1).

:class:`CriticalityPlugin` measures the strategy's model on a fixed probe batch before and after
each training experience: ``λ_1`` with the per-stage ``ln g_l`` and the branching ratio ``σ``
(any model :func:`criticality.stages` can split) and, for fully connected networks, the
plasticity metrics of :mod:`criticality.continual.metrics`. Avalanche is imported when
``CriticalityPlugin`` is first used, and nowhere else in :mod:`criticality`; the hooks
themselves live in :class:`CriticalityTracking`, which needs no Avalanche.

Example (not run in the tests unless Avalanche is installed)::

    from avalanche.training.supervised import Naive
    from criticality.continual.avalanche import CriticalityPlugin

    plugin = CriticalityPlugin(probe)  # probe: (P, ...) inputs of the model
    strategy = Naive(model=model, optimizer=opt, criterion=loss, plugins=[plugin])
    for experience in benchmark.train_stream:
        strategy.train(experience)
    plugin.records  # [{"experience": 0, "phase": "start", "lambda_1": ..., ...}, ...]
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from criticality.continual.metrics import plasticity_metrics
from criticality.continual.tracking import SnapshotSettings, criticality_snapshot
from criticality.continual.units import hidden_layers


class CriticalityTracking:
    """Record criticality (and plasticity metrics) before and after each training experience.

    The hooks of :class:`CriticalityPlugin` (an Avalanche ``SupervisedPlugin``); they read the
    strategy's ``model`` and ``experience.current_experience``.

    Args:
        probe: fixed probe inputs, shape ``(P, ...)``; moved to the model's device.
        settings: measure settings (seed, norm, branching directions).
        plasticity: also record the plasticity metrics; default: when the model is a fully
            connected network that :func:`~criticality.continual.units.hidden_layers` reads.
        every: measure at every ``every``-th experience only.

    Attributes:
        records: one dict per measurement: ``experience``, ``phase`` (``"start"`` / ``"end"``)
            and the values of
            :func:`~criticality.continual.tracking.criticality_snapshot` (and the metrics).
    """

    def __init__(
        self,
        probe: torch.Tensor,
        *,
        settings: SnapshotSettings | None = None,
        plasticity: bool | None = None,
        every: int = 1,
    ) -> None:
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be a positive number of experiences, got {every}")
        self.probe, self.settings = probe, settings or SnapshotSettings()
        self.plasticity, self.every = plasticity, every
        self.records: list[dict[str, Any]] = []

    def _measure(self, strategy: Any, phase: str) -> None:
        index = int(strategy.experience.current_experience)
        if index % self.every:
            return
        model = strategy.model
        training = model.training
        probe = self.probe.to(next(model.parameters()).device)
        try:
            record = {"experience": index, "phase": phase}
            record |= criticality_snapshot(model, probe, self.settings)
            if self.plasticity or (self.plasticity is None and _fully_connected(model)):
                record |= plasticity_metrics(model, probe).to_dict()
        finally:
            model.train(training)
        self.records.append(record)

    def before_training_exp(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        self._measure(strategy, "start")

    def after_training_exp(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        self._measure(strategy, "end")


def _fully_connected(model: torch.nn.Module) -> bool:
    try:
        return bool(hidden_layers(model))
    except TypeError:
        return False


@functools.cache
def _plugin_class() -> type:
    try:
        from avalanche.training.plugins import SupervisedPlugin
    except ImportError as err:
        raise ImportError(
            "CriticalityPlugin needs Avalanche: pip install 'criticality[avalanche]'"
        ) from err

    class CriticalityPlugin(CriticalityTracking, SupervisedPlugin):
        __doc__ = CriticalityTracking.__doc__

    return CriticalityPlugin


def __getattr__(name: str) -> Any:
    if name == "CriticalityPlugin":  # built on first use, so importing needs no Avalanche
        return _plugin_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
