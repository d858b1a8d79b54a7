"""Cheaper forward-mode rules for the layers that dominate the cost of a JVP.

PyTorch's forward-mode formulas differentiate a layer with respect to all of its inputs. A
weight that is no dual tensor enters them as a zero tangent that is still multiplied: a JVP
through a convolution runs three convolutions instead of two (``conv(t, W) + conv(h, 0)``), a
linear layer three matrix products, and ``linear`` goes through a Python decomposition
(about 0.4 ms a call on the CPU); batch norm in eval mode costs about 30 forward passes of the
layer (all measured with torch 2.14 on the CPU, see ``docs/performance.md``).

Inside :class:`TangentRules`, a call of ``F.linear``, ``F.conv1d/2d/3d`` or an eval-mode
``F.batch_norm`` whose input is a dual tensor (and whose weights are not) computes the primal
as usual and the tangent as the layer's linear part: ``conv(t, W)``, ``t Wᵀ``,
``t · γ / sqrt(σ² + ε)`` (and ``F.multi_head_attention_forward``, see below). Results are
the same as PyTorch's formulas up to rounding; every other call goes to PyTorch's own rules.
The tangent ops are ordinary autograd ops, so a loss on the tangent can be differentiated (as
the regularizer does).

With ``stacked=True`` the primal and the tangent go through a linear layer as one batch of
``2B`` rows (one product instead of two, and one weight gradient instead of two when the
result is back-propagated): the regularizers use it; for inference-only JVPs of large layers it
gains nothing.

A :class:`PrimalCache` makes repeated JVPs at the same point cheaper: the first pass records
the primal outputs of these layers, later passes replay them and compute only tangents (the
FTLE's Krylov iteration takes a JVP at the same input every step).

Limits: a function mode does not see the calls made *inside* a Python-level function that
PyTorch dispatches as a whole: ``F.multi_head_attention_forward`` calls ``linear`` internally,
so self-attention without masks (ViTs) has a rule of its own that repeats its steps; other
uses of it keep PyTorch's formulas.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

Rule = Callable[["TangentRules", tuple[Any, ...], dict[str, Any]], Any]

#: True while a pass replays a :class:`PrimalCache`: its primal values are those of the
#: recorded pass, which the per-stage checks of ``prepared`` have already seen.
REPLAYING: contextvars.ContextVar[bool] = contextvars.ContextVar("replaying", default=False)


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
    return _linear(mode, *parts, weight, bias)


def _linear(
    mode: TangentRules,
    p: torch.Tensor,
    t: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
) -> torch.Tensor:
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


_MHA_ARGS = (
    "query", "key", "value", "embed_dim_to_check", "num_heads", "in_proj_weight", "in_proj_bias",
    "bias_k", "bias_v", "add_zero_attn", "dropout_p", "out_proj_weight", "out_proj_bias",
    "training", "key_padding_mask", "need_weights", "attn_mask", "use_separate_proj_weight",
    "q_proj_weight", "k_proj_weight", "v_proj_weight", "static_k", "static_v",
    "average_attn_weights", "is_causal",
)  # fmt: skip
_MHA_DEFAULTS = (True, None, True, None, False, None, None, None, None, None, True, False)


def _attention_rule(mode: TangentRules, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Self-attention of ``nn.MultiheadAttention`` without masks or weights returned (as in
    ViTs): the same steps as ``F.multi_head_attention_forward`` with the two projections
    through :func:`_linear` (PyTorch dispatches that function as a whole, so the mode would
    not see its ``linear`` calls). Any other use goes to PyTorch."""
    a = dict(zip(_MHA_ARGS, _bind(args, kwargs, _MHA_ARGS, _MHA_DEFAULTS), strict=True))
    x = a["query"]
    plain = (
        x is a["key"] is a["value"]
        and isinstance(x, torch.Tensor)
        and x.ndim == 3
        and not a["need_weights"]
        and not a["use_separate_proj_weight"]
        and not a["add_zero_attn"]
        and not a["is_causal"]
        and (not a["training"] or a["dropout_p"] == 0.0)
        and all(a[n] is None for n in ("key_padding_mask", "attn_mask", "bias_k", "bias_v"))
        and a["static_k"] is None
        and a["static_v"] is None
    )
    parts = (
        _parts(x, a["in_proj_weight"], a["in_proj_bias"], a["out_proj_weight"]) if plain else None
    )
    if parts is None:
        return NotImplemented
    tgt_len, bsz, embed_dim = x.shape
    heads = a["num_heads"]
    head_dim = embed_dim // heads
    proj = _linear(mode, *parts, a["in_proj_weight"], a["in_proj_bias"])  # (L, N, 3E)
    proj = proj.unflatten(-1, (3, embed_dim)).unsqueeze(0).transpose(0, -2).squeeze(-2)
    proj = proj.contiguous()
    q, k, v = (
        z.view(tgt_len, bsz * heads, head_dim).transpose(0, 1).view(bsz, heads, -1, head_dim)
        for z in (proj[0], proj[1], proj[2])
    )
    out = F.scaled_dot_product_attention(q, k, v, None, 0.0, False)  # (N, H, L, E/H)
    out = out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    p, t = fwAD.unpack_dual(out)
    out = _linear(mode, p, t, a["out_proj_weight"], a["out_proj_bias"])
    return out.view(tgt_len, bsz, out.size(1)), None


#: Rules by the public function they replace.
RULES: dict[Callable[..., Any], Rule] = {
    F.conv1d: _conv_rule(F.conv1d),
    F.conv2d: _conv_rule(F.conv2d),
    F.conv3d: _conv_rule(F.conv3d),
    F.linear: _linear_rule,
    F.batch_norm: _batch_norm_rule,
    F.multi_head_attention_forward: _attention_rule,
}
