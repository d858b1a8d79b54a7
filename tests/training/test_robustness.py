"""FGSM and PGD against closed forms on linear models and against torchattacks; evaluation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from criticality.training import RobustnessResult, accuracy, evaluate_robustness, fgsm, pgd

DT = torch.float64


def binary_linear(w: torch.Tensor, b: float) -> nn.Module:
    """Logits ``[0, w·x + b]``: the margin of class 1 is ``m(x) = w·x + b``."""
    lin = nn.Linear(w.numel(), 2).to(w.dtype)
    with torch.no_grad():
        lin.weight.copy_(torch.stack([torch.zeros_like(w), w]))
        lin.bias.copy_(torch.tensor([0.0, b], dtype=w.dtype))
    return lin


def margin(w: torch.Tensor, b: float, x: torch.Tensor) -> torch.Tensor:
    return x @ w + b


def test_fgsm_moves_the_margin_by_eps_times_l1_norm() -> None:
    """For a linear margin, the worst L∞ step of size ε changes it by exactly ε‖w‖₁."""
    gen = torch.Generator().manual_seed(0)
    w, b = torch.randn(7, generator=gen, dtype=DT), 0.3
    x = torch.rand(5, 7, generator=gen, dtype=DT)
    y = torch.tensor([1, 0, 1, 0, 1])
    eps = 0.05
    x_adv = fgsm(binary_linear(w, b), x, y, eps, clip=False)
    change = margin(w, b, x_adv) - margin(w, b, x)
    expected = eps * w.abs().sum() * torch.where(y == 1, -1.0, 1.0).to(DT)
    torch.testing.assert_close(change, expected)


def test_pgd_reaches_the_vertex_of_the_ball() -> None:
    """On a linear model the L∞-optimal point is ``x ∓ ε sign(w)``; PGD must end there."""
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(6, generator=gen, dtype=DT)
    x = torch.rand(4, 6, generator=gen, dtype=DT)
    y = torch.tensor([1, 1, 0, 0])
    x_adv = pgd(
        binary_linear(w, -0.2), x, y, 0.1, steps=8, alpha=0.03, random_start=True, clip=False
    )
    direction = torch.where(y == 1, -1.0, 1.0).to(DT).unsqueeze(1) * w.sign()
    torch.testing.assert_close(x_adv, x + 0.1 * direction)


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 64, 10)
    ).eval()


def test_pgd_stays_in_the_ball_and_in_range() -> None:
    model = small_cnn()
    x = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    y = torch.arange(8)
    x_adv = pgd(model, x, y, 0.1, steps=5, seed=3)
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert torch.equal(x_adv, pgd(model, x, y, 0.1, steps=5, seed=3))  # seeded


def test_attacks_agree_with_torchattacks() -> None:
    """Reference: torchattacks 3.5.1 (``pip install --no-deps torchattacks==3.5.1``)."""
    torchattacks = pytest.importorskip("torchattacks", reason="torchattacks is not installed")
    model = small_cnn()
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    y = torch.randint(0, 10, (16,), generator=torch.Generator().manual_seed(5))
    ref = torchattacks.FGSM(model, eps=0.1)(x, y)
    torch.testing.assert_close(fgsm(model, x, y, 0.1), ref, rtol=0, atol=1e-6)
    ref = torchattacks.PGD(model, eps=0.1, alpha=0.02, steps=7, random_start=False)(x, y)
    ours = pgd(model, x, y, 0.1, alpha=0.02, steps=7, random_start=False)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)


def test_accuracy_and_attacks_leave_the_model_as_it_was() -> None:
    model = small_cnn().train()
    x = torch.rand(6, 1, 8, 8)
    y = model.eval()(x).argmax(dim=1)
    model.train()
    assert accuracy(model, x, y, batch_size=4) == 1.0
    fgsm(model, x, y, 0.1)
    assert model.training and all(p.grad is None for p in model.parameters())


def test_evaluate_robustness_shapes_and_round_trip() -> None:
    model = small_cnn()
    x = torch.rand(20, 1, 8, 8, generator=torch.Generator().manual_seed(6))
    y = model(x).argmax(dim=1)
    res = evaluate_robustness(
        model,
        x,
        y,
        noise_levels=(0.1, 0.5),
        severities=(1, 5),
        fgsm_eps=(0.1,),
        pgd_eps=(0.1,),
        pgd_steps=3,
        batch_size=8,
    )
    assert res.clean == 1.0 and len(res.noise) == 2 and len(res.corrupted) == 6
    assert all(len(row) == 2 for row in res.corrupted)
    assert res.pgd[0] <= res.clean and set(res.summary()) == {
        "clean",
        "noise",
        "corruption",
        "fgsm",
        "pgd",
    }
    assert RobustnessResult.from_dict(res.to_dict()) == res


def test_attacked_accuracy_is_the_share_of_margins_beyond_eps_l1() -> None:
    """A correct linear prediction survives every L∞ attack of size ε iff its margin exceeds
    ε‖w‖₁; FGSM and PGD reach that worst case on a linear model, so the robust accuracy is
    exactly the share of such inputs — strictly below the clean accuracy here."""
    gen = torch.Generator().manual_seed(4)
    w, b, eps = torch.randn(5, generator=gen, dtype=DT), 0.1, 0.05
    x = torch.rand(400, 5, generator=gen, dtype=DT)
    m = margin(w, b, x)
    y = (m > 0).long()  # every clean prediction is right
    expected = (m.abs() > eps * w.abs().sum()).double().mean().item()
    res = evaluate_robustness(binary_linear(w, b), x, y, noise_levels=(), severities=(),
                              fgsm_eps=(eps,), pgd_eps=(eps,), pgd_steps=10)  # fmt: skip
    assert res.clean == 1.0
    assert 0.5 < expected < 0.95  # the attack must flip a fair share of the inputs
    assert res.fgsm[0] == pytest.approx(expected, abs=1e-12)
    assert res.pgd[0] == pytest.approx(expected, abs=1e-12)
