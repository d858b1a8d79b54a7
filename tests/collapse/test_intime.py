"""Criticality in time on linear recurrences with known spectra, and the GRU's step map."""

from __future__ import annotations

import math

import torch
from torch import nn

from criticality.collapse import GRUStackStep, lyapunov_in_time


class Linear(nn.Module):
    """``h_t = W h_{t−1} + U x_t``."""

    def __init__(self, w: torch.Tensor, u: torch.Tensor) -> None:
        super().__init__()
        self.w, self.u = nn.Parameter(w), nn.Parameter(u)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return h @ self.w.T + x @ self.u.T


def test_scaled_orthogonal_recurrence_has_all_exponents_ln_g() -> None:
    gen = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=gen, dtype=torch.float64))
    step = Linear(0.8 * q, torch.randn(6, 3, generator=gen, dtype=torch.float64))
    x = torch.randn(4, 25, 3, generator=gen, dtype=torch.float64)
    res = lyapunov_in_time(step, x, torch.zeros(4, 6, dtype=torch.float64), k=6)
    torch.testing.assert_close(
        torch.as_tensor(res.exponents), torch.full((6,), math.log(0.8)).double()
    )
    assert len(res.stage_names) == 25


def test_symmetric_recurrence_gives_ln_of_its_eigenvalue_moduli() -> None:
    gen = torch.Generator().manual_seed(1)
    q, _ = torch.linalg.qr(torch.randn(5, 5, generator=gen, dtype=torch.float64))
    mu = torch.tensor([1.3, -0.9, 0.6, 0.3, -0.1], dtype=torch.float64)
    step = Linear(q @ torch.diag(mu) @ q.T, torch.randn(5, 2, generator=gen, dtype=torch.float64))
    x = torch.randn(3, 400, 2, generator=gen, dtype=torch.float64)
    res = lyapunov_in_time(step, x, torch.zeros(3, 5, dtype=torch.float64), k=5, burn_in=50)
    expected = torch.log(mu.abs().sort(descending=True).values)
    # Converges as 1/T: the transient alignment costs O(1) nats over T − burn_in = 350 steps.
    torch.testing.assert_close(torch.as_tensor(res.exponents), expected, atol=0.02, rtol=0)
    assert abs(res.lambda_max.mean - math.log(1.3)) < 0.01  # λ_1 = ln ρ(W)


def test_gru_step_reproduces_nn_gru_and_measures() -> None:
    torch.manual_seed(0)
    grus = nn.ModuleList([nn.GRU(3, 8, batch_first=True), nn.GRU(8, 8, batch_first=True)])
    x = torch.randn(2, 12, 3)
    h = x
    for g in grus:
        h = g(h)[0]  # (B, T, 8): the last layer's states
    step, state, outs = GRUStackStep(grus), torch.zeros(2, 16), []
    for t in range(12):
        state = step(x[:, t], state)
        outs.append(state[:, 8:])
    torch.testing.assert_close(torch.stack(outs, dim=1), h)
    res = lyapunov_in_time(step, x, torch.zeros(2, 16), k=2, burn_in=4)
    assert res.exponents.shape == (2,) and len(res.stage_names) == 8
    assert res.exponents[0] >= res.exponents[1]
