"""The learners of the continual-learning experiments, alone or as a vectorised ensemble.

:func:`mlp` is the network of Dohare et al. (2024): ``Linear`` + activation per hidden layer
(optionally with ``LayerNorm`` before the activation, as Lyle et al. 2024 recommend), a linear
read-out, weights Kaiming-uniform with the activation's gain and biases zero.

Continual learning trains many small learners (seeds × methods) with batch size 1, where the
time per step is mostly Python and dispatch overhead. :func:`stack` turns ``S`` such networks
into one *ensemble*: an ``nn.Sequential`` of :class:`EnsembleLinear` (one batched matrix
product for all members) that maps inputs ``(S, B, D)`` to outputs ``(S, B, C)``. Member ``s``
computes exactly what network ``s`` computes; as long as the loss is a sum over members and
every method acts on each member's own weights (elementwise optimizers, per-unit resets), one
ensemble step is ``S`` independent learner steps. :func:`member` copies a member back out.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "swish": nn.SiLU,
}


def activation_gain(activation: str) -> float:
    """Kaiming gain of an activation (ELU and swish use ReLU's, as Dohare et al. do)."""
    if activation not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(_ACTIVATIONS)}")
    name = {"elu": "relu", "swish": "relu"}.get(activation, activation)
    return float(nn.init.calculate_gain(name))  # type: ignore[arg-type]


def init_bound(fan_in: int, activation: str | None) -> float:
    """Half-width of the Kaiming-uniform init, ``gain · sqrt(3 / fan_in)`` (gain 1 without an
    activation, i.e. for the read-out)."""
    gain = activation_gain(activation) if activation is not None else 1.0
    return gain * math.sqrt(3.0 / fan_in)


def mlp(
    in_dim: int,
    hidden: Sequence[int],
    out_dim: int,
    *,
    activation: str = "relu",
    layer_norm: bool = False,
    seed: int = 0,
) -> nn.Sequential:
    """Dohare et al.'s fully connected learner.

    Args:
        in_dim: input features (784 for MNIST, 20 for the regression).
        hidden: units of each hidden layer, e.g. ``(100, 100, 100)``.
        out_dim: outputs.
        activation: one of ``relu``, ``tanh``, ``sigmoid``, ``leaky_relu``, ``elu``, ``swish``.
        layer_norm: put ``LayerNorm`` (with affine parameters) between each hidden ``Linear``
            and its activation.
        seed: seed of the initialisation.

    Returns:
        ``nn.Sequential(Linear, [LayerNorm], act, ..., Linear)``; inputs ``(B, in_dim)``.
    """
    gen = torch.Generator().manual_seed(int(seed))
    layers: list[nn.Module] = []
    d = in_dim
    for width in hidden:
        layers.append(_kaiming_linear(d, width, activation, gen))
        if layer_norm:
            layers.append(nn.LayerNorm(width))
        layers.append(_ACTIVATIONS[activation]())
        d = width
    layers.append(_kaiming_linear(d, out_dim, None, gen))
    return nn.Sequential(*layers)


def _kaiming_linear(
    fan_in: int, fan_out: int, activation: str | None, gen: torch.Generator
) -> nn.Linear:
    layer = nn.Linear(fan_in, fan_out)
    bound = init_bound(fan_in, activation)
    with torch.no_grad():
        layer.weight.copy_(torch.rand(fan_out, fan_in, generator=gen) * 2 * bound - bound)
        layer.bias.zero_()
    return layer


class EnsembleLinear(nn.Module):
    """``S`` independent linear maps in one batched product: ``y_s = x_s W_s + b_s``.

    Attributes:
        weight: shape ``(S, in, out)`` (transposed with respect to ``nn.Linear``, which makes
            the batched product and its gradient contiguous).
        bias: shape ``(S, out)``.
    """

    def __init__(self, n_members: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.n_members, self.in_features, self.out_features = n_members, in_features, out_features
        self.weight = nn.Parameter(torch.zeros(n_members, in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(n_members, out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs ``(S, B, in)`` -> outputs ``(S, B, out)``."""
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight)

    def extra_repr(self) -> str:
        return f"members={self.n_members}, in={self.in_features}, out={self.out_features}"


class EnsembleLayerNorm(nn.Module):
    """``LayerNorm`` over the last dimension with a separate affine map per member.

    Attributes:
        weight: shape ``(S, D)``, initially ones.
        bias: shape ``(S, D)``, initially zeros.
    """

    def __init__(self, n_members: int, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n_members, dim))
        self.bias = nn.Parameter(torch.zeros(n_members, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs ``(S, B, D)`` -> outputs ``(S, B, D)``."""
        h = nn.functional.layer_norm(x, x.shape[-1:], eps=self.eps)
        return torch.addcmul(self.bias.unsqueeze(1), h, self.weight.unsqueeze(1))


def stack(models: Sequence[nn.Sequential]) -> nn.Sequential:
    """One ensemble from ``S`` networks of the same architecture (built by :func:`mlp`).

    Member ``s`` starts with network ``s``'s weights (copied). Inputs ``(S, B, in_dim)``.

    Raises:
        ValueError: no networks, or networks that differ in architecture.
    """
    if not models:
        raise ValueError("stack needs at least one network")
    kinds = [[type(m) for m in net] for net in models]
    if any(k != kinds[0] for k in kinds):
        raise ValueError("stack needs networks of one architecture (same layers in order)")
    s, layers = len(models), list[nn.Module]()
    for i, first in enumerate(models[0]):
        if isinstance(first, nn.Linear):
            ens = EnsembleLinear(s, first.in_features, first.out_features)
            with torch.no_grad():
                ens.weight.copy_(torch.stack([_linear(net[i]).weight.T for net in models]))
                ens.bias.copy_(torch.stack([_linear(net[i]).bias for net in models]))
            layers.append(ens)
        elif isinstance(first, nn.LayerNorm):
            norm = EnsembleLayerNorm(s, first.normalized_shape[0], first.eps)
            with torch.no_grad():
                norm.weight.copy_(torch.stack([_norm(net[i]).weight for net in models]))
                norm.bias.copy_(torch.stack([_norm(net[i]).bias for net in models]))
            layers.append(norm)
        elif next(first.parameters(), None) is None:
            layers.append(copy.deepcopy(first))
        else:
            raise ValueError(f"stack cannot vectorise {type(first).__name__} layers")
    return nn.Sequential(*layers)


def _linear(m: nn.Module) -> nn.Linear:
    assert isinstance(m, nn.Linear)
    return m


def _norm(m: nn.Module) -> nn.LayerNorm:
    assert isinstance(m, nn.LayerNorm)
    return m


def n_members(model: nn.Module) -> int:
    """Members of an ensemble built by :func:`stack`; 1 for an ordinary network."""
    for m in model.modules():
        if isinstance(m, EnsembleLinear):
            return m.n_members
    return 1


def is_ensemble(model: nn.Module) -> bool:
    """Whether ``model`` contains :class:`EnsembleLinear` layers."""
    return any(isinstance(m, EnsembleLinear) for m in model.modules())


def member(model: nn.Module, s: int) -> nn.Module:
    """Member ``s`` of an ensemble as an ordinary network (a detached copy of its weights).

    For an ordinary network (not an ensemble) ``s`` must be 0 and the network itself is
    returned, not a copy.
    """
    if not is_ensemble(model):
        if s != 0:
            raise ValueError(f"an ordinary network has only member 0, got {s}")
        return model
    if not isinstance(model, nn.Sequential):
        raise TypeError("member() takes an ensemble built by stack() (an nn.Sequential)")
    layers: list[nn.Module] = []
    for layer in model:
        if isinstance(layer, EnsembleLinear):
            lin = nn.Linear(layer.in_features, layer.out_features)
            with torch.no_grad():
                lin.weight.copy_(layer.weight[s].T)
                lin.bias.copy_(layer.bias[s])
            layers.append(lin)
        elif isinstance(layer, EnsembleLayerNorm):
            norm = nn.LayerNorm(layer.weight.shape[1], eps=layer.eps)
            with torch.no_grad():
                norm.weight.copy_(layer.weight[s])
                norm.bias.copy_(layer.bias[s])
            layers.append(norm)
        else:
            layers.append(copy.deepcopy(layer))
    ref = next(model.parameters())
    return nn.Sequential(*layers).to(device=ref.device, dtype=ref.dtype)


def add_layer_norm(model: nn.Module) -> bool:
    """Insert ``LayerNorm`` between each hidden ``Linear`` (or ``EnsembleLinear``) and its
    activation, in place, unless the network has a norm already.

    The new norms start at scale 1 and shift 0, as in :func:`mlp` with ``layer_norm=True``;
    call this before an optimizer is built for the network.

    Returns:
        Whether norms were inserted.

    Raises:
        TypeError: the network is not a flat ``nn.Sequential``.
    """
    if not isinstance(model, nn.Sequential) or any(isinstance(m, nn.Sequential) for m in model):
        raise TypeError("add_layer_norm needs a flat nn.Sequential network (e.g. from mlp())")
    layers = list(model)
    if any(isinstance(m, (nn.LayerNorm, EnsembleLayerNorm)) for m in layers):
        return False
    out: list[nn.Module] = []
    for i, layer in enumerate(layers):
        out.append(layer)
        later = layers[i + 1 :]
        if not isinstance(layer, (nn.Linear, EnsembleLinear)) or not any(
            isinstance(m, (nn.Linear, EnsembleLinear)) for m in later
        ):
            continue  # the read-out has no activation to normalise
        ref = layer.weight
        if isinstance(layer, EnsembleLinear):
            norm: nn.Module = EnsembleLayerNorm(layer.n_members, layer.out_features)
        else:
            norm = nn.LayerNorm(layer.out_features)
        out.append(norm.to(device=ref.device, dtype=ref.dtype))
    for key in list(model._modules):
        del model._modules[key]
    for i, m in enumerate(out):
        model.add_module(str(i), m)
    return True


class StackedTask:
    """The batch source of an ensemble: member ``s`` gets the batch of ``tasks[s]`` (each
    member learns its own stream), stacked to inputs ``(S, B, ...)`` and targets ``(S, B, ...)``.

    Args:
        tasks: one task (a callable ``step -> (x, y)``) per member.
    """

    def __init__(self, tasks: Sequence[Callable[[int], tuple[torch.Tensor, torch.Tensor]]]):
        if not tasks:
            raise ValueError("StackedTask needs one task per ensemble member")
        self.tasks = list(tasks)

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        batches = [task(step) for task in self.tasks]
        return torch.stack([b[0] for b in batches]), torch.stack([b[1] for b in batches])


def member_loss(kind: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The training loss of a network or an ensemble: the sum over members of each member's
    mean loss over its batch, so every member's gradient is its own.

    ``kind``: ``"classification"`` (cross-entropy; outputs ``(S, B, C)`` or ``(B, C)``, labels
    ``(S, B)`` or ``(B,)``) or ``"regression"`` (squared error, Dohare et al.'s ``mse``).
    """
    if kind == "classification":

        def cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            flat = nn.functional.cross_entropy(out.flatten(0, -2), y.flatten(), reduction="sum")
            return flat / out.shape[-2]

        return cross_entropy
    if kind == "regression":

        def squared_error(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return ((out - y) ** 2).sum() / (out.shape[-2] * out.shape[-1])

        return squared_error
    raise ValueError(f"kind must be 'classification' or 'regression', got {kind!r}")
