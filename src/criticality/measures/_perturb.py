"""Shared numerics of the perturbation measures: trajectories, random directions, responses.

Used by :mod:`.branching`, :mod:`.dynamic_range`, :mod:`.avalanches` and
:mod:`.susceptibility`. Every tensor has the batch of probe inputs first, shape ``(B, ...)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from criticality.stages import compose

Response = Literal["units", "tv"]


def flat(t: torch.Tensor) -> torch.Tensor:
    """``(B, ...) -> (B, D)``."""
    return t.reshape(t.shape[0], -1)


def unit_rms(h: torch.Tensor) -> torch.Tensor:
    """Per-sample root-mean-square over units, shape ``(B,)``; 1 where the state is all zero."""
    r = flat(h).pow(2).mean(dim=1).sqrt()
    return torch.where(r > 0, r, torch.ones_like(r))


def broadcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape per-sample values ``(B,)`` so they broadcast against ``like`` ``(B, ...)``."""
    return v.reshape(-1, *([1] * (like.ndim - 1)))


def random_directions(
    lead: Sequence[int], state: Sequence[int], gen: torch.Generator, like: torch.Tensor
) -> torch.Tensor:
    """Gaussian directions of shape ``(*lead, *state)``, each with per-unit RMS exactly 1."""
    n = math.prod(lead)
    # Drawn in float64 whatever the dtype, so float32 and float64 runs see the same directions.
    u = torch.randn((n, *state), generator=gen, dtype=torch.float64, device=like.device)
    u = u / broadcast(unit_rms(u), u)
    return u.reshape(*lead, *state).to(like.dtype)


def generator(seed: int, like: torch.Tensor) -> torch.Generator:
    """A ``torch.Generator`` on ``like``'s device seeded with ``seed``."""
    return torch.Generator(device=like.device).manual_seed(seed)


def trajectory(stage_list: Sequence[nn.Module], x: torch.Tensor) -> list[torch.Tensor]:
    """States ``[h_0 = x, h_1, ..., h_L]`` of the unperturbed network (no autograd)."""
    states = [x]
    with torch.no_grad():
        for stage in stage_list:
            states.append(stage(states[-1]))
    return states


def output_response(
    y: torch.Tensor, y_pert: torch.Tensor, kind: Response, threshold: float
) -> torch.Tensor:
    """How much an output changed under a stimulus, in ``[0, 1]``, shape ``(B,)``.

    ``"units"``: the fraction of output units whose change exceeds ``threshold`` times the
    per-unit RMS of the unperturbed output of that input. ``"tv"``: the total-variation distance
    ``½ Σ_c |p_c − p'_c|`` of the softmax predictive distributions (for classifiers' logits).
    """
    if kind == "tv":
        p, q = flat(y).softmax(dim=1), flat(y_pert).softmax(dim=1)
        return 0.5 * (p - q).abs().sum(dim=1)
    change = flat(y_pert - y).abs()  # (B, D)
    return (change > threshold * unit_rms(y).unsqueeze(1)).to(y.dtype).mean(dim=1)


def perturbed_outputs(
    stage_list: Sequence[nn.Module],
    x: torch.Tensor,
    directions: torch.Tensor,
    amplitudes: torch.Tensor,
    max_batch: int = 64,
) -> torch.Tensor:
    """Outputs for inputs pushed along directions by relative amplitudes.

    Args:
        stage_list: the stages.
        x: inputs, shape ``(B, ...)``.
        directions: unit-RMS directions, shape ``(B, k, ...)``.
        amplitudes: relative stimulus sizes, shape ``(S,)``; the stimulus is
            ``S · RMS(x_b) · u``.
        max_batch: largest batch sent through the network at once (bounds memory).

    Returns:
        Outputs of shape ``(S, B, k, ...')``.
    """
    b, k = directions.shape[:2]
    scale = broadcast(unit_rms(x), x).unsqueeze(1)  # (B, 1, 1...)
    outs = []
    with torch.no_grad():
        for s in amplitudes:
            pert = (x.unsqueeze(1) + s * scale * directions).reshape(b * k, *x.shape[1:])
            y = torch.cat([compose(stage_list, chunk) for chunk in pert.split(max_batch)])
            outs.append(y.reshape(b, k, *y.shape[1:]))
    return torch.stack(outs)


def check_positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive finite number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def check_count(name: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
