"""MNIST-C-style corruptions: invariants of each transform on real digits."""

from __future__ import annotations

import pytest
import torch

from criticality.data import load_tensors
from criticality.training import CORRUPTIONS, corrupt
from criticality.training.corruptions import smooth


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return load_tensors("digits", "test")[0][:32]


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_shape_range_determinism_and_growing_severity(images: torch.Tensor, name: str) -> None:
    outs = [corrupt(images, name, s, seed=1) for s in range(1, 6)]
    for out in outs:
        assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
    assert torch.equal(outs[2], corrupt(images, name, 3, seed=1))
    change = [float((out - images).abs().mean()) for out in outs]
    assert change[0] > 0 and change[-1] > change[0], change


def test_contrast_keeps_the_mean_and_scales_deviations() -> None:
    x = 0.25 + 0.5 * torch.rand(4, 1, 28, 28)  # stays in range after scaling: no clamping
    out = corrupt(x, "contrast", 1)
    torch.testing.assert_close(out.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)))
    torch.testing.assert_close(out.std(dim=(1, 2, 3)), 0.4 * x.std(dim=(1, 2, 3)))


def test_blur_keeps_the_mass_of_a_centred_blob() -> None:
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 12:16, 12:16] = 1.0
    torch.testing.assert_close(smooth(x, 2.0).sum(), x.sum())


def test_rotation_leaves_a_centred_disc_and_translation_moves_the_mass() -> None:
    r = torch.linspace(-1, 1, 28)
    disc = torch.exp(-(r.view(-1, 1) ** 2 + r.view(1, -1) ** 2) / 0.1).view(1, 1, 28, 28)
    bar = torch.zeros_like(disc)
    bar[..., 12:16, 4:24] = 1.0
    assert float((corrupt(disc, "rotation", 5) - disc).abs().max()) < 0.03  # interpolation only
    assert float((corrupt(bar, "rotation", 5) - bar).abs().max()) > 0.5
    moved = corrupt(disc, "translate", 5)
    grid = torch.arange(28.0)
    centre = [(moved[0, 0].sum(dim=d) * grid).sum() / moved.sum() for d in (1, 0)]
    shift = ((centre[0] - 13.5) ** 2 + (centre[1] - 13.5) ** 2) ** 0.5
    assert float(shift) == pytest.approx(5.0, abs=0.3)


def test_bad_arguments_raise(images: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt(images, "fog", 1)
    with pytest.raises(ValueError, match="severity"):
        corrupt(images, "blur", 6)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        corrupt(torch.rand(3, 10), "rotation", 1)
    assert corrupt(torch.rand(3, 10), "noise", 1).shape == (3, 10)
