"""The order-to-chaos phase diagram of random MLPs: measures against the weight scale σ_w."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from criticality.measures import critical_sigma_w, meanfield
from criticality.measures._registry import run_measure
from criticality.zoo import mlp


def phase_sweep(
    activation: str,
    sigma_ws: Sequence[float],
    *,
    depth: int = 24,
    width: int = 256,
    sigma_b: float = 0.05,
    n_inputs: int = 8,
    measures: Sequence[str] = ("lyapunov", "ftle"),
    seed: int = 0,
    on_point: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Measure random ``depth``×``width`` MLPs at each ``σ_w`` and set them against mean field.

    Inputs are drawn at the mean-field fixed point (per-unit variance ``q*``, or 1 where ``q*``
    is 0 or infinite) so that no transient is measured.

    Returns:
        A JSON-ready dict: ``sigma_w`` (n,), ``theory`` (½ ln χ_1 per σ_w, n), ``critical``
        (mean-field critical σ_w), ``measured`` (measure name -> headline means, n) and
        ``ci`` (measure name -> [low, high] lists).
    """
    measured: dict[str, list[float]] = {m: [] for m in measures}
    ci: dict[str, list[list[float]]] = {m: [] for m in measures}
    theory = []
    for i, sw in enumerate(sigma_ws):
        mf = meanfield(activation, sw, sigma_b)
        theory.append(mf.lambda_1)
        q = mf.q_star if 0.0 < mf.q_star < math.inf else 1.0
        gen = torch.Generator().manual_seed(seed + 1000 + i)
        x = torch.randn((n_inputs, width), generator=gen, dtype=torch.float64) * math.sqrt(q)
        net = mlp(depth, width, activation=activation, sigma_w=sw, sigma_b=sigma_b,
                  seed=seed + i, dtype=torch.float64)  # fmt: skip
        for m in measures:
            est = run_measure(m, net, x, seed=seed).headline()
            measured[m].append(est.mean)
            ci[m].append([est.ci_low, est.ci_high])
        if on_point is not None:
            on_point()
    return {
        "activation": activation,
        "depth": depth,
        "width": width,
        "sigma_b": sigma_b,
        "sigma_w": list(map(float, sigma_ws)),
        "theory": theory,
        "critical": critical_sigma_w(activation, sigma_b),
        "measured": measured,
        "ci": ci,
    }


def zero_crossing(x: Sequence[float], y: Sequence[float]) -> float | None:
    """First ``x`` where ``y`` changes sign from negative to positive (linear interpolation)."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    for i in range(len(xs) - 1):
        if ys[i] < 0 <= ys[i + 1]:
            return float(xs[i] - ys[i] * (xs[i + 1] - xs[i]) / (ys[i + 1] - ys[i]))
    return None
