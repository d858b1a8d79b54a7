"""Plasticity metrics of Dohare et al. (2024), ReDo's τ-dormant fraction, and forgetting.

All representation metrics are computed on a fixed probe batch, from the hidden layers'
activations ``h`` of shape ``(P, units)`` (``P`` probe inputs):

* **dead** unit: zero output on every probe input (``h = 0`` for all ``P``);
* **dormant** unit: active (``h ≠ 0``) on fewer than ``dormant_below`` (1 %) of the probes;
* **τ-dormant** (Sokar et al. 2023, ReDo): score ``s_i = E|h_i| / ((1/H) Σ_k E|h_k|) ≤ τ``;
* **effective rank** (Roy & Vetterli 2007): ``exp(−Σ_k p_k ln p_k)`` with ``p_k = σ_k / Σ σ``
  the normalised singular values of ``h``;
* **99 % rank**: the fewest singular values whose squares hold 99 % of ``Σ σ²`` (Dohare et
  al.'s "approximate rank", after Yang et al. 2020);
* **weight magnitude**: mean ``|w|`` over all weights (not biases) of the ``Linear`` layers.

Dead and dormant units are defined for activations with an exact zero (the ReLU family); a tanh
network has none by construction. For class-incremental streams, :func:`forgetting` and
:func:`backward_transfer` read the accuracy matrix ``R[i, j]`` (accuracy on task ``j`` after
training task ``i``; Lopez-Paz & Ranzato 2017, Chaudhry et al. 2018).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from criticality.continual.networks import EnsembleLinear
from criticality.continual.units import activations


@dataclasses.dataclass(frozen=True)
class PlasticityMetrics:
    """Plasticity metrics of one network on a probe batch.

    Attributes:
        dead: fraction of all hidden units that are dead, in [0, 1].
        dormant: fraction of all hidden units active on fewer than ``dormant_below`` probes.
        tau_dormant: fraction of all hidden units that are τ-dormant (ReDo).
        effective_rank: mean over hidden layers of the effective rank.
        rank99: mean over hidden layers of the 99 % rank.
        weight_magnitude: mean absolute weight.
        layer_dead: dead fraction per hidden layer, ``L`` entries.
        layer_effective_rank: effective rank per hidden layer, ``L`` entries.
        layer_rank99: 99 % rank per hidden layer, ``L`` entries.
        units: units per hidden layer, ``L`` entries.
        dead_percent: Dohare et al.'s unit for dead units: % of all hidden units
            (``100 · dead``; their ``all_metrics.py`` divides the dead count by ``3 · width``).
        effective_rank_percent: their unit for the effective rank: the sum over hidden layers
            of the effective rank as % of all hidden units (``100 Σ_l erank_l / Σ_l units_l``;
            with equal widths, the mean over layers of the rank as % of the width).
    """

    dead: float
    dormant: float
    tau_dormant: float
    effective_rank: float
    rank99: float
    weight_magnitude: float
    layer_dead: tuple[float, ...]
    layer_effective_rank: tuple[float, ...]
    layer_rank99: tuple[int, ...]
    units: tuple[int, ...]
    dead_percent: float = math.nan
    effective_rank_percent: float = math.nan

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def singular_values(h: torch.Tensor) -> torch.Tensor:
    """Singular values of a representation matrix ``(P, units)``, descending, in float64."""
    return torch.linalg.svdvals(h.detach().to(torch.float64).cpu())


def effective_rank(h: torch.Tensor) -> float:
    """Roy & Vetterli's effective rank ``exp(H(p))`` of a matrix ``(P, units)``.

    ``p_k = σ_k / Σ_j σ_j``; ``0 ln 0 = 0``. Equals ``r`` for a matrix with ``r`` equal non-zero
    singular values; 0 for the zero matrix (no direction at all).
    """
    sv = singular_values(h)
    total = float(sv.sum())
    if total == 0.0:
        return 0.0
    p = sv / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def approximate_rank(h: torch.Tensor, fraction: float = 0.99) -> int:
    """Fewest singular values whose squares hold ``fraction`` of ``Σ σ²`` (0 for a zero matrix)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    sq = singular_values(h) ** 2
    total = float(sq.sum())
    if total == 0.0:
        return 0
    cumulative = torch.cumsum(sq, 0) / total
    # the tolerance keeps an exact split (e.g. 99 of 100 equal values) from rounding upward
    return int((cumulative < fraction - 1e-12).sum()) + 1


def dead_units(h: torch.Tensor) -> torch.Tensor:
    """Boolean ``(units,)``: the units with zero output on every probe (rows of ``h``)."""
    return (h != 0).sum(dim=0) == 0


def dormant_units(h: torch.Tensor, below: float = 0.01) -> torch.Tensor:
    """Boolean ``(units,)``: units active (non-zero) on fewer than ``below`` of the probes."""
    return (h != 0).float().mean(dim=0) < below


def dormancy_scores(mean_abs: torch.Tensor) -> torch.Tensor:
    """ReDo's score per unit from mean absolute activations ``(..., units)``: each divided by
    its layer's mean, ``E|h_i| / ((1/H) Σ_k E|h_k|)``. A silent layer scores 0 everywhere
    (every unit τ-dormant)."""
    layer = mean_abs.mean(dim=-1, keepdim=True)
    return torch.where(layer > 0, mean_abs / layer.clamp_min(1e-30), torch.zeros_like(mean_abs))


def tau_dormant_scores(h: torch.Tensor) -> torch.Tensor:
    """ReDo's score per unit on activations ``h`` of shape ``(..., P, units)`` (mean over ``P``),
    shape ``(..., units)``; see :func:`dormancy_scores`."""
    return dormancy_scores(h.abs().mean(dim=-2))


def weight_magnitude(model: nn.Module) -> float:
    """Mean ``|w|`` over the weights (not biases) of every ``Linear`` layer."""
    total, count = 0.0, 0
    for m in model.modules():
        if isinstance(m, (nn.Linear, EnsembleLinear)):
            total += float(m.weight.detach().abs().sum())
            count += m.weight.numel()
    return total / count if count else math.nan


def plasticity_metrics(
    model: nn.Module, probe: torch.Tensor, *, dormant_below: float = 0.01, tau: float = 0.1
) -> PlasticityMetrics:
    """All representation metrics of an ordinary network on ``probe`` (shape ``(P, D)``).

    For an ensemble, take one member first with
    :func:`~criticality.continual.networks.member`.
    """
    acts = activations(model, probe)
    if not acts:
        raise ValueError("the network has no hidden layer to measure")
    if acts[0].ndim != 2:
        raise ValueError("plasticity_metrics needs an ordinary network: pass member(model, s)")
    units = tuple(int(h.shape[1]) for h in acts)
    n = sum(units)
    dead = [dead_units(h) for h in acts]
    ranks = [effective_rank(h) for h in acts]
    r99 = [approximate_rank(h) for h in acts]
    return PlasticityMetrics(
        dead=sum(int(d.sum()) for d in dead) / n,
        dormant=sum(int(dormant_units(h, dormant_below).sum()) for h in acts) / n,
        tau_dormant=sum(int((tau_dormant_scores(h) <= tau).sum()) for h in acts) / n,
        effective_rank=float(np.mean(ranks)),
        rank99=float(np.mean(r99)),
        weight_magnitude=weight_magnitude(model),
        layer_dead=tuple(int(d.sum()) / d.numel() for d in dead),
        layer_effective_rank=tuple(ranks),
        layer_rank99=tuple(r99),
        units=units,
        dead_percent=100 * sum(int(d.sum()) for d in dead) / n,
        effective_rank_percent=100 * float(np.sum(ranks)) / n,
    )


def _matrix(acc: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    r = np.asarray(acc, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] != r.shape[1] or r.shape[0] < 1:
        raise ValueError(f"need a square accuracy matrix R[i, j] (T × T), got shape {r.shape}")
    return r


def backward_transfer(acc: Sequence[Sequence[float]] | np.ndarray) -> float:
    """``BWT = 1/(T−1) Σ_{j<T−1} (R[T−1, j] − R[j, j])`` (Lopez-Paz & Ranzato 2017).

    Negative: training later tasks lowered accuracy on earlier ones. NaN for one task.
    """
    r = _matrix(acc)
    t = r.shape[0]
    if t < 2:
        return math.nan
    return float(np.mean([r[t - 1, j] - r[j, j] for j in range(t - 1)]))


def forgetting(acc: Sequence[Sequence[float]] | np.ndarray) -> float:
    """Average forgetting (Chaudhry et al. 2018): ``1/(T−1) Σ_{j<T−1} max_{l<T−1} (R[l, j] −
    R[T−1, j])`` over ``l ≥ j``, the drop from the best accuracy a task ever had to its final
    one. NaN for one task."""
    r = _matrix(acc)
    t = r.shape[0]
    if t < 2:
        return math.nan
    return float(np.mean([max(r[j : t - 1, j]) - r[t - 1, j] for j in range(t - 1)]))
