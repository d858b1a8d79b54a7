"""Measuring a model whose classifier head starts at zero.

torchvision starts a ViT's head at zero, so at random initialisation the head maps every
perturbation to zero (``ln g = −inf``) and no measure has a finite value through it
(:class:`~criticality.measures.DegenerateStageError`). The experiments that measure such models
(the architectures part, the zoo scan) measure the stages before the head instead, and the
report's model name says so.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from criticality.report import CriticalityReport

log = logging.getLogger(__name__)


def body_name(name: str) -> str:
    """The name of a model measured without its head."""
    return f"{name} (body; its zero-initialised head left out)"


def measure_or_body(
    model: nn.Module, x: torch.Tensor, *, name: str, **kwargs: Any
) -> CriticalityReport:
    """``measure(model, x, name=name, **kwargs)``; where a stage annihilates every perturbation,
    the stages before the last one, named :func:`body_name` (a degenerate stage inside the body
    still raises)."""
    from criticality import measure
    from criticality.measures import DegenerateStageError
    from criticality.stages import stages

    try:
        return measure(model, x, name=name, **kwargs)
    except DegenerateStageError as err:
        log.warning("%s: %s; measuring the stages before its head", name, err)
        return measure(stages(model)[:-1], x, name=body_name(name), **kwargs)
