"""The per-generation analysis on curves whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from criticality.collapse.analysis import band, contrast, halfway_generation, lead_lag, tracking


def test_band_is_the_student_t_interval() -> None:
    x = np.array([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0]])
    b = band(x)
    half = stats.t.ppf(0.975, 2) * 2.0 / math.sqrt(3)
    assert b["mean"] == [3.0, 2.0]
    assert b["ci_low"][0] == pytest.approx(3 - half) and b["ci_high"][1] == pytest.approx(2.0)


def test_contrast_pairs_by_seed() -> None:
    control = np.array([[0.0, 1.0], [0.0, 2.0], [0.0, 3.0]])
    treat = control + np.array([[0.0, 0.5], [0.0, 0.5], [0.0, 0.7]])
    c = contrast(treat, control)
    assert c["n"] == 3 and c["mean_diff"] == pytest.approx(0.5667, abs=1e-4)
    assert contrast(treat, control, generation=0)["mean_diff"] == 0.0
    with pytest.raises(ValueError, match="must match"):
        contrast(treat[:2], control)


def test_halfway_generation() -> None:
    assert halfway_generation([0, 0, 1, 2, 4]) == 3  # half of 4 first reached at g = 3
    assert halfway_generation([5, 4, 3, 3]) == 1  # |−1| >= 0.5·2
    assert math.isnan(halfway_generation([1, 1, 1]))


def test_lead_lag_finds_a_known_delay() -> None:
    rng = np.random.default_rng(0)
    steps = rng.standard_normal((4, 30))
    lam = np.cumsum(np.concatenate([np.zeros((4, 1)), steps], axis=1), axis=1)  # (4, 31)
    # Quality moves two generations after λ_1: Δq(g + 2) = −Δλ(g).
    dq = np.concatenate([np.zeros((4, 2)), -steps[:, :-2]], axis=1)
    quality = np.cumsum(np.concatenate([np.zeros((4, 1)), dq], axis=1), axis=1)
    out = lead_lag(lam, quality, max_lag=3)
    assert out["best_lag"] == 2
    assert out["r"][out["lags"].index(2)] == pytest.approx(-1.0)
    tr = tracking(lam, -lam)
    assert tr["rho_quality_vs_lambda"] == pytest.approx(-1.0)
