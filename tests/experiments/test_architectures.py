"""A model with a zero-initialised head (torchvision's ViT) is measured without its head, and its
name says so: in the architectures part and in the zoo scan alike."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

import criticality.zoo
from criticality.experiments._bodies import measure_or_body
from criticality.experiments.zoo import scan
from criticality.experiments.zoo.architectures import ArchitecturesConfig, measure_architecture
from criticality.measures import DegenerateStageError

BODY = "resnet18 (body; its zero-initialised head left out)"


def _zero_head_net(name: str = "", **_: object) -> nn.Module:
    torch.manual_seed(0)
    head = nn.Linear(32, 10)
    nn.init.zeros_(head.weight)  # as torchvision starts a ViT's head
    return nn.Sequential(
        nn.Flatten(), nn.Linear(3 * 8 * 8, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), head
    )


def test_a_zero_head_is_left_out_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(criticality.zoo, "create_model", _zero_head_net)
    cfg = ArchitecturesConfig(
        architectures=("resnet18",), measures=("lyapunov",), image_size=8, k=1
    )
    report = measure_architecture("resnet18", cfg)
    assert report["model"] == BODY
    assert math.isfinite(report["results"]["lyapunov"]["lambda_max"]["mean"])


def test_the_scan_measures_a_zero_head_model_s_body(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(criticality.zoo, "create_model", _zero_head_net)
    cfg = scan.ScanConfig(patterns=("resnet18",), measures=("lyapunov",), image_size=8, k=1)
    report = json.loads(scan.measure_model(scan.Job("resnet18", "random", None, cfg, "key")))
    assert report["model"] == BODY
    assert math.isfinite(report["results"]["lyapunov"]["lambda_max"]["mean"])


def test_the_body_equals_the_stages_before_the_head_and_inner_zeros_still_raise() -> None:
    net, x = _zero_head_net(), torch.randn(3, 3, 8, 8)
    before_head = criticality.stages(net)[:-1]
    body = criticality.measure(before_head, x, measures=["lyapunov"], lyapunov={"k": 1}, seed=0)
    report = measure_or_body(net, x, measures=["lyapunov"], lyapunov={"k": 1}, seed=0, name="m")
    assert report.model == "m (body; its zero-initialised head left out)"
    assert report.lambda_max == body.lambda_max
    nn.init.zeros_(net[3].weight)  # a zero stage inside the body: no head to leave out
    with pytest.raises(DegenerateStageError, match="maps every perturbation to exactly zero"):
        measure_or_body(net, x, measures=["lyapunov"], lyapunov={"k": 1}, seed=0, name="m")
