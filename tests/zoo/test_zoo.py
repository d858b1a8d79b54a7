"""Zoo names: all 80 torchvision classifiers, timm, built-ins, suggestions for typos."""

from __future__ import annotations

import pytest
import torch

from criticality.zoo import create_model, list_models, mlp, model_info


def test_torchvision_has_all_80_classifiers() -> None:
    names = list_models(source="torchvision")
    assert len(names) == 80
    assert {"alexnet", "resnet50", "vit_h_14", "maxvit_t", "swin_v2_b"} <= set(names)


def test_name_resolution_order() -> None:
    assert model_info("resnet18").source == "torchvision"
    assert model_info("timm/resnet18").source == "timm"
    assert model_info("tf_efficientnet_lite0").source == "timm"
    assert model_info("mlp").source == "builtin"
    assert model_info("inception_v3").input_shape == (3, 299, 299)


def test_unknown_name_gets_suggestions() -> None:
    with pytest.raises(ValueError, match="Did you mean: resnet18"):
        model_info("resnet19")


def test_mlp_initialisation_scale() -> None:
    net = mlp(depth=3, width=400, sigma_w=2.0, sigma_b=0.5, seed=0, dtype=torch.float64)
    w, b = net[2].weight, net[2].bias
    assert w.var().item() * 400 == pytest.approx(4.0, rel=0.02)
    assert b.std().item() == pytest.approx(0.5, rel=0.15)
    assert torch.equal(
        mlp(depth=3, width=8, seed=4)[0].weight, mlp(depth=3, width=8, seed=4)[0].weight
    )
    with torch.no_grad():
        assert create_model("mnist_cnn")(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
