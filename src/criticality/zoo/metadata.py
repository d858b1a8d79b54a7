"""What is known about each zoo model: family, year, architecture traits, size and accuracy.

The family table below is written by hand (one row per torchvision family, with the arXiv paper
that introduced it); parameter counts, GFLOPs and ImageNet-1k top-1/top-5 accuracy are read from
torchvision's weight enums (``torchvision.models.get_model_weights(name).DEFAULT.meta``), which
ship with the package and need no download.

timm ships no accuracy tables inside its package: :func:`timm_metadata` returns what timm's
pretrained config knows offline (input size, paper id, tag) and leaves the accuracy empty unless
you pass timm's ``results-imagenet.csv`` from its repository (:func:`load_accuracy_csv`).

Example:
    >>> rows = zoo_metadata()
    >>> len(rows)
    80
    >>> m = model_metadata("resnet50")
    >>> (m.family, m.year, m.kind, m.norm, m.skip)
    ('ResNet', 2015, 'conv', 'batch', 'residual')
"""

from __future__ import annotations

import csv
import dataclasses
import functools
from pathlib import Path
from typing import Literal

Kind = Literal["conv", "transformer", "hybrid"]
Norm = Literal["none", "batch", "layer", "batch+layer"]
Skip = Literal["none", "residual", "dense", "concat"]


@dataclasses.dataclass(frozen=True)
class Family:
    """One architecture family and the paper that introduced it.

    Attributes:
        name: the family's usual name, e.g. ``"ResNet"``.
        year: year of the first arXiv version (or venue, for AlexNet) of the paper.
        paper: first author and short title.
        arxiv: the arXiv identifier (``""`` where the paper has none).
        kind: ``"conv"``, ``"transformer"`` or ``"hybrid"`` (convolutions and attention).
        norm: normalisation on the main path: ``"none"``, ``"batch"``, ``"layer"`` or both.
        skip: connections across blocks: ``"none"``, ``"residual"`` (additive), ``"dense"``
            (concatenation of all earlier features) or ``"concat"`` (half the channels pass
            unchanged and are concatenated back, ShuffleNet-V2). Parallel branches inside a
            block (Inception, Fire modules) do not count as skips.
    """

    name: str
    year: int
    paper: str
    arxiv: str
    kind: Kind
    norm: Norm
    skip: Skip


_F = Family
FAMILIES: dict[str, Family] = {f.name: f for f in [
    # AlexNet's 2012 paper (NeurIPS) has no arXiv version; torchvision builds the variant of
    # Krizhevsky's follow-up "One weird trick" (arXiv 2014), cited here.
    _F("AlexNet", 2012, "Krizhevsky, ImageNet classification with deep CNNs (NeurIPS 2012)",
       "1404.5997", "conv", "none", "none"),
    _F("VGG", 2014, "Simonyan, Very deep convolutional networks", "1409.1556", "conv", "none",
       "none"),
    _F("GoogLeNet", 2014, "Szegedy, Going deeper with convolutions", "1409.4842", "conv", "batch",
       "none"),
    _F("Inception-v3", 2015, "Szegedy, Rethinking the Inception architecture", "1512.00567", "conv",
       "batch", "none"),
    _F("ResNet", 2015, "He, Deep residual learning", "1512.03385", "conv", "batch", "residual"),
    _F("SqueezeNet", 2016, "Iandola, SqueezeNet", "1602.07360", "conv", "none", "none"),
    _F("DenseNet", 2016, "Huang, Densely connected CNNs", "1608.06993", "conv", "batch", "dense"),
    _F("ResNeXt", 2016, "Xie, Aggregated residual transformations", "1611.05431", "conv", "batch",
       "residual"),
    _F("Wide ResNet", 2016, "Zagoruyko, Wide residual networks", "1605.07146", "conv", "batch",
       "residual"),
    _F("ShuffleNet-V2", 2018, "Ma, ShuffleNet V2", "1807.11164", "conv", "batch", "concat"),
    _F("MobileNet-V2", 2018, "Sandler, MobileNetV2", "1801.04381", "conv", "batch", "residual"),
    _F("MNASNet", 2018, "Tan, MnasNet", "1807.11626", "conv", "batch", "residual"),
    _F("MobileNet-V3", 2019, "Howard, Searching for MobileNetV3", "1905.02244", "conv", "batch",
       "residual"),
    _F("EfficientNet", 2019, "Tan, EfficientNet", "1905.11946", "conv", "batch", "residual"),
    _F("RegNet", 2020, "Radosavovic, Designing network design spaces", "2003.13678", "conv",
       "batch", "residual"),
    _F("ViT", 2020, "Dosovitskiy, An image is worth 16x16 words", "2010.11929", "transformer",
       "layer", "residual"),
    _F("Swin", 2021, "Liu, Swin Transformer", "2103.14030", "transformer", "layer", "residual"),
    _F("Swin-V2", 2021, "Liu, Swin Transformer V2", "2111.09883", "transformer", "layer",
       "residual"),
    _F("EfficientNet-V2", 2021, "Tan, EfficientNetV2", "2104.00298", "conv", "batch", "residual"),
    _F("ConvNeXt", 2022, "Liu, A ConvNet for the 2020s", "2201.03545", "conv", "layer", "residual"),
    _F("MaxViT", 2022, "Tu, MaxViT", "2204.01697", "hybrid", "batch+layer", "residual"),
]}  # fmt: skip

# torchvision builder name prefix -> family; the first matching prefix wins (order matters).
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("alexnet", "AlexNet"), ("vgg", "VGG"), ("googlenet", "GoogLeNet"),
    ("inception_v3", "Inception-v3"), ("resnext", "ResNeXt"), ("wide_resnet", "Wide ResNet"),
    ("resnet", "ResNet"), ("squeezenet", "SqueezeNet"), ("densenet", "DenseNet"),
    ("shufflenet_v2", "ShuffleNet-V2"), ("mobilenet_v2", "MobileNet-V2"), ("mnasnet", "MNASNet"),
    ("mobilenet_v3", "MobileNet-V3"), ("efficientnet_v2", "EfficientNet-V2"),
    ("efficientnet", "EfficientNet"), ("regnet", "RegNet"), ("vit", "ViT"),
    ("swin_v2", "Swin-V2"), ("swin", "Swin"), ("convnext", "ConvNeXt"), ("maxvit", "MaxViT"),
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ModelMeta:
    """One model's row of the zoo table.

    Attributes:
        name: builder name, e.g. ``"resnet50"``.
        source: ``"torchvision"`` or ``"timm"``.
        family: family name (a key of :data:`FAMILIES`), ``""`` if unknown.
        year: the family's publication year (0 if unknown).
        arxiv: arXiv id of the family's paper (``""`` if none or unknown).
        kind: ``"conv"``, ``"transformer"``, ``"hybrid"`` or ``""``.
        norm: normalisation type (see :class:`Family`); ``vgg*_bn`` use BatchNorm.
        skip: skip-connection type (see :class:`Family`).
        params: parameter count (``None`` if unknown).
        gflops: GFLOPs of one forward pass at ``resolution`` (``None`` if unknown).
        top1: ImageNet-1k top-1 accuracy in % of ``weights`` (``None`` if unknown).
        top5: top-5 accuracy in % (``None`` if unknown).
        weights: the weights the numbers belong to, e.g. ``"IMAGENET1K_V2"``.
        resolution: evaluation crop size in pixels.
    """

    name: str
    source: str
    family: str
    year: int
    arxiv: str
    kind: str
    norm: str
    skip: str
    params: int | None
    gflops: float | None
    top1: float | None
    top5: float | None
    weights: str
    resolution: int

    @property
    def batchnorm(self) -> bool:
        """Whether the model normalises with BatchNorm anywhere on its main path."""
        return "batch" in self.norm


def family_of(name: str) -> Family | None:
    """The torchvision family of a builder name, or ``None``."""
    bare = name.removeprefix("torchvision/")
    for prefix, family in _PREFIXES:
        if bare.startswith(prefix):
            return FAMILIES[family]
    return None


@functools.cache
def _torchvision_row(name: str) -> ModelMeta:
    import torchvision

    family = family_of(name)
    if family is None:
        raise ValueError(f"{name!r} is not a torchvision ImageNet classifier; see zoo_metadata()")
    weights = torchvision.models.get_model_weights(name).DEFAULT
    meta = weights.meta
    metrics = meta["_metrics"]["ImageNet-1K"]
    crop = getattr(weights.transforms(), "crop_size", [224])
    norm = "batch" if name.endswith("_bn") else family.norm
    return ModelMeta(
        name, "torchvision", family.name, family.year, family.arxiv, family.kind, norm,
        family.skip, int(meta["num_params"]), float(meta["_ops"]), float(metrics["acc@1"]),
        float(metrics["acc@5"]), weights.name, int(crop[0]),
    )  # fmt: skip


def model_metadata(
    name: str, *, accuracy: dict[str, tuple[float, float]] | None = None
) -> ModelMeta:
    """The zoo row of one model: torchvision names from the table, others from timm.

    Args:
        name: a torchvision builder name or a timm architecture (``timm/NAME`` forces timm).
        accuracy: optional ``name -> (top1, top5)`` for timm models (see
            :func:`load_accuracy_csv`).

    Raises:
        ValueError: the name is neither a torchvision classifier nor a timm architecture.
    """
    from criticality.zoo import list_models

    if not name.startswith("timm/") and name in list_models(source="torchvision"):
        return _torchvision_row(name)
    return timm_metadata(name.removeprefix("timm/"), accuracy=accuracy)


def zoo_metadata() -> list[ModelMeta]:
    """Rows for all 80 torchvision ImageNet classifiers, sorted by year then name."""
    from criticality.zoo import list_models

    rows = [_torchvision_row(n) for n in list_models(source="torchvision")]
    return sorted(rows, key=lambda r: (r.year, r.name))


def timm_metadata(
    name: str, *, accuracy: dict[str, tuple[float, float]] | None = None
) -> ModelMeta:
    """What timm knows offline about ``name``: input size and paper; no accuracy of its own.

    The family is taken from torchvision's table when the timm name starts with a torchvision
    family prefix (``resnet50`` → ResNet); otherwise it is the architecture's name up to its
    first underscore (``mobilenetv3_small_050`` → ``mobilenetv3``), with year 0 (unknown).
    """
    import timm

    if name not in timm.list_models():
        raise ValueError(
            f"unknown timm architecture {name!r}; `criticality list models` lists them"
        )
    cfg = timm.models.get_pretrained_cfg(name)
    size = tuple(getattr(cfg, "input_size", None) or (3, 224, 224))
    arxiv = str(getattr(cfg, "paper_ids", None) or "").removeprefix("arXiv:")
    family = family_of(name)
    top1, top5 = (accuracy or {}).get(name, (None, None))
    if family is not None:
        return ModelMeta(name, "timm", family.name, family.year, arxiv or family.arxiv,
                         family.kind, family.norm, family.skip, None, None, top1, top5,
                         str(getattr(cfg, "tag", "") or ""), int(size[-1]))  # fmt: skip
    guess = name.split("_", 1)[0]
    return ModelMeta(name, "timm", guess, 0, arxiv, "", "", "", None, None, top1, top5,
                     str(getattr(cfg, "tag", "") or ""), int(size[-1]))  # fmt: skip


def load_accuracy_csv(path: str | Path) -> dict[str, tuple[float, float]]:
    """Read ``model,top1,top5`` columns (timm's ``results-imagenet.csv`` format).

    timm names its rows ``arch.tag``; both ``arch.tag`` and the bare ``arch`` (first row wins)
    are keys of the result.

    Returns:
        ``name -> (top1, top5)`` in %.
    """
    out: dict[str, tuple[float, float]] = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"model", "top1", "top5"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path} lacks the columns {sorted(missing)}; need model,top1,top5")
        for row in reader:
            value = (float(row["top1"]), float(row["top5"]))
            out[row["model"]] = value
            out.setdefault(row["model"].split(".")[0], value)
    return out
