"""Stage splitting: grouping rules, taps, errors, and exact composition for every family."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from criticality.stages import compose, stages, verify_stages
from criticality.zoo import create_model, list_models

# One builder per torchvision model family (class); the slow test covers all 80 builders.
TORCHVISION_FAMILIES = [
    "alexnet", "vgg11", "squeezenet1_1", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0",
    "efficientnet_v2_s", "convnext_tiny", "mnasnet0_5", "densenet121", "resnet18",
    "regnet_x_400mf", "shufflenet_v2_x0_5", "googlenet", "inception_v3", "vit_b_16", "swin_t",
    "swin_v2_t", "maxvit_t",
]  # fmt: skip
TIMM_FAMILIES = [
    "timm/resnet18", "timm/efficientnet_b0", "mobilenetv3_small_100", "regnetx_002",
    "timm/densenet121",
    "convnext_atto", "vit_tiny_patch16_224", "swin_tiny_patch4_window7_224",
    "tf_efficientnet_lite0",
]  # fmt: skip
# Input size per model: small where the architecture allows it (ViTs are built for 32 px).
SIZES = {"inception_v3": 96, "maxvit_t": 224, "vit_tiny_patch16_224": 224,
         "swin_tiny_patch4_window7_224": 224}  # fmt: skip
BUILD_KW = {"vit_b_16": {"image_size": 32}, "vit_b_32": {"image_size": 32},
            "vit_l_16": {"image_size": 32}, "vit_l_32": {"image_size": 32},
            "vit_h_14": {"image_size": 28}}  # fmt: skip


def _check_composition(name: str) -> None:
    model = create_model(name, **BUILD_KW.get(name, {}))
    size = BUILD_KW.get(name, {}).get("image_size", SIZES.get(name, 64))
    x = torch.randn(2, 3, size, size)
    parts = stages(model)
    with torch.no_grad():
        expected, got = model(x), compose(parts, x)
    assert len(parts) >= 3
    assert torch.equal(got, expected), f"{name}: stages do not reproduce model(x)"
    ids = {id(p) for p in model.parameters()}
    assert all(id(p) in ids for s in parts for p in s.parameters()), "stages must share parameters"


@pytest.mark.parametrize("name", TORCHVISION_FAMILIES)
def test_torchvision_family_stages_compose_exactly(name: str) -> None:
    _check_composition(name)


@pytest.mark.parametrize("name", TIMM_FAMILIES)
def test_timm_family_stages_compose_exactly(name: str) -> None:
    _check_composition(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models(source="torchvision"))
def test_every_torchvision_builder_composes_exactly(name: str) -> None:
    _check_composition(name)


def test_sequential_groups_parametric_layers_with_their_trailers() -> None:
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Sequential(nn.Conv2d(4, 4, 3), nn.ReLU()),
        nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 1),  # follow the conv at 4.0
        nn.Flatten(), nn.Linear(4, 2),
    )  # fmt: skip
    parts = stages(net)
    assert [s.name for s in parts] == ["0", "4.0", "7", "9"]
    assert [len(s.body) if isinstance(s.body, nn.Sequential) else 1 for s in parts] == [4, 4, 2, 1]
    net.eval()
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(compose(parts, x), net(x))


def test_blocks_are_stages_of_their_own() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, h: torch.Tensor) -> torch.Tensor:
            return h + self.lin(h)

    net = nn.Sequential(Block(), nn.LayerNorm(4), Block(), nn.Tanh())
    parts = stages(net)
    assert [s.name for s in parts] == ["0", "2"]  # the norm before a block joins it
    assert len(parts[1].body) == 3  # LayerNorm, Block, and the trailing Tanh


class _Unsplittable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(6, 6)
        self.mid = nn.Linear(6, 6)
        self.dec = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dec(torch.tanh(self.mid(torch.tanh(self.enc(x)))))


def test_unknown_model_needs_taps() -> None:
    with pytest.raises(TypeError, match=r"taps=\[") as err:
        stages(_Unsplittable())
    assert "enc, mid, dec" in str(err.value)


def test_taps_split_any_model_exactly() -> None:
    model = _Unsplittable().eval()
    parts = stages(model, taps=["enc", "mid"])
    assert [s.name for s in parts] == ["enc", "mid", "output"]
    x = torch.randn(5, 6)
    assert torch.allclose(compose(parts, x), model(x))
    h = parts[0](x)
    assert torch.allclose(parts[1](h), model.mid(torch.tanh(h)))  # tap outputs are pre-tanh


class _Skip(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.tanh(self.a(x))) + x  # the skip jumps over both taps


def test_verify_stages_catches_taps_that_do_not_cut_the_main_path() -> None:
    model = _Unsplittable()
    verify_stages(model, stages(model, taps=["enc", "mid"]), torch.randn(3, 6))
    skip = _Skip()
    with pytest.raises(ValueError, match="skip connection"):
        verify_stages(skip, stages(skip, taps=["a"]), torch.randn(3, 4))


def test_bad_taps_get_suggestions() -> None:
    with pytest.raises(ValueError, match="did you mean mid"):
        stages(_Unsplittable(), taps=["mdi"])
    with pytest.raises(ValueError, match="empty"):
        stages(_Unsplittable(), taps=[])
    with pytest.raises(TypeError, match=r"nn\.Module"):
        stages("resnet18")  # type: ignore[arg-type]
