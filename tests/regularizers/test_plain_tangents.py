"""The regularizer's plain-autograd path for Linear/activation stages: the same log-gains and the
same gradient as the forward-AD path, the fallback for other stages, and the stage cache."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Sequence

import pytest
import torch
from torch import nn

from criticality.measures import lyapunov_spectrum
from criticality.regularizers import CriticalityRegularizer
from criticality.regularizers._plain_tangents import plan
from criticality.stages import stages


def mlp(act: nn.Module, *, bias: bool = True, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(12, 16, bias=bias),
        act,
        nn.Dropout(0.3),
        nn.Linear(16, 16, bias=bias),
        copy.deepcopy(act),
        nn.Linear(16, 5, bias=bias),
    )


def general(stage_list: Sequence[nn.Module]) -> Sequence[nn.Module]:
    """The same stages forced onto the forward-AD path (a hooked module is never planned)."""
    for s in stage_list:
        s.register_forward_hook(lambda *args: None)
    return stage_list


def gains_and_grads(
    net: nn.Module, stage_list: Sequence[nn.Module], x: torch.Tensor, **kwargs: object
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    reg = CriticalityRegularizer(sub_batch=None, n_directions=2, **kwargs)  # type: ignore[arg-type]
    gains = reg.log_gains(list(stage_list), x, seed=4)
    penalty = reg.penalty(gains.mean(dim=(0, 1)))
    grads = torch.autograd.grad(
        penalty, list(net.parameters()), allow_unused=True, materialize_grads=True
    )
    return gains.detach(), list(grads)


ACTIVATIONS = [
    nn.Tanh(),
    nn.ReLU(),
    nn.ReLU(inplace=True),
    nn.Sigmoid(),
    nn.GELU(),
    nn.GELU(approximate="tanh"),
    nn.SiLU(),
    nn.Identity(),
]


@pytest.mark.parametrize("act", ACTIVATIONS, ids=repr)
@pytest.mark.parametrize("norm", ["l2", "rms"])
def test_plain_path_equals_forward_ad_path(act: nn.Module, norm: str) -> None:
    """float32: log-gains and the penalty's gradient agree to round-off (the ops are the same)."""
    net = mlp(act).train()  # the plain path needs no eval(): dropout is the identity there
    x = torch.randn(6, 3, 4, generator=torch.Generator().manual_seed(1))
    plain_stages = stages(net)
    assert all(plan(s) is not None for s in plain_stages)
    ours, ours_grad = gains_and_grads(net, plain_stages, x, norm=norm)
    ref, ref_grad = gains_and_grads(net, general(stages(net)), x, norm=norm)
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-6)
    for g, r in zip(ours_grad, ref_grad, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-7)
    assert net.training and net[3].training


def test_plain_path_equals_lyapunov_local_exponents_in_float64() -> None:
    net = mlp(nn.Tanh(), bias=False).double()
    x = torch.randn(5, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    init = torch.randn(5, 1, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    reg = CriticalityRegularizer(sub_batch=None)
    ours = reg.log_gains(net, x, init=init)[:, 0]
    ref = lyapunov_spectrum(net, x, k=1, init=init).local[:, :, 0]  # type: ignore[attr-defined]
    torch.testing.assert_close(ours.detach(), torch.from_numpy(ref), rtol=0, atol=1e-10)


class MyLinear(nn.Linear):
    pass


@pytest.mark.parametrize(
    "stage",
    [
        nn.Conv2d(1, 2, 3),
        nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)),
        nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)),
        nn.Sequential(nn.Linear(4, 4), nn.ELU()),
        MyLinear(4, 4),  # a subclass may change forward
        nn.Flatten(0),  # would merge the batch
    ],
    ids=repr,
)
def test_other_stages_are_not_planned(stage: nn.Module) -> None:
    assert plan(stage) is None
    hooked = nn.Sequential(nn.Linear(4, 4), nn.Tanh())
    assert plan(hooked) is not None
    hooked[1].register_forward_pre_hook(lambda *args: None)
    assert plan(hooked) is None


def test_mixed_network_equals_lyapunov_local_exponents() -> None:
    """Conv and BatchNorm stages take the forward-AD path (in eval mode), the readout the plain
    one; together they still give the measure's k=1 local exponents (float64)."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1),
        nn.BatchNorm2d(3),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(48, 8),
        nn.Tanh(),
        nn.Linear(8, 4),
    ).double()
    net(torch.randn(16, 1, 4, 4, dtype=torch.float64))  # running statistics away from 0/1
    net.train()
    assert [plan(s) is None for s in stages(net)] == [True, False, False]
    x = torch.randn(3, 1, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    init = torch.randn(
        3, 1, 1, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2)
    )
    reg = CriticalityRegularizer(sub_batch=None, norm="rms")
    ours = reg.log_gains(net, x, init=init)[:, 0].detach()
    ref = lyapunov_spectrum(net, x, k=1, norm="rms", init=init).local[:, :, 0]  # type: ignore[attr-defined]
    torch.testing.assert_close(ours, torch.from_numpy(ref), rtol=0, atol=1e-10)
    assert net.training and net[1].training  # flags restored


def test_stage_cache_follows_the_model() -> None:
    net = mlp(nn.Tanh())
    x = torch.randn(4, 12)
    reg = CriticalityRegularizer(sub_batch=None)
    first = reg._stages(net)
    assert reg._stages(net) is first  # not split again
    before = reg.log_gains(net, x, seed=1)
    net[2] = nn.ReLU()  # a module replaced: split again
    assert reg._stages(net) is not first
    after = reg.log_gains(net, x, seed=1)
    fresh = CriticalityRegularizer(sub_batch=None).log_gains(net, x, seed=1)
    torch.testing.assert_close(after, fresh, rtol=0, atol=0)
    assert not torch.equal(before, after)
    other = mlp(nn.Tanh(), seed=1)
    torch.testing.assert_close(
        reg.log_gains(other, x, seed=1),
        CriticalityRegularizer(sub_batch=None).log_gains(other, x, seed=1),
        rtol=0,
        atol=0,
    )


def test_copies_of_the_regularizer_carry_no_model() -> None:
    net = mlp(nn.Tanh())
    reg = CriticalityRegularizer()
    reg(net, torch.randn(4, 12))
    for clone in (copy.deepcopy(reg), pickle.loads(pickle.dumps(reg))):
        assert clone._stages._stages == [] and clone._stages._modules == ()
        assert int(clone.counter.count) == 1
