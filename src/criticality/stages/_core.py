"""Split a network into stages ``h_l = f_l(h_{l-1})``: depth read as time (DESIGN §1).

A *stage* is one block on the main path: a residual block, a transformer block, a
conv+norm+activation group, a ``Linear`` + activation pair. :func:`stages` returns them in order;
composing them reproduces ``model(x)`` exactly (in ``eval()`` mode). Stages share their
parameters with the model: nothing is copied.

How a model is split:

* ``nn.Sequential`` (nested ones flattened): a parametric layer (``Linear``, ``Conv``) opens a
  stage and the norms, activations, pools and dropouts after it join that stage, up to the next
  parametric layer; any other module (a block with children of its own) is a stage by itself;
  norms or activations that come first, or right after a block, join the stage that follows.
* Known model families (all torchvision ImageNet classifiers, the common timm families) have an
  adapter in :mod:`criticality.stages._adapters` that lists stem, blocks and head.
* Any other model: name the modules on the main path, ``stages(model, taps=["layer1", ...])``.
  Each stage then runs the model from the start with the previous tap's output replaced, which
  costs up to one extra forward pass per stage; use it when no adapter exists, and check the
  split with :func:`verify_stages`.
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

_NORMS: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
    nn.PReLU,
)


class Stage(nn.Module):
    """One step ``h_l = f_l(h_{l-1})`` on a network's main path.

    Attributes:
        name: where the stage sits in the model, e.g. ``"layer2.1"`` or ``"head"``.
        body: the module computing ``f_l``; its parameters are the model's own.
        batch_independent: whether the stage maps each batch entry on its own in ``eval()``
            mode, so that a measure may stack extra entries (tangents) along the batch; given
            as an argument, or else inferred from ``body`` by :func:`batch_independent`.
    """

    def __init__(
        self, name: str, body: nn.Module, *, batch_independent: bool | None = None
    ) -> None:
        super().__init__()
        self.name = name
        self.body = body
        self._declared = batch_independent

    @property
    def batch_independent(self) -> bool:
        return self._declared if self._declared is not None else batch_independent(self.body)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.body(h)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


class Fn(nn.Module):
    """A stage body given as a function of the state and of the modules it uses.

    The modules are registered, so ``.to()``, ``.double()`` and ``.eval()`` reach them.
    """

    def __init__(self, fn: Callable[..., torch.Tensor], **modules: nn.Module) -> None:
        super().__init__()
        self.fn = fn
        self.parts = nn.ModuleDict(modules)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.fn(h, **dict(self.parts.items()))


def batch_independent(module: nn.Module) -> bool:
    """Whether ``module`` maps each batch entry on its own (in ``eval()`` mode).

    Where it does, a measure may stack extra entries along the batch dimension (the ``k``
    tangents of every probe as ``B·k`` rows, :func:`criticality.measures.tangents.push_tangents`)
    and get the same numbers as for one entry at a time. A declaration wins: a module's own
    attribute ``batch_independent`` (a :class:`Stage` takes it as an argument; the stages of the
    model-family adapters declare it, see :func:`register_adapter`). Without one, only a module
    built wholly of ``torch.nn``'s own layers counts, and not those that mix entries: a batch
    norm that uses the batch's statistics (training mode, or no running statistics), dropout in
    training mode, a layer taking the batch elsewhere (``batch_first=False``) or working along
    dimension 0 (``Softmax(dim=0)``, ``Flatten(start_dim=0)``). Any other module is taken not to
    allow it: it may hold per-sample data, such as a time step's inputs of ``B`` rows.

    Example:
        >>> from torch import nn
        >>> batch_independent(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4).eval(), nn.Tanh()))
        True
        >>> batch_independent(nn.Softmax(dim=0))
        False
    """
    declared = getattr(module, "batch_independent", None)
    if isinstance(declared, bool):
        return declared
    if not type(module).__module__.startswith("torch.nn.modules."):
        return False
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and (
        module.training or module.running_mean is None
    ):
        return False
    if isinstance(module, nn.modules.dropout._DropoutNd) and module.training and module.p > 0:
        return False
    if getattr(module, "batch_first", True) is False or getattr(module, "start_dim", 1) == 0:
        return False
    if getattr(module, "dim", 1) in (0, None):  # Softmax(dim=None) picks 0 for 3-d inputs
        return False
    return all(batch_independent(child) for child in module.children())


Unit = tuple[str, nn.Module]

#: Model-family adapters: qualified class name -> ``adapter(model) -> list of stages``.
ADAPTERS: dict[str, Callable[[Any], list[Stage]]] = {}


def register_adapter(
    *class_names: str, batch_independent: bool = True
) -> Callable[[Callable[[Any], list[Stage]]], Any]:
    """Register a splitter for the classes named ``module.QualName`` (no import needed).

    ``batch_independent`` is what the family's stages declare where they do not say
    themselves (:attr:`Stage.batch_independent`): ``True`` for feed-forward families whose
    blocks treat every batch entry on its own in ``eval()`` mode; pass ``False`` for stages
    that hold per-sample data.
    """

    def wrap(fn: Callable[[Any], list[Stage]]) -> Callable[[Any], list[Stage]]:
        def declared(model: Any) -> list[Stage]:
            stage_list = fn(model)
            for stage in stage_list:
                if isinstance(stage, Stage) and stage._declared is None:
                    stage._declared = batch_independent
            return stage_list

        for name in class_names:
            ADAPTERS[name] = declared
        return fn

    return wrap


def stages(model: nn.Module, taps: Sequence[str] | None = None) -> list[Stage]:
    """The ordered stages of ``model`` (DESIGN §1).

    Args:
        model: an ``nn.Sequential``, a model of a supported family, or any model with ``taps``.
        taps: names of modules on the main path (as in ``model.named_modules()``); stage ``l``
            maps the output of tap ``l-1`` (the input for ``l = 0``) to the output of tap ``l``,
            and a final stage maps the last tap's output to the model output.

    Returns:
        The stages; ``functools.reduce(lambda h, s: s(h), stages, x)`` equals ``model(x)``.

    Raises:
        TypeError: ``model`` is no ``nn.Module``, or no adapter knows its family and no ``taps``
            were given.
        ValueError: a tap names no submodule of ``model``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh())
        >>> [s.name for s in stages(net)]
        ['0', '2']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"stages() needs an nn.Module, got {type(model).__name__}")
    if taps is not None:
        return _tap_stages(model, list(taps))
    if isinstance(model, nn.Sequential):
        return group(units(model))
    for cls in type(model).__mro__:
        adapter = ADAPTERS.get(f"{cls.__module__}.{cls.__qualname__}")
        if adapter is not None:
            return adapter(model)
    children = ", ".join(name for name, _ in model.named_children()) or "none"
    raise TypeError(
        f"cannot split {type(model).__name__} into stages: no adapter for this model family. "
        f"Pass taps=[...] naming the modules on its main path in order (its top-level children: "
        f"{children}), or wrap it in nn.Sequential."
    )


def compose(stage_list: Iterable[nn.Module], x: torch.Tensor) -> torch.Tensor:
    """Run ``x`` through the stages in order."""
    for stage in stage_list:
        x = stage(x)
    return x


def split_after(
    stage_list: Sequence[nn.Module], name: str, inputs: torch.Tensor
) -> tuple[list[nn.Module], torch.Tensor]:
    """The stages after the one named ``name``, and ``inputs`` pushed through it and those before.

    Measures need float inputs they can perturb; a language model takes token ids. Measuring it
    from its embedding output on is ``split_after(stages(lm), "embed", token_ids)``: the first
    stages run once, in ``eval()`` mode and without gradients, and the measure starts at the
    state they produce.

    Args:
        stage_list: the stages (e.g. from :func:`stages`).
        name: the name of the last stage to run before measuring.
        inputs: the model's inputs, shape ``(B, ...)``.

    Returns:
        ``(rest, h)``: the remaining stages and their input ``h`` (shape ``(B, ...)``).

    Raises:
        ValueError: no stage has that name, or it is the last one.
    """
    names = [getattr(s, "name", str(i)) for i, s in enumerate(stage_list)]
    if name not in names:
        raise ValueError(f"no stage named {name!r}; the stages are: {', '.join(names)}")
    cut = names.index(name) + 1
    if cut == len(names):
        raise ValueError(f"{name!r} is the last stage: nothing would be left to measure")
    return split_at(stage_list, cut, inputs)


def split_at(
    stage_list: Sequence[nn.Module], cut: int, inputs: torch.Tensor
) -> tuple[list[nn.Module], torch.Tensor]:
    """``stage_list[cut:]`` and ``inputs`` pushed through ``stage_list[:cut]``.

    The first stages run once, in ``eval()`` mode (dropout off: the same state every time) and
    without gradients; their training flags are restored afterwards.
    """
    first = stage_list[:cut]
    flags = [(m, m.training) for s in first for m in s.modules()]
    try:
        for s in first:
            s.eval()
        with torch.no_grad():
            h = compose(first, inputs)
    finally:
        for m, flag in flags:
            m.training = flag
    return list(stage_list[cut:]), h


#: Modules that look token ids up: a stage holding one takes integer inputs.
EMBEDDINGS: tuple[type[nn.Module], ...] = (nn.Embedding, nn.EmbeddingBag)


def embeds_tokens(stage: nn.Module) -> bool:
    """Whether ``stage`` holds an embedding (``nn.Embedding``): it takes token ids."""
    return any(isinstance(m, EMBEDDINGS) for m in stage.modules())


def verify_stages(
    model: nn.Module, stage_list: Sequence[nn.Module], x: torch.Tensor, *, atol: float = 1e-5
) -> None:
    """Check that composing ``stage_list`` reproduces ``model(x)`` (both in ``eval()`` mode).

    Use it after choosing ``taps``: taps that do not cut the main path (a skip connection
    jumping over a tap) give stages whose composition differs from the model.

    Raises:
        ValueError: the composition differs, with the largest deviation.
    """
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            expected, got = model(x), compose(stage_list, x)
    finally:
        model.train(training)
    if got.shape != expected.shape or not torch.allclose(got, expected, atol=atol, rtol=1e-4):
        diff = (got - expected).abs().max().item() if got.shape == expected.shape else math.inf
        raise ValueError(
            f"the stages do not reproduce the model (max deviation {diff:.3g}); with taps, make "
            "sure each tap's output is all that the rest of the model uses (no skip connection "
            "may jump over a tap)"
        )


# ---------------------------------------------------------------------------------------------
# Sequential splitting


def is_plain_sequential(module: nn.Module) -> bool:
    """An ``nn.Sequential`` (or subclass) whose forward is the plain chain."""
    return isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward


def units(module: nn.Module, prefix: str = "") -> list[Unit]:
    """Expand plain sequentials recursively into ``(qualified name, module)`` units."""
    if not is_plain_sequential(module):
        return [(prefix, module)]
    out: list[Unit] = []
    for name, child in module.named_children():
        out += units(child, f"{prefix}.{name}" if prefix else name)
    return out


def _kind(module: nn.Module) -> str:
    """``"trailing"`` (norm, activation, pool, dropout), ``"param"`` (Linear, Conv), ``"block"``."""
    if isinstance(module, _NORMS):
        return "trailing"
    if next(module.children(), None) is not None:
        return "block"
    return "param" if next(module.parameters(), None) is not None else "trailing"


def group(unit_list: Sequence[Unit]) -> list[Stage]:
    """Group units into stages: a parametric layer with the norms/activations that follow it."""
    groups: list[list[Unit]] = []
    pending: list[Unit] = []  # trailing units waiting for the next opener (pre-activation)
    open_param = False  # the last group was opened by a parametric layer and takes trailers
    for unit in unit_list:
        kind = _kind(unit[1])
        if kind == "trailing":
            if open_param:
                groups[-1].append(unit)
            else:
                pending.append(unit)
            continue
        groups.append([*pending, unit])
        pending, open_param = [], kind == "param"
    if pending:
        if groups:
            groups[-1] += pending
        else:
            groups.append(pending)
    return [_stage_from_units(g) for g in groups]


def _stage_from_units(unit_list: Sequence[Unit]) -> Stage:
    openers = [n for n, m in unit_list if _kind(m) != "trailing"]
    name = openers[0] if openers else unit_list[0][0]
    if len(unit_list) == 1:
        return Stage(name, unit_list[0][1])
    return Stage(name, nn.Sequential(*(m for _, m in unit_list)))


def blocks(prefix: str, container: Iterable[nn.Module]) -> list[Unit]:
    """Units for each child of a container of blocks (a ``ModuleList`` or plain ``Sequential``)."""
    return [(f"{prefix}.{i}", m) for i, m in enumerate(container)]


# ---------------------------------------------------------------------------------------------
# Taps: any model, split by hooks


class _Stop(Exception):
    """Raised by the hook at the end tap to stop the forward pass early."""

    def __init__(self, output: torch.Tensor) -> None:
        super().__init__()
        self.output = output


class _TapContext:
    """What tap stages share: the model and the input's shape (recorded by the first stage)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.input_shape: tuple[int, ...] | None = None
        self.dtype: torch.dtype | None = None
        self.device: torch.device | None = None

    def placeholder(self, batch: int) -> torch.Tensor:
        if self.input_shape is None or self.dtype is None:
            raise RuntimeError("run the first stage before the later ones: it records the input")
        return torch.zeros((batch, *self.input_shape), dtype=self.dtype, device=self.device)


class _TapSegment(nn.Module):
    """The map from one tap's output (or the model input) to the next tap's (or the output)."""

    def __init__(self, ctx: _TapContext, start: nn.Module | None, end: nn.Module | None) -> None:
        super().__init__()
        self._ctx = ctx  # not registered: the model is not this stage's child
        self._start = start
        self._end = end

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        ctx, handles = self._ctx, []
        if self._start is None:
            ctx.input_shape, ctx.dtype, ctx.device = tuple(h.shape[1:]), h.dtype, h.device
            x = h
        else:
            x = ctx.placeholder(h.shape[0])
            handles.append(self._start.register_forward_hook(lambda m, i, o: h))
        if self._end is not None:
            handles.append(self._end.register_forward_hook(_raise_output))
        try:
            out = ctx.model(x)
        except _Stop as stop:
            out = stop.output
        finally:
            for handle in handles:
                handle.remove()
        return out


def _raise_output(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
    raise _Stop(output)


def _tap_stages(model: nn.Module, taps: list[str]) -> list[Stage]:
    if not taps:
        raise ValueError("taps is empty: name at least one module on the main path")
    named = dict(model.named_modules())
    for tap in taps:
        if tap not in named or tap == "":
            close = difflib.get_close_matches(tap, [n for n in named if n], n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"tap {tap!r} is no submodule of {type(model).__name__}{hint}")
    ctx = _TapContext(model)
    bounds: list[str | None] = [None, *taps, None]
    return [
        Stage(
            end or "output",
            _TapSegment(ctx, named[start] if start else None, named[end] if end else None),
        )
        for start, end in itertools.pairwise(bounds)
    ]
