"""Small built-in networks: random MLPs and CNNs with controlled initialisation scale."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
    "linear": nn.Identity,
}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name (``tanh``, ``relu``, ``gelu``, ``silu``, ...)."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(_ACTIVATIONS)}") from None


def init_generator(seed: int) -> torch.Generator:
    """The generator of every seeded initialisation in the zoo.

    Its seed is mixed from ``seed`` (``numpy.random.SeedSequence([seed, 0x5EED])``), so that a
    network's weights are never the same random stream as a measure's or a regularizer's
    tangents drawn with the same small integer seed (a tangent equal to a weight row would make
    the first stage's gain wildly atypical).
    """
    mixed = int(np.random.SeedSequence([seed, 0x5EED]).generate_state(1)[0])
    return torch.Generator().manual_seed(mixed)


def init_gaussian_(module: nn.Module, sigma_w: float, sigma_b: float = 0.0, *, seed: int) -> None:
    """Weights ``N(0, σ_w²/fan_in)`` and biases ``N(0, σ_b²)`` for every Linear/Conv layer.

    The mean-field initialisation of Poole et al. 2016, drawn layer by layer (weight, then bias)
    from :func:`init_generator` ``(seed)``; in place.
    """
    generator = init_generator(seed)
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                w = torch.randn(m.weight.shape, generator=generator, dtype=m.weight.dtype)
                m.weight.copy_(w * sigma_w / math.sqrt(fan_in))
                if m.bias is not None:
                    b = torch.randn(m.bias.shape, generator=generator, dtype=m.bias.dtype)
                    m.bias.copy_(b * sigma_b)


def mlp(
    depth: int = 20,
    width: int = 256,
    in_dim: int | None = None,
    out_dim: int | None = None,
    *,
    activation: str = "tanh",
    sigma_w: float = 1.0,
    sigma_b: float = 0.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> nn.Sequential:
    """A random MLP: ``depth`` pairs of ``Linear`` + activation (the mean-field model).

    Args:
        depth: number of hidden Linear+activation stages.
        width: units per hidden layer.
        in_dim: input size (default ``width``).
        out_dim: if given, a final ``Linear(width, out_dim)`` read-out stage is added.
        activation: see :func:`make_activation`.
        sigma_w: weight scale; weights are ``N(0, σ_w²/fan_in)``.
        sigma_b: bias scale; biases are ``N(0, σ_b²)``.
        seed: seed of the initialisation.
        dtype: parameter dtype.

    Returns:
        ``nn.Sequential``; :func:`criticality.stages` splits it into ``depth`` (+1) stages.
    """
    if depth < 1 or width < 1:
        raise ValueError(f"need depth >= 1 and width >= 1, got depth={depth}, width={width}")
    layers: list[nn.Module] = []
    fan_in = in_dim or width
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width, dtype=dtype), make_activation(activation)]
        fan_in = width
    if out_dim is not None:
        layers.append(nn.Linear(width, out_dim, dtype=dtype))
    net = nn.Sequential(*layers)
    init_gaussian_(net, sigma_w, sigma_b, seed=seed)
    return net


def cnn(
    depth: int = 4,
    channels: int = 32,
    in_channels: int = 1,
    num_classes: int = 10,
    *,
    activation: str = "relu",
    batch_norm: bool = True,
    seed: int = 0,
) -> nn.Sequential:
    """A small plain CNN for 28×28 images: ``depth`` conv stages, pooling after the first two.

    Each stage is ``Conv2d(3×3) [+ BatchNorm2d] + activation`` (+ ``MaxPool2d(2)`` for the
    first two); the head is global average pooling and a ``Linear`` read-out.
    """
    if depth < 1:
        raise ValueError(f"need depth >= 1, got {depth}")
    with torch.random.fork_rng():
        torch.manual_seed(seed)  # PyTorch's default init, reproducible, global RNG untouched
        return nn.Sequential(*_cnn_layers(depth, channels, in_channels, num_classes, activation,
                                          batch_norm))  # fmt: skip


def _cnn_layers(
    depth: int, channels: int, in_channels: int, num_classes: int, act: str, batch_norm: bool
) -> list[nn.Module]:
    layers: list[nn.Module] = []
    c_in = in_channels
    for i in range(depth):
        layers.append(nn.Conv2d(c_in, channels, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(channels))
        layers.append(make_activation(act))
        if i < 2:
            layers.append(nn.MaxPool2d(2))
        c_in = channels
    return [*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(channels, num_classes)]


def orthogonal_chain(
    gain: float,
    width: int = 64,
    depth: int = 6,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> nn.Sequential:
    """The analytic toy model: ``depth`` stages ``h ↦ g Q_l h``, ``Q_l`` random orthogonal.

    Every Lyapunov exponent is ``ln g`` and the branching ratio is ``g``; ``gain = 1`` is
    exactly critical.
    """
    gen = torch.Generator().manual_seed(seed)
    layers = []
    for _ in range(depth):
        lin = nn.Linear(width, width, bias=False, dtype=dtype)
        q, _ = torch.linalg.qr(torch.randn(width, width, generator=gen, dtype=dtype))
        with torch.no_grad():
            lin.weight.copy_(gain * q)
        layers.append(lin)
    return nn.Sequential(*layers)


def fixed_point_inputs(
    activation: str,
    sigma_w: float,
    width: int,
    n: int = 8,
    *,
    sigma_b: float = 0.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Inputs ``φ(√q* z)``, ``z ~ N(0, 1)``: post-activations at the mean-field fixed point.

    A random MLP (:func:`mlp`) fed these starts in its stationary state, so no transient
    enters its measures. ``q* = 1`` where it is 0 or infinite. Shape ``(n, width)``.
    """
    from criticality.measures.meanfield import meanfield

    q = meanfield(activation, sigma_w, sigma_b).q_star
    q = q if 0.0 < q < math.inf else 1.0
    z = torch.randn((n, width), generator=torch.Generator().manual_seed(seed), dtype=dtype)
    return make_activation(activation)(z * math.sqrt(q))
