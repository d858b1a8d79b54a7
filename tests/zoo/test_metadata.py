"""The zoo table: every torchvision classifier has a complete, plausible row."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from criticality.zoo import list_models
from criticality.zoo.metadata import (
    FAMILIES,
    family_of,
    load_accuracy_csv,
    model_metadata,
    timm_metadata,
    zoo_metadata,
)


def test_all_80_models_have_complete_rows() -> None:
    rows = zoo_metadata()
    assert len(rows) == 80
    assert {r.name for r in rows} == set(list_models(source="torchvision"))
    for r in rows:
        for field in dataclasses.fields(r):
            value = getattr(r, field.name)
            assert value is not None and value != "", (r.name, field.name)
        assert 2012 <= r.year <= 2022
        assert r.params is not None and 1e6 < r.params < 1e9
        assert r.top1 is not None and r.top5 is not None and 50 < r.top1 < r.top5 < 100
        assert r.gflops is not None and r.gflops > 0


def test_every_family_is_used_and_cited() -> None:
    used = {r.family for r in zoo_metadata()}
    assert used == set(FAMILIES)
    assert len(FAMILIES) == 21
    for f in FAMILIES.values():
        assert f.arxiv
        assert f.kind in ("conv", "transformer", "hybrid")


@pytest.mark.parametrize(
    ("name", "family", "year", "kind", "norm", "skip"),
    [
        ("alexnet", "AlexNet", 2012, "conv", "none", "none"),
        ("vgg16_bn", "VGG", 2014, "conv", "batch", "none"),
        ("resnext50_32x4d", "ResNeXt", 2016, "conv", "batch", "residual"),
        ("wide_resnet50_2", "Wide ResNet", 2016, "conv", "batch", "residual"),
        ("efficientnet_v2_s", "EfficientNet-V2", 2021, "conv", "batch", "residual"),
        ("swin_v2_t", "Swin-V2", 2021, "transformer", "layer", "residual"),
        ("vit_b_16", "ViT", 2020, "transformer", "layer", "residual"),
        ("maxvit_t", "MaxViT", 2022, "hybrid", "batch+layer", "residual"),
        ("densenet121", "DenseNet", 2016, "conv", "batch", "dense"),
    ],
)
def test_prefix_order_picks_the_right_family(
    name: str, family: str, year: int, kind: str, norm: str, skip: str
) -> None:
    m = model_metadata(name)
    assert (m.family, m.year, m.kind, m.norm, m.skip) == (family, year, kind, norm, skip)


def test_numbers_match_torchvision_enums() -> None:
    m = model_metadata("resnet18")
    assert (m.params, m.top1, m.top5, m.weights) == (11689512, 69.758, 89.078, "IMAGENET1K_V1")
    assert model_metadata("inception_v3").resolution == 299
    assert family_of("not_a_model") is None


def test_timm_rows_are_honest_about_accuracy(tmp_path: Path) -> None:
    m = timm_metadata("tf_efficientnet_lite0")
    assert m.source == "timm" and m.top1 is None and m.resolution == 224
    assert timm_metadata("resnet50").family == "ResNet"
    csv = tmp_path / "results.csv"
    csv.write_text("model,top1,top5\ntf_efficientnet_lite0.in1k,75.1,92.2\n")
    acc = load_accuracy_csv(csv)
    assert model_metadata("tf_efficientnet_lite0", accuracy=acc).top1 == 75.1
    with pytest.raises(ValueError, match="unknown timm"):
        timm_metadata("no_such_net")
