"""Paired comparisons against scipy's own tests and hand-computed intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from criticality.stats import mean_ci, paired_comparison


def test_paired_comparison_matches_scipy() -> None:
    a = np.array([0.91, 0.93, 0.90, 0.95, 0.92])
    b = np.array([0.90, 0.90, 0.91, 0.92, 0.90])
    out = paired_comparison(a, b)
    ref = stats.ttest_rel(a, b)
    d = a - b
    half = stats.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(5)
    assert out.mean_diff == pytest.approx(d.mean())
    assert out.t == pytest.approx(ref.statistic) and out.p_t == pytest.approx(ref.pvalue)
    assert (out.ci_low, out.ci_high) == pytest.approx((d.mean() - half, d.mean() + half))
    assert out.p_wilcoxon == pytest.approx(stats.wilcoxon(d).pvalue)
    assert out.effect_dz == pytest.approx(d.mean() / d.std(ddof=1))


def test_degenerate_inputs() -> None:
    same = paired_comparison([1.0, 2.0], [1.0, 2.0])
    assert same.mean_diff == 0 and same.p_wilcoxon == 1.0 and math.isnan(same.p_t)
    one = paired_comparison([1.0], [0.0])
    assert one.mean_diff == 1.0 and math.isnan(one.ci_low)
    with pytest.raises(ValueError):
        paired_comparison([1.0, 2.0], [1.0])
    m = mean_ci([1.0, 2.0, 3.0])
    assert m.mean == 2.0 and m.ci_low < 2.0 < m.ci_high


def test_scipy_warnings_are_recorded_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    from criticality import stats as cstats

    real = cstats.sps.wilcoxon

    def warning_wilcoxon(d: np.ndarray) -> object:  # as scipy does for ties in small samples
        message = "Exact p-value calculation does not work if there are ties"
        warnings.warn(message, UserWarning, stacklevel=2)
        return real(d)

    monkeypatch.setattr(cstats.sps, "wilcoxon", warning_wilcoxon)
    out = paired_comparison([1.0, 2.0, 3.0, 3.0, 5.0], [1.0, 1.0, 2.0, 2.0, 4.0])
    assert out.p_wilcoxon == pytest.approx(real(np.array([0.0, 1, 1, 1, 1])).pvalue)
    assert out.note == "Exact p-value calculation does not work if there are ties"
    assert out.to_dict()["note"] == out.note
