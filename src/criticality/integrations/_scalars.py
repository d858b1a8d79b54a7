"""The numbers a logger gets from a measurement: flat scalar names and spectrum arrays."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from criticality.measures import LyapunovResult, Result

#: Short names of headline numbers; other measures log under their registry name.
HEADLINE_NAMES = {"lyapunov": "lambda_1", "branching": "sigma"}


def scalars(results: Mapping[str, Result], prefix: str = "criticality/") -> dict[str, float]:
    """Flat ``name -> value`` of a measurement, for any logger.

    ``PREFIX + "lambda_1"`` (``λ_1``), ``PREFIX + "sigma"`` (branching ratio ``σ``), the
    headline mean of every other measure under its name, and ``PREFIX + "ln_g/STAGE"``, the
    local exponent ``ln g_l`` of each stage (mean over probe inputs).

    Args:
        results: measure name -> result, as in ``CriticalityReport.results``.
        prefix: put before every name.
    """
    out = {prefix + HEADLINE_NAMES.get(n, n): float(r.headline().mean) for n, r in results.items()}
    lyap = results.get("lyapunov")
    if isinstance(lyap, LyapunovResult):
        for stage, est in zip(lyap.stage_names, lyap.stage_log_gain, strict=True):
            out[f"{prefix}ln_g/{stage}"] = float(est.mean)
    return out


def spectra(results: Mapping[str, Result], prefix: str = "criticality/") -> dict[str, np.ndarray]:
    """Arrays worth a histogram: the Lyapunov spectrum ``(k,)`` and the stage exponents
    ``ln g_l`` ``(L,)``."""
    lyap = results.get("lyapunov")
    if not isinstance(lyap, LyapunovResult):
        return {}
    stage = np.array([e.mean for e in lyap.stage_log_gain])
    return {prefix + "spectrum": np.asarray(lyap.exponents), prefix + "ln_g": stage}
