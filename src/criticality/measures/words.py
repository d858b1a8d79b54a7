"""Signs explained in words: shared phrasing of the measures' verdicts."""

from __future__ import annotations

import math

from criticality.numbers import fmt

#: |ln gain| per stage below which a network counts as critical (±5 % per stage).
CRITICAL_BAND = 0.05


def regime(log_gain: float, band: float = CRITICAL_BAND) -> str:
    """``"ordered"``, ``"critical"`` or ``"chaotic"`` for a log-gain per stage."""
    if not math.isfinite(log_gain):
        return "ordered" if log_gain < 0 else "chaotic"
    if abs(log_gain) <= band:
        return "critical"
    return "ordered" if log_gain < 0 else "chaotic"


def log_gain_in_words(log_gain: float, unit: str = "stage") -> str:
    """E.g. ``"ordered: perturbations shrink by 12 % per stage"``."""
    name = regime(log_gain)
    if not math.isfinite(log_gain):
        verb = "vanish" if log_gain < 0 else "explode"
        return f"{name}: perturbations {verb}"
    change = math.expm1(log_gain) * 100.0
    if name == "critical":
        return f"critical: perturbations change by {fmt(change, 'points')} % per {unit}"
    verb = "shrink" if change < 0 else "grow"
    return f"{name}: perturbations {verb} by {abs(change):.0f} % per {unit}"
