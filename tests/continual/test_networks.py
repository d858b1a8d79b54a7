"""Learners: Dohare et al.'s initialisation; an ensemble step is S independent learner steps."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from criticality.continual.networks import (
    EnsembleLinear,
    is_ensemble,
    member,
    mlp,
    n_members,
    stack,
)


def test_mlp_is_kaiming_uniform_with_zero_biases():
    net = mlp(400, (300, 300), 10, seed=0).requires_grad_(False)
    first, read_out = net[0], net[-1]
    bound = math.sqrt(2.0) * math.sqrt(3.0 / 400)  # ReLU gain √2
    assert float(first.weight.abs().max()) <= bound
    assert float(first.weight.abs().max()) > 0.99 * bound
    assert float(first.weight.var()) == pytest.approx(2.0 / 400, rel=0.03)  # Kaiming: 2/fan_in
    assert float(read_out.weight.abs().max()) <= math.sqrt(3.0 / 300)  # gain 1 at the read-out
    assert all(float(m.bias.abs().max()) == 0.0 for m in net if isinstance(m, nn.Linear))
    assert torch.equal(mlp(400, (300, 300), 10, seed=0)[0].weight, first.weight)
    assert not torch.equal(mlp(400, (300, 300), 10, seed=1)[0].weight, first.weight)


def test_layer_norm_sits_before_each_activation():
    net = mlp(5, (4, 3), 2, layer_norm=True, activation="tanh")
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Linear", "LayerNorm", "Tanh", "Linear", "LayerNorm", "Tanh", "Linear"]
    with pytest.raises(ValueError, match="unknown activation"):
        mlp(5, (4,), 2, activation="gelu2")


@pytest.mark.parametrize("layer_norm", [False, True])
def test_ensemble_member_computes_what_its_network_computes(layer_norm):
    nets = [mlp(6, (5, 4), 3, layer_norm=layer_norm, seed=s).double() for s in range(3)]
    ens = stack(nets).double()
    x = torch.randn(3, 7, 6, dtype=torch.float64)
    out = ens(x)
    for s, net in enumerate(nets):
        assert torch.allclose(out[s], net(x[s]), atol=1e-12)
        copy = member(ens, s)
        assert torch.allclose(copy(x[s]), net(x[s]), atol=1e-12)
    assert is_ensemble(ens) and n_members(ens) == 3 and n_members(nets[0]) == 1
    assert member(nets[0], 0) is nets[0]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_one_ensemble_step_is_independent_learner_steps(optimizer):
    """Loss summed over members: each member's gradient and update are its own."""
    nets = [mlp(6, (5, 4), 3, seed=s).double() for s in range(3)]
    ens = stack(nets).double()

    def make(params):
        if optimizer == "sgd":
            return torch.optim.SGD(params, lr=0.1, weight_decay=0.01)
        return torch.optim.Adam(params, lr=0.01)

    x, y = torch.randn(3, 2, 6, dtype=torch.float64), torch.randint(0, 3, (3, 2))
    opt = make(ens.parameters())
    for _ in range(3):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(ens(x).flatten(0, 1), y.flatten(), reduction="sum") / 2
        loss.backward()
        opt.step()
    for s, net in enumerate(nets):
        o = make(net.parameters())
        for _ in range(3):
            o.zero_grad()
            nn.functional.cross_entropy(net(x[s]), y[s]).backward()
            o.step()
        assert torch.allclose(member(ens, s)[0].weight, net[0].weight, atol=1e-12)
        assert torch.allclose(member(ens, s)[-1].bias, net[-1].bias, atol=1e-12)


def test_stack_rejects_mixed_architectures():
    with pytest.raises(ValueError, match="one architecture"):
        stack([mlp(4, (3,), 2), mlp(4, (3,), 2, layer_norm=True)])
    with pytest.raises(ValueError, match="at least one"):
        stack([])
    assert EnsembleLinear(2, 3, 4)(torch.zeros(2, 5, 3)).shape == (2, 5, 4)


def test_member_loss_is_the_sum_of_member_means():
    from criticality.continual.networks import member_loss

    out = torch.randn(3, 4, 5)
    y = torch.randint(0, 5, (3, 4))
    ce = member_loss("classification")(out, y)
    assert torch.allclose(ce, sum(nn.functional.cross_entropy(out[s], y[s]) for s in range(3)))
    reg = member_loss("regression")(out[..., :1], y[..., None].float())
    expected = sum(nn.functional.mse_loss(out[s, :, :1], y[s, :, None].float()) for s in range(3))
    assert torch.allclose(reg, expected)
    with pytest.raises(ValueError, match="kind"):
        member_loss("ranking")


def test_add_layer_norm_and_member_refuse_other_networks():
    from criticality.continual.networks import add_layer_norm

    with pytest.raises(TypeError, match=r"flat nn\.Sequential"):
        add_layer_norm(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="stack"):
        member(nn.ModuleList([EnsembleLinear(2, 3, 4)]), 0)
    with pytest.raises(ValueError, match="only member 0"):
        member(mlp(2, (3,), 1), 1)
