"""Gerstgrasser et al.'s linear regression: linear growth if replaced, bounded if accumulated."""

from __future__ import annotations

import math

import numpy as np
import pytest

from criticality.collapse import expected_test_error, regression_generations

RUNS, T, D, G = 4000, 30, 5, 20


def _coefficients(mode: str) -> np.ndarray:
    k = np.arange(G + 1)
    return np.cumsum(np.ones(G + 1) if mode == "replace" else 1.0 / (k + 1.0) ** 2)


@pytest.mark.parametrize("mode", ["replace", "accumulate"])
def test_fixed_design_closed_form(mode: str) -> None:
    res = regression_generations(T, G, dim=D, noise=0.5, mode=mode, runs=RUNS, seed=1)
    err = res.test_error
    # Conditional on each run's design: E[err_g | X] = σ² tr((XᵀX)⁻¹) Σ_k c_k.
    cond = 0.25 * res.trace_inv[:, None] * _coefficients(mode)[None]
    resid = err - cond
    assert np.abs(resid.mean(0) / (resid.std(0) / math.sqrt(RUNS))).max() < 4.5
    # Unconditional: E tr((XᵀX)⁻¹) = d / (T − d − 1).
    ex = expected_test_error(T, G, dim=D, noise=0.5, mode=mode)
    np.testing.assert_allclose(ex, 0.25 * D / (T - D - 1) * _coefficients(mode))
    assert np.abs((err.mean(0) - ex) / (err.std(0) / math.sqrt(RUNS))).max() < 4.5


def test_accumulate_bound_and_replace_growth() -> None:
    g = 1000
    acc = expected_test_error(T, g, dim=D, mode="accumulate")
    first = acc[0]
    assert (acc < math.pi**2 / 6 * first).all()
    rep = expected_test_error(T, g, dim=D, mode="replace")
    np.testing.assert_allclose(rep, first * np.arange(1, g + 2))


def test_fresh_design_replace_keeps_the_same_growth() -> None:
    res = regression_generations(T, 10, dim=D, mode="replace", design="fresh", runs=RUNS, seed=2)
    ex = expected_test_error(T, 10, dim=D, mode="replace")
    err = res.test_error
    assert np.abs((err.mean(0) - ex) / (err.std(0) / math.sqrt(RUNS))).max() < 4.5
    acc = regression_generations(T, 30, dim=D, mode="accumulate", design="fresh", runs=1000)
    assert acc.test_error.mean(0).max() < math.pi**2 / 6 * D / (T - D - 1) * 1.1


def test_needs_more_rows_than_dimensions() -> None:
    with pytest.raises(ValueError, match="must exceed dim"):
        regression_generations(6, 3, dim=5)
