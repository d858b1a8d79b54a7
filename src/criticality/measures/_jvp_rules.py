"""Cheaper forward-mode rules for the layers that dominate the cost of a JVP.

PyTorch's forward-mode formulas differentiate a layer with respect to all of its inputs. A
weight that is no dual tensor enters them as a zero tangent that is still multiplied: a JVP
through a convolution runs three convolutions instead of two (``conv(t, W) + conv(h, 0)``), a
linear layer three matrix products, and ``linear`` goes through a Python decomposition
(about 0.4 ms a call on the CPU); batch norm in eval mode costs about 30 forward passes of the
layer (all measured with torch 2.14 on the CPU, see ``docs/performance.md``).

Inside :class:`TangentRules`, a call of ``F.linear``, ``F.conv1d/2d/3d`` or an eval-mode
``F.batch_norm`` whose input is a dual tensor (and whose weights are not) computes the primal as
usual and the tangent as the layer's linear part: ``conv(t, W)``, ``t Wᵀ``,
``t · γ / sqrt(σ² + ε)``. Results are the same as PyTorch's formulas up to rounding; every
other call goes to PyTorch's own rules. The tangent ops are ordinary autograd ops, so a loss on
the tangent can be differentiated (as the regularizer does).

With ``stacked=True`` the primal and the tangent go through a linear layer as one batch of
``2B`` rows (one product instead of two, and one weight gradient instead of two when the
result is back-propagated): the regularizers use it; for inference-only JVPs of large layers it
gains nothing.

A :class:`PrimalCache` makes repeated JVPs at the same point cheaper: the first pass records
the primal outputs of these layers, later passes replay them and compute only tangents (the
FTLE's Krylov iteration takes a JVP at the same input every step).

Limits: calls made *inside* another Python-level function that PyTorch dispatches as a whole
(``F.multi_head_attention_forward`` calls ``linear`` internally) are not seen by a function
mode, so they keep PyTorch's formulas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

Rule = Callable[["TangentRules", tuple[Any, ...], dict[str, Any]], Any]


class PrimalCache:
    """Primal outputs of the linear layers along one pass, recorded once and then replayed.

    Replayed tensors are copies (a model may modify a layer's output in place, e.g.
    ``ReLU(inplace=True)``); each replayed call checks that its primal input has the recorded
    shape, and a pass must use every recorded output.
    """

    def __init__(self) -> None:
        self.outputs: list[torch.Tensor] = []
        self.shapes: list[torch.Size] = []
        self.recording = True
        self.index = 0

    def primal(self, compute: Callable[[], torch.Tensor], p: torch.Tensor) -> torch.Tensor:
        if self.recording:
            out = compute()
            self.outputs.append(out.detach().clone())
            self.shapes.append(p.shape)
            return out
        i = self.index
        if i >= len(self.outputs) or self.shapes[i] != p.shape:
            raise RuntimeError(
                "replayed JVP pass differs from the recorded one (the model's control flow "
                "depends on something other than its input); use a fresh linearization"
            )
        self.index += 1
        return self.outputs[i].clone()

    def start_pass(self) -> None:
        """Begin a pass: replay from the first recorded output."""
        self.index = 0

    def end_pass(self) -> None:
        """End a pass: the first one ends recording; later ones must have used every output."""
        if self.recording:
            self.recording = False
        elif self.index != len(self.outputs):
            raise RuntimeError("replayed JVP pass used fewer layers than the recorded one")


class TangentRules(TorchFunctionMode):
    """A function mode that routes the JVPs of linear layers and eval batch norm to
    :data:`RULES` (see the module docstring); optionally replaying primal outputs."""

    def __init__(self, cache: PrimalCache | None = None, *, stacked: bool = False) -> None:
        super().__init__()
        self.cache, self.stacked = cache, stacked

    def primal(self, compute: Callable[[], torch.Tensor], p: torch.Tensor) -> torch.Tensor:
        return compute() if self.cache is None else self.cache.primal(compute, p)

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Sequence[type],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        rule = RULES.get(func)
        if rule is not None:
            out = rule(self, args, kwargs)
            if out is not NotImplemented:
                return out
        return func(*args, **kwargs)


def _bind(
    args: tuple[Any, ...], kwargs: dict[str, Any], names: Sequence[str], defaults: Sequence[Any]
) -> list[Any]:
    """Positional values of ``names`` from a call's ``args`` and ``kwargs``."""
    n_required = len(names) - len(defaults)
    values = list(args[: len(names)]) + [None] * max(0, n_required - len(args))
    values += list(defaults[max(0, len(args) - n_required) :])
    for i, name in enumerate(names):
        if name in kwargs:
            values[i] = kwargs[name]
    return values


def _parts(x: Any, *others: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(primal, tangent)`` of a dual ``x`` whose other tensor arguments are plain."""
    if not isinstance(x, torch.Tensor):
        return None
    p, t = fwAD.unpack_dual(x)
    if t is None:
        return None
    for o in others:
        if isinstance(o, torch.Tensor) and fwAD.unpack_dual(o).tangent is not None:
            return None
    return p, t


_CONV_ARGS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")


def _conv_rule(fn: Callable[..., torch.Tensor]) -> Rule:
    def rule(mode: TangentRules, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        x, weight, bias, *rest = _bind(args, kwargs, _CONV_ARGS, (None, 1, 0, 1, 1))
        parts = _parts(x, weight, bias)
        if parts is None:
            return NotImplemented
        p, t = parts
        if mode.stacked and mode.cache is None:
            out_p, out_t = fn(torch.cat([p, t]), weight, None, *rest).split(p.shape[0])
            if bias is not None:
                out_p = out_p + bias.reshape(-1, *([1] * (out_p.ndim - 2)))
            return fwAD.make_dual(out_p, out_t)
        out = mode.primal(lambda: fn(p, weight, bias, *rest), p)
        return fwAD.make_dual(out, fn(t, weight, None, *rest))

    return rule


def _linear_rule(mode: TangentRules, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    x, weight, bias = _bind(args, kwargs, ("input", "weight", "bias"), (None,))
    parts = _parts(x, weight, bias)
    if parts is None:
        return NotImplemented
    p, t = parts
    if mode.stacked and mode.cache is None:
        # one product for primal and tangent: fewer (and larger) ops, also in the backward pass
        out_p, out_t = F.linear(torch.cat([p, t]), weight).split(p.shape[0])
        return fwAD.make_dual(out_p if bias is None else out_p + bias, out_t)
    out = mode.primal(lambda: F.linear(p, weight, bias), p)
    return fwAD.make_dual(out, F.linear(t, weight))


_BN_ARGS = ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps")


def _batch_norm_rule(mode: TangentRules, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    x, mean, var, weight, bias, training, momentum, eps = _bind(
        args, kwargs, _BN_ARGS, (None, None, False, 0.1, 1e-5)
    )
    if training or mean is None or var is None:
        return NotImplemented  # batch statistics: the output is no affine map of the input
    parts = _parts(x, mean, var, weight, bias)
    if parts is None:
        return NotImplemented
    p, t = parts
    out = mode.primal(lambda: F.batch_norm(p, mean, var, weight, bias, False, momentum, eps), p)
    scale = torch.rsqrt(var + eps)
    if weight is not None:
        scale = scale * weight
    return fwAD.make_dual(out, t * scale.reshape(1, -1, *([1] * (t.ndim - 2))))


#: Rules by the public function they replace.
RULES: dict[Callable[..., Any], Rule] = {
    F.conv1d: _conv_rule(F.conv1d),
    F.conv2d: _conv_rule(F.conv2d),
    F.conv3d: _conv_rule(F.conv3d),
    F.linear: _linear_rule,
    F.batch_norm: _batch_norm_rule,
}
