"""Mean-field theory against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from criticality.measures import critical_sigma_w, meanfield
from criticality.measures.meanfield import gaussian_expectation


def test_quadrature_moments() -> None:
    assert gaussian_expectation(lambda x: x**2, 2.0) == pytest.approx(2.0)
    assert gaussian_expectation(lambda x: x**4, 1.0) == pytest.approx(3.0)
    assert gaussian_expectation(np.cos, 1.0) == pytest.approx(math.exp(-0.5))


@pytest.mark.parametrize("sigma_w", [0.5, 1.0, 2.0])
def test_linear_and_relu_closed_forms(sigma_w: float) -> None:
    assert meanfield("linear", sigma_w).chi_1 == pytest.approx(sigma_w**2)
    assert meanfield("relu", sigma_w, 0.1).chi_1 == pytest.approx(sigma_w**2 / 2)


def test_relu_fixed_point_closed_form() -> None:
    # q* = σ_b² / (1 − σ_w²/2) below the critical point
    assert meanfield("relu", 1.2, 0.1).q_star == pytest.approx(0.01 / (1 - 0.72), rel=1e-9)
    assert meanfield("relu", 2.0, 0.1).q_star == math.inf


def test_erf_fixed_point_and_chi_closed_form() -> None:
    """erf: E[erf(√q z)²] = (2/π) asin(2q/(1+2q)), E[erf'(√q z)²] = (4/π)/√(1+4q)."""
    sw, sb = 1.5, 0.2
    res = meanfield("erf", sw, sb)
    q = res.q_star
    assert q == pytest.approx(
        sw**2 * (2 / math.pi) * math.asin(2 * q / (1 + 2 * q)) + sb**2, rel=1e-9
    )
    assert res.chi_1 == pytest.approx(sw**2 * (4 / math.pi) / math.sqrt(1 + 4 * q), rel=1e-9)


@pytest.mark.parametrize(
    ("activation", "expected"),
    [("tanh", 1.0), ("relu", math.sqrt(2)), ("erf", math.sqrt(math.pi) / 2)],
)
def test_critical_sigma_w_without_bias(activation: str, expected: float) -> None:
    assert critical_sigma_w(activation) == pytest.approx(expected, rel=1e-6)


def test_critical_point_has_unit_chi_and_moves_with_bias() -> None:
    sc = critical_sigma_w("tanh", 0.3)
    assert meanfield("tanh", sc, 0.3).chi_1 == pytest.approx(1.0, abs=1e-9)
    assert sc > 1.0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown activation"):
        meanfield("swish2", 1.0)
    with pytest.raises(ValueError, match="sigma_w > 0"):
        meanfield("tanh", -1.0)
