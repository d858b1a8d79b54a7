"""JacobianRegularizer (Hoffman et al. 2019): ‖J‖_F² vs exact Jacobians; gradients (float64)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from criticality.regularizers import JacobianRegularizer
from criticality.regularizers._common import call_seed

DT = torch.float64


def small_net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).to(DT)


def test_linear_model_gives_frobenius_norm_of_the_weight() -> None:
    """``C E_v ‖vᵀW‖² = ‖W‖_F²`` exactly when averaged over an orthonormal basis; here 4,000
    random projections: within 5 %."""
    lin = nn.Linear(6, 4).to(DT)
    reg = JacobianRegularizer(n_projections=4000, sub_batch=None)
    est = reg.frobenius_sq(lin, torch.randn(2, 6, dtype=DT))
    exact = lin.weight.detach().pow(2).sum()
    assert torch.allclose(est.detach(), exact.expand(2), rtol=0.05)


def test_estimate_matches_exact_jacobian_in_expectation() -> None:
    net = small_net()
    x = torch.randn(3, 5, dtype=DT)
    exact = torch.stack(
        [torch.autograd.functional.jacobian(net, xi).pow(2).sum() for xi in x]
    )  # (B,)
    reg = JacobianRegularizer(n_projections=4000, sub_batch=None, seed=1)
    assert torch.allclose(reg.frobenius_sq(net, x).detach(), exact, rtol=0.05)


def test_penalty_is_half_weight_times_mean() -> None:
    net = small_net()
    x = torch.randn(4, 5, dtype=DT)
    reg = JacobianRegularizer(weight=0.3, n_projections=2, sub_batch=None, seed=4)
    expected = 0.15 * reg.frobenius_sq(net, x, seed=call_seed(4, 0)).mean()  # the first call
    torch.testing.assert_close(reg(net, x), expected)


def test_gradient_matches_finite_differences() -> None:
    net = small_net()
    x = torch.randn(3, 5, dtype=DT)
    reg = JacobianRegularizer(n_projections=2, sub_batch=None)

    def loss() -> torch.Tensor:
        return reg.frobenius_sq(net, x, seed=2).mean()

    params = list(net.parameters())[:-1]  # the last bias does not change J
    grads = torch.autograd.grad(loss(), params)
    for p, g in zip(params, grads, strict=True):
        flat = p.data.view(-1)
        for i in range(0, flat.numel(), max(1, flat.numel() // 4)):
            flat[i] += 1e-6
            up = loss().item()
            flat[i] -= 2e-6
            down = loss().item()
            flat[i] += 1e-6
            assert (up - down) / 2e-6 == pytest.approx(g.view(-1)[i].item(), abs=1e-7, rel=1e-5)


def test_options_and_validation() -> None:
    net = small_net()
    x = torch.randn(8, 5, dtype=DT)
    reg = JacobianRegularizer(every=2)
    assert float(reg(net, x).detach()) > 0 and float(reg(net, x).detach()) == 0
    with pytest.raises(ValueError):
        JacobianRegularizer(n_projections=0)
    with pytest.raises(ValueError):
        JacobianRegularizer(sub_batch=0)
