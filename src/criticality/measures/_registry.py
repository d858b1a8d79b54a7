"""The measure registry: each measure file registers itself with one decorator call."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from criticality._registry import Registry
from criticality.measures.results import Result

#: A measure's runner: ``(stages, inputs, **options) -> Result``.
Runner = Callable[..., Result]


@dataclasses.dataclass(frozen=True)
class MeasureSpec:
    """What the registry knows about one measure.

    Attributes:
        name: registry key, e.g. ``"lyapunov"``.
        run: ``run(stages, inputs, *, seed, **options) -> Result``.
        result_type: the frozen dataclass ``run`` returns (used to decode JSON).
        critical_value: the value the headline number takes at criticality.
        summary: one line on what the measure is.
    """

    name: str
    run: Runner
    result_type: type[Result]
    critical_value: float
    summary: str


_REGISTRY = Registry[MeasureSpec]("measure")


def register_measure(
    name: str, *, result_type: type[Result], critical_value: float, summary: str
) -> Callable[[Runner], Runner]:
    """Register ``run`` under ``name`` (decorator). Adding a measure is this one line."""

    def wrap(run: Runner) -> Runner:
        _REGISTRY.add(name, MeasureSpec(name, run, result_type, critical_value, summary))
        return run

    return wrap


def get_measure(name: str) -> MeasureSpec:
    """The spec registered under ``name``; a ``ValueError`` lists the known ones otherwise."""
    return _REGISTRY.get(name)


def list_measures() -> list[str]:
    """Names of all registered measures, sorted."""
    return _REGISTRY.names()


def run_measure(
    name: str,
    model_or_stages: nn.Module | Sequence[nn.Module],
    inputs: torch.Tensor,
    **options: Any,
) -> Result:
    """Run the measure ``name`` on a model or stage list and ``inputs`` (shape ``(B, ...)``)."""
    return get_measure(name).run(model_or_stages, inputs, **options)
