"""Susceptibility: peak location on random tanh MLPs, the peak rule, and the model untouched."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from criticality.measures import critical_sigma_w, susceptibility
from criticality.measures.susceptibility import _gain_grid, _peak
from criticality.zoo import fixed_point_inputs, mlp

SIGMA_B = 0.3


def test_peak_of_a_parabola_in_log_gain() -> None:
    gains = _gain_grid(0.5, 2.0, 25)
    assert 1.0 in gains and np.all(np.diff(gains) > 0)
    chi = 3.0 - (np.log(gains) - math.log(1.17)) ** 2
    assert _peak(gains, chi) == pytest.approx(1.17, rel=1e-9)
    assert _peak(gains, np.arange(25.0)) == pytest.approx(2.0)  # edge: no refinement


def test_peak_sits_at_one_effective_weight_scale_near_the_edge_of_chaos() -> None:
    """Scaling the starting σ_w moves g* so that σ_w · g* stays put, near the critical σ_w.

    Averaged over three networks of width 128: single networks scatter by a few percent, and
    narrower ones peak higher (width 64: 1.04-1.15 σ_w* on six seeds, a finite-size shift).
    Measured here: 0.952, 0.993, 1.001 (σ_w = 0.8 σ_w*) and 0.953, 0.995, 0.985 (1.25 σ_w*).
    """
    sc = critical_sigma_w("tanh", SIGMA_B)
    effective = np.zeros((3, 2))  # (seed, start) -> σ_w · g* / σ_w*
    for seed in range(3):
        x = fixed_point_inputs("tanh", sc, 128, 16, sigma_b=SIGMA_B, seed=1)
        for j, f in enumerate((0.8, 1.25)):
            net = mlp(20, 128, sigma_w=f * sc, sigma_b=SIGMA_B, seed=seed, dtype=torch.float64)
            res = susceptibility(net, x, n_gains=33, n_boot=50)
            assert res.chi.shape == (33,) and res.response.shape == (33, 16)
            assert res.peak_gain.ci_low <= res.peak_gain.mean <= res.peak_gain.ci_high
            assert res.chi[0] == 0.0  # deep in order no input amplifies the stimulus
            effective[seed, j] = f * res.peak_gain.mean
    start_low, start_high = effective.mean(axis=0)
    assert start_low == pytest.approx(start_high, rel=0.03)
    assert effective.mean() == pytest.approx(1.0, abs=0.1)


def test_model_left_as_it_was() -> None:
    net = mlp(3, 16, sigma_w=1.0, seed=0, dtype=torch.float64)
    before = [p.clone() for p in net.parameters()]
    susceptibility(net, torch.randn(4, 16, dtype=torch.float64), n_gains=5, n_boot=5)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))


@pytest.mark.parametrize(
    ("options", "inputs"),
    [
        ({"g_min": 1.2}, 4),
        ({"g_max": 0.9}, 4),
        ({"n_gains": 2}, 4),
        ({"epsilon": 0.0}, 4),
        ({}, 1),
    ],
)
def test_bad_options_raise(options: dict[str, float], inputs: int) -> None:
    net = mlp(2, 8, seed=0, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"need|must"):
        susceptibility(net, torch.randn(inputs, 8, dtype=torch.float64), **options)  # type: ignore[arg-type]
