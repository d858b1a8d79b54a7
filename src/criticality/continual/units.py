"""Hidden units of fully connected networks: find them, watch them, re-initialise them.

A *hidden layer* is a parametric layer whose outputs are units (``Linear`` or
:class:`~criticality.continual.networks.EnsembleLinear`), an optional ``LayerNorm``, the
activation whose output is the units' activity, and the parametric layer that reads them. The
methods that reset units (continual backprop, ReDo) and the plasticity metrics all work on this
view, for ordinary networks and ensembles alike: every weight is seen as rows of units,
``(*E, units, fan_in)``, with ``E = ()`` for a network and ``E = (S,)`` for an ensemble, so a
selection of units is a boolean mask of shape ``(*E, units)``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import torch
from torch import nn

from criticality.continual.networks import (
    EnsembleLayerNorm,
    EnsembleLinear,
    init_bound,
)

_NAMES: dict[type[nn.Module], str] = {
    nn.ReLU: "relu",
    nn.Tanh: "tanh",
    nn.Sigmoid: "sigmoid",
    nn.LeakyReLU: "leaky_relu",
    nn.ELU: "elu",
    nn.SiLU: "swish",
}
_PARAM = (nn.Linear, EnsembleLinear)


def _param(module: nn.Module, name: str) -> torch.Tensor | None:
    return cast("torch.Tensor | None", getattr(module, name, None))


_NORM = (nn.LayerNorm, EnsembleLayerNorm)


@dataclasses.dataclass(frozen=True)
class HiddenLayer:
    """One layer of hidden units.

    Attributes:
        index: position among the hidden layers (0 = closest to the input).
        incoming: the parametric layer computing the units' pre-activations.
        norm: a ``LayerNorm`` between ``incoming`` and the activation, or ``None``.
        activation: the module whose output is the units' activity (``incoming`` or ``norm``
            when there is no activation).
        outgoing: the parametric layer reading the units.
        activation_name: ``"relu"``, ``"tanh"``, ... (``None`` when unknown; gain 1 on re-init).
    """

    index: int
    incoming: nn.Module
    norm: nn.Module | None
    activation: nn.Module
    outgoing: nn.Module
    activation_name: str | None

    @property
    def width(self) -> int:
        """Number of units."""
        return int(self.in_rows().shape[-2])

    @property
    def fan_in(self) -> int:
        """Inputs of each unit."""
        return int(self.in_rows().shape[-1])

    def tensors(self) -> dict[str, torch.Tensor]:
        """The parameters that belong to the units: ``in_weight``, ``in_bias``, ``out_weight``
        and, with a norm, ``norm_weight`` and ``norm_bias`` (absent entries left out)."""
        out = {
            "in_weight": _param(self.incoming, "weight"),
            "in_bias": _param(self.incoming, "bias"),
            "out_weight": _param(self.outgoing, "weight"),
        }
        if self.norm is not None:
            out |= {
                "norm_weight": _param(self.norm, "weight"),
                "norm_bias": _param(self.norm, "bias"),
            }
        return {k: v for k, v in out.items() if v is not None}

    @property
    def transposed(self) -> bool:
        """Whether weights are stored ``(in, out)`` (ensembles) instead of ``(out, in)``."""
        return isinstance(self.incoming, EnsembleLinear)

    def in_rows(self, tensor: torch.Tensor | None = None) -> torch.Tensor:
        """The incoming weights (or a tensor shaped like them, e.g. an optimizer moment) as a
        view of shape ``(*E, units, fan_in)``."""
        w = _param(self.incoming, "weight") if tensor is None else tensor
        assert w is not None
        return w.transpose(-1, -2) if self.transposed else w

    def out_rows(self, tensor: torch.Tensor | None = None) -> torch.Tensor:
        """The outgoing weights (or a tensor shaped like them) as a view of shape
        ``(*E, units, n_out)``: row ``i`` holds what unit ``i`` sends on."""
        w = _param(self.outgoing, "weight") if tensor is None else tensor
        assert w is not None
        return w if self.transposed else w.transpose(-1, -2)


def hidden_layers(model: nn.Module) -> list[HiddenLayer]:
    """The hidden layers of a fully connected network, input to output.

    Works for ``nn.Sequential`` networks of ``Linear`` (or ``EnsembleLinear``) layers with
    parameter-free activations and optional ``LayerNorm`` in between (nested sequentials are
    flattened), such as :func:`~criticality.continual.networks.mlp`.

    Raises:
        TypeError: a layer that does not fit this pattern (e.g. a convolution).
    """
    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    params = [i for i, m in enumerate(leaves) if isinstance(m, _PARAM)]
    for m in leaves:
        if next(m.parameters(), None) is not None and not isinstance(m, _PARAM + _NORM):
            raise TypeError(
                f"hidden_layers() handles Linear/LayerNorm networks only; found "
                f"{type(m).__name__}. Build the learner with criticality.continual.mlp."
            )
    out = []
    for k, (a, b) in enumerate(itertools.pairwise(params)):
        between = leaves[a + 1 : b]
        norms = [m for m in between if isinstance(m, _NORM)]
        acts = [m for m in between if not isinstance(m, _NORM) and type(m) is not nn.Flatten]
        activation = acts[-1] if acts else (norms[-1] if norms else leaves[a])
        name = _NAMES.get(type(acts[-1])) if acts else None
        out.append(
            HiddenLayer(k, leaves[a], norms[0] if norms else None, activation, leaves[b], name)
        )
    return out


@contextmanager
def record_activations(layers: list[HiddenLayer], *, training_only: bool = True) -> Iterator[
    dict[int, torch.Tensor]
]:  # fmt: skip
    """Record each hidden layer's latest activations while the context is open.

    Yields a dict ``{layer index: activations}`` updated by forward hooks; the activations have
    shape ``(*E, B, units)`` (detached). With ``training_only`` only forward passes in training
    mode with gradients enabled are recorded, so the measures and metrics (run in ``eval()``
    mode) never overwrite the training step's activations.
    """
    latest: dict[int, torch.Tensor] = {}
    handles = []
    for layer in layers:

        def hook(module: nn.Module, _: object, out: torch.Tensor, i: int = layer.index) -> None:
            if not training_only or (module.training and torch.is_grad_enabled()):
                latest[i] = out.detach()

        handles.append(layer.activation.register_forward_hook(hook))
    try:
        yield latest
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def activations(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The activations of every hidden layer on inputs ``x``, in ``eval()`` mode.

    Args:
        model: a network that :func:`hidden_layers` understands.
        x: inputs ``(B, D)`` (``(S, B, D)`` for an ensemble).

    Returns:
        One tensor per hidden layer, shape ``(B, units)`` (``(S, B, units)``).
    """
    layers = hidden_layers(model)
    training = model.training
    model.eval()
    try:
        with record_activations(layers, training_only=False) as latest:
            model(x)
    finally:
        model.train(training)
    return [latest[layer.index] for layer in layers]


@torch.no_grad()
def reinit_units(
    layer: HiddenLayer,
    mask: torch.Tensor,
    generator: torch.Generator,
    optimizer: torch.optim.Optimizer | None = None,
) -> int:
    """Give the selected units fresh incoming weights and silence their outgoing ones.

    The units of ``mask`` get incoming weights drawn from the network's initial distribution
    (Kaiming uniform, ``U(−b, b)`` with ``b = gain · sqrt(3 / fan_in)``, drawn row by row in
    the order of ``mask.nonzero()``), a zero bias, a ``LayerNorm`` scale of 1 and shift of 0,
    and zero outgoing weights, so the network's output is unchanged at the moment of the reset.
    Every optimizer state tensor of those weights (momentum, Adam's moments) is zeroed at the
    same positions; scalar states (Adam's step count) are shared by the whole tensor and left.

    Args:
        layer: the hidden layer.
        mask: units to reset, boolean, shape ``(*E, units)``.
        generator: CPU generator of the new weights.
        optimizer: the run's optimizer, whose state is reset for these units.

    Returns:
        The number of units reset.
    """
    rows = layer.in_rows()
    if mask.shape != rows.shape[:-1]:
        raise ValueError(f"mask must have shape {tuple(rows.shape[:-1])}, got {tuple(mask.shape)}")
    n = int(mask.sum())
    if n == 0:
        return 0
    bound = init_bound(layer.fan_in, layer.activation_name)
    fresh = torch.rand(n, layer.fan_in, generator=generator, dtype=rows.dtype) * 2 * bound - bound
    rows[mask] = fresh.to(rows.device)
    tensors = layer.tensors()
    for name, value in (("in_bias", 0.0), ("norm_weight", 1.0), ("norm_bias", 0.0)):
        if name in tensors:
            tensors[name][mask] = value
    layer.out_rows()[mask] = 0.0
    if optimizer is not None:
        _reset_state(layer, mask, optimizer)
    return n


def _reset_state(layer: HiddenLayer, mask: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
    """Zero the optimizer state of the reset units' weights (same positions as the weights)."""
    views = {"in_weight": layer.in_rows, "out_weight": layer.out_rows}
    for name, param in layer.tensors().items():
        view = views.get(name, lambda t: t)
        for value in optimizer.state.get(param, {}).values():
            if isinstance(value, torch.Tensor) and value.shape == param.shape:
                view(value)[mask] = 0.0
