"""Paired comparisons across seeds: mean difference with a t interval, paired t and Wilcoxon."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np


def paired_comparison(
    treatment: Sequence[float], control: Sequence[float], *, level: float = 0.95
) -> dict[str, Any]:
    """Compare two methods run on the same seeds: differences ``d_i = treatment_i − control_i``.

    Args:
        treatment: one value per seed, ``n`` entries.
        control: the matching values, ``n`` entries, same seed order.
        level: confidence level of the interval.

    Returns:
        ``n``; ``mean_diff`` ``d̄``; ``ci_low``/``ci_high``, the Student-t interval
        ``d̄ ± t_{n−1} s_d / √n``; ``t`` and ``p_t`` of the paired t test; ``p_wilcoxon`` of the
        two-sided Wilcoxon signed-rank test (exact for small ``n``; 1 when all ``d_i = 0``);
        ``effect_dz`` Cohen's ``d_z = d̄ / s_d``. Undefined entries are NaN (``n < 2``,
        ``s_d = 0``).
    """
    from scipy import stats

    a, b = np.asarray(treatment, dtype=float), np.asarray(control, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"need two equal-length 1-D sequences, got shapes {a.shape} and {b.shape}")
    d = a - b
    n, nan = d.size, float("nan")
    out: dict[str, Any] = {"n": int(n), "mean_diff": float(d.mean()) if n else nan}
    out.update(ci_low=nan, ci_high=nan, t=nan, p_t=nan, p_wilcoxon=nan, effect_dz=nan)
    if n < 2:
        return out
    sd = float(d.std(ddof=1))
    if sd > 0:
        half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
        t = out["mean_diff"] / (sd / math.sqrt(n))
        out.update(ci_low=out["mean_diff"] - half, ci_high=out["mean_diff"] + half, t=t)
        out.update(p_t=float(2 * stats.t.sf(abs(t), n - 1)), effect_dz=out["mean_diff"] / sd)
    else:
        out.update(ci_low=out["mean_diff"], ci_high=out["mean_diff"])
    if np.all(d == 0):
        out["p_wilcoxon"] = 1.0
    else:
        with warnings.catch_warnings():  # small n / ties: scipy warns and falls back; expected
            warnings.simplefilter("ignore")
            out["p_wilcoxon"] = float(stats.wilcoxon(d).pvalue)
    return out


def mean_ci(values: Sequence[float], *, level: float = 0.95) -> dict[str, float]:
    """Mean of ``values`` with a Student-t interval (NaN interval for fewer than 2 values)."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    mean, nan = float(x.mean()) if x.size else float("nan"), float("nan")
    if x.size < 2:
        return {"mean": mean, "ci_low": nan, "ci_high": nan, "n": int(x.size)}
    half = (
        float(stats.t.ppf(0.5 + level / 2, x.size - 1)) * float(x.std(ddof=1)) / math.sqrt(x.size)
    )
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": int(x.size)}
