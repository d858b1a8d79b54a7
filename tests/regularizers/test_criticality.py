"""CriticalityRegularizer: its log-gains against the Lyapunov measure and exact Jacobians,
its gradient against finite differences (float64), and its options."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from criticality.measures import lyapunov_spectrum
from criticality.regularizers import CriticalityRegularizer
from criticality.stages import stages

DT = torch.float64


def tanh_mlp(widths: list[int], sigma_w: float = 1.5, seed: int = 0) -> nn.Sequential:
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for d_in, d_out in itertools.pairwise(widths):
        lin = nn.Linear(d_in, d_out).to(DT)
        with torch.no_grad():
            lin.weight.copy_(
                torch.randn(d_out, d_in, generator=gen, dtype=DT) * sigma_w / d_in**0.5
            )
            lin.bias.copy_(0.1 * torch.randn(d_out, generator=gen, dtype=DT))
        layers += [lin, nn.Tanh()]
    return nn.Sequential(*layers)


@pytest.mark.parametrize("norm", ["l2", "rms"])
def test_jvp_log_gains_equal_lyapunov_local_exponents(norm: str) -> None:
    """Same initial tangent: the regularizer's ln g_l is the measure's k=1 local exponent."""
    net = tanh_mlp([6, 9, 9, 4, 7])
    x = torch.randn(5, 6, dtype=DT, generator=torch.Generator().manual_seed(1))
    init = torch.randn(5, 1, 6, dtype=DT, generator=torch.Generator().manual_seed(2))
    reg = CriticalityRegularizer(sub_batch=None, norm=norm)  # type: ignore[arg-type]
    ours = reg.log_gains(net, x, init=init)[:, 0]  # (B, L)
    ref = lyapunov_spectrum(net, x, k=1, norm=norm, init=init).local[:, :, 0]  # type: ignore[arg-type]
    torch.testing.assert_close(ours.detach(), torch.from_numpy(ref), rtol=0, atol=1e-10)


def test_finite_difference_agrees_with_jvp() -> None:
    net = tanh_mlp([6, 9, 9, 7])
    x = torch.randn(4, 6, dtype=DT, generator=torch.Generator().manual_seed(1))
    jvp = CriticalityRegularizer(sub_batch=None, n_directions=3, seed=5)
    fd = CriticalityRegularizer(sub_batch=None, n_directions=3, seed=5, estimator="fd", eps=1e-5)
    torch.testing.assert_close(fd.log_gains(net, x), jvp.log_gains(net, x), rtol=0, atol=1e-7)


def test_finite_difference_agrees_with_jvp_when_the_rank_changes() -> None:
    """A CNN: states go from (C, H, W) to flat vectors."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(48, 5)
    ).to(DT)
    x = torch.rand(3, 1, 8, 8, dtype=DT)
    jvp = CriticalityRegularizer(sub_batch=None, n_directions=2, norm="rms")
    fd = CriticalityRegularizer(
        sub_batch=None, n_directions=2, norm="rms", estimator="fd", eps=1e-6
    )
    torch.testing.assert_close(fd.log_gains(net, x), jvp.log_gains(net, x), rtol=0, atol=1e-6)


def test_orthogonal_chain_gives_ln_g_whatever_the_direction() -> None:
    gen = torch.Generator().manual_seed(0)
    chain = []
    for _ in range(4):
        q, _ = torch.linalg.qr(torch.randn(5, 5, generator=gen, dtype=DT))
        lin = nn.Linear(5, 5, bias=False).to(DT)
        with torch.no_grad():
            lin.weight.copy_(1.7 * q)
        chain.append(lin)
    reg = CriticalityRegularizer(sub_batch=None, n_directions=4, target=0.5, mode="stagewise")
    gains = reg.log_gains(chain, torch.randn(3, 5, dtype=DT))
    torch.testing.assert_close(gains, torch.full_like(gains, math.log(1.7)))
    expected = torch.tensor((math.log(1.7) - 0.5) ** 2, dtype=DT)
    torch.testing.assert_close(reg(chain, torch.randn(3, 5, dtype=DT)), expected)


def exact_expected_log_gains(net: nn.Sequential, x: torch.Tensor, n: int) -> torch.Tensor:
    """E_v[ln g_l] per input and stage from exact stage Jacobians, shape (B, L), n directions."""
    out = []
    for xi in x:
        h, v = xi, torch.randn(n, xi.numel(), dtype=DT, generator=torch.Generator().manual_seed(9))
        v = v / v.norm(dim=1, keepdim=True)
        logs = []
        for stage in stages(net):
            jac = torch.autograd.functional.jacobian(stage, h)  # (D_out, D_in)
            w = v @ jac.T  # (n, D_out)
            logs.append(w.norm(dim=1).log())
            v, h = w / w.norm(dim=1, keepdim=True), stage(h)
        out.append(torch.stack(logs, dim=1).mean(dim=0))
    return torch.stack(out)


def test_estimate_matches_exact_jacobians_in_expectation() -> None:
    """Mean over 200 random directions vs the exact mean (20,000 directions), per input and stage.

    Tolerance: 4 standard errors of the 200-direction mean (estimated from the same draws).
    """
    net = tanh_mlp([6, 8, 8, 8, 5], sigma_w=1.3)
    x = torch.randn(3, 6, dtype=DT, generator=torch.Generator().manual_seed(4))
    reg = CriticalityRegularizer(sub_batch=None, n_directions=200, seed=11)
    gains = reg.log_gains(net, x).detach()  # (B, 200, L)
    mean, se = gains.mean(dim=1), gains.std(dim=1) / 200**0.5
    exact = exact_expected_log_gains(net, x, 20_000)
    assert ((mean - exact).abs() <= 4 * se + 1e-3).all(), (mean - exact) / se


@pytest.mark.parametrize("estimator", ["jvp", "fd"])
@pytest.mark.parametrize("mode", ["global", "stagewise"])
def test_gradient_matches_finite_differences(estimator: str, mode: str) -> None:
    net = tanh_mlp([5, 6, 6, 4])
    x = torch.randn(4, 5, dtype=DT, generator=torch.Generator().manual_seed(3))
    init = torch.randn(4, 2, 5, dtype=DT, generator=torch.Generator().manual_seed(7))
    reg = CriticalityRegularizer(
        target=0.1,
        mode=mode,
        estimator=estimator,
        n_directions=2,
        sub_batch=None,
        eps=1e-5,  # type: ignore[arg-type]
    )

    def loss() -> torch.Tensor:
        return reg.penalty(reg.log_gains(net, x, init=init).mean(dim=(0, 1)))

    params = [p for p in net.parameters()]
    grads = torch.autograd.grad(loss(), params)
    step = 1e-6 if estimator == "jvp" else 1e-4  # fd: round-off of the inner step
    for p, g in zip(params, grads, strict=True):
        flat, gflat = p.data.view(-1), g.view(-1)
        for i in range(0, flat.numel(), max(1, flat.numel() // 5)):
            flat[i] += step
            up = loss().item()
            flat[i] -= 2 * step
            down = loss().item()
            flat[i] += step
            assert (up - down) / (2 * step) == pytest.approx(gflat[i].item(), abs=1e-6, rel=1e-5)


def test_every_skips_calls_and_the_count_is_saved() -> None:
    net = tanh_mlp([4, 4, 4])
    x = torch.randn(8, 4, dtype=DT)
    reg = CriticalityRegularizer(every=3)
    values = [float(reg(net, x).detach()) for _ in range(6)]
    assert [v != 0 for v in values] == [True, False, False, True, False, False]
    fresh = CriticalityRegularizer(every=3)
    fresh.load_state_dict(reg.state_dict())
    assert int(fresh.counter.count) == 6


def test_tangents_repeat_with_the_call_count() -> None:
    net = tanh_mlp([4, 4, 4])
    x = torch.randn(8, 4, dtype=DT)
    a, b = CriticalityRegularizer(seed=3), CriticalityRegularizer(seed=3)
    assert [float(a(net, x).detach()) for _ in range(3)] == [
        float(b(net, x).detach()) for _ in range(3)
    ]


def test_sub_batch_and_eval_mode() -> None:
    net = nn.Sequential(nn.Linear(4, 6), nn.Dropout(0.5), nn.Tanh(), nn.Linear(6, 3)).to(DT).train()
    reg = CriticalityRegularizer(sub_batch=2, n_directions=3)
    gains = reg.log_gains(net, torch.randn(10, 4, dtype=DT))
    assert gains.shape == (2, 3, 2)  # (S, n, L)
    assert net.training and net[1].training  # flags restored
    x = torch.randn(10, 4, dtype=DT)
    # dropout is off while measuring: two calls with the same seed agree
    torch.testing.assert_close(reg.log_gains(net, x), reg.log_gains(net, x))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"mode": "local"}, ValueError),
        ({"estimator": "exact"}, ValueError),
        ({"norm": "l1"}, ValueError),
        ({"sub_batch": 0}, ValueError),
        ({"n_directions": 0}, ValueError),
        ({"every": 0}, ValueError),
        ({"eps": 0.0}, ValueError),
    ],
)
def test_bad_options_raise(kwargs: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        CriticalityRegularizer(**kwargs)


def test_bad_inputs_raise() -> None:
    reg = CriticalityRegularizer()
    with pytest.raises(TypeError):
        reg(tanh_mlp([4, 4]), torch.ones(3, 4, dtype=torch.int64))
    with pytest.raises(TypeError):
        reg("not a model", torch.randn(3, 4))  # type: ignore[arg-type]


def test_step_counter_resumes_from_a_loaded_state_dict() -> None:
    """The count lives on the host between ticks (no device read per step on a GPU) and is
    read again from the buffer after ``load_state_dict``."""
    a = CriticalityRegularizer(every=2)
    for _ in range(3):
        a.counter.tick()
    b = CriticalityRegularizer(every=2)
    b.counter.tick()  # b's host copy is now 1
    b.load_state_dict(a.state_dict())
    assert b.counter.tick() == (3, False)
    assert int(b.counter.count) == 4 and b.counter.tick() == (4, True)
