"""The architectures part: a model with a zero-initialised head is measured without its head."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import criticality.zoo
from criticality.experiments.architectures import ArchitecturesConfig, measure_architecture


def _zero_head_net(name: str, **_: object) -> nn.Module:
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
    assert report["model"] == "resnet18 (body; its zero-initialised head left out)"
    lam = report["results"]["lyapunov"]["lambda_max"]["mean"]
    assert math.isfinite(lam)
