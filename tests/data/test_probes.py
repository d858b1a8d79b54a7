"""Probe images: each model's own preprocessing, reproducible augmentation, own folders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from criticality.data import imagenet_classes, load_photos, probe_images


@pytest.fixture(scope="module")
def photos(need):
    need("darknet_photos")
    return load_photos("photos")


def test_photos_in_lite_preprocessing(photos) -> None:
    x = probe_images("efficientnet_lite0", n=7, augment=False)
    assert x.shape == (7, 3, 224, 224) and x.dtype == torch.float32
    # (x/255 - 0.5)/0.5 maps pixels into [-1, 1] and uses most of that range on real photos.
    assert -1.0 <= x.min().item() < -0.9 and 0.9 < x.max().item() <= 1.0


@pytest.mark.parametrize(
    ("name", "size"), [("tf_efficientnet_lite1", 240), ("efficientnet_lite2", 260)]
)
def test_lite_sizes(photos, name, size) -> None:
    assert probe_images(name, n=2).shape == (2, 3, size, size)


def test_torchvision_preprocessing_is_its_weights_preset(photos) -> None:
    import torchvision

    x = probe_images("resnet18", n=2)
    preset = torchvision.models.ResNet18_Weights.DEFAULT.transforms()
    assert x.shape == (2, 3, 224, 224)
    assert torch.equal(x[1], preset(photos[1]))


def test_timm_prefix_and_model_instance_agree(photos) -> None:
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    a = probe_images("timm/tf_efficientnet_lite0", n=3)
    b = probe_images(model, n=3)
    assert torch.equal(a, b)


def test_augmented_probes_are_reproducible(photos) -> None:
    a = probe_images("efficientnet_lite0", n=20, seed=1)
    b = probe_images("efficientnet_lite0", n=20, seed=1)
    c = probe_images("efficientnet_lite0", n=20, seed=2)
    assert a.shape == (20, 3, 224, 224)
    assert torch.equal(a, b)
    assert torch.equal(a[:7], c[:7]) and not torch.equal(a[7:], c[7:])
    assert not torch.equal(a[7], a[0])  # an augmented view differs from its photo


def test_sklearn_source_and_custom_transform() -> None:
    x = probe_images(lambda img: torch.zeros(3, 4, 5), n=3, source="sklearn")
    assert x.shape == (3, 3, 4, 5)
    assert len(load_photos("sklearn")) == 2


def test_your_own_folder(tmp_path) -> None:
    rng = np.random.default_rng(0)
    for name in ("b.png", "a.jpg"):
        Image.fromarray(rng.integers(0, 255, (50, 60, 3), dtype=np.uint8)).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    x = probe_images("efficientnet_lite0", n=2, source=tmp_path, augment=False)
    assert x.shape == (2, 3, 224, 224)
    with pytest.raises(ValueError, match="augment=True"):
        probe_images("efficientnet_lite0", n=3, source=tmp_path, augment=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        load_photos(tmp_path / "empty")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model_name_or_transform": "no_such_net"}, "no preprocessing known"),
        ({"model_name_or_transform": "resnet18", "n": 0}, "at least 1"),
        ({"model_name_or_transform": "resnet18", "source": "/no/such/dir"}, "not 'photos'"),
    ],
)
def test_bad_arguments(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        probe_images(**kwargs)


def test_imagenet_classes(photos) -> None:
    import torchvision

    names = imagenet_classes()
    assert len(names) == 1000
    assert (names[0], names[22], names[207], names[339]) == (
        "tench",
        "bald eagle",
        "golden retriever",
        "sorrel",
    )
    # Same order as torchvision's category list (names differ only in spelling).
    tv = torchvision.models.ResNet18_Weights.DEFAULT.meta["categories"]
    same = sum(a.lower() == b.lower() for a, b in zip(names, tv, strict=True))
    assert same > 900


def test_timm_prefix_chooses_timm_preprocessing() -> None:
    """Each hub's documented evaluation preprocessing, rebuilt by hand from its constants:
    torchvision's ResNet-18 resizes to 256 (bilinear) and crops 224; timm's resnet18 resizes to
    224 / 0.95 = 235 (bicubic) and crops 224; both normalise with the ImageNet mean and std."""
    from PIL import Image
    from sklearn.datasets import load_sample_images
    from torchvision import transforms as T

    photo = Image.fromarray(load_sample_images().images[0]).convert("RGB")
    norm = T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    by_hand = {
        "resnet18": T.Compose(
            [T.Resize(256, T.InterpolationMode.BILINEAR), T.CenterCrop(224), T.ToTensor(), norm]
        ),
        "timm/resnet18": T.Compose(
            [T.Resize(235, T.InterpolationMode.BICUBIC), T.CenterCrop(224), T.ToTensor(), norm]
        ),
    }
    for name, reference in by_hand.items():
        probe = probe_images(name, n=1, source="sklearn")[0]
        torch.testing.assert_close(probe, reference(photo))  # measured: identical
        other = by_hand["timm/resnet18" if name == "resnet18" else "resnet18"](photo)
        assert (probe - other).abs().mean() > 0.1  # the other hub's pipeline is far off
