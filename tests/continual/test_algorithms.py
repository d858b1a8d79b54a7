"""The baselines' operations against hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from criticality.continual.algorithms import (
    ContinualBackprop,
    L2Init,
    ReDo,
    mixed_generator,
    perturb_,
)
from criticality.continual.networks import init_bound, member, mlp, stack
from criticality.continual.units import hidden_layers, record_activations, reinit_units


def test_hidden_layers_of_an_mlp_and_an_ensemble():
    net = mlp(7, (5, 4), 3, layer_norm=True)
    layers = hidden_layers(net)
    assert [(lay.width, lay.fan_in, lay.activation_name) for lay in layers] == [
        (5, 7, "relu"),
        (4, 5, "relu"),
    ]
    assert layers[0].norm is net[1] and layers[0].activation is net[2]
    assert layers[1].outgoing is net[-1]
    ens_layers = hidden_layers(stack([mlp(7, (5, 4), 3), mlp(7, (5, 4), 3, seed=1)]))
    assert ens_layers[0].in_rows().shape == (2, 5, 7)
    assert ens_layers[1].out_rows().shape == (2, 4, 3)
    with pytest.raises(TypeError, match="Linear/LayerNorm"):
        hidden_layers(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2, 1)))


def test_reinit_draws_fresh_rows_silences_outputs_and_zeroes_optimizer_state():
    net = mlp(6, (5,), 3, seed=0)
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    net(torch.randn(4, 6)).sum().backward()
    opt.step()
    before = [p.detach().clone() for p in net.parameters()]
    layer = hidden_layers(net)[0]
    mask = torch.tensor([False, True, False, True, False])
    n = reinit_units(layer, mask, mixed_generator(7, 1), opt)
    assert n == 2
    b = init_bound(6, "relu")
    fresh = torch.rand(2, 6, generator=mixed_generator(7, 1)) * 2 * b - b
    w = net[0].weight.detach()
    assert torch.equal(w[[1, 3]], fresh)
    assert torch.equal(w[[0, 2, 4]], before[0][[0, 2, 4]])
    assert net[0].bias.detach()[[1, 3]].tolist() == [0.0, 0.0]
    assert torch.equal(net[2].weight.detach()[:, [1, 3]], torch.zeros(3, 2))
    assert torch.equal(net[2].weight.detach()[:, [0, 2, 4]], before[2][:, [0, 2, 4]])
    state = opt.state[net[0].weight]
    assert float(state["exp_avg"][[1, 3]].abs().sum()) == 0.0
    assert float(state["exp_avg_sq"][[0, 2, 4]].abs().sum()) > 0.0
    assert float(opt.state[net[2].weight]["exp_avg_sq"][:, [1, 3]].abs().sum()) == 0.0


def test_shrink_and_perturb_step_in_closed_form():
    """SGD with weight decay λ, then noise: θ' = θ − η (g + λ θ) + σ ε."""
    torch.manual_seed(0)
    net = nn.Linear(3, 2).double()
    theta = [p.detach().clone() for p in net.parameters()]
    x, eta, lam, sigma = torch.randn(4, 3, dtype=torch.float64), 0.1, 0.01, 1e-3
    opt = torch.optim.SGD(net.parameters(), lr=eta, weight_decay=lam)
    loss = net(x).pow(2).sum()
    loss.backward()
    grads = [p.grad.detach().clone() for p in net.parameters()]
    opt.step()
    perturb_(net.parameters(), sigma, mixed_generator(3, 9))
    gen = mixed_generator(3, 9)
    for p, t, g in zip(net.parameters(), theta, grads, strict=True):
        eps = torch.randn(t.shape, generator=gen, dtype=t.dtype)
        assert torch.allclose(p.detach(), t - eta * (g + lam * t) + sigma * eps, atol=1e-15)


def test_l2_init_gradient_is_twice_lambda_times_the_displacement():
    net = mlp(4, (3,), 2, seed=0).double()
    term = L2Init(net, weight=0.3)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    init = [b.clone() for b in term.buffers()]
    penalty = term(net, torch.zeros(1, 4))
    penalty.backward()
    for p, p0 in zip(net.parameters(), init, strict=True):
        assert torch.allclose(p.grad, 2 * 0.3 * (p.detach() - p0))
    squares = [
        float(((p.detach() - p0) ** 2).sum()) for p, p0 in zip(net.parameters(), init, strict=True)
    ]
    assert float(penalty.detach()) == pytest.approx(0.3 * sum(squares))
    assert set(term.state_dict()) == {f"init_{i}" for i in range(4)}


def cbp_net():
    net = mlp(3, (4,), 2, seed=0).double()
    with torch.no_grad():
        net[2].weight.copy_(torch.tensor([[1.0, -2.0, 0.5, 1.0], [1.0, 1.0, -0.5, -3.0]]))
    return net


def test_cbp_contribution_utility_after_one_step():
    net = cbp_net()
    cbp = ContinualBackprop(net, replacement_rate=0.0, decay_rate=0.9)
    h = torch.tensor([[1.0, 0.0, 2.0, 4.0], [3.0, 0.0, 0.0, 2.0]], dtype=torch.float64)
    cbp.step({0: h}, None)
    # y_i = mean|h_i| Σ_k |w_out[k, i]|: (2·2, 0·3, 1·1, 3·4); u = (1 − η) y
    assert torch.allclose(
        cbp.utility[0], 0.1 * torch.tensor([4.0, 0.0, 1.0, 12.0], dtype=torch.float64)
    )
    assert cbp.age[0].tolist() == [1.0] * 4


def test_cbp_adaptable_utility_over_two_steps_in_closed_form():
    net = cbp_net()  # w_out columns (1, 1), (−2, 1), (0.5, −0.5), (1, −3)
    w_in = net[0].weight.detach().abs().mean(dim=1)
    cbp = ContinualBackprop(
        net, replacement_rate=0.0, decay_rate=0.9, utility="adaptable_contribution"
    )
    h1 = torch.tensor([[1.0, 0.0, 2.0, 4.0], [3.0, 0.0, 0.0, 2.0]], dtype=torch.float64)
    h2 = torch.tensor([[0.0, 1.0, 2.0, 2.0]], dtype=torch.float64)
    out = torch.tensor([1.0, 1.5, 0.5, 2.0], dtype=torch.float64)  # mean_k |w_out[k, i]|
    cbp.step({0: h1}, None)
    # step 1: f = 0.1·mean h; bias-corrected f̂ = mean h, so y = mean|h − mean h|·out/w_in
    f1 = 0.1 * h1.mean(0)
    y1 = (h1 - h1.mean(0)).abs().mean(0) * out / w_in
    assert torch.allclose(cbp.mean[0], f1)
    assert torch.allclose(cbp.utility[0], 0.1 * y1)
    cbp.step({0: h2}, None)
    # step 2: f = 0.9 f1 + 0.1 h2; f̂ = f / (1 − 0.9²)
    f2 = 0.9 * f1 + 0.1 * h2[0]
    y2 = (h2[0] - f2 / (1 - 0.81)).abs() * out / w_in
    assert torch.allclose(cbp.mean[0], f2)
    assert torch.allclose(cbp.utility[0], 0.9 * 0.1 * y1 + 0.1 * y2)


def test_cbp_utilities_of_an_ensemble_equal_its_members_utilities():
    nets = [mlp(5, (4, 3), 2, seed=s) for s in range(2)]
    x = torch.randn(2, 3, 5)
    for kind in ("contribution", "adaptable_contribution"):
        ens = stack(nets)
        alone = [ContinualBackprop(n, replacement_rate=0.0, utility=kind) for n in nets]
        together = ContinualBackprop(ens, replacement_rate=0.0, utility=kind)
        feats = [activations_of(n, x[s]) for s, n in enumerate(nets)]
        together.step({i: torch.stack([f[i] for f in feats]) for i in range(2)}, None)
        for s, cbp in enumerate(alone):
            cbp.step(feats[s], None)
            for i in range(2):
                assert torch.allclose(together.utility[i][s], cbp.utility[i], rtol=1e-6)


def activations_of(net: nn.Module, x: torch.Tensor) -> dict[int, torch.Tensor]:
    layers = hidden_layers(net)
    with record_activations(layers, training_only=False) as latest:
        net(x)
    return dict(latest)


def test_cbp_replaces_exactly_the_lowest_utility_mature_units():
    net = cbp_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.randn(2, 3, dtype=torch.float64)).sum().backward()
    opt.step()
    cbp = ContinualBackprop(
        net, replacement_rate=0.5, decay_rate=0.5, maturity_threshold=10, seed=4
    )
    before = net[0].weight.detach().clone()
    # hand-set state: units 0..3 have utilities 5, 1, 3, 0.5; unit 3 is too young
    cbp.utility[0].copy_(torch.tensor([5.0, 1.0, 3.0, 0.5]))
    cbp.age[0].copy_(torch.tensor([20.0, 20.0, 20.0, 5.0]))
    h = torch.zeros(1, 4, dtype=torch.float64)  # no activity: utilities only decay
    replaced = cbp.step({0: h}, opt)
    # 3 eligible × 0.5 = 1.5 due: one unit now, the lowest of units 0..2 (unit 1)
    assert replaced == 1 and cbp.due[0].item() == pytest.approx(0.5)
    b = init_bound(3, "relu")
    gen = mixed_generator(4, 0xCB)
    expected = torch.rand(1, 3, generator=gen, dtype=torch.float64) * 2 * b - b
    w = net[0].weight.detach()
    assert torch.equal(w[1], expected[0])
    assert torch.equal(w[[0, 2, 3]], before[[0, 2, 3]])
    assert net[2].weight.detach()[:, 1].tolist() == [0.0, 0.0]
    assert float(opt.state[net[0].weight]["momentum_buffer"][1].abs().sum()) == 0.0
    assert cbp.utility[0][1] == 0 and cbp.age[0][1] == 0
    # the next step makes 0.5 + 1.0 due (unit 1 is now immature): one more, the lowest of 0, 2
    assert cbp.step({0: h}, opt) == 1
    assert net[2].weight.detach()[:, 2].tolist() == [0.0, 0.0]
    assert cbp.replaced == 2


def test_cbp_in_an_ensemble_replaces_each_members_own_units():
    ens = stack([cbp_net(), cbp_net()])
    cbp = ContinualBackprop(ens, replacement_rate=0.25, maturity_threshold=0)
    cbp.utility[0].copy_(torch.tensor([[5.0, 1.0, 3.0, 2.0], [0.1, 1.0, 3.0, 2.0]]))
    cbp.step({0: torch.zeros(2, 1, 4)}, None)
    assert member(ens, 0)[2].weight.detach()[:, 1].abs().sum() == 0
    assert member(ens, 1)[2].weight.detach()[:, 0].abs().sum() == 0
    assert member(ens, 1)[2].weight.detach()[:, 1].abs().sum() > 0


def test_redo_resets_exactly_the_tau_dormant_units_at_the_interval():
    net = mlp(3, (4,), 2, seed=0).double()
    redo = ReDo(net, tau=0.1, interval=2, seed=1)
    before = [p.detach().clone() for p in net.parameters()]
    h1 = torch.tensor([[1.0, 0.0, 0.05, 2.0]], dtype=torch.float64)
    h2 = torch.tensor([[1.0, 0.0, 0.05, 0.0]], dtype=torch.float64)
    assert redo.step({0: h1}, None) == 0  # not yet at the interval
    assert all(torch.equal(p, b) for p, b in zip(net.parameters(), before, strict=True))
    # E|h| = 1, 0, 0.05, 1; layer mean 0.5125; scores 1.95, 0, 0.098, 1.95 -> units 1, 2
    assert redo.step({0: h2}, None) == 2
    changed = (net[0].weight.detach() != before[0]).any(dim=1)
    assert changed.tolist() == [False, True, True, False]
    assert net[2].weight.detach()[:, [1, 2]].abs().sum() == 0
    assert redo.count == 0 and float(redo.sum_abs[0].abs().sum()) == 0.0


def test_state_dicts_resume_the_same_draws():
    net = cbp_net()
    a = ContinualBackprop(net, replacement_rate=0.5, maturity_threshold=0, seed=2)
    h = torch.rand(1, 4, dtype=torch.float64)
    a.step({0: h}, None)
    saved = a.state_dict()
    a.step({0: h}, None)
    after_a = net[0].weight.detach().clone()
    net2 = cbp_net()
    b = ContinualBackprop(net2, replacement_rate=0.5, maturity_threshold=0, seed=2)
    b.step({0: h}, None)
    b.load_state_dict(saved)
    b.step({0: h}, None)
    assert torch.equal(net2[0].weight.detach(), after_a)


def test_activations_are_recorded_only_in_training_steps():
    net = mlp(3, (4,), 2)
    layers = hidden_layers(net)
    with record_activations(layers) as latest:
        net.eval()
        net(torch.randn(2, 3))
        assert latest == {}
        net.train()
        x = torch.randn(5, 3)
        net(x)
        assert torch.equal(latest[0], torch.relu(net[0](x)).detach())
    assert not net[1]._forward_hooks


def test_bad_hyperparameters_raise():
    net = mlp(3, (4,), 2)
    with pytest.raises(ValueError, match="replacement_rate"):
        ContinualBackprop(net, replacement_rate=2.0)
    with pytest.raises(ValueError, match="utility"):
        ContinualBackprop(net, utility="gradient")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="interval"):
        ReDo(net, interval=0)
    with pytest.raises(ValueError, match=">= 0"):
        L2Init(net, weight=-1.0)
    assert math.isclose(init_bound(12, None), 0.5)
