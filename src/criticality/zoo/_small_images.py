"""Real torchvision architectures adapted to 1-channel 32 px images and 10 classes.

The trained zoo (``criticality experiment zoo-train``) needs the paper's architecture families
at a size that trains on Fashion-MNIST/MNIST on a CPU. Every network here comes from a real
torchvision builder (the model class with its own block settings: narrower or shallower
settings where the class takes them, ``width_mult``, ``block_config``, ``BlockParams`` ...),
and is adapted by **one rule that touches only the stem and the head**:

* **stem**: the first convolution that reads the 3 RGB channels is replaced by one reading 1
  channel, with the same output channels, kernel, stride, padding and bias, whose weight is the
  builder's weight summed over the RGB channels. On a grey image the adapted network therefore
  computes exactly what the builder's network computes on that image repeated over R, G and B,
  and it starts from the builder's own initialisation. Everything else of the stem (its norm,
  activation, pooling and its 224-px strides) stays: 32 px inputs end at 1×1 to 2×2 feature
  maps, which keeps the networks cheap.
* **head**: the final classification layer (the last ``Linear``, or SqueezeNet's 1×1
  ``Conv2d``, with 1000 outputs) is replaced by the same layer with 10 outputs, keeping the
  builder's first 10 output units (so its initialisation too, zero for ViT).

Inputs are 28 px images zero-padded by 2 px to 32 px (:func:`pad_to_32`). The body, all
parameters but the stem convolution and the head layer, is the builder's unchanged
(``tests/zoo/test_small_images.py`` checks parameter counts and the exact RGB equivalence).

Example:
    >>> net = small_image_net("resnet10", seed=0)
    >>> net(torch.zeros(2, 1, 32, 32)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

IMAGE_SIZE = 32
N_CLASSES = 10
_BUILDER_CLASSES = 1000


@dataclasses.dataclass(frozen=True)
class SmallNet:
    """One architecture of the trained zoo.

    Attributes:
        name: the zoo name, e.g. ``"resnet10"``.
        family: the family's name in :data:`criticality.zoo.metadata.FAMILIES`.
        builder: the torchvision class or builder function, ``"module.Name"`` under
            ``torchvision.models``.
        variant: what distinguishes it within its family (``"base"``, ``"narrow"``,
            ``"deep"``, ...).
        depthwise: whether its blocks use depthwise (or grouped) convolutions.
        attention: whether its blocks use self-attention.
    """

    name: str
    family: str
    builder: str
    variant: str
    depthwise: bool = False
    attention: bool = False

    def build_builder(self) -> nn.Module:
        """The builder's own network (3 channels, 1000 classes), default torch RNG."""
        return _FACTORIES[self.name]()

    @property
    def params(self) -> int:
        """Parameters of the adapted network."""
        return _params(self.name)


def _tv(path: str) -> Any:
    import importlib

    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(f"torchvision.models.{module}"), name)


# ---- the architectures ------------------------------------------------------------------------


def _resnet(layers: list[int], block: str = "BasicBlock", **kw: Any) -> nn.Module:
    return _tv("resnet.ResNet")(_tv(f"resnet.{block}"), layers, **kw)


def _densenet(growth: int, blocks: tuple[int, ...], init: int) -> nn.Module:
    return _tv("densenet.DenseNet")(growth_rate=growth, block_config=blocks,
                                     num_init_features=init, bn_size=2)  # fmt: skip


def _shufflenet(repeats: list[int], channels: list[int]) -> nn.Module:
    return _tv("shufflenetv2.ShuffleNetV2")(repeats, channels)


def _mobilenet_v2(width: float, depth: int | None = None) -> nn.Module:
    setting = [
        [1, 16, 1, 1],
        [6, 24, 2, 2],
        [6, 32, 3, 2],
        [6, 64, 4, 2],
        [6, 96, 3, 1],
        [6, 160, 3, 2],
        [6, 320, 1, 1],
    ]  # fmt: skip  (torchvision's own table)
    if depth is not None:
        setting = [[t, c, min(n, depth), s] for t, c, n, s in setting]
    return _tv("mobilenetv2.MobileNetV2")(width_mult=width, inverted_residual_setting=setting)


def _mobilenet_v3(arch: str, width: float) -> nn.Module:
    from torchvision.models import mobilenetv3

    setting, last = mobilenetv3._mobilenet_v3_conf(arch, width_mult=width)
    return mobilenetv3.MobileNetV3(setting, last)


def _efficientnet(width: float, depth: float) -> nn.Module:
    from torchvision.models import efficientnet

    setting, last = efficientnet._efficientnet_conf("efficientnet_b0", width_mult=width,
                                                    depth_mult=depth)  # fmt: skip
    return efficientnet.EfficientNet(setting, 0.2, last_channel=last)


def _efficientnet_v2(channels: tuple[int, ...], layers: int) -> nn.Module:
    from torchvision.models import efficientnet

    c = channels
    setting = [
        efficientnet.FusedMBConvConfig(1, 3, 1, c[0], c[0], layers),
        efficientnet.FusedMBConvConfig(4, 3, 2, c[0], c[1], layers),
        efficientnet.FusedMBConvConfig(4, 3, 2, c[1], c[2], layers),
        efficientnet.MBConvConfig(4, 3, 2, c[2], c[3], layers),
        efficientnet.MBConvConfig(6, 3, 1, c[3], c[4], layers),
    ]
    return efficientnet.EfficientNet(setting, 0.2, last_channel=4 * c[4])


def _regnet(depth: int, w_0: int, w_a: float, w_m: float, group: int, se: float | None) -> Any:
    from torchvision.models import regnet

    params = regnet.BlockParams.from_init_params(depth, w_0, w_a, w_m, group, se_ratio=se)
    return regnet.RegNet(params)


def _vit(layers: int, heads: int, hidden: int) -> nn.Module:
    return _tv("vision_transformer.VisionTransformer")(IMAGE_SIZE, 4, layers, heads, hidden,
                                                        2 * hidden)  # fmt: skip


def _swin(embed: int, depths: list[int], heads: list[int], v2: bool = False) -> nn.Module:
    from torchvision.models import swin_transformer as sw

    kw: dict[str, Any] = {}
    if v2:
        kw = {"block": sw.SwinTransformerBlockV2, "downsample_layer": sw.PatchMergingV2}
    return sw.SwinTransformer([2, 2], embed, depths, heads, [4, 4], stochastic_depth_prob=0.0,
                              **kw)  # fmt: skip


def _convnext(channels: tuple[int, ...], layers: tuple[int, ...]) -> nn.Module:
    from torchvision.models import convnext

    ends = (*channels[1:], None)
    setting = [convnext.CNBlockConfig(c, e, n) for c, e, n in zip(channels, ends, layers,
                                                                    strict=True)]  # fmt: skip
    return convnext.ConvNeXt(setting, stochastic_depth_prob=0.0)


def _maxvit(channels: list[int], layers: list[int]) -> nn.Module:
    from torchvision.models import maxvit

    return maxvit.MaxVit((IMAGE_SIZE, IMAGE_SIZE), channels[0], 2, channels, layers, 8,
                         stochastic_depth_prob=0.0)  # fmt: skip


def _googlenet() -> nn.Module:
    return _tv("googlenet.GoogLeNet")(aux_logits=False, transform_input=False, init_weights=True)


def _vgg(cfg: str, bn: bool) -> nn.Module:
    from torchvision.models import vgg

    return vgg.VGG(vgg.make_layers(vgg.cfgs[cfg], batch_norm=bn), init_weights=True)


_S = SmallNet
_ARCH: list[tuple[SmallNet, Callable[[], nn.Module]]] = [
    (_S("resnet10", "ResNet", "resnet.ResNet", "base"), lambda: _resnet([1, 1, 1, 1])),
    (_S("resnet14", "ResNet", "resnet.ResNet", "deep"), lambda: _resnet([2, 2, 1, 1])),
    (_S("resnet18", "ResNet", "resnet.ResNet", "deeper"), lambda: _resnet([2, 2, 2, 2])),
    (_S("resnext14_8x4d", "ResNeXt", "resnet.ResNet", "base", depthwise=True),
     lambda: _resnet([1, 1, 1, 1], "Bottleneck", groups=8, width_per_group=4)),
    (_S("resnext14_32x2d", "ResNeXt", "resnet.ResNet", "more groups", depthwise=True),
     lambda: _resnet([1, 1, 1, 1], "Bottleneck", groups=32, width_per_group=2)),
    (_S("wide_resnet14_w32", "Wide ResNet", "resnet.ResNet", "base"),
     lambda: _resnet([1, 1, 1, 1], "Bottleneck", width_per_group=32)),
    (_S("wide_resnet14_w128", "Wide ResNet", "resnet.ResNet", "wide"),
     lambda: _resnet([1, 1, 1, 1], "Bottleneck", width_per_group=128)),
    (_S("squeezenet1_0", "SqueezeNet", "squeezenet.SqueezeNet", "v1.0"),
     lambda: _tv("squeezenet.SqueezeNet")("1_0")),
    (_S("squeezenet1_1", "SqueezeNet", "squeezenet.SqueezeNet", "v1.1"),
     lambda: _tv("squeezenet.SqueezeNet")("1_1")),
    (_S("densenet_g12_2222", "DenseNet", "densenet.DenseNet", "base"),
     lambda: _densenet(12, (2, 2, 2, 2), 24)),
    (_S("densenet_g12_4444", "DenseNet", "densenet.DenseNet", "deep"),
     lambda: _densenet(12, (4, 4, 4, 4), 24)),
    (_S("densenet_g24_2222", "DenseNet", "densenet.DenseNet", "wide"),
     lambda: _densenet(24, (2, 2, 2, 2), 48)),
    (_S("shufflenet_v2_x0_5", "ShuffleNet-V2", "shufflenetv2.ShuffleNetV2", "base",
        depthwise=True), lambda: _shufflenet([4, 8, 4], [24, 48, 96, 192, 1024])),
    (_S("shufflenet_v2_x0_5_short", "ShuffleNet-V2", "shufflenetv2.ShuffleNetV2", "shallow",
        depthwise=True), lambda: _shufflenet([2, 2, 2], [24, 48, 96, 192, 1024])),
    (_S("shufflenet_v2_narrow", "ShuffleNet-V2", "shufflenetv2.ShuffleNetV2", "narrow",
        depthwise=True), lambda: _shufflenet([2, 4, 2], [16, 32, 64, 128, 256])),
    (_S("mobilenet_v2_0.25", "MobileNet-V2", "mobilenetv2.MobileNetV2", "narrow",
        depthwise=True), lambda: _mobilenet_v2(0.25)),
    (_S("mobilenet_v2_0.5", "MobileNet-V2", "mobilenetv2.MobileNetV2", "base", depthwise=True),
     lambda: _mobilenet_v2(0.5)),
    (_S("mobilenet_v2_0.5_short", "MobileNet-V2", "mobilenetv2.MobileNetV2", "shallow",
        depthwise=True), lambda: _mobilenet_v2(0.5, depth=1)),
    (_S("mnasnet0_35", "MNASNet", "mnasnet.MNASNet", "narrow", depthwise=True),
     lambda: _tv("mnasnet.MNASNet")(0.35)),
    (_S("mnasnet0_5", "MNASNet", "mnasnet.MNASNet", "base", depthwise=True),
     lambda: _tv("mnasnet.MNASNet")(0.5)),
    (_S("mobilenet_v3_small_0.5", "MobileNet-V3", "mobilenetv3.MobileNetV3", "narrow",
        depthwise=True), lambda: _mobilenet_v3("mobilenet_v3_small", 0.5)),
    (_S("mobilenet_v3_small", "MobileNet-V3", "mobilenetv3.MobileNetV3", "base",
        depthwise=True), lambda: _mobilenet_v3("mobilenet_v3_small", 1.0)),
    (_S("mobilenet_v3_large_0.35", "MobileNet-V3", "mobilenetv3.MobileNetV3", "deep",
        depthwise=True), lambda: _mobilenet_v3("mobilenet_v3_large", 0.35)),
    (_S("efficientnet_w0.25_d0.34", "EfficientNet", "efficientnet.EfficientNet", "shallow",
        depthwise=True), lambda: _efficientnet(0.25, 0.34)),
    (_S("efficientnet_w0.25_d0.67", "EfficientNet", "efficientnet.EfficientNet", "base",
        depthwise=True), lambda: _efficientnet(0.25, 0.67)),
    (_S("efficientnet_w0.5_d0.34", "EfficientNet", "efficientnet.EfficientNet", "wide",
        depthwise=True), lambda: _efficientnet(0.5, 0.34)),
    (_S("efficientnet_v2_c16", "EfficientNet-V2", "efficientnet.EfficientNet", "base",
        depthwise=True), lambda: _efficientnet_v2((16, 24, 32, 64, 96), 1)),
    (_S("efficientnet_v2_c16_deep", "EfficientNet-V2", "efficientnet.EfficientNet", "deep",
        depthwise=True), lambda: _efficientnet_v2((16, 24, 32, 64, 96), 2)),
    (_S("regnet_x_small", "RegNet", "regnet.RegNet", "base", depthwise=True),
     lambda: _regnet(6, 24, 12.0, 2.0, 8, None)),
    (_S("regnet_x_deep", "RegNet", "regnet.RegNet", "deep", depthwise=True),
     lambda: _regnet(10, 24, 12.0, 2.0, 8, None)),
    (_S("regnet_y_small", "RegNet", "regnet.RegNet", "squeeze-excitation", depthwise=True),
     lambda: _regnet(6, 24, 12.0, 2.0, 8, 0.25)),
    (_S("vit_p4_l2_d64", "ViT", "vision_transformer.VisionTransformer", "shallow",
        attention=True), lambda: _vit(2, 4, 64)),
    (_S("vit_p4_l4_d64", "ViT", "vision_transformer.VisionTransformer", "base",
        attention=True), lambda: _vit(4, 4, 64)),
    (_S("vit_p4_l4_d96", "ViT", "vision_transformer.VisionTransformer", "wide",
        attention=True), lambda: _vit(4, 4, 96)),
    (_S("swin_p2_e32", "Swin", "swin_transformer.SwinTransformer", "base", attention=True),
     lambda: _swin(32, [2, 2, 2], [2, 4, 8])),
    (_S("swin_p2_e32_short", "Swin", "swin_transformer.SwinTransformer", "shallow",
        attention=True), lambda: _swin(32, [1, 1, 1], [2, 4, 8])),
    (_S("swin_v2_p2_e32", "Swin-V2", "swin_transformer.SwinTransformer", "base",
        attention=True), lambda: _swin(32, [2, 2, 2], [2, 4, 8], v2=True)),
    (_S("swin_v2_p2_e32_short", "Swin-V2", "swin_transformer.SwinTransformer", "shallow",
        attention=True), lambda: _swin(32, [1, 1, 1], [2, 4, 8], v2=True)),
    (_S("convnext_c32", "ConvNeXt", "convnext.ConvNeXt", "base", depthwise=True),
     lambda: _convnext((32, 64, 128), (1, 1, 1))),
    (_S("convnext_c32_deep", "ConvNeXt", "convnext.ConvNeXt", "deep", depthwise=True),
     lambda: _convnext((32, 64, 128), (2, 2, 2))),
    (_S("convnext_c48", "ConvNeXt", "convnext.ConvNeXt", "wide", depthwise=True),
     lambda: _convnext((48, 96, 192), (1, 1, 1))),
    (_S("maxvit_c32", "MaxViT", "maxvit.MaxVit", "base", depthwise=True, attention=True),
     lambda: _maxvit([32, 64], [1, 1])),
    (_S("maxvit_c16", "MaxViT", "maxvit.MaxVit", "narrow", depthwise=True, attention=True),
     lambda: _maxvit([16, 32], [1, 1])),
    (_S("googlenet", "GoogLeNet", "googlenet.GoogLeNet", "base"), lambda: _googlenet()),
    (_S("vgg11", "VGG", "vgg.VGG", "base"), lambda: _vgg("A", False)),
    (_S("vgg11_bn", "VGG", "vgg.VGG", "batch norm"), lambda: _vgg("A", True)),
    (_S("alexnet", "AlexNet", "alexnet.AlexNet", "base"), lambda: _tv("alexnet.AlexNet")()),
]  # fmt: skip

SMALL_NETS: dict[str, SmallNet] = {s.name: s for s, _ in _ARCH}
_FACTORIES: dict[str, Callable[[], nn.Module]] = {s.name: f for s, f in _ARCH}


def list_small_nets(max_params: int | None = None) -> list[str]:
    """Names of the trained zoo's architectures (with at most ``max_params`` parameters)."""
    return [n for n in SMALL_NETS if max_params is None or _params(n) <= max_params]


@functools.cache
def _params(name: str) -> int:
    with torch.random.fork_rng():
        return sum(p.numel() for p in small_image_net(name, seed=0).parameters())


# ---- the adaptation rule ----------------------------------------------------------------------


def stem_and_head(model: nn.Module) -> tuple[str, str]:
    """Names of the stem convolution (first ``Conv2d`` reading 3 channels) and of the head
    layer (last ``Linear``/``Conv2d`` with 1000 outputs) of a builder's network."""
    stem = next((n for n, m in model.named_modules()
                 if isinstance(m, nn.Conv2d) and m.in_channels == 3), None)  # fmt: skip
    head = None
    for n, m in model.named_modules():
        out = getattr(m, "out_features", getattr(m, "out_channels", None))
        if isinstance(m, (nn.Linear, nn.Conv2d)) and out == _BUILDER_CLASSES:
            head = n
    if stem is None or head is None:
        raise ValueError(f"{type(model).__name__}: no 3-channel stem conv or 1000-way head found")
    return stem, head


def adapt(model: nn.Module) -> nn.Module:
    """Apply the stem-and-head rule (module docstring) to a builder's network, in place."""
    stem_name, head_name = stem_and_head(model)
    stem = copy.deepcopy(model.get_submodule(stem_name))
    assert isinstance(stem, nn.Conv2d)
    stem.in_channels = 1
    stem.weight = nn.Parameter(stem.weight.detach().sum(dim=1, keepdim=True))
    head = copy.deepcopy(model.get_submodule(head_name))
    if isinstance(head, nn.Linear):
        head.out_features = N_CLASSES
    else:
        assert isinstance(head, nn.Conv2d)
        head.out_channels = N_CLASSES
    head.weight = nn.Parameter(head.weight.detach()[:N_CLASSES].clone())
    if head.bias is not None:
        head.bias = nn.Parameter(head.bias.detach()[:N_CLASSES].clone())
    _set(model, stem_name, stem)
    _set(model, head_name, head)
    if hasattr(model, "num_classes"):
        setattr(model, "num_classes", N_CLASSES)  # noqa: B010
    return model


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def small_image_net(name: str, *, seed: int = 0) -> nn.Module:
    """The zoo network ``name`` adapted to ``(B, 1, 32, 32)`` inputs and 10 classes, its
    builder's initialisation drawn with torch's RNG seeded by ``seed`` (global RNG untouched);
    in ``eval()`` mode.

    Raises:
        ValueError: unknown name (the known ones listed).
    """
    if name not in SMALL_NETS:
        raise ValueError(f"unknown small-image net {name!r}; known: {', '.join(SMALL_NETS)}")
    from criticality.zoo._builtin import init_generator

    with torch.random.fork_rng():
        torch.manual_seed(int(init_generator(seed).initial_seed()))
        model = _FACTORIES[name]()
    return adapt(model).eval()


def stride1_stem(model: nn.Module) -> nn.Module:
    """The usual 32-px stem, in place: the adapted stem convolution (the 1-channel one) at
    stride 1, and a max-pool that follows it before any other convolution removed (ResNet's
    ``maxpool``, DenseNet's ``pool0``). A patch embedding (kernel equal to stride: ViT, Swin,
    ConvNeXt) is already sized for 32 px and is left alone, as are networks whose attention
    windows are fixed by the input size (MaxViT).

    Raises:
        ValueError: no 1-channel stem convolution (not an adapted network).
    """
    mods = list(model.named_modules())
    at = next((i for i, (_, m) in enumerate(mods)
               if isinstance(m, nn.Conv2d) and m.in_channels == 1), None)  # fmt: skip
    if at is None:
        raise ValueError("no 1-channel stem convolution: adapt the network first (adapt())")
    stem = mods[at][1]
    assert isinstance(stem, nn.Conv2d)
    patchify = stem.kernel_size == stem.stride and stem.stride != (1, 1)
    if patchify or type(model).__name__ == "MaxVit":
        return model
    stem.stride = (1, 1)
    for name, m in mods[at + 1 :]:
        if isinstance(m, nn.Conv2d):
            break
        if isinstance(m, nn.MaxPool2d):
            _set(model, name, nn.Identity())
            break
    return model


def pad_to_32(x: torch.Tensor) -> torch.Tensor:
    """28 px images ``(N, C, 28, 28)`` zero-padded by 2 px on each side to 32 px (32 px pass)."""
    if x.shape[-1] == IMAGE_SIZE and x.shape[-2] == IMAGE_SIZE:
        return x
    if x.shape[-1] != 28 or x.shape[-2] != 28:
        raise ValueError(f"need 28 or 32 px images, got shape {tuple(x.shape)}")
    return nn.functional.pad(x, (2, 2, 2, 2))
