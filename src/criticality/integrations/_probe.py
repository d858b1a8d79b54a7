"""What the framework callbacks share: measure a network on a fixed probe, flat scalars out."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from criticality._measure import measure
from criticality.integrations._scalars import scalars
from criticality.measures import get_measure

DEFAULT_MEASURES = ("lyapunov", "branching")


@dataclasses.dataclass(frozen=True)
class ProbeMeasure:
    """How a callback measures: which measures on which probe, from which stage on.

    Attributes:
        probe: probe inputs, shape ``(P, ...)`` (token ids ``(P, T)`` for language models).
        measures: registered measure names.
        options: per-measure options, e.g. ``{"lyapunov": {"k": 4}}``.
        seed: seed of every measure.
        start_after: measure the stages after this one (``"embed"`` for language models).
        prefix: put before every logged name.
    """

    probe: torch.Tensor
    measures: Sequence[str] = DEFAULT_MEASURES
    options: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    seed: int = 0
    start_after: str | None = None
    prefix: str = "criticality/"

    def __post_init__(self) -> None:
        for name in self.measures:
            get_measure(name)  # unknown names fail when the callback is made, not mid-run
        unknown = set(self.options) - set(self.measures)
        if unknown:
            raise ValueError(f"options for measures not requested: {', '.join(sorted(unknown))}")

    def __call__(self, model: nn.Module) -> dict[str, float]:
        """Measure ``model`` now (in eval mode, its flags restored); the flat scalars."""
        device = next((p.device for p in model.parameters()), self.probe.device)
        options: dict[str, Any] = {k: dict(v) for k, v in self.options.items()}
        report = measure(
            model,
            self.probe.to(device),
            measures=list(self.measures),
            seed=self.seed,
            start_after=self.start_after,
            **options,
        )
        return scalars(report.results, self.prefix)
