"""Common corruptions of image batches in the style of MNIST-C (Mu & Gilmer 2019).

Each corruption maps images ``(B, C, H, W)`` with values in ``[0, 1]`` and a severity
``1..5`` to corrupted images of the same shape, clamped to ``[0, 1]``; randomness comes from a
seeded generator. Geometric ones resample with ``grid_sample`` (bilinear, zeros outside).

========== ========================================== ==============================
name       what                                       parameter by severity 1..5
========== ========================================== ==============================
noise      additive Gaussian noise, std σ             σ = .08 .12 .18 .26 .38
blur       Gaussian blur, std s (pixels, at 28 px)    s = .5 1 1.5 2 3
contrast   ``mean + c (x − mean)`` per image          c = .4 .3 .2 .1 .05
rotation   rotation by ±θ (random sign)               θ = 10 20 30 40 50 degrees
translate  shift by t pixels (at 28 px), random dir.  t = 1 2 3 4 5
elastic    smoothed random displacement (Simard et    α = 10 20 30 40 50 pixels,
           al. 2003), α scale, σ = 4 px smoothing     σ = 4 (at 28 px)
========== ========================================== ==============================

Lengths in pixels are given for 28 × 28 images and scaled with the image width.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

Corruption = Callable[[torch.Tensor, float, torch.Generator], torch.Tensor]

SEVERITIES: dict[str, tuple[float, ...]] = {
    "noise": (0.08, 0.12, 0.18, 0.26, 0.38),
    "blur": (0.5, 1.0, 1.5, 2.0, 3.0),
    "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
    "rotation": (10.0, 20.0, 30.0, 40.0, 50.0),
    "translate": (1.0, 2.0, 3.0, 4.0, 5.0),
    "elastic": (10.0, 20.0, 30.0, 40.0, 50.0),
}


def gaussian_noise(x: torch.Tensor, sigma: float, gen: torch.Generator) -> torch.Tensor:
    """``clamp(x + σ z, 0, 1)``, ``z ~ N(0, I)``; any shape ``(B, ...)``."""
    z = torch.randn(x.shape, generator=gen, dtype=x.dtype, device=x.device)
    return (x + sigma * z).clamp(0.0, 1.0)


def _kernel(sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A normalised 1-D Gaussian kernel of std ``sigma`` pixels, radius ``ceil(3σ)``."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def smooth(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian filter of ``(B, C, H, W)`` per channel, zero padding."""
    k = _kernel(sigma, x.dtype, x.device)
    c, r = x.shape[1], k.numel() // 2
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, r), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(r, 0), groups=c)


def blur(x: torch.Tensor, sigma: float, gen: torch.Generator) -> torch.Tensor:
    return smooth(x, sigma * x.shape[-1] / 28).clamp(0.0, 1.0)


def contrast(x: torch.Tensor, c: float, gen: torch.Generator) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (mean + c * (x - mean)).clamp(0.0, 1.0)


def _warp(x: torch.Tensor, theta: torch.Tensor, flow: torch.Tensor | None = None) -> torch.Tensor:
    """Resample ``x`` at ``affine_grid(theta)`` (+ ``flow``, normalised coordinates)."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, H, W, 2)
    if flow is not None:
        grid = grid + flow
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def rotation(x: torch.Tensor, degrees: float, gen: torch.Generator) -> torch.Tensor:
    sign = torch.randint(0, 2, (x.shape[0],), generator=gen, device=x.device) * 2 - 1
    a = sign.to(x.dtype) * math.radians(degrees)
    cos, sin, zero = a.cos(), a.sin(), torch.zeros_like(a)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    return _warp(x, theta).clamp(0.0, 1.0)


def translate(x: torch.Tensor, pixels: float, gen: torch.Generator) -> torch.Tensor:
    angle = torch.rand(x.shape[0], generator=gen, dtype=x.dtype, device=x.device) * 2 * math.pi
    shift = 2 * pixels / 28  # normalised coordinates span 2 over the width
    theta = torch.zeros(x.shape[0], 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 2], theta[:, 1, 2] = shift * angle.cos(), shift * angle.sin()
    return _warp(x, theta).clamp(0.0, 1.0)


def elastic(x: torch.Tensor, alpha: float, gen: torch.Generator) -> torch.Tensor:
    b, _, h, w = x.shape
    field = torch.rand((b, 2, h, w), generator=gen, dtype=x.dtype, device=x.device) * 2 - 1
    field = smooth(field, 4.0 * w / 28) * (alpha * w / 28)  # (B, 2, H, W) in pixels
    flow = field * 2 / torch.tensor([w, h], dtype=x.dtype, device=x.device).view(1, 2, 1, 1)
    theta = torch.eye(2, 3, dtype=x.dtype, device=x.device).expand(b, 2, 3)
    return _warp(x, theta, flow.permute(0, 2, 3, 1)).clamp(0.0, 1.0)


CORRUPTIONS: dict[str, Corruption] = {
    "noise": gaussian_noise,
    "blur": blur,
    "contrast": contrast,
    "rotation": rotation,
    "translate": translate,
    "elastic": elastic,
}


def corrupt(x: torch.Tensor, name: str, severity: int, *, seed: int = 0) -> torch.Tensor:
    """Apply corruption ``name`` at ``severity`` (1..5) to images ``x`` of shape ``(B, C, H, W)``.

    Example:
        >>> x = torch.rand(2, 1, 28, 28)
        >>> corrupt(x, "rotation", 3).shape
        torch.Size([2, 1, 28, 28])
    """
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; choose one of {sorted(CORRUPTIONS)}")
    if severity not in range(1, 6):
        raise ValueError(f"severity must be an integer from 1 to 5, got {severity}")
    if name != "noise" and x.ndim != 4:
        raise ValueError(
            f"corruption {name!r} needs images of shape (B, C, H, W), got {tuple(x.shape)}; "
            "only 'noise' applies to other inputs"
        )
    gen = torch.Generator(device=x.device).manual_seed(seed)
    return CORRUPTIONS[name](x, SEVERITIES[name][severity - 1], gen)
