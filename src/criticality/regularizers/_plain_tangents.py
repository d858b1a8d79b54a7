"""Tangents through stages of ``Linear`` layers and elementwise activations, without forward AD.

The regularizer's general path pushes a dual tensor through a stage under the measures'
:func:`~criticality.measures.tangents.tangent_rules`. For the stages of an MLP, a ``Linear``
layer and an activation, the tangent has a closed form: ``W v`` for the layer and
``f'(z) ⊙ v`` for the activation. Computed here with ordinary autograd ops, it skips the
function mode's Python dispatch and the dual tensors' bookkeeping on every op, which dominate
the regularizer's cost on MLPs of width 256 on the CPU (a training step with the penalty cost
1.9-2.0 times a plain one, 1.55-1.65 with this path; issue 25); the backward pass is plain
autograd through the same ops.

The numbers are those of the general path: the layer runs primal and tangent as one batch of
``2N`` rows with the bias added to the primal half (as ``tangent_rules(stacked=True)`` does),
and each activation's tangent is PyTorch's own forward-mode formula for it (``tanh_backward``,
``threshold_backward``, ...), so values and gradients agree to rounding (bit for bit on the
CPU for ``Tanh``, ``ReLU``, ``Sigmoid``, ``GELU`` and ``Identity``; ``SiLU`` to one rounding).

A stage qualifies when it is (a plain ``Sequential`` of) modules of exactly the types below
without hooks; :func:`plan` returns ``None`` for any other stage, which then takes the general
path. None of these modules depends on ``train()``/``eval()`` except ``Dropout``, taken as the
identity (its eval-mode map, as the regularizer's stages run in eval mode).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as _module

from criticality.stages import Stage

#: ``(module, h, v) -> (f(h), J_f(h) v)`` for one module, shapes ``(N, ...)``.
Push = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
Plan = list[tuple[Push, nn.Module]]


def _linear(m: nn.Module, h: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    assert isinstance(m, nn.Linear)
    out, jv = F.linear(torch.cat([h, v]), m.weight).split(h.shape[0])  # (N, ..., D_out) each
    return (out if m.bias is None else out + m.bias), jv


def _flatten(m: nn.Module, h: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    assert isinstance(m, nn.Flatten)
    return h.flatten(m.start_dim, m.end_dim), v.flatten(m.start_dim, m.end_dim)


def _identity(m: nn.Module, h: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return h, v


def _tanh(m: nn.Module, h: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.tanh(h)
    return a, torch.ops.aten.tanh_backward(v, a)


def _sigmoid(m: nn.Module, h: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.sigmoid(h)
    return a, torch.ops.aten.sigmoid_backward(v, a)


def _relu(m: nn.Module, h: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.relu(h)  # never in place: ``h`` is saved for the backward pass
    return a, torch.ops.aten.threshold_backward(v, a, 0)


def _gelu(m: nn.Module, h: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    assert isinstance(m, nn.GELU)
    a = F.gelu(h, approximate=m.approximate)
    return a, torch.ops.aten.gelu_backward(v, h, approximate=m.approximate)


def _silu(m: nn.Module, h: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # PyTorch's twice-differentiable formula (``infinitely_differentiable_silu_backward``)
    s = torch.sigmoid(h)
    return h * s, v * s * (1 + h * (1 - s))


PUSH: dict[type[nn.Module], Push] = {
    nn.Linear: _linear,
    nn.Flatten: _flatten,
    nn.Identity: _identity,
    nn.Dropout: _identity,
    nn.Tanh: _tanh,
    nn.Sigmoid: _sigmoid,
    nn.ReLU: _relu,
    nn.GELU: _gelu,
    nn.SiLU: _silu,
}


def plan(stage: nn.Module) -> Plan | None:
    """The modules of ``stage`` in order with their tangent maps, or ``None`` if it has any
    module (or hook) this path does not handle."""
    if _module._global_forward_hooks or _module._global_forward_pre_hooks:
        return None
    steps: Plan = []
    todo = [stage]
    while todo:
        m = todo.pop(0)
        if _hooked(m):
            return None
        if type(m) is Stage or type(m) is nn.Sequential:
            todo[:0] = [m.body] if isinstance(m, Stage) else list(m)
            continue
        fn = PUSH.get(type(m))
        if fn is None or (isinstance(m, nn.Flatten) and m.start_dim < 1):  # keep the batch dim
            return None
        steps.append((fn, m))
    return steps


#: Modules whose map is linear: past the last module of a stage that is not, the primal is
#: not needed for the tangent, and the last stage's primal is never needed.
LINEAR: dict[type[nn.Module], Callable[[nn.Module, torch.Tensor], torch.Tensor]] = {
    nn.Linear: lambda m, v: F.linear(v, m.weight),  # type: ignore[arg-type]
    nn.Flatten: lambda m, v: v.flatten(m.start_dim, m.end_dim),  # type: ignore[arg-type]
    nn.Identity: lambda m, v: v,
    nn.Dropout: lambda m, v: v,
}


def push(
    steps: Plan, h: torch.Tensor, v: torch.Tensor, *, primal: bool = True
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """``(f(h), J_f(h) v)`` through a stage's plan; shapes ``(N, ...)`` in, ``(N, ...')`` out.

    With ``primal=False`` the trailing linear modules map the tangent only, and ``f(h)`` is
    returned as ``None`` (for the last stage: the readout layer costs one product of ``N``
    rows instead of ``2N`` and a bias).
    """
    tail = len(steps)
    if not primal:
        while tail and type(steps[tail - 1][1]) in LINEAR:
            tail -= 1
    out: torch.Tensor | None = h
    for fn, m in steps[:tail]:
        h, v = fn(m, h, v)
    for _, m in steps[tail:]:
        v = LINEAR[type(m)](m, v)
        out = None
    return (h if out is not None else None), v


def _hooked(m: nn.Module) -> bool:
    return bool(m._forward_hooks or m._forward_pre_hooks)
