"""A trained mini-zoo: small networks of varied architecture trained on MNIST-like data.

Each :class:`NetSpec` names one architecture (MLP or CNN; depth, width, residual or not,
BatchNorm or not, activation, initialisation scale ``σ_w``). :func:`train_and_measure` builds it
with a seed, measures it at initialisation, trains it briefly with
:func:`criticality.training.fit`, measures it again and records its test accuracy: the paper's
zoo analysis in miniature, on real data, with the training done by the package itself.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import nn

from criticality.zoo import make_activation


@dataclasses.dataclass(frozen=True)
class NetSpec:
    """One small architecture.

    Attributes:
        name: short label, e.g. ``"mlp8-relu-res"``.
        kind: ``"mlp"`` or ``"cnn"``.
        depth: hidden blocks (MLP) or conv layers (CNN).
        width: hidden units (MLP) or channels (CNN).
        activation: activation name (``"tanh"``, ``"relu"``, ...).
        sigma_w: weights drawn from ``N(0, σ_w² / fan_in)``; biases 0.
        residual: ``h + f(h)`` blocks instead of ``f(h)``.
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


MINI_ZOO: tuple[NetSpec, ...] = (
    NetSpec("mlp4-tanh-σ1", "mlp", 4, 128, "tanh", 1.0),
    NetSpec("mlp4-tanh-σ2.5", "mlp", 4, 128, "tanh", 2.5),
    NetSpec("mlp8-tanh-σ0.5", "mlp", 8, 128, "tanh", 0.5),
    NetSpec("mlp8-tanh-σ1.3", "mlp", 8, 128, "tanh", 1.3),
    NetSpec("mlp8-relu-σ1.41", "mlp", 8, 128, "relu", math.sqrt(2)),
    NetSpec("mlp8-relu-σ2.5", "mlp", 8, 128, "relu", 2.5),
    NetSpec("mlp8-relu-res", "mlp", 8, 128, "relu", 1.0, residual=True),
    NetSpec("mlp8-relu-bn", "mlp", 8, 128, "relu", math.sqrt(2), batchnorm=True),
    NetSpec("mlp8-tanh-res-bn", "mlp", 8, 128, "tanh", 1.0, residual=True, batchnorm=True),
    NetSpec("cnn3-relu-bn", "cnn", 3, 8, "relu", math.sqrt(2), batchnorm=True),
    NetSpec("cnn3-tanh-σ0.7", "cnn", 3, 8, "tanh", 0.7),
)


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


def build(spec: NetSpec, *, in_shape: tuple[int, ...] = (1, 28, 28), seed: int = 0) -> nn.Module:
    """The network of ``spec`` as an ``nn.Sequential`` (one stage per block), seeded."""
    gen = torch.Generator().manual_seed(seed)
    if spec.kind == "mlp":
        layers: list[nn.Module] = [nn.Flatten(), nn.Linear(math.prod(in_shape), spec.width),
                                   make_activation(spec.activation)]  # fmt: skip
        layers += [Block(spec) for _ in range(spec.depth)]
        layers.append(nn.Linear(spec.width, 10))
    elif spec.kind == "cnn":
        layers, c, size = [], in_shape[0], in_shape[-1]
        for i in range(spec.depth):
            stride = 1 if i == 0 else 2
            layers.append(nn.Conv2d(c, spec.width * 2**i, 3, stride=stride, padding=1))
            if spec.batchnorm:
                layers.append(nn.BatchNorm2d(spec.width * 2**i))
            layers.append(make_activation(spec.activation))
            c, size = spec.width * 2**i, (size - 1) // stride + 1
        layers += [nn.Flatten(), nn.Linear(c * size * size, 10)]
    else:
        raise ValueError(f"unknown kind {spec.kind!r}; use 'mlp' or 'cnn'")
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                m.weight.normal_(0.0, spec.sigma_w / math.sqrt(fan_in), generator=gen)
                if m.bias is not None:
                    m.bias.zero_()
    return model


def train_and_measure(
    spec: NetSpec,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    *,
    steps: int,
    n_probes: int,
    seed: int = 0,
) -> dict[str, Any]:
    """Measure ``spec`` at initialisation, train it for ``steps``, measure it again.

    Args:
        spec: the architecture.
        data: ``(X_train, y_train, X_test, y_test)``, inputs of shape ``(N, 1, 28, 28)``.
        steps: Adam steps (batch 128, lr 1e-3).
        n_probes: test inputs used as probes.
        seed: seed of the initialisation, batch order and measures.

    Returns:
        ``{"spec", "init", "trained", "accuracy", "init_accuracy", "seconds"}``; ``init`` and
        ``trained`` are report dicts; accuracies in %.
    """
    import time

    from criticality import measure
    from criticality.training import accuracy, fit

    start = time.perf_counter()
    x_train, y_train, x_test, y_test = data
    model = build(spec, in_shape=tuple(x_train.shape[1:]), seed=seed).eval()
    probes = x_test[:n_probes]
    options: dict[str, Any] = {"lyapunov": {"k": 2}, "ftle": {"n_iter": 10}}
    init = measure(model, probes, seed=seed, name=spec.name, **options)
    init_acc = 100 * accuracy(model, x_test, y_test)
    fit(model, (x_train, y_train), steps=steps, batch_size=128, lr=1e-3, seed=seed,
        progress=False)  # fmt: skip
    model.eval()
    trained = measure(model, probes, seed=seed, name=spec.name, **options)
    return {"spec": dataclasses.asdict(spec), "family": spec.family,
            "init": init.to_dict(), "trained": trained.to_dict(),
            "accuracy": 100 * accuracy(model, x_test, y_test), "init_accuracy": init_acc,
            "seconds": time.perf_counter() - start}  # fmt: skip
