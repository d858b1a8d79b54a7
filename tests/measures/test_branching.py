"""Branching ratio: linear chains of g·Q, the ε → 0 limit, and the edge of chaos of tanh MLPs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from criticality.measures import branching_ratio, critical_sigma_w, meanfield
from criticality.zoo import fixed_point_inputs, mlp, orthogonal_chain

SIGMA_B = 0.3


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("g", [0.7, 1.0, 1.3])
def test_linear_chain_sigma_equals_g(g: float, seed: int) -> None:
    x = torch.randn(4, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
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


def _mean_field_tolerance(width: int, depth: int, n_inputs: int) -> float:
    """How far ``ln σ_inf`` of one finite network may sit from mean field's ``½ ln χ_1``.

    Each stage's log gain fluctuates around its mean-field value with variance about
    ``1 / (2 width)`` (the log of a chi-square-like sum over ``width`` units), independently
    per stage and input, so the estimate averaged over ``depth`` stages and ``n_inputs``
    inputs has a standard deviation of ``(2 width depth n_inputs)^-½``; on top, mean field is
    exact only as ``width → ∞`` (a bias of order ``1 / width``). Five standard deviations plus
    that bias: 0.021 at width 256, depth 20, 8 inputs (seeds 0-5 measured at most 0.0084).
    """
    return 5 * (2 * width * depth * n_inputs) ** -0.5 + 1 / width


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_sigma_tracks_mean_field_and_crosses_one_at_the_edge_of_chaos(seed: int) -> None:
    sc = critical_sigma_w("tanh", SIGMA_B)
    factors = np.array([0.85, 1.0, 1.2])
    width, depth, n_inputs = 256, 20, 8
    tol = _mean_field_tolerance(width, depth, n_inputs)
    log_sigma, log_sigma_inf, half_log_chi = [], [], []
    for f in factors:
        net = mlp(depth, width, sigma_w=f * sc, sigma_b=SIGMA_B, seed=seed, dtype=torch.float64)
        inputs = fixed_point_inputs("tanh", f * sc, width, n_inputs, sigma_b=SIGMA_B, seed=seed)
        res = branching_ratio(net, inputs, seed=seed)
        half_log_chi.append(0.5 * math.log(meanfield("tanh", f * sc, SIGMA_B).chi_1))
        assert math.log(res.sigma_inf.mean) == pytest.approx(half_log_chi[-1], abs=tol)
        log_sigma.append(math.log(res.sigma.mean))
        log_sigma_inf.append(math.log(res.sigma_inf.mean))
    # the crossing moves by at most the error of ln σ over the slope of ½ ln χ_1 there, from
    # where mean field's own (interpolated) curve crosses 0
    slope = min(np.diff(half_log_chi) / np.diff(factors))
    expected = np.interp(0.0, half_log_chi, factors)
    for logs in (log_sigma, log_sigma_inf):
        assert logs[0] < 0 < logs[2]
        crossing = np.interp(0.0, logs, factors)  # σ_w / σ_w* where ln σ = 0
        assert crossing == pytest.approx(expected, abs=tol / slope)


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
