"""Branching ratio: linear chains of g·Q, the ε → 0 limit, and the edge of chaos of tanh MLPs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from criticality.measures import branching_ratio, critical_sigma_w, meanfield
from criticality.zoo import fixed_point_inputs, mlp, orthogonal_chain

SIGMA_B = 0.3


@pytest.mark.parametrize("g", [0.7, 1.0, 1.3])
def test_linear_chain_sigma_equals_g(g: float) -> None:
    x = torch.randn(4, 64, dtype=torch.float64)
    for eps in (1e-1, 1e-3):
        res = branching_ratio(orthogonal_chain(g), x, epsilon=eps, threshold=0.01)
        assert res.sigma_inf.mean == pytest.approx(g, rel=1e-12)
        assert np.allclose(res.stage_gain, g, rtol=1e-12)
        assert res.sigma.mean == pytest.approx(g, rel=2e-3)
        assert np.allclose(res.stage_ratio, g, rtol=5e-3)


def test_cascade_approaches_infinitesimal_form_as_epsilon_shrinks() -> None:
    sw = 2.0 * critical_sigma_w("tanh", SIGMA_B)
    net = mlp(10, 128, sigma_w=sw, sigma_b=SIGMA_B, seed=2, dtype=torch.float64)
    x = fixed_point_inputs("tanh", sw, 128, 8, sigma_b=SIGMA_B, seed=1)
    gaps = []
    for eps in (1.0, 0.1, 1e-2, 1e-3):
        res = branching_ratio(net, x, epsilon=eps, threshold=0.01)
        gaps.append(np.abs(np.log(res.stage_ratio / res.stage_gain)).mean())  # mean |ln σ_l/g_l|
    assert gaps[0] > gaps[1] > gaps[2] > gaps[3]
    assert gaps[0] > 0.1 and gaps[3] < 1e-3


def test_sigma_tracks_mean_field_and_crosses_one_at_the_edge_of_chaos() -> None:
    sc = critical_sigma_w("tanh", SIGMA_B)
    factors = np.array([0.85, 1.0, 1.2])
    log_sigma, log_sigma_inf = [], []
    for f in factors:
        net = mlp(20, 256, sigma_w=f * sc, sigma_b=SIGMA_B, seed=3, dtype=torch.float64)
        res = branching_ratio(
            net, fixed_point_inputs("tanh", f * sc, 256, 8, sigma_b=SIGMA_B, seed=1), seed=0
        )
        chi = meanfield("tanh", f * sc, SIGMA_B).chi_1
        assert math.log(res.sigma_inf.mean) == pytest.approx(0.5 * math.log(chi), abs=0.03)
        log_sigma.append(math.log(res.sigma.mean))
        log_sigma_inf.append(math.log(res.sigma_inf.mean))
    for logs in (log_sigma, log_sigma_inf):
        assert logs[0] < 0 < logs[2]
        crossing = np.interp(0.0, logs, factors)  # σ_w / σ_w* where ln σ = 0
        assert crossing == pytest.approx(1.0, abs=0.08)


def test_model_left_as_it_was() -> None:
    net = mlp(3, 16, sigma_w=1.0, seed=0, dtype=torch.float64).train()
    before = [p.clone() for p in net.parameters()]
    branching_ratio(net, torch.randn(2, 16, dtype=torch.float64))
    assert net.training
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))


@pytest.mark.parametrize(
    "options", [{"epsilon": 0.0}, {"threshold": -1.0}, {"n_dirs": 0}, {"epsilon": math.nan}]
)
def test_bad_options_raise(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        branching_ratio(orthogonal_chain(1.0), torch.randn(2, 64, dtype=torch.float64), **options)


def test_stage_profile_and_words() -> None:
    res = branching_ratio(orthogonal_chain(0.8), torch.randn(2, 64, dtype=torch.float64))
    names, values = res.stage_profile()
    assert len(names) == 6 and np.allclose(values, 0.8, rtol=0.02)
    assert "ordered" in res.describe()


@pytest.mark.slow
def test_wide_deep_networks_cross_one_within_two_percent_of_the_critical_sigma_w() -> None:
    """Width 512, depth 30: σ_inf = √χ_1 within 1 % and ln σ = 0 within 2 % of σ_w*."""
    sc = critical_sigma_w("tanh", SIGMA_B)
    factors = np.array([0.9, 1.0, 1.1])
    logs = []
    for f in factors:
        net = mlp(30, 512, sigma_w=f * sc, sigma_b=SIGMA_B, seed=4, dtype=torch.float64)
        res = branching_ratio(
            net, fixed_point_inputs("tanh", f * sc, 512, 16, sigma_b=SIGMA_B, seed=1)
        )
        chi = meanfield("tanh", f * sc, SIGMA_B).chi_1
        assert res.sigma_inf.mean == pytest.approx(math.sqrt(chi), rel=0.01)
        assert res.sigma.mean == pytest.approx(res.sigma_inf.mean, rel=1e-3)
        logs.append(math.log(res.sigma.mean))
    assert np.interp(0.0, logs, factors) == pytest.approx(1.0, abs=0.02)  # measured: 1.014
