"""Probe inputs: random, natural photos in each model's own preprocessing, a file or a folder.

:func:`make_probes` makes the probe inputs of any model by source name.

Sources of photos:

* ``"photos"``: the 7 photos of the Debian ``darknet`` package, in this order: dog, eagle,
  giraffe, horses, kite, person, scream (a painting).
* ``"sklearn"``: scikit-learn's 2 sample images (china, flower).
* a folder of your own images (``.jpg``, ``.jpeg``, ``.png``, ``.bmp``, ``.webp``), sorted by
  file name, or a single image file.

When more probes are asked for than there are photos, the extra ones are augmented views: a
seeded random-resized crop (scale 0.25–1, aspect 3/4–4/3) and a coin-flip horizontal mirror of
photo ``i mod n_photos``, then the model's preprocessing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from criticality.data import _formats
from criticality.data._registry import fetch

Transform = Callable[[Image.Image], torch.Tensor]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
_LITE_ALIASES = {f"efficientnet_lite{k}": f"tf_efficientnet_lite{k}" for k in range(5)}


def load_photos(source: str | Path = "photos") -> list[Image.Image]:
    """Load the RGB photos of a probe source (see the module docstring), in a fixed order."""
    if source == "photos":
        folder = fetch("darknet_photos")
        paths = [folder / f"{name}.jpg" for name in _formats.PHOTOS]
    elif source == "sklearn":
        from sklearn.datasets import load_sample_images

        return [Image.fromarray(img).convert("RGB") for img in load_sample_images().images]
    else:
        path = Path(source).expanduser()
        if path.is_dir():
            paths = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            paths = [path]
        else:
            raise ValueError(f"probe source {source!r} is not 'photos', 'sklearn' or an image path")
        if not paths:
            raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {path}")
    photos = []
    for p in paths:
        try:
            with Image.open(p) as img:
                photos.append(img.convert("RGB"))
        except OSError as err:  # a cut or damaged image file
            raise ValueError(
                f"probe image {p} cannot be read ({err}); replace or remove it"
            ) from None
    return photos


def imagenet_classes() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k class names in the standard index order (sorted WordNet ids).

    Read from darknet's label lists, whose first 1,000 entries are the ImageNet-1k classes.
    """
    folder = fetch("darknet_photos")
    wnids = (folder / "imagenet.labels.list").read_text().split()
    names = (folder / "imagenet.shortnames.list").read_text().splitlines()
    lookup = dict(zip(wnids, names, strict=True))
    return tuple(lookup[w] for w in sorted(wnids[:1000]))


def model_transform(model: str | torch.nn.Module) -> Transform:
    """The evaluation preprocessing of a model: PIL image -> float32 tensor ``(3, H, W)``.

    Args:
        model: a torchvision classifier name (its weights enum's ``transforms()``), a timm name
            (its pretrained config via ``timm.data``), ``"timm/NAME"`` or ``"torchvision/NAME"``
            to choose, ``efficientnet_liteK`` (= timm ``tf_efficientnet_liteK``:
            ``(x/255 - 0.5)/0.5`` at 224/240/260 px for K = 0/1/2), or a timm model instance.

    Raises:
        ValueError: the name is known to neither torchvision nor timm.
    """
    if isinstance(model, torch.nn.Module):
        return _timm_transform(model=model)
    hub, _, name = model.rpartition("/")
    name = _LITE_ALIASES.get(name, name)
    if hub in ("", "torchvision"):
        import torchvision

        if name in torchvision.models.list_models(module=torchvision.models):
            return torchvision.models.get_model_weights(name).DEFAULT.transforms()
    if hub in ("", "timm"):
        import timm

        if timm.is_model(name):
            return _timm_transform(pretrained_cfg=timm.models.get_pretrained_cfg(name))
    raise ValueError(f"no preprocessing known for {model!r}: pass a torchvision/timm model name")


def _timm_transform(**kwargs: Any) -> Transform:
    from timm.data import create_transform, resolve_data_config

    cfg = kwargs.get("pretrained_cfg")
    if cfg is not None:
        kwargs["pretrained_cfg"] = cfg.to_dict()
    return create_transform(**resolve_data_config(**kwargs))


def _augment(img: Image.Image, gen: torch.Generator) -> Image.Image:
    """A seeded random-resized crop (scale 0.25–1, aspect 3/4–4/3) and horizontal flip."""
    width, height = img.size
    rand = lambda: float(torch.rand((), generator=gen))  # noqa: E731
    box = (0, 0, width, height)
    for _ in range(10):
        area = width * height * (0.25 + 0.75 * rand())
        aspect = math.exp(math.log(3 / 4) + rand() * math.log(16 / 9))
        w, h = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if 0 < w <= width and 0 < h <= height:
            left, top = int(rand() * (width - w + 1)), int(rand() * (height - h + 1))
            box = (left, top, left + w, top + h)
            break
    crop = img.crop(box)
    return crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rand() < 0.5 else crop


def probe_images(
    model_name_or_transform: str | torch.nn.Module | Transform,
    *,
    n: int = 8,
    seed: int = 0,
    source: str | Path = "photos",
    augment: bool = True,
) -> torch.Tensor:
    """Natural photos preprocessed for a model, as a batch of probe inputs.

    Args:
        model_name_or_transform: a model name or timm model (see :func:`model_transform`), or
            a callable mapping a PIL RGB image to a tensor ``(3, H, W)``.
        n: number of probes. The first ``min(n, n_photos)`` are the photos themselves, in the
            source's order; the rest are augmented views (see the module docstring).
        seed: seed of the augmentation; the same seed gives the same batch.
        source: ``"photos"`` (darknet, 7), ``"sklearn"`` (2), or a folder/file of your images.
        augment: allow augmented views; when ``False``, ``n`` may not exceed the photos.

    Returns:
        float32 tensor of shape ``(n, 3, H, W)``, e.g. ``(8, 3, 224, 224)``.

    Raises:
        ValueError: ``n < 1``, an unknown model or source, or too few photos without ``augment``.
        DataUnavailableError: the darknet photos could not be fetched.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    photos = load_photos(source)
    if n > len(photos) and not augment:
        raise ValueError(f"{source!r} has {len(photos)} images; pass augment=True for n={n}")
    if isinstance(model_name_or_transform, (str, torch.nn.Module)):
        transform = model_transform(model_name_or_transform)
    else:
        transform = model_name_or_transform
    gen = torch.Generator().manual_seed(seed)
    views = photos[:n] + [_augment(photos[i % len(photos)], gen) for i in range(len(photos), n)]
    return torch.stack([transform(view).float() for view in views])  # (n, 3, H, W)


PROBE_SOURCES = ("gaussian", "photos", "sklearn")


def make_probes(
    source: str,
    model: str,
    input_shape: tuple[int, ...],
    *,
    n: int = 8,
    seed: int = 0,
) -> torch.Tensor:
    """Probe inputs of shape ``(n, *input_shape)`` for the model named ``model``.

    Args:
        source: ``"gaussian"`` (i.i.d. N(0, 1), the scale of normalised images), ``"photos"``
            or ``"sklearn"`` (bundled natural photos with the model's own preprocessing; image
            models only), a ``.pt``/``.npy`` file holding a tensor ``(B, ...)``, or a folder
            of images.
        model: the model's zoo name (photos get its own preprocessing).
        input_shape: shape of one input, e.g. ``(3, 224, 224)``.
        n: number of probe inputs (photos are augmented with seeded crops when ``n`` exceeds
            their number; a file's first ``n`` rows are used).
        seed: seed of the random draw or the augmentation.
    """
    if n < 1:
        raise ValueError(f"need at least one probe input, got n={n}")
    shape = tuple(input_shape)
    if source == "gaussian":
        gen = torch.Generator().manual_seed(seed)
        return torch.randn((n, *shape), generator=gen)
    path = Path(source)
    if path.suffix in (".pt", ".npy"):
        return _load_tensor(path)[:n]
    if source in ("photos", "sklearn") or path.is_dir():
        if len(shape) != 3:
            raise ValueError(f"{source!r} probes are images; {model} takes inputs of shape {shape}")
        return probe_images(model, n=n, seed=seed, source=source)
    raise ValueError(
        f"unknown probe source {source!r}: use one of {', '.join(PROBE_SOURCES)}, "
        "a .pt/.npy file with a tensor of shape (B, ...), or a folder of images"
    )


def _load_tensor(path: Path) -> torch.Tensor:
    if not path.is_file():
        raise FileNotFoundError(f"probe file {path} does not exist")
    try:
        if path.suffix == ".npy":
            value = torch.from_numpy(np.load(path))  # no pickles: plain arrays only
        else:
            value = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # cut, garbage or foreign files raise many types
        raise ValueError(
            f"probe file {path} is damaged or holds no plain tensor ({type(err).__name__}); "
            "write it again with torch.save(tensor, path) or np.save(path, array)"
        ) from None  # torch's message would suggest weights_only=False: never for a probe file
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{path} holds a {type(value).__name__}, not a tensor of shape (B, ...)")
    return value.float()
