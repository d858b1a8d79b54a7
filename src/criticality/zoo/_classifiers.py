"""Small classifiers for MNIST-sized images, all initialised by :func:`init_gaussian_`.

* :func:`mlp_classifier` and :func:`cnn_classifier`: the tanh networks of the training
  experiment (``N(0, σ_w²/fan_in)`` weights, ``N(0, σ_b²)`` biases: for tanh with ``σ_b = 0.05``
  the network starts ordered for ``σ_w`` well below 1, near critical at ``σ_w ≈ 1`` and chaotic
  well above).
* :class:`NetSpec` and :func:`build_net`: the varied small architectures of the trained
  mini-zoo (depth, width, skip connections, BatchNorm, activation, initialisation scale).

All are ``nn.Sequential`` so :func:`criticality.stages` splits them without taps.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from criticality.zoo._builtin import init_gaussian_, make_activation, mlp


def mlp_classifier(
    in_shape: tuple[int, ...],
    n_classes: int,
    *,
    depth: int = 6,
    width: int = 128,
    sigma_w: float = 1.0,
    sigma_b: float = 0.05,
    activation: str = "tanh",
    seed: int = 0,
) -> nn.Sequential:
    """``Flatten``, ``depth`` × (``Linear`` + activation), ``Linear`` read-out: ``depth + 1``
    stages.

    Args:
        in_shape: shape of one input, e.g. ``(1, 28, 28)``.
        n_classes: number of output logits.
        depth: hidden stages.
        width: units per hidden stage.
        sigma_w: weight scale.
        sigma_b: bias scale.
        activation: see :func:`criticality.zoo.make_activation`.
        seed: seed of the initialisation.
    """
    body = mlp(depth, width, math.prod(in_shape), n_classes, activation=activation,
               sigma_w=sigma_w, sigma_b=sigma_b, seed=seed)  # fmt: skip
    return nn.Sequential(nn.Flatten(), *body)


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
    init_gaussian_(net, sigma_w, sigma_b, seed=seed)
    return net


@dataclasses.dataclass(frozen=True)
class NetSpec:
    """One small architecture.

    Attributes:
        name: short label, e.g. ``"mlp8-relu-res"``.
        kind: ``"mlp"`` or ``"cnn"``.
        depth: hidden blocks (MLP) or conv layers (CNN).
        width: hidden units (MLP) or channels of the first conv layer (CNN; doubled per layer).
        activation: activation name (``"tanh"``, ``"relu"``, ...).
        sigma_w: weights drawn from ``N(0, σ_w² / fan_in)``; biases 0.
        residual: ``h + f(h)`` blocks instead of ``f(h)`` (MLP).
        batchnorm: BatchNorm after each hidden linear/conv layer.
    """

    name: str
    kind: str
    depth: int
    width: int
    activation: str
    sigma_w: float
    residual: bool = False
    batchnorm: bool = False

    @property
    def family(self) -> str:
        """The group used as the random effect: kind, skip and normalisation."""
        return self.kind + ("+res" if self.residual else "") + ("+bn" if self.batchnorm else "")


class Block(nn.Module):
    """One hidden MLP block ``f(h) = φ(BN(W h))``, or ``h + f(h)`` when residual."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        self.linear = nn.Linear(spec.width, spec.width)
        self.norm = nn.BatchNorm1d(spec.width) if spec.batchnorm else nn.Identity()
        self.act = make_activation(spec.activation)
        self.residual = spec.residual

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        y = self.act(self.norm(self.linear(h)))  # (B, width)
        return h + y if self.residual else y


def build_net(
    spec: NetSpec, *, in_shape: tuple[int, ...] = (1, 28, 28), n_classes: int = 10, seed: int = 0
) -> nn.Sequential:
    """The network of ``spec`` as an ``nn.Sequential`` (one stage per block), seeded."""
    if spec.kind == "mlp":
        layers: list[nn.Module] = [nn.Flatten(), nn.Linear(math.prod(in_shape), spec.width),
                                   make_activation(spec.activation)]  # fmt: skip
        layers += [Block(spec) for _ in range(spec.depth)]
        layers.append(nn.Linear(spec.width, n_classes))
    elif spec.kind == "cnn":
        layers, c, size = [], in_shape[0], in_shape[-1]
        for i in range(spec.depth):
            stride = 1 if i == 0 else 2
            layers.append(nn.Conv2d(c, spec.width * 2**i, 3, stride=stride, padding=1))
            if spec.batchnorm:
                layers.append(nn.BatchNorm2d(spec.width * 2**i))
            layers.append(make_activation(spec.activation))
            c, size = spec.width * 2**i, (size - 1) // stride + 1
        layers += [nn.Flatten(), nn.Linear(c * size * size, n_classes)]
    else:
        raise ValueError(f"unknown kind {spec.kind!r}; use 'mlp' or 'cnn'")
    model = nn.Sequential(*layers)
    init_gaussian_(model, spec.sigma_w, 0.0, seed=seed)
    return model
