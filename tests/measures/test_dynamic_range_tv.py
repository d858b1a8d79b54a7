"""The ``"tv"`` response of the dynamic range against its closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from criticality.measures import dynamic_range

#: A binary classifier with logits ``(0, c w·x)`` probed at its decision boundary (``w·x = 0``):
#: a stimulus ``S`` along any direction moves the logit by ``a S`` for some ``a``, so the
#: total-variation response is ``F(S) = |σ(a S) − ½| = ½ tanh(|a| S / 2)``. With
#: ``F_min = 0`` and ``F_max = ½``, ``S_x = 2 artanh(x) / |a|``, and the dynamic range
#: ``Δ = 10 log10(artanh 0.9 / artanh 0.1) = 11.66 dB`` whatever ``a``, the direction or the input.
TV_DB = 10 * math.log10(math.atanh(0.9) / math.atanh(0.1))


@pytest.mark.parametrize(("scale", "seed"), [(3.0, 0), (0.25, 1), (40.0, 2)])
def test_tv_dynamic_range_of_a_logistic_boundary(scale: float, seed: int) -> None:
    """The measured curves are ``½ tanh(|a| S / 2)`` and ``Δ`` is 11.67 dB whatever the logit's
    scale ``a`` (set by ``scale``), the input or the direction."""
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(16, generator=gen, dtype=torch.float64)
    head = nn.Linear(16, 2, bias=False, dtype=torch.float64)
    with torch.no_grad():
        head.weight.copy_(torch.stack([torch.zeros_like(w), scale * w]))
    x = torch.randn(5, 16, generator=gen, dtype=torch.float64)
    x -= (x @ w / (w @ w)).unsqueeze(1) * w  # onto the boundary: p = (½, ½)
    res = dynamic_range(nn.Sequential(head), x, response="tv", n_dirs=1, s_min=1e-7, s_max=1e6,
                        n_stimuli=601, seed=seed)  # fmt: skip
    assert res.f_min.max() < 1e-4 and res.f_max.min() == pytest.approx(0.5, abs=1e-6)
    # each input's curve is the closed form, its slope |a_b| read off its S_0.1
    slope = 2 * math.atanh(0.1) / res.s_low  # (B,)
    closed = 0.5 * np.tanh(np.outer(slope, res.stimuli) / 2)  # (B, n_stimuli)
    assert np.abs(res.response - closed).max() < 5e-3
    assert res.s_high / res.s_low == pytest.approx(
        np.full(5, math.atanh(0.9) / math.atanh(0.1)), rel=2e-3
    )
    assert res.delta.mean == pytest.approx(TV_DB, abs=0.01)
    assert res.delta.std < 0.01  # the same for every input and direction
