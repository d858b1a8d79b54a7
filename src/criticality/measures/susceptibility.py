"""Susceptibility: response fluctuations across inputs as a function of a global weight gain.

Every weight tensor (parameters with two or more dimensions; biases and norm scales are left
alone) is multiplied by a global gain ``g`` over a log grid around 1. At each ``g`` a small
stimulus of relative size ``ε`` is applied to each probe input along random directions (as in
:mod:`.dynamic_range`), and the input's *response* ``ρ_b(g)`` is the fraction of output units
whose change exceeds ``0.674 ε`` times the RMS of that input's output, averaged over
directions. ``0.674`` is the median of ``|z|``, ``z ~ N(0, 1)``: if the network passed the
stimulus on with unit gain (neither amplified nor damped), half the units would exceed it, so
``ρ = ½`` marks the balance between damping and amplification. The susceptibility is the
variance of the response across inputs, scaled by the number of output units ``N``:

    ``χ(g) = N · Var_b[ρ_b(g)]``,

the fluctuation form ``χ = N (⟨ρ²⟩ − ⟨ρ⟩²)`` of the activity density used for the quasi-critical
point (Widom line) of driven networks (Williams-García, Moore, Beggs & Ortiz 2014, Phys. Rev. E
90:062714). Deep in the ordered phase every input damps the stimulus (``ρ = 0``), deep in the
chaotic phase every input amplifies it (``ρ`` saturates); ``χ`` peaks in between, at the
quasi-critical gain ``g*``. The network is quasi-critical when ``g* = 1``; ``g* > 1`` means it
would have to be scaled up to get there (ordered side), ``g* < 1`` down (chaotic side). The peak
is located on the grid and refined by a parabola in ``ln g``; its spread comes from a bootstrap
over inputs.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import nn

from criticality.measures._perturb import (
    check_count,
    check_positive,
    generator,
    output_response,
    perturbed_outputs,
    random_directions,
)
from criticality.measures._registry import register_measure
from criticality.measures.prepared import ModelOrStages, check_finite, prepared
from criticality.measures.results import Estimate, Result
from criticality.stages import compose

#: Median of ``|z|`` for ``z ~ N(0, 1)``: at unit gain, half the units change by more than this.
MEDIAN_ABS_Z = 0.6744897501960817


@dataclasses.dataclass(frozen=True)
class SusceptibilityResult(Result):
    """Susceptibility curve ``χ(g)`` over a global weight gain and its peak.

    Attributes:
        peak_gain: the gain ``g*`` at the peak of ``χ``: ``mean`` from all inputs, the rest
            (median, spread, CI) from a bootstrap over inputs.
        gains: the gain grid ``g``, shape ``(G,)``, increasing, containing 1.
        chi: ``χ(g) = N · Var_b[ρ_b(g)]``, shape ``(G,)``.
        response: ``ρ_b(g)``, shape ``(G, B)``.
        chi_at_one: ``χ`` of the network as it is (``g = 1``).
        n_outputs: ``N``, output units per input.
        epsilon: relative stimulus size ``ε``.
        n_dirs: stimulus directions per input.
        seed: seed of the directions and of the bootstrap.
        bound: ``""`` when ``χ`` peaks inside the grid; ``"upper"`` when its largest value is
            at ``g_min`` (then ``g* <= g_min``: ``peak_gain`` is an upper bound, not a peak),
            ``"lower"`` when it is at ``g_max`` (``g* >= g_max``, a lower bound); ``"flat"``
            when ``χ`` is the same at every gain (no peak: ``peak_gain`` means nothing).
    """

    peak_gain: Estimate
    gains: np.ndarray
    chi: np.ndarray
    response: np.ndarray
    chi_at_one: float
    n_outputs: int
    epsilon: float
    n_dirs: int
    seed: int
    bound: str = ""

    def headline(self) -> Estimate:
        return self.peak_gain

    def describe(self) -> str:
        g = self.peak_gain.mean
        if self.bound == "flat":
            return (
                "the response fluctuations do not change over the gain grid: there is no peak "
                "to locate (a network whose response does not depend on the weight scale, e.g. "
                "ReLU without biases)"
            )
        if self.bound:
            side, edge = ("ordered", "g_max") if self.bound == "lower" else ("chaotic", "g_min")
            sign = ">=" if self.bound == "lower" else "<="
            return (
                f"the response fluctuations rise up to the edge of the gain grid: g* {sign} "
                f"{g:.2f} (a bound, not a peak); the network is on the {side} side, further "
                f"than the grid reaches: widen it ({edge}=...) to locate g*"
            )
        if abs(math.log(g)) <= 0.05:
            where = "the network is quasi-critical"
        elif g > 1:
            where = f"the network is on the ordered side: its weights would need × {g:.2f}"
        else:
            where = f"the network is on the chaotic side: its weights would need × {g:.2f}"
        return f"the response fluctuations peak at gain g* = {g:.2f}; {where}"


@register_measure(
    "susceptibility",
    result_type=SusceptibilityResult,
    critical_value=1.0,
    summary="peak gain g* of the response variance across inputs vs a global weight gain; 1",
)
def susceptibility(
    model_or_stages: ModelOrStages,
    inputs: torch.Tensor,
    *,
    g_min: float = 0.5,
    g_max: float = 2.0,
    n_gains: int = 25,
    epsilon: float = 1e-2,
    n_dirs: int = 4,
    n_boot: int = 200,
    dtype: torch.dtype | None = None,
    seed: int = 0,
) -> SusceptibilityResult:
    """Susceptibility ``χ(g) = N · Var_b[ρ_b(g)]`` over a global weight gain, and its peak.

    Args:
        model_or_stages: a model (split by :func:`criticality.stages`) or a list of stages;
            it is copied before its weights are scaled.
        inputs: probe inputs, shape ``(B, ...)`` with ``B >= 2``; run in ``eval()`` mode.
        g_min: smallest gain; ``g_max`` the largest; the log grid always contains 1.
        g_max: largest gain.
        n_gains: points of the gain grid.
        epsilon: relative stimulus size ``ε``; a unit responds above ``0.674 ε · RMS(y)``.
        n_dirs: random stimulus directions per input.
        n_boot: bootstrap resamples of the inputs for the peak's spread.
        dtype: compute in this dtype.
        seed: seed of the directions and the bootstrap.

    Returns:
        A :class:`SusceptibilityResult`; ``headline()`` is the peak gain (critical at 1).

    Raises:
        ValueError: bad inputs (or fewer than 2), or a gain grid that does not bracket 1.
    """
    check_positive("epsilon", epsilon)
    check_count("n_gains", n_gains, 3)
    check_count("n_dirs", n_dirs)
    check_count("n_boot", n_boot)
    if not (0 < g_min < 1 < g_max):
        raise ValueError(f"need 0 < g_min < 1 < g_max, got g_min={g_min}, g_max={g_max}")
    gains = _gain_grid(g_min, g_max, n_gains)
    with prepared(
        model_or_stages,
        inputs,
        dtype=dtype,
        measure="susceptibility",
        copy_stages=True,  # the weights are scaled
        min_inputs=2,
    ) as run:
        x = run.inputs
        rho, n_out = _responses(list(run.stages), x, gains, epsilon, n_dirs, seed)  # (G, B)
    chi = n_out * rho.var(axis=1, ddof=1)
    check_finite(run, "susceptibility", {"chi": chi})
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.shape[0], size=(n_boot, x.shape[0]))
    boot = np.array([_peak(gains, n_out * rho[:, i].var(axis=1, ddof=1)) for i in idx])
    lo, hi = np.quantile(boot, [0.025, 0.975])
    peak = _peak(gains, chi)
    est = Estimate(
        peak, float(np.median(boot)), float(boot.std(ddof=1)), float(lo), float(hi), x.shape[0]
    )
    return SusceptibilityResult(
        peak_gain=est,
        gains=gains,
        chi=chi,
        response=rho,
        chi_at_one=float(chi[int(np.argmin(np.abs(np.log(gains))))]),
        n_outputs=n_out,
        epsilon=float(epsilon),
        n_dirs=n_dirs,
        seed=seed,
        bound=_bound(gains, chi),
    )


def _bound(gains: np.ndarray, chi: np.ndarray) -> str:
    """``"upper"``/``"lower"`` when ``χ``'s maximum is at the first/last gain, ``"flat"`` when
    ``χ`` does not change over the grid (no peak at all), else ``""``."""
    if float(np.ptp(chi)) <= 1e-9 * max(float(np.abs(chi).max()), 1e-300):
        return "flat"
    i = int(np.argmax(chi))
    return "upper" if i == 0 else "lower" if i == len(gains) - 1 else ""


def _gain_grid(g_min: float, g_max: float, n: int) -> np.ndarray:
    grid = np.exp(np.linspace(math.log(g_min), math.log(g_max), n))
    grid[int(np.argmin(np.abs(np.log(grid))))] = 1.0  # the network as it is, exactly
    return grid


def _responses(
    stage_list: list[nn.Module], x: torch.Tensor, gains: np.ndarray, eps: float, k: int, seed: int
) -> tuple[np.ndarray, int]:
    """``ρ_b(g)`` of shape ``(G, B)`` and the number of output units."""
    unique = {id(p): p for s in stage_list for p in s.parameters()}
    weights = [p for p in unique.values() if p.ndim >= 2]
    originals = [p.detach().clone() for p in weights]
    u = random_directions((x.shape[0], k), x.shape[1:], generator(seed, x), x)
    amp = torch.tensor([eps], dtype=x.dtype, device=x.device)
    rows = []
    for g in gains:
        for p, p0 in zip(weights, originals, strict=True):
            p.copy_(p0 * float(g))
        y = compose(stage_list, x)  # (B, ...')
        y_pert = perturbed_outputs(stage_list, x, u, amp)[0]  # (B, k, ...')
        base = y.unsqueeze(1).expand_as(y_pert).reshape(-1, *y.shape[1:])
        rho = output_response(base, y_pert.reshape(-1, *y.shape[1:]), "units", MEDIAN_ABS_Z * eps)
        rows.append(rho.reshape(x.shape[0], k).mean(dim=1))  # stays on the device
    return torch.stack(rows).double().cpu().numpy(), int(y[0].numel())


def _peak(gains: np.ndarray, chi: np.ndarray) -> float:
    """Location of the maximum of ``χ`` (shape ``(G,)``), refined by a parabola in ``ln g``."""
    i = int(np.argmax(chi))
    if i == 0 or i == len(chi) - 1:
        return float(gains[i])
    t = np.log(gains[i - 1 : i + 2])
    a, b, _ = np.polyfit(t, chi[i - 1 : i + 2], 2)
    if a >= 0:
        return float(gains[i])
    return float(np.exp(np.clip(-b / (2 * a), t[0], t[2])))
