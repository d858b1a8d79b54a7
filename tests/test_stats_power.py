"""The smallest detectable correlation: Cohen's table and a Monte Carlo check of Spearman."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from criticality.stats import detectable_correlation


def test_pearson_matches_cohens_table() -> None:
    # Cohen (1988), table 3.4.1: r = 0.5 needs n = 28-29, r = 0.3 needs n = 84-85 (α = .05
    # two-sided, power .8); the Fisher-z formula closed form at those n.
    assert detectable_correlation(29, spearman=False) == pytest.approx(0.50, abs=0.005)
    assert detectable_correlation(85, spearman=False) == pytest.approx(0.30, abs=0.005)
    z = 1.959963984540054 + 0.8416212335729143
    assert detectable_correlation(40, spearman=False) == pytest.approx(math.tanh(z / math.sqrt(37)))
    assert detectable_correlation(40) > detectable_correlation(40, spearman=False)
    assert math.isnan(detectable_correlation(3))
    with pytest.raises(ValueError, match="alpha"):
        detectable_correlation(10, alpha=1.5)


def test_spearman_power_at_the_detectable_rho_is_about_80_percent() -> None:
    n, reps = 42, 3000
    rho_s = detectable_correlation(n)
    r = 2 * math.sin(math.pi * rho_s / 6)  # Pearson r of a bivariate normal with this Spearman ρ
    rng = np.random.default_rng(0)
    cov = [[1.0, r], [r, 1.0]]
    xy = rng.multivariate_normal([0.0, 0.0], cov, size=(reps, n))  # (reps, n, 2)
    ranks = sps.rankdata(xy, axis=1)
    ranks -= ranks.mean(axis=1, keepdims=True)
    rho = (ranks[..., 0] * ranks[..., 1]).sum(1) / np.sqrt((ranks**2).sum(1).prod(-1))
    t = rho * np.sqrt((n - 2) / (1 - rho**2))
    power = float(np.mean(2 * sps.t.sf(np.abs(t), n - 2) < 0.05))
    assert power == pytest.approx(0.8, abs=0.03)  # 3000 draws: binomial SE 0.007
