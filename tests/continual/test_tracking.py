"""Per-task records: online scores by hand, test scores, and a snapshot's contents."""

from __future__ import annotations

import math

import pytest
import torch

from criticality.continual.networks import mlp
from criticality.continual.tracking import OnlineScore, SnapshotSettings, evaluate, snapshot


def test_online_accuracy_and_error_by_hand():
    score = OnlineScore(2, "classification")
    out = torch.tensor([[[2.0, 0.0]], [[0.0, 0.0]]])  # (S=2, B=1, C=2)
    score.update(out, torch.tensor([[0], [1]]))
    score.update(out, torch.tensor([[1], [1]]))
    res = score.result()
    assert res[0]["online_accuracy"] == 0.5 and res[1]["online_accuracy"] == 0.0  # argmax tie -> 0
    ce = [-math.log(math.exp(2) / (math.exp(2) + 1)), -math.log(1 / (math.exp(2) + 1))]
    assert res[0]["online_error"] == pytest.approx(sum(ce) / 2)
    assert res[1]["online_error"] == pytest.approx(math.log(2))
    saved = score.state_dict()
    score.reset()
    assert math.isnan(score.result()[0]["online_accuracy"])
    score.load_state_dict(saved)
    assert score.result() == res


def test_online_squared_error_of_an_ordinary_network():
    score = OnlineScore(1, "regression")
    score.update(torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0], [1.0]]))
    assert score.result()[0]["online_error"] == pytest.approx((1 + 4) / 2)
    assert math.isnan(score.result()[0]["online_accuracy"])


def test_evaluate_on_a_known_network():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(2))
        net[0].bias.zero_()
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    res = evaluate(net, x, torch.tensor([0, 1, 1]), "classification")
    assert res["test_accuracy"] == pytest.approx(2 / 3)


def test_snapshot_holds_metrics_and_criticality():
    net = mlp(6, (8, 8), 3, seed=0)
    with torch.no_grad():
        net[0].bias[:2] = -50.0  # two dead units of 16
    snap = snapshot(net, torch.rand(32, 6), SnapshotSettings())
    assert snap["dead"] == pytest.approx(2 / 16) and snap["layer_dead"] == (0.25, 0.0)
    assert len(snap["stage_log_gain"]) == 3
    assert snap["lambda_1"] == pytest.approx(sum(snap["stage_log_gain"]) / 3)
    assert snap["sigma"] > 0 and snap["sigma_inf"] > 0
    assert "lambda_1" not in snapshot(net, torch.rand(8, 6), SnapshotSettings(criticality=False))


def test_memorisation_gradient_norm_is_the_mean_squared_per_example_gradient() -> None:
    from torch import nn

    from criticality.continual.tracking import memorisation_gradient_norm

    torch.manual_seed(0)
    net = nn.Linear(3, 4)
    x = torch.randn(5, 3)
    got = memorisation_gradient_norm(net, x, "classification", n=5, seed=7)
    gen = torch.Generator().manual_seed(7)
    labels = [torch.randint(4, (1,), generator=gen) for _ in range(5)]
    want = 0.0
    for i in range(5):
        # closed form for a linear layer with cross-entropy: ∇_W = (p − e_y) x^T, ∇_b = p − e_y
        p = torch.softmax(net(x[i : i + 1]), -1)[0].detach()
        r = p - nn.functional.one_hot(labels[i], 4)[0].float()
        want += float((r**2).sum() * (x[i] ** 2).sum() + (r**2).sum())
    assert got == pytest.approx(want / 5, rel=1e-5)
    dead = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        for p in dead.parameters():
            p.zero_()
    # a network whose hidden units are all dead: only the output bias gets a gradient
    g = memorisation_gradient_norm(dead, x, "classification", n=5)
    assert g == pytest.approx(0.5)  # ‖p − e_y‖² = 2 · 0.25, p uniform over 2 classes
