"""The training-method registry: a method is a name plus what it adds to a training run.

What a method may add (:class:`MethodParts`): loss terms (regularizers), callbacks that act on
the weights after a step or at an interval (perturb, reset units, homeostatic gains; they see the
optimizer, so they can reset its per-unit state), and optimizer settings. Every experiment that
trains takes ``methods=[...]`` from here, and :func:`criticality.training.fit` takes
``method=NAME``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Literal

import torch
from torch import nn

from criticality._registry import Registry
from criticality.training.callbacks import Callback

#: A loss term ``(model, x) -> scalar`` added to the task loss; an ``nn.Module`` term is saved
#: in checkpoints with its ``state_dict``.
LossTerm = Callable[[nn.Module, torch.Tensor], torch.Tensor]
#: What a method is, for paired contrasts: the control, a criticality method, or a baseline.
Kind = Literal["control", "criticality", "baseline"]
KINDS: tuple[Kind, ...] = ("control", "criticality", "baseline")


@dataclasses.dataclass(frozen=True)
class MethodParts:
    """What one method adds to one training run (built fresh for every run).

    Attributes:
        loss_terms: added to the task loss at every step.
        callbacks: run after every step (they see the model, the optimizer and the batch).
        optimizer: settings that replace the run's: ``name`` (``"sgd"``, ``"adam"``,
            ``"adamw"``), ``lr``, ``weight_decay`` and any keyword of the optimizer
            (``momentum``, ``betas``, ``eps``).
    """

    loss_terms: tuple[LossTerm, ...] = ()
    callbacks: tuple[Callback, ...] = ()
    optimizer: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class MethodContext:
    """What a method's builder knows about the run it joins.

    Attributes:
        model: the network to be trained (before any step).
        seed: the run's seed (for a method's own randomness).
    """

    model: nn.Module
    seed: int = 0


#: ``build(ctx, **options) -> MethodParts``.
Builder = Callable[..., MethodParts]


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """What the registry knows about one training method.

    Attributes:
        name: registry key, e.g. ``"critical_global"``.
        build: ``build(ctx, **options) -> MethodParts``.
        summary: one line on what the method does.
        reference: where the method and its default hyperparameters come from.
        defaults: every option the method takes, with its default value.
        kind: ``"control"``, ``"criticality"`` or ``"baseline"``: experiments contrast every
            method with their control and every criticality method with every baseline.
    """

    name: str
    build: Builder
    summary: str
    reference: str
    defaults: Mapping[str, Any]
    kind: Kind


_REGISTRY = Registry[MethodSpec]("training method", "methods")


def register_method(
    name: str,
    *,
    summary: str,
    reference: str = "",
    defaults: Mapping[str, Any] | None = None,
    kind: Kind = "baseline",
) -> Callable[[Builder], Builder]:
    """Register ``build(ctx, **options)`` under ``name`` (decorator). Adding a method is this
    one decorator on one function."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    def wrap(build: Builder) -> Builder:
        _REGISTRY.add(name, MethodSpec(name, build, summary, reference, dict(defaults or {}), kind))
        return build

    return wrap


def get_method(name: str) -> MethodSpec:
    """The method registered under ``name``; a ``ValueError`` lists the known ones."""
    return _REGISTRY.get(name)


def list_methods() -> list[str]:
    """Names of all registered training methods, sorted."""
    return _REGISTRY.names()


def method_options(
    name: str, shared: Mapping[str, Any] | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The options ``name`` runs with: its defaults, then the ``shared`` settings it declares,
    then ``overrides`` (each must be one of its options)."""
    spec = get_method(name)
    unknown = set(overrides or {}) - set(spec.defaults)
    if unknown:
        known = ", ".join(sorted(spec.defaults)) or "none"
        raise ValueError(
            f"training method {name!r} has no option {', '.join(sorted(unknown))}; "
            f"its options: {known}"
        )
    chosen = {k: v for k, v in (shared or {}).items() if k in spec.defaults}
    return {**spec.defaults, **chosen, **(overrides or {})}


def build_method(
    name: str,
    model: nn.Module,
    *,
    seed: int = 0,
    shared: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> MethodParts:
    """Build what method ``name`` adds to a run that trains ``model``.

    Args:
        name: a registered method (:func:`list_methods`).
        model: the network to be trained.
        seed: the run's seed.
        shared: settings an experiment offers every method (e.g. ``norm``, ``sub_batch``);
            a method takes those among its options.
        **overrides: options of this method (a ``ValueError`` names its options otherwise).
    """
    options = method_options(name, shared, overrides)
    return get_method(name).build(MethodContext(model, seed), **options)
