"""The order-to-chaos phase diagram of random MLPs: measures against the weight scale σ_w."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from criticality.measures import critical_sigma_w, meanfield, run_measure
from criticality.measures.results import Estimate, Result
from criticality.reporting.html import Figure, Section, Table
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
    on_point: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Measure random ``depth``×``width`` MLPs at each ``σ_w`` and set them against mean field.

    Inputs are post-activations at the mean-field fixed point, ``φ(√q* z)`` with
    ``z ~ N(0, 1)`` (``q* = 1`` where it is 0 or infinite), so that no transient is measured.

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
    for i, sw in enumerate(sigma_ws):
        mf = meanfield(activation, sw, sigma_b)
        theory.append(mf.lambda_1)
        x = fixed_point_inputs(
            activation, sw, width, n_inputs, sigma_b=sigma_b, seed=seed + 1000 + i
        )
        net = mlp(depth, width, activation=activation, sigma_w=sw, sigma_b=sigma_b,
                  seed=seed + i, dtype=torch.float64)  # fmt: skip
        for m in measures:
            result = run_measure(m, net, x, seed=seed)
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


#: measure -> (label, its curve from a sweep, how its critical point is read off: "zero" crossing
#: or "peak"). Adding a measure to the phase diagram is one row.
PHASE_CURVES: dict[str, tuple[str, Callable[[dict[str, Any]], list[float]], str]] = {
    "lyapunov": ("λ_1", lambda p: p["measured"]["lyapunov"], "zero"),
    "ftle": ("FTLE", lambda p: p["measured"]["ftle"], "zero"),
    "branching": ("ln σ", lambda p: np.log(p["measured"]["branching"]).tolist(), "zero"),
    "dynamic_range": ("Δ (dB)", lambda p: p["measured"]["dynamic_range"], "peak"),
    "susceptibility": (
        "χ at gain 1",
        lambda p: p["scalars"]["susceptibility"]["chi_at_one"],
        "peak",
    ),
}


def phase_section(phase: dict[str, Any], figures: Path) -> Section:
    """Report section: one figure per activation with every measure, and the read-off table."""
    section = Section("Phase diagram of random MLPs")
    rows = []
    for act, p in phase.items():
        curves = {m: PHASE_CURVES[m] for m in p["measured"] if m in PHASE_CURVES}
        section.items.append(_phase_figure(act, p, curves, figures))
        for m, (label, curve, rule) in curves.items():
            values = curve(p)
            found = (
                zero_crossing(p["sigma_w"], values)
                if rule == "zero"
                else peak(p["sigma_w"], values)
            )
            rows.append(
                {
                    "activation": act,
                    "measure": m,
                    "curve": label,
                    "read off at": "0 crossing" if rule == "zero" else "peak",
                    "measured critical σ_w": found,
                    "mean-field critical σ_w": p["critical"],
                }
            )
    section.items.insert(0, _phase_reading(rows, phase))
    section.items.append(Table(rows, caption="Where each measure locates the critical point"))
    return section


def _phase_figure(act: str, p: dict[str, Any], curves: dict[str, Any], figures: Path) -> Figure:
    from criticality.reporting.plots import plot_phase_diagram, save, subplots

    peaks = [m for m, c in curves.items() if c[2] == "peak"]
    fig, axes = subplots(1 + len(peaks), (4.2 * (1 + len(peaks)), 3.8))
    zero = {c[0]: c[1](p) for c in curves.values() if c[2] == "zero"}
    plot_phase_diagram(p["sigma_w"], zero, theory=p["theory"], critical=p["critical"],
                       ax=axes[0], title="log-gain measures")  # fmt: skip
    for ax, m in zip(axes[1:], peaks, strict=True):
        label, curve, _ = curves[m]
        ax.plot(p["sigma_w"], curve(p), marker="o", ms=3)
        ax.axvline(p["critical"], color="r", ls=":")
        ax.set_xlabel("σ_w")
        ax.set_title(label)
    fig.suptitle(f"{act} MLP, depth {p['depth']}, width {p['width']}, σ_b = {p['sigma_b']}")
    caption = f"{act}: every measure against σ_w; black: mean-field ½ ln χ₁; red: critical σ_w"
    return Figure(save(fig, figures / f"phase_{act}.png"), caption)


def _phase_reading(rows: list[dict[str, Any]], phase: dict[str, Any]) -> str:
    parts = []
    for r in rows:
        found = r["measured critical σ_w"]
        rule = "changes sign" if r["read off at"] == "0 crossing" else "peaks"
        where = f"{rule} at σ_w ≈ {found:.3f}" if found is not None else f"never {rule}"
        parts.append(f"{r['activation']}: {r['curve']} ({r['measure']}) {where} "
                     f"(mean field {r['mean-field critical σ_w']:.3f}).")  # fmt: skip
    for act, p in phase.items():
        if "lyapunov" in p["measured"]:
            dev = np.mean(np.abs(np.asarray(p["measured"]["lyapunov"]) - np.asarray(p["theory"])))
            parts.append(f"For {act}, measured λ_1 stays within {dev:.3f} nats per stage of "
                         "½ ln χ₁ on average.")  # fmt: skip
    return (
        "Below the critical weight scale perturbations shrink layer by layer (ordered, λ_1 < 0); "
        "above it they grow (chaotic, λ_1 > 0). A peak-type measure that keeps rising past the "
        "critical point, or peaks elsewhere, is reported as measured. " + " ".join(parts)
    )
