"""Mean-field theory of wide random networks: ``q*``, ``χ_1`` and the critical ``σ_w``.

For a deep random network with weights ``W_ij ~ N(0, σ_w²/N)`` and biases ``b_i ~ N(0, σ_b²)``,
the pre-activation variance follows ``q_{l+1} = σ_w² E_z[φ(√q_l z)²] + σ_b²`` to a fixed point
``q*``, and a small perturbation grows per layer by the factor ``χ_1 = σ_w² E_z[φ'(√q* z)²]``
(Poole et al. 2016; Schoenholz et al. 2017). ``χ_1 = 1`` is the edge of chaos, and the top
Lyapunov exponent of the depth dynamics is ``λ_1 ≈ ½ ln χ_1``. Expectations over
``z ~ N(0, 1)`` use Gauss–Hermite quadrature with an even number of nodes (no node at 0, so
the kink of ReLU at 0 is integrated exactly by symmetry). No model is needed: this is the
theory reference.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy import optimize, special

from criticality.measures.results import Result

Fn = Callable[[np.ndarray], np.ndarray]

_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _gelu(x: np.ndarray) -> np.ndarray:
    return x * 0.5 * (1.0 + special.erf(x / math.sqrt(2.0)))


def _dgelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + special.erf(x / math.sqrt(2.0))) + x * np.exp(-0.5 * x * x) / _SQRT_2PI


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return special.expit(x)


#: activation name -> (φ, φ')
ACTIVATIONS: dict[str, tuple[Fn, Fn]] = {
    "tanh": (np.tanh, lambda x: 1.0 - np.tanh(x) ** 2),
    "relu": (lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(np.float64)),
    "linear": (lambda x: x, np.ones_like),
    "erf": (special.erf, lambda x: 2.0 / math.sqrt(math.pi) * np.exp(-x * x)),
    "gelu": (_gelu, _dgelu),
    "silu": (lambda x: x * _sigmoid(x), lambda x: _sigmoid(x) * (1.0 + x * (1.0 - _sigmoid(x)))),
    "sigmoid": (_sigmoid, lambda x: _sigmoid(x) * (1.0 - _sigmoid(x))),
}


@dataclasses.dataclass(frozen=True)
class MeanFieldResult(Result):
    """Mean-field quantities of a random network.

    Attributes:
        activation: activation name.
        sigma_w: weight scale ``σ_w``.
        sigma_b: bias scale ``σ_b``.
        q_star: fixed point of the variance map (``inf`` if it diverges, 0 if it collapses).
        chi_1: per-layer perturbation growth ``σ_w² E[φ'(√q* z)²]``.
        lambda_1: predicted top Lyapunov exponent ``½ ln χ_1`` (nats per layer).
    """

    activation: str
    sigma_w: float
    sigma_b: float
    q_star: float
    chi_1: float
    lambda_1: float


def _activation(name: str) -> tuple[Fn, Fn]:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        known = ", ".join(sorted(ACTIVATIONS))
        raise ValueError(f"unknown activation {name!r}; known: {known}") from None


@functools.lru_cache(maxsize=8)
def _nodes(n_quad: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss–Hermite nodes and weights normalised to ``N(0, 1)``; ``(n,)`` each."""
    z, w = hermegauss(n_quad)
    return z, w / _SQRT_2PI


def gaussian_expectation(fn: Fn, q: float, n_quad: int = 100) -> float:
    """``E_z[fn(√q z)]`` for ``z ~ N(0, 1)`` by Gauss–Hermite quadrature with ``n_quad`` nodes."""
    z, w = _nodes(n_quad)
    return float(w @ fn(math.sqrt(max(q, 0.0)) * z))


def fixed_point_q(
    activation: str, sigma_w: float, sigma_b: float = 0.0, *, n_quad: int = 100
) -> float:
    """The stable fixed point ``q*`` of ``q ↦ σ_w² E[φ(√q z)²] + σ_b²``.

    Found as the largest root where ``g(q) = σ_w² E[φ(√q z)²] + σ_b² − q`` falls through zero,
    bracketed on a log grid of ``q ∈ [1e-14, 1e8]`` and refined with Brent's method, so that slow
    convergence near the critical point does not bias it. Returns ``inf`` when ``g`` stays
    positive (the variance diverges) and 0 when it stays negative (the variance collapses).
    """
    phi, _ = _activation(activation)

    def g(q: float) -> float:
        return sigma_w**2 * gaussian_expectation(lambda x: phi(x) ** 2, q, n_quad) + sigma_b**2 - q

    qs = np.logspace(-14, 8, 221)
    z, w = _nodes(n_quad)
    gs = sigma_w**2 * (phi(np.sqrt(qs)[:, None] * z) ** 2 @ w) + sigma_b**2 - qs  # (221,)
    roots = [
        _root(g, q_lo, q_hi)
        for q_lo, q_hi, g_lo, g_hi in zip(qs, qs[1:], gs, gs[1:], strict=False)
        if g_lo > 0 >= g_hi
    ]
    if roots:
        return float(roots[-1])
    return math.inf if gs[-1] > 0 else 0.0


def _root(g: Callable[[float], float], lo: float, hi: float) -> float:
    """Brent's root of ``g`` in ``[lo, hi]``; ``hi`` where rounding leaves no sign change."""
    if g(lo) * g(hi) >= 0:
        return hi
    return float(optimize.brentq(g, lo, hi, xtol=1e-15, rtol=1e-13))


def meanfield(
    activation: str, sigma_w: float, sigma_b: float = 0.0, *, n_quad: int = 100
) -> MeanFieldResult:
    """Mean-field ``q*``, ``χ_1`` and ``½ ln χ_1`` for a random network.

    Args:
        activation: one of :data:`ACTIVATIONS` (``"tanh"``, ``"relu"``, ...).
        sigma_w: weight scale; weights are ``N(0, σ_w²/fan_in)``.
        sigma_b: bias scale; biases are ``N(0, σ_b²)``.
        n_quad: Gauss–Hermite nodes.

    Example:
        >>> round(meanfield("relu", 2.0).chi_1, 6)
        2.0
    """
    if sigma_w <= 0 or sigma_b < 0:
        raise ValueError(f"need sigma_w > 0 and sigma_b >= 0, got {sigma_w}, {sigma_b}")
    _, dphi = _activation(activation)
    q = fixed_point_q(activation, sigma_w, sigma_b, n_quad=n_quad)
    # At q* = 0 or inf, χ_1 is the limit from inside (scale-free activations give the same
    # value at any q; the kink of ReLU at 0 is why q* = 0 itself cannot be plugged in).
    q_eval = q if 0.0 < q < math.inf else (1e-30 if q == 0.0 else 1.0)
    chi = sigma_w**2 * gaussian_expectation(lambda x: dphi(x) ** 2, q_eval, n_quad)
    lam = 0.5 * math.log(chi) if chi > 0 else -math.inf
    return MeanFieldResult(activation, float(sigma_w), float(sigma_b), q, chi, lam)


def critical_sigma_w(activation: str, sigma_b: float = 0.0, *, n_quad: int = 100) -> float:
    """The weight scale at which ``χ_1 = 1`` (the edge of chaos) for the given ``σ_b``.

    Example:
        >>> round(critical_sigma_w("tanh"), 6)
        1.0
    """

    def excess(log_sw: float) -> float:
        return math.log(meanfield(activation, math.exp(log_sw), sigma_b, n_quad=n_quad).chi_1)

    # Scan a log grid for the first crossing, then refine. Above σ_w ≈ 10 the quadrature cannot
    # resolve φ'(√q* z) of saturating activations (q* ~ σ_w²), so the scan stops there.
    grid = np.linspace(math.log(0.05), math.log(10.0), 60)
    values = [excess(g) for g in grid]
    for i in range(len(grid) - 1):
        lo, hi, f_lo, f_hi = grid[i], grid[i + 1], values[i], values[i + 1]
        if f_lo <= 0 <= f_hi:
            return math.exp(optimize.brentq(excess, lo, hi, xtol=1e-12))
    raise ValueError(
        f"χ_1 does not cross 1 for {activation} with sigma_b={sigma_b} in 0.05 <= σ_w <= 10"
    )
