"""Zoo statistics against scipy / statsmodels and hand-computed values on fixed data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from criticality.stats import mann_whitney, mixed_effects, spearman, wilcoxon

X = np.array([0.1, 0.4, 0.35, 0.8, 0.65, 0.2, 0.9, 0.55, 0.05, 0.7])
Y = np.array([80.0, 75.0, 77.0, 70.0, 71.0, 81.0, 66.0, 74.0, 79.0, 72.0])


def test_spearman_matches_scipy_and_bootstrap_brackets_it() -> None:
    res = spearman(X, Y, seed=1)
    ref = sps.spearmanr(X, Y)
    assert res.rho == pytest.approx(ref.statistic) and res.p_value == pytest.approx(ref.pvalue)
    assert res.n == 10 and res.ci_low <= res.rho <= res.ci_high <= 1.0
    assert spearman(X, Y, seed=1) == res  # seeded
    # A perfectly monotone relation: ρ = -1 in every bootstrap resample.
    mono = spearman(X, -(X**3))
    assert mono.rho == pytest.approx(-1.0) and mono.ci_high == pytest.approx(-1.0)


def test_spearman_hand_value_with_ties_and_nans() -> None:
    # ranks x: 1, 2.5, 2.5, 4; y: 1, 2, 3, 4 -> Pearson of the ranks
    res = spearman([1.0, 2.0, 2.0, 3.0, math.nan], [1.0, 2.0, 3.0, 4.0, 5.0])
    rx, ry = np.array([1, 2.5, 2.5, 4]), np.array([1.0, 2, 3, 4])
    assert res.n == 4 and res.rho == pytest.approx(np.corrcoef(rx, ry)[0, 1])
    assert math.isnan(spearman([1.0, 2.0], [2.0, 1.0]).rho)
    with pytest.raises(ValueError, match="same length"):
        spearman([1.0, 2.0, 3.0], [1.0, 2.0])


def test_mixed_effects_matches_statsmodels_and_recovers_slope() -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(0)
    groups = np.repeat(["a", "b", "c", "d", "e", "f"], 8)
    offsets = dict(zip("abcdef", rng.normal(0, 3, 6), strict=True))
    x = rng.uniform(0, 2, groups.size)
    y = 75 - 4.0 * x + np.array([offsets[g] for g in groups]) + rng.normal(0, 0.5, groups.size)
    res = mixed_effects(y, x, groups.tolist())
    ref = sm.MixedLM(y, sm.add_constant(x), groups=groups).fit(reml=True)
    assert res.slope == pytest.approx(ref.fe_params[1]) and res.slope == pytest.approx(-4, abs=0.3)
    assert res.slope_se == pytest.approx(ref.bse_fe[1])
    assert res.p_value == pytest.approx(ref.pvalues[1], rel=1e-6)
    assert res.ci_low < -4 < res.ci_high and res.n_groups == 6 and res.group_var > 1
    assert math.isnan(mixed_effects([1.0, 2.0], [1.0, 2.0], ["a", "b"]).slope)


def test_mann_whitney_matches_scipy_and_effect_size() -> None:
    a, b = [3.1, 2.0, 5.5, 4.2, 3.3], [1.0, 0.5, 2.2, 1.7]
    res = mann_whitney(a, b)
    ref = sps.mannwhitneyu(a, b, alternative="two-sided")
    assert res.u == ref.statistic and res.p_value == pytest.approx(ref.pvalue)
    # U counts pairs with a > b: all but (2.0 vs 2.2) -> 19 of 20.
    assert res.u == 19 and res.effect == pytest.approx(2 * 19 / 20 - 1)
    assert (res.n_a, res.n_b, res.median_a, res.median_b) == (5, 4, 3.3, 1.35)
    assert math.isnan(mann_whitney([], [1.0]).u)


def test_wilcoxon_matches_scipy_and_notes_small_samples() -> None:
    x = np.array([0.2, 0.5, 0.1, 0.9, 0.4, 0.3, 0.8])
    y = np.array([0.6, 0.7, 0.4, 1.5, 0.3, 0.9, 1.0])
    res = wilcoxon(x, y)
    ref = sps.wilcoxon(x, y)
    assert res.statistic == ref.statistic and res.p_value == pytest.approx(ref.pvalue)
    assert res.median_diff == pytest.approx(np.median(x - y)) and res.n == 7 and not res.note
    small = wilcoxon([1.0, 2.0, 3.0], [2.0, 3.5, 4.0])
    assert small.p_value == pytest.approx(0.25) and "smallest possible" in small.note
    assert math.isnan(wilcoxon([1.0], [1.0]).p_value)
