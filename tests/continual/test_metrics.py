"""Plasticity metrics against constructed cases: known rank, known dead and dormant units."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from criticality.continual.metrics import (
    approximate_rank,
    backward_transfer,
    dead_units,
    dormant_units,
    effective_rank,
    forgetting,
    plasticity_metrics,
    tau_dormant_scores,
    weight_magnitude,
)


def with_singular_values(values, rows=20, cols=10, seed=0):
    """A ``rows × cols`` matrix with the given singular values (random orthonormal frames)."""
    gen = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(rows, rows, generator=gen, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(cols, cols, generator=gen, dtype=torch.float64))
    s = torch.zeros(rows, cols, dtype=torch.float64)
    for i, value in enumerate(values):
        s[i, i] = value
    return u @ s @ v.T


def test_effective_rank_of_known_spectra():
    assert effective_rank(with_singular_values([2.0, 2.0, 2.0, 0, 0])) == pytest.approx(3.0)
    p = np.array([0.75, 0.25])  # singular values 3 and 1
    expected = math.exp(-(p * np.log(p)).sum())
    assert effective_rank(with_singular_values([3.0, 1.0])) == pytest.approx(expected)
    assert effective_rank(torch.zeros(5, 4)) == 0.0


def test_approximate_rank_counts_the_energy():
    # squares 90, 9, 1 (of 100): 90 % after one, 99 % after two
    h = with_singular_values([math.sqrt(90), 3.0, 1.0])
    assert approximate_rank(h, 0.99) == 2
    assert approximate_rank(h, 0.9) == 1
    assert approximate_rank(h, 0.995) == 3
    assert approximate_rank(with_singular_values([1.0] * 10), 0.99) == 10
    with pytest.raises(ValueError, match="fraction"):
        approximate_rank(h, 1.5)


def test_dead_dormant_and_tau_dormant_units_on_a_constructed_layer():
    h = torch.zeros(200, 4)
    h[:, 0] = 1.0  # always active
    h[:100, 1] = 2.0  # half the time
    h[0, 2] = 5.0  # active on 1 of 200 probes (0.5 % < 1 %): dormant, not dead
    # unit 3 never: dead
    assert dead_units(h).tolist() == [False, False, False, True]
    assert dormant_units(h).tolist() == [False, False, True, True]
    # E|h| = 1, 1, 0.025, 0; layer mean 0.50625
    expected = torch.tensor([1.0, 1.0, 0.025, 0.0]) / 0.50625
    assert torch.allclose(tau_dormant_scores(h), expected)
    assert torch.equal(tau_dormant_scores(torch.zeros(3, 2)), torch.zeros(2))


def test_network_with_known_dead_units():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.weight.fill_(0.1)
                m.bias.fill_(0.5)
        net[0].bias[[1, 3]] = -100.0  # units 1 and 3 of layer 0 never fire on inputs in [0, 1]
        net[2].bias[0] = -100.0
    probe = torch.rand(64, 3)
    m = plasticity_metrics(net, probe)
    assert m.layer_dead == (0.5, 0.2)
    assert m.dead == pytest.approx(3 / 9) and m.dormant == pytest.approx(3 / 9)
    assert m.units == (4, 5)
    weights = torch.cat([net[i].weight.detach().flatten() for i in (0, 2, 4)])
    assert m.weight_magnitude == pytest.approx(float(weights.abs().mean()))
    assert weight_magnitude(net) == pytest.approx(0.1)
    # all live units of a layer are identical: a rank-1 representation (up to the input's
    # rank-1 spread through equal weights)
    assert m.layer_rank99 == (1, 1)


def test_forgetting_and_backward_transfer_of_a_known_matrix():
    r = np.array(
        [
            [0.9, 0.0, 0.0],
            [0.6, 0.8, 0.0],
            [0.5, 0.7, 0.95],
        ]
    )
    assert backward_transfer(r) == pytest.approx(((0.5 - 0.9) + (0.7 - 0.8)) / 2)
    assert forgetting(r) == pytest.approx(((0.9 - 0.5) + (0.8 - 0.7)) / 2)
    r2 = np.array([[0.5, 0.0], [0.8, 0.9]])  # accuracy on task 0 rose later
    assert forgetting(r2) == pytest.approx(-0.3) and backward_transfer(r2) == pytest.approx(0.3)
    assert math.isnan(forgetting([[1.0]]))
    with pytest.raises(ValueError, match="square"):
        forgetting([[1.0, 2.0]])
