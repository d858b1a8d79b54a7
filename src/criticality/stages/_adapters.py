"""Stage adapters for the torchvision and timm model families.

Each adapter lists a family's main path as units (stem, blocks, head) and groups them with
:func:`criticality.stages.group`. The pieces of a ``forward`` that are not modules (flatten,
token concatenation, the class-token read-out) become :class:`~criticality.stages.Fn` bodies.
Adding a family is one function with one ``@register_adapter`` line.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from criticality.stages._core import Fn, Stage, Unit, blocks, group, register_adapter, units

_TV = "torchvision.models."


def _flatten_then(h: torch.Tensor, head: nn.Module) -> torch.Tensor:
    return head(torch.flatten(h, 1))


def _pool_flatten(pool: nn.Module, head: nn.Module) -> Unit:
    return ("head", Fn(lambda h, pool, head: head(torch.flatten(pool(h), 1)), pool=pool, head=head))


def _mean_then(head: nn.Module) -> Unit:
    return ("head", Fn(lambda h, head: head(h.mean([2, 3])), head=head))


def _cat_layer(h: torch.Tensor, layer: nn.Module) -> torch.Tensor:
    """One dense layer as a stage: the state is the concatenation of all features so far."""
    return torch.cat([h, layer(h)], 1)


def _dense_units(prefix: str, container: nn.Module) -> list[Unit]:
    """Expand dense blocks (``ModuleDict`` of layers) into one stage per layer."""
    out: list[Unit] = []
    for name, child in container.named_children():
        if isinstance(child, nn.ModuleDict):
            out += [
                (f"{prefix}.{name}.{n}", Fn(_cat_layer, layer=layer))
                for n, layer in child.named_children()
            ]
        else:
            out += units(child, f"{prefix}.{name}")
    return out


class _Owner(nn.Module):
    """A model seen through some of its children: methods work, only those children register."""

    def __init__(self, model: nn.Module, *children: str) -> None:
        super().__init__()
        self.__dict__["_model"] = model
        for name in children:
            self._modules[name] = getattr(model, name)  # add_module would see the model's

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.__dict__["_model"], name)


# ---- torchvision ------------------------------------------------------------------------------


@register_adapter(_TV + "alexnet.AlexNet", _TV + "vgg.VGG")
def _alexnet_vgg(m: Any) -> list[Stage]:
    head = _pool_flatten(m.avgpool, m.classifier)
    return group([*units(m.features, "features"), head])


@register_adapter(_TV + "squeezenet.SqueezeNet")
def _squeezenet(m: Any) -> list[Stage]:
    head = ("classifier", Fn(lambda h, c: torch.flatten(c(h), 1), c=m.classifier))
    return group([*units(m.features, "features"), head])


@register_adapter(_TV + "mobilenetv2.MobileNetV2")
def _mobilenet_v2(m: Any) -> list[Stage]:
    pool = nn.AdaptiveAvgPool2d(1)
    return group([*units(m.features, "features"), _pool_flatten(pool, m.classifier)])


@register_adapter(_TV + "mobilenetv3.MobileNetV3", _TV + "efficientnet.EfficientNet")
def _features_pool_classifier(m: Any) -> list[Stage]:
    return group([*units(m.features, "features"), _pool_flatten(m.avgpool, m.classifier)])


@register_adapter(_TV + "convnext.ConvNeXt")
def _convnext(m: Any) -> list[Stage]:
    # The classifier starts with LayerNorm2d on (B, C, 1, 1) and flattens itself.
    head = ("head", Fn(lambda h, pool, c: c(pool(h)), pool=m.avgpool, c=m.classifier))
    return group([*units(m.features, "features"), head])


@register_adapter(_TV + "mnasnet.MNASNet")
def _mnasnet(m: Any) -> list[Stage]:
    return group([*units(m.layers, "layers"), _mean_then(m.classifier)])


@register_adapter(_TV + "densenet.DenseNet")
def _densenet(m: Any) -> list[Stage]:
    head = (
        "head",
        Fn(
            lambda h, c: c(torch.flatten(nn.functional.adaptive_avg_pool2d(torch.relu(h), 1), 1)),
            c=m.classifier,
        ),
    )
    return group([*_dense_units("features", m.features), head])


@register_adapter(_TV + "resnet.ResNet")
def _resnet(m: Any) -> list[Stage]:
    stem = ("stem", nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool))
    body = [u for i in range(1, 5) for u in blocks(f"layer{i}", getattr(m, f"layer{i}"))]
    return group([stem, *body, _pool_flatten(m.avgpool, m.fc)])


@register_adapter(_TV + "regnet.RegNet")
def _regnet(m: Any) -> list[Stage]:
    body = [u for name, s in m.trunk_output.named_children() for u in blocks(f"trunk.{name}", s)]
    return group([("stem", m.stem), *body, _pool_flatten(m.avgpool, m.fc)])


@register_adapter(_TV + "shufflenetv2.ShuffleNetV2")
def _shufflenet(m: Any) -> list[Stage]:
    body = [u for name in ("stage2", "stage3", "stage4") for u in blocks(name, getattr(m, name))]
    stem = ("stem", nn.Sequential(m.conv1, m.maxpool))
    return group([stem, *body, ("conv5", m.conv5), _mean_then(m.fc)])


def _transform_input(m: Any) -> list[Unit]:
    if not m.transform_input:
        return []
    return [("transform_input", Fn(lambda h, model: model._transform_input(h), model=_Owner(m)))]


@register_adapter(_TV + "googlenet.GoogLeNet")
def _googlenet(m: Any) -> list[Stage]:
    names = "conv1 maxpool1 conv2 conv3 maxpool2 inception3a inception3b maxpool3 inception4a"
    names += " inception4b inception4c inception4d inception4e maxpool4 inception5a inception5b"
    body = [(n, getattr(m, n)) for n in names.split()]
    head = ("head", Fn(_flatten_then, head=nn.Sequential(m.dropout, m.fc)))
    return group([*_transform_input(m), *body, ("avgpool", m.avgpool), head])


@register_adapter(_TV + "inception.Inception3")
def _inception(m: Any) -> list[Stage]:
    names = "Conv2d_1a_3x3 Conv2d_2a_3x3 Conv2d_2b_3x3 maxpool1 Conv2d_3b_1x1 Conv2d_4a_3x3"
    names += " maxpool2 Mixed_5b Mixed_5c Mixed_5d Mixed_6a Mixed_6b Mixed_6c Mixed_6d Mixed_6e"
    names += " Mixed_7a Mixed_7b Mixed_7c"
    body = [(n, getattr(m, n)) for n in names.split()]
    head = ("head", Fn(_flatten_then, head=nn.Sequential(m.dropout, m.fc)))
    return group([*_transform_input(m), *body, ("avgpool", m.avgpool), head])


def _vit_embed(h: torch.Tensor, model: nn.Module) -> torch.Tensor:
    m: Any = model
    x = m._process_input(h)  # (B, N, D)
    x = torch.cat([m.class_token.expand(x.shape[0], -1, -1), x], dim=1)  # (B, 1 + N, D)
    return m.encoder.dropout(x + m.encoder.pos_embedding)


@register_adapter(_TV + "vision_transformer.VisionTransformer")
def _vit(m: Any) -> list[Stage]:
    embed = ("embed", Fn(_vit_embed, model=_Owner(m, "conv_proj", "encoder")))
    head = ("head", Fn(lambda h, ln, heads: heads(ln(h)[:, 0]), ln=m.encoder.ln, heads=m.heads))
    return group([embed, *blocks("encoder.layers", m.encoder.layers), head])


@register_adapter(_TV + "swin_transformer.SwinTransformer")
def _swin(m: Any) -> list[Stage]:
    body: list[Unit] = []
    for i, part in enumerate(m.features):
        body += blocks(f"features.{i}", part) if i % 2 == 1 else [(f"features.{i}", part)]
    head = (
        "head",
        Fn(
            lambda h, norm, permute, pool, fc: fc(torch.flatten(pool(permute(norm(h))), 1)),
            norm=m.norm,
            permute=m.permute,
            pool=m.avgpool,
            fc=m.head,
        ),
    )
    return group([*body, head])


@register_adapter(_TV + "maxvit.MaxVit")
def _maxvit(m: Any) -> list[Stage]:
    body = [
        (f"blocks.{i}.layers.{j}", layer)
        for i, block in enumerate(m.blocks)
        for j, layer in enumerate(block.layers)
    ]
    return group([*units(m.stem, "stem"), *body, ("classifier", m.classifier)])


# ---- timm -------------------------------------------------------------------------------------

_TIMM = "timm.models."


_TIMM_HEAD_PARTS = ("global_pool", "head", "fc", "classifier", "conv_head", "norm_head", "act2",
                   "flatten", "fc_norm", "head_drop")  # fmt: skip


def _head_of(m: Any) -> _Owner:
    """A timm model seen through the modules its ``forward_head`` uses."""
    parts = [n for n in _TIMM_HEAD_PARTS if isinstance(getattr(m, n, None), nn.Module)]
    return _Owner(m, *parts)


def _timm_head(m: Any, norm: nn.Module | None = None) -> Unit:
    """``forward_head``, after the final ``norm`` where ``forward_features`` ends with one."""
    if norm is None:
        return ("head", Fn(lambda h, model: model.forward_head(h), model=_head_of(m)))
    return ("head", Fn(lambda h, norm, model: model.forward_head(norm(h)), norm=norm,
                       model=_head_of(m)))  # fmt: skip


def _stage_blocks(prefix: str, stage: Any) -> list[Unit]:
    """Units of a timm stage: its downsample (if any) then its blocks."""
    out: list[Unit] = []
    down = getattr(stage, "downsample", None)
    if isinstance(down, nn.Module) and not isinstance(down, nn.Identity):
        out.append((f"{prefix}.downsample", down))
    return out + blocks(f"{prefix}.blocks", stage.blocks)


@register_adapter(_TIMM + "resnet.ResNet")
def _timm_resnet(m: Any) -> list[Stage]:
    stem = ("stem", nn.Sequential(m.conv1, m.bn1, m.act1, m.maxpool))
    body = [u for i in range(1, 5) for u in blocks(f"layer{i}", getattr(m, f"layer{i}"))]
    return group([stem, *body, _timm_head(m)])


@register_adapter(_TIMM + "efficientnet.EfficientNet")
def _timm_efficientnet(m: Any) -> list[Stage]:
    body = [u for i, s in enumerate(m.blocks) for u in blocks(f"blocks.{i}", s)]
    stem = ("stem", nn.Sequential(m.conv_stem, m.bn1))
    neck = ("conv_head", nn.Sequential(m.conv_head, m.bn2))
    return group([stem, *body, neck, _timm_head(m)])


@register_adapter(_TIMM + "mobilenetv3.MobileNetV3")
def _timm_mobilenetv3(m: Any) -> list[Stage]:
    body = [u for i, s in enumerate(m.blocks) for u in blocks(f"blocks.{i}", s)]
    return group([("stem", nn.Sequential(m.conv_stem, m.bn1)), *body, _timm_head(m)])


@register_adapter(_TIMM + "regnet.RegNet")
def _timm_regnet(m: Any) -> list[Stage]:
    body = [u for i in range(1, 5) for u in blocks(f"s{i}", getattr(m, f"s{i}").children())]
    return group([("stem", m.stem), *body, ("final_conv", m.final_conv), _timm_head(m)])


@register_adapter(_TIMM + "densenet.DenseNet")
def _timm_densenet(m: Any) -> list[Stage]:
    return group([*_dense_units("features", m.features), _timm_head(m)])


@register_adapter(_TIMM + "convnext.ConvNeXt")
def _timm_convnext(m: Any) -> list[Stage]:
    body = [u for i, s in enumerate(m.stages) for u in _stage_blocks(f"stages.{i}", s)]
    return group([("stem", m.stem), *body, ("norm_pre", m.norm_pre), _timm_head(m)])


@register_adapter(_TIMM + "swin_transformer.SwinTransformer")
def _timm_swin(m: Any) -> list[Stage]:
    body = [u for i, s in enumerate(m.layers) for u in _stage_blocks(f"layers.{i}", s)]
    return group([("patch_embed", m.patch_embed), *body, _timm_head(m, m.norm)])


def _timm_vit_embed(h: torch.Tensor, model: nn.Module) -> torch.Tensor:
    m: Any = model
    return m.norm_pre(m.patch_drop(m._pos_embed(m.patch_embed(h))))


@register_adapter(_TIMM + "vision_transformer.VisionTransformer")
def _timm_vit(m: Any) -> list[Stage]:
    embed = ("embed", Fn(_timm_vit_embed, model=_Owner(m, "patch_embed", "patch_drop", "norm_pre")))
    return group([embed, *blocks("blocks", m.blocks), _timm_head(m, m.norm)])
