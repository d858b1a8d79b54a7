"""The small classifiers: one seeding rule, stages that compose to the model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from criticality.experiments.zoo.minizoo import MINI_ZOO
from criticality.stages import stages
from criticality.zoo import NetSpec, build_net, init_gaussian_, init_generator, mlp, mlp_classifier


@pytest.mark.parametrize("spec", MINI_ZOO, ids=lambda s: s.name)
def test_mini_zoo_nets_split_into_their_blocks(spec: NetSpec) -> None:
    model = build_net(spec, seed=0).eval()
    x = torch.rand(2, 1, 28, 28)
    chain = stages(model)
    h = x
    for stage in chain:
        h = stage(h)
    torch.testing.assert_close(h, model(x))
    assert len(chain) >= spec.depth


def test_one_seeding_rule_for_every_builder() -> None:
    # the first layer's weights are the first draw of init_generator(seed), scaled by σ_w/√fan_in
    gen = init_generator(3)
    w = torch.randn(16, 64, generator=gen) * 1.5 / 8.0
    assert torch.equal(mlp(2, 16, in_dim=64, sigma_w=1.5, seed=3)[0].weight, w)
    clf = mlp_classifier((1, 8, 8), 10, depth=2, width=16, sigma_w=1.5, seed=3)
    assert torch.equal(clf[1].weight, w)
    spec = NetSpec("m", "mlp", 1, 16, "tanh", 1.5)
    assert torch.equal(build_net(spec, in_shape=(1, 8, 8), seed=3)[1].weight, w)
    assert torch.all(build_net(spec, in_shape=(1, 8, 8), seed=3)[1].bias == 0)  # σ_b = 0


def test_init_gaussian_has_the_mean_field_variances() -> None:
    layer = nn.Linear(400, 300)
    init_gaussian_(layer, 2.0, 0.5, seed=0)
    assert layer.weight.var().item() == pytest.approx(2.0**2 / 400, rel=0.02)
    assert layer.bias.var().item() == pytest.approx(0.5**2, rel=0.2)
