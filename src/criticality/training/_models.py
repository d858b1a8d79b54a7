"""The two classifiers of the training experiment: a tanh MLP and a tanh CNN for small images.

Weights are drawn ``N(0, σ_w² / fan_in)`` and biases ``N(0, σ_b²)`` (the mean-field
initialisation of Poole et al. 2016): for tanh with ``σ_b = 0.05`` the network starts ordered
for ``σ_w`` well below 1, near critical at ``σ_w ≈ 1`` and chaotic well above.
Both are ``nn.Sequential`` so :func:`criticality.stages` splits them without taps.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def init_gaussian_(module: nn.Module, sigma_w: float, sigma_b: float, seed: int) -> None:
    """Re-initialise every ``Linear`` / ``Conv2d`` of ``module`` in place, seeded.

    The generator's seed is mixed from ``seed`` so that the weights are not the same random
    stream as a measure's tangents drawn with the same small integer seed (a tangent equal to
    a weight row would make the first stage's gain wildly atypical).
    """
    mixed = int(np.random.SeedSequence([seed, 0x5EED]).generate_state(1)[0])
    gen = torch.Generator().manual_seed(mixed)
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                m.weight.copy_(
                    torch.randn(m.weight.shape, generator=gen) * sigma_w / math.sqrt(fan_in)
                )
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * sigma_b)


def mlp_classifier(
    in_shape: tuple[int, ...],
    n_classes: int,
    *,
    depth: int = 6,
    width: int = 128,
    sigma_w: float = 1.0,
    sigma_b: float = 0.05,
    seed: int = 0,
) -> nn.Sequential:
    """``Flatten``, ``depth`` × (``Linear`` + ``Tanh``), ``Linear`` read-out: ``depth + 1`` stages.

    Args:
        in_shape: shape of one input, e.g. ``(1, 28, 28)``.
        n_classes: number of output logits.
        depth: hidden stages.
        width: units per hidden stage.
        sigma_w: weight scale.
        sigma_b: bias scale.
        seed: seed of the initialisation.
    """
    layers: list[nn.Module] = [nn.Flatten()]
    d = math.prod(in_shape)
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.Tanh()]
        d = width
    net = nn.Sequential(*layers, nn.Linear(d, n_classes))
    init_gaussian_(net, sigma_w, sigma_b, seed)
    return net


def cnn_classifier(
    in_shape: tuple[int, ...],
    n_classes: int,
    *,
    channels: tuple[int, int] = (16, 32),
    sigma_w: float = 1.0,
    sigma_b: float = 0.05,
    seed: int = 0,
) -> nn.Sequential:
    """Two blocks of two 3×3 ``Conv2d`` + ``Tanh`` (the second pooled 2×2), ``Linear`` read-out.

    Five stages for ``(C, H, W)`` inputs with ``H, W`` divisible by 4 (28 → 7, 8 → 2).
    """
    c_in, h, w = in_shape
    c1, c2 = channels
    net = nn.Sequential(
        nn.Conv2d(c_in, c1, 3, padding=1),
        nn.Tanh(),
        nn.Conv2d(c1, c1, 3, padding=1),
        nn.Tanh(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1),
        nn.Tanh(),
        nn.Conv2d(c2, c2, 3, padding=1),
        nn.Tanh(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * (h // 4) * (w // 4), n_classes),
    )
    init_gaussian_(net, sigma_w, sigma_b, seed)
    return net
