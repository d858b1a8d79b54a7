"""The ``"tv"`` response of the dynamic range against its closed form."""

from __future__ import annotations

import math

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


def test_tv_dynamic_range_of_a_logistic_boundary() -> None:
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(16, generator=gen, dtype=torch.float64)
    head = nn.Linear(16, 2, bias=False, dtype=torch.float64)
    with torch.no_grad():
        head.weight.copy_(torch.stack([torch.zeros_like(w), 3.0 * w]))
    x = torch.randn(5, 16, generator=gen, dtype=torch.float64)
    x -= (x @ w / (w @ w)).unsqueeze(1) * w  # onto the boundary: p = (½, ½)
    res = dynamic_range(nn.Sequential(head), x, response="tv", n_dirs=1, s_min=1e-6, s_max=1e4,
                        n_stimuli=401)  # fmt: skip
    assert res.f_min.max() < 1e-4 and res.f_max.min() == pytest.approx(0.5, abs=1e-6)
    assert round(TV_DB, 2) == 11.67
    assert res.delta.mean == pytest.approx(TV_DB, abs=0.01)  # measured: 11.6677 vs 11.6652
    assert res.delta.std < 0.01  # the same for every input and direction
