"""The continual-learning method rows inside fit: closed forms, identities, ensembles."""

from __future__ import annotations

import torch
from torch import nn

from criticality.continual.algorithms import mixed_generator
from criticality.continual.networks import EnsembleLayerNorm, member, mlp, stack
from criticality.training import fit
from criticality.training.methods import build_method, list_methods
from criticality.training.methods.continual import separable

CONTINUAL = ("adam", "l2_init", "shrink_perturb", "continual_backprop", "redo", "layernorm_wd",
             "measure_only")  # fmt: skip


def data(n=32, d=6, classes=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=gen), torch.randint(0, classes, (n,), generator=gen)


def test_rows_are_registered_and_separable():
    assert set(CONTINUAL) <= set(list_methods())
    net = mlp(6, (5,), 3)
    for name in (*CONTINUAL, "plain", "weight_decay"):
        assert separable(build_method(name, mlp(6, (5,), 3))), name
    assert not separable(build_method("critical_global", net))


def test_shrink_perturb_in_fit_is_the_closed_form():
    x, y = data(4)
    net = mlp(6, (5,), 3, seed=1).double()
    theta = [p.detach().clone() for p in net.parameters()]
    loss = nn.functional.cross_entropy(net(x.double()), y)
    grads = torch.autograd.grad(loss, list(net.parameters()))
    options = {"weight_decay": 0.01, "noise_std": 1e-3}
    fit(net, (x.double(), y), steps=1, batch_size=4, lr=0.1, optimizer="sgd",
        optimizer_options={"momentum": 0.0}, method="shrink_perturb", method_options=options,
        seed=5, progress=False)  # fmt: skip
    gen = mixed_generator(5, 0x5AD)
    for p, t, g in zip(net.parameters(), theta, grads, strict=True):
        eps = torch.randn(t.shape, generator=gen, dtype=t.dtype)
        assert torch.allclose(p.detach(), t - 0.1 * (g + 0.01 * t) + 1e-3 * eps, atol=1e-14)


def test_measure_only_trains_exactly_as_plain():
    x, y = data(64)
    nets = []
    for method in ("plain", "measure_only"):
        net = mlp(6, (8, 8), 3, seed=2)
        r = fit(net, (x, y), steps=40, batch_size=4, lr=0.05, optimizer="sgd", method=method,
                method_options={"every": 5, "probe_size": 8} if method != "plain" else None,
                seed=0, progress=False)  # fmt: skip
        nets.append(net)
    assert all(torch.equal(a, b) for a, b in zip(*(n.parameters() for n in nets), strict=True))
    trajectory = r.logs["measure_only"]
    # the probe is full after 2 steps of 4 inputs; measured at steps 5, 10, ..., 40
    assert [rec["step"] for rec in trajectory] == list(range(5, 41, 5))
    assert all(len(rec["lambda_1"]) == 1 for rec in trajectory)


def test_adam_row_replaces_the_runs_sgd_and_its_options():
    net = mlp(6, (5,), 3)
    r = fit(net, data(), steps=2, batch_size=8, optimizer="sgd", lr=0.5,
            optimizer_options={"momentum": 0.0}, method="adam", progress=False)  # fmt: skip
    opt = r.state.optimizer
    assert isinstance(opt, torch.optim.Adam) and opt.param_groups[0]["lr"] == 1e-4


def test_layernorm_wd_inserts_norms_into_networks_and_ensembles():
    net = mlp(6, (5, 4), 3)
    fit(net, data(), steps=2, batch_size=8, method="layernorm_wd", progress=False)
    assert [type(m).__name__ for m in net][:3] == ["Linear", "LayerNorm", "ReLU"]
    assert sum(isinstance(m, nn.LayerNorm) for m in net) == 2
    ens = stack([mlp(6, (5,), 3, seed=s) for s in range(2)])
    build_method("layernorm_wd", ens)
    assert isinstance(ens[1], EnsembleLayerNorm) and len(ens) == 4
    assert build_method("layernorm_wd", net).optimizer == {"weight_decay": 1e-4}


def test_continual_backprop_in_an_ensemble_fit():
    x, y = data(64)
    ens = stack([mlp(6, (8,), 3, seed=s) for s in range(3)])
    xs, ys = x.view(1, 64, 6).expand(3, -1, -1), y.view(1, 64).expand(3, -1)

    def batch(step):
        i = slice(2 * (step % 32), 2 * (step % 32) + 2)
        return xs[:, i], ys[:, i]

    def loss(out, target):
        return nn.functional.cross_entropy(out.flatten(0, 1), target.flatten(), reduction="sum") / 2

    r = fit(ens, batch, steps=60, lr=0.05, optimizer="sgd", loss_fn=loss,
            method="continual_backprop",
            method_options={"replacement_rate": 0.01, "maturity_threshold": 5},
            progress=False)  # fmt: skip
    # 8 eligible units × 0.01 = 0.08 per step after maturity: 4 replacements per member in 55
    assert r.logs["continual_backprop"] == [{"task": 0, "replaced": 12}]
    assert not ens[1]._forward_hooks  # hooks only while a task trains
    assert all(torch.isfinite(p).all() for p in member(ens, 2).parameters())


def test_ensemble_criticality_is_each_members_regularizer():
    """Same tangents: the ensemble penalty is the sum of the members' own penalties, and its
    gradient reaches each member's weights as the member's own gradient would."""
    from criticality.regularizers import CriticalityRegularizer
    from criticality.training.methods.continual import EnsembleCriticality, for_ensemble

    nets = [mlp(5, (6, 6), 3, seed=s).double() for s in range(3)]
    ens = stack(nets).double()
    x = torch.rand(3, 2, 5, dtype=torch.float64)
    for mode in ("global", "stagewise"):
        reg = CriticalityRegularizer(mode=mode, weight=2.0, sub_batch=2, n_directions=2)
        term = EnsembleCriticality(reg)
        init = torch.randn(3, 4, 5, dtype=torch.float64)
        gains = term.log_gains(ens, x, seed=0, init=init)
        total = reg.weight * torch.stack([reg.penalty(g.mean(0)) for g in gains]).sum()
        total.backward()
        for s, net in enumerate(nets):
            own = reg.log_gains(net, x[s], init=init[s].view(2, 2, 5))  # (2, 2, L)
            assert torch.allclose(gains[s], own.reshape(4, -1), atol=1e-12)
            net.zero_grad()
            (reg.weight * reg.penalty(own.mean(dim=(0, 1)))).backward()
            assert torch.allclose(ens[0].weight.grad[s], net[0].weight.grad.T, atol=1e-10)
        ens.zero_grad()
    parts = for_ensemble(build_method("critical_stagewise", ens))
    assert isinstance(parts.loss_terms[0], EnsembleCriticality) and separable(parts)
