"""The order-to-chaos phase diagram of random MLPs: measures against the weight scale σ_w.

:func:`phase_sweep` measures random MLPs across ``σ_w`` and sets them against mean-field theory;
:func:`zero_crossing` and :func:`peak` read a measured critical point off a curve. The report of
the sweep is :mod:`criticality.experiments.phase`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from criticality.measures import Estimate, Result, critical_sigma_w, meanfield, run_measure
from criticality.seeding import mix_seed
from criticality.zoo import fixed_point_inputs, mlp


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
    probe_seed: int | None = None,
    on_point: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Measure random ``depth``×``width`` MLPs at each ``σ_w`` and set them against mean field.

    Inputs are post-activations at the mean-field fixed point, ``φ(√q* z)`` with
    ``z ~ N(0, 1)`` (``q* = 1`` where it is 0 or infinite), so that no transient is measured.

    Seeds (:func:`criticality.seeding.mix_seed`): the network and the inputs at the ``i``-th
    ``σ_w`` from ``(seed, "network", i)`` and ``(seed, "inputs", i)``; the measures' random
    directions from ``probe_seed`` (``None``: from ``(seed, "measure")``).

    Returns:
        A JSON-ready dict: ``sigma_w`` (n,), ``theory`` (½ ln χ_1 per σ_w, n), ``critical``
        (mean-field critical σ_w), ``measured`` (measure name -> headline means, n), ``ci``
        (measure name -> [low, high] lists) and ``scalars`` (measure name -> each scalar field
        of its result -> n values, e.g. the susceptibility's ``chi_at_one``).
    """
    measured: dict[str, list[float]] = {m: [] for m in measures}
    ci: dict[str, list[list[float]]] = {m: [] for m in measures}
    scalars: dict[str, dict[str, list[float]]] = {m: {} for m in measures}
    theory = []
    directions = mix_seed(seed, "measure") if probe_seed is None else probe_seed
    for i, sw in enumerate(sigma_ws):
        mf = meanfield(activation, sw, sigma_b)
        theory.append(mf.lambda_1)
        x = fixed_point_inputs(
            activation, sw, width, n_inputs, sigma_b=sigma_b, seed=mix_seed(seed, "inputs", i)
        )
        net = mlp(depth, width, activation=activation, sigma_w=sw, sigma_b=sigma_b,
                  seed=mix_seed(seed, "network", i), dtype=torch.float64)  # fmt: skip
        for m in measures:
            result = run_measure(m, net, x, seed=directions)
            est = result.headline()
            measured[m].append(est.mean)
            ci[m].append([est.ci_low, est.ci_high])
            for field, value in _scalar_fields(result).items():
                scalars[m].setdefault(field, []).append(value)
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
        "scalars": scalars,
    }


def _scalar_fields(result: Result) -> dict[str, float]:
    """The float fields of a result, and the means of its :class:`Estimate` fields."""
    out = {}
    for f in dataclasses.fields(result):  # type: ignore[arg-type]
        value = getattr(result, f.name)
        if isinstance(value, Estimate):
            out[f.name] = value.mean
        elif isinstance(value, float):
            out[f.name] = value
    return out


def zero_crossing(x: Sequence[float], y: Sequence[float]) -> float | None:
    """First ``x`` where ``y`` changes sign from negative to positive (linear interpolation)."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    for i in range(len(xs) - 1):
        if ys[i] < 0 <= ys[i + 1]:
            return float(xs[i] - ys[i] * (xs[i + 1] - xs[i]) / (ys[i + 1] - ys[i]))
    return None


def peak(x: Sequence[float], y: Sequence[float]) -> float | None:
    """``x`` at the largest finite ``y`` (``None`` if there is none)."""
    ys = np.asarray(y, dtype=float)
    if not np.isfinite(ys).any():
        return None
    return float(
        np.asarray(x, dtype=float)[int(np.nanargmax(np.where(np.isfinite(ys), ys, -np.inf)))]
    )
