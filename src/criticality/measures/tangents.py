"""Tangent vectors through stages: JVPs, batches of tangents, re-orthonormalisation.

The numerics shared by the Lyapunov spectrum, the FTLE, the branching ratio and the
regularizers. Every JVP runs under :class:`~criticality.measures._jvp_rules.TangentRules`,
which computes the tangent of a linear layer (``Linear``, ``Conv``, eval ``BatchNorm``) as that
layer's linear part instead of PyTorch's generic formula (one matrix product or convolution
instead of two, see ``docs/performance.md``); results agree with plain forward-mode AD to
rounding.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Literal

import torch
import torch.autograd.forward_ad as fwAD
from torch import nn

from criticality.measures._jvp_rules import REPLAYING, PrimalCache, TangentRules
from criticality.stages import batch_independent

_FORWARD_AD_READY = False


def ready_forward_ad() -> None:
    """Load torch's forward-AD decompositions once, hiding their internal deprecation warning."""
    global _FORWARD_AD_READY
    if _FORWARD_AD_READY:
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
        from torch._decomp import decompositions_for_jvp  # noqa: F401
    _FORWARD_AD_READY = True


def tangent_rules(*, stacked: bool = False) -> TangentRules:
    """The function mode with the cheaper JVP rules, for ``with tangent_rules(): ...``.

    Use it around code that makes its own dual tensors (``torch.autograd.forward_ad``) or calls
    ``torch.func.jvp``; :func:`jvp` and :func:`push_tangents` enter it themselves. With
    ``stacked=True`` primal and tangent share one product per linear layer, which pays when
    the result is back-propagated (the regularizers).
    """
    ready_forward_ad()
    return TangentRules(stacked=stacked)


def jvp(
    fn: Callable[[torch.Tensor], torch.Tensor], h: torch.Tensor, tangent: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(fn(h), J_fn(h) tangent)`` by forward-mode AD; shapes ``(B, ...')`` each.

    Uses dual tensors (``torch.autograd.forward_ad``) directly, which costs less per call than
    ``torch.func.jvp``'s functional wrapper. The tangent stays differentiable: with autograd on,
    a loss on it can be back-propagated to the parameters.
    """
    ready_forward_ad()
    with TangentRules(), fwAD.dual_level():
        out = fn(fwAD.make_dual(h, tangent))
        primal, tan = fwAD.unpack_dual(out)
    if tan is None:  # the output does not depend on the input
        tan = torch.zeros_like(primal)
    return primal, tan


#: Work up to which :func:`push_tangents` stacks the tangents of flat states by itself, in
#: multiply-adds of a square layer on the stacked rows, ``B·k·D²``: a product of a few rows costs
#: about as much as one of a single row (it reads the whole weight), so the ``k``-fold primal is
#: nearly free and ``vmap``'s per-operation overhead is saved. Measured on 20-layer tanh MLPs
#: (one CPU thread, top-8): 0.75-0.86 of ``vmap``'s time up to ``2**23`` (width 512 with
#: 4 probes, 256 with 8, 128 with 16), 1.05-1.10 at ``2**24`` (512 with 8, 1,024 with 2); for
#: convolutions and token states (ResNet-18, ViT-B/16) the recomputed primal costs 1.4-1.8
#: times ``vmap``'s time, so they are never stacked unasked.
STACK_WORK = 2**23

How = Literal["auto", "stacked", "vmap"]


def push_tangents(
    stage: nn.Module, h: torch.Tensor, tangents: torch.Tensor, *, how: How = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Push ``k`` tangent vectors through one stage by forward-mode AD (JVP).

    Args:
        stage: the stage map ``f``.
        h: states, shape ``(B, ...)``.
        tangents: tangent vectors at ``h``, shape ``(B, k, ...)``.
        how: ``"stacked"``: one JVP of ``B·k`` rows, every state repeated ``k`` times beside
            its tangents, where the stage allows it (:func:`criticality.stages.
            batch_independent`; a stage that does not, such as a time step holding ``B`` rows
            of inputs, takes the ``"vmap"`` path); ``"vmap"``: the primal once and the
            tangents vectorised with ``vmap`` (each layer still sees one batch of ``B·k``
            entries); ``"auto"``: stacked for flat states ``(B, D)`` with ``B·k·D²`` at most
            :data:`STACK_WORK`, ``vmap`` otherwise. All give the same numbers (to rounding).

    Returns:
        ``(f(h), J_f(h) v)`` with shapes ``(B, ...')`` and ``(B, k, ...')``.
    """
    ready_forward_ad()
    b, k = tangents.shape[:2]
    if k == 1:
        out, t = jvp(stage, h, tangents[:, 0])
        return out, t.unsqueeze(1)
    flat = h.ndim == 2 and b * k * h.shape[1] ** 2 <= STACK_WORK
    stack = how == "stacked" or (how == "auto" and flat)
    if stack and batch_independent(stage):
        out, t = jvp(stage, h.repeat_interleave(k, dim=0), tangents.flatten(0, 1))  # (B·k, ...')
        return out[::k], t.unflatten(0, (b, k))

    def jvp_one(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        result = torch.func.jvp(stage, (h,), (t,))
        return result[0], result[1]

    with TangentRules(), warnings.catch_warnings():
        # Ops without a batching rule fall back to a loop over the k tangents: slower, not wrong.
        warnings.filterwarnings(
            "ignore", message="There is a performance drop", category=UserWarning
        )
        out, t = torch.func.vmap(jvp_one, in_dims=1, out_dims=(None, 1))(tangents)  # type: ignore[arg-type]
    return out, t


class Linearized:
    """``v ↦ J_fn(x) v`` at a fixed point ``x``, cheaper from the second call on.

    The first call is an ordinary JVP that records the primal outputs of the linear layers; the
    later calls replay them and compute (nearly) only the tangent: about one forward pass
    instead of two for a convolutional network. Holds those outputs (about one forward pass's
    activations) until it is dropped.

    Args:
        fn: the map, ``(B, ...) -> (B, ...')``; deterministic (eval mode).
        x: the point, shape ``(B, ...)``.

    Attributes:
        output: ``fn(x)`` from the first call, shape ``(B, ...')`` (``None`` before it); made
            with autograd's graph when ``x`` requires grad and the call runs with grad enabled,
            so that ``Jᵀ u`` can be back-propagated from it without a forward pass of its own.
    """

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> None:
        ready_forward_ad()
        self.fn, self.x, self.cache = fn, x, PrimalCache()
        self.output: torch.Tensor | None = None

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        """``J v`` for a tangent ``v`` of shape ``(B, ...)``; shape ``(B, ...')``."""
        self.cache.start_pass()
        replaying = REPLAYING.set(not self.cache.recording)
        try:
            with TangentRules(self.cache), fwAD.dual_level():
                out = self.fn(fwAD.make_dual(self.x, v))
                primal, tan = fwAD.unpack_dual(out)
        finally:
            REPLAYING.reset(replaying)
        if self.output is None:
            self.output = primal
        self.cache.end_pass()
        return torch.zeros_like(primal) if tan is None else tan


def orthonormalise(tangents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """QR of each sample's tangent set.

    Args:
        tangents: shape ``(B, k, ...)``.

    Returns:
        ``(Q, r)``: orthonormal tangents of the same shape and dtype, and ``|diag R|`` of shape
        ``(B, k)``. Half-precision tangents are factorised in float32 (``r`` stays float32).
        With ``k = 1`` this is a normalisation (the same numbers, without a QR call).
    """
    b, k = tangents.shape[:2]
    work = tangents if tangents.dtype in (torch.float32, torch.float64) else tangents.float()
    if k == 1:
        norm = torch.linalg.vector_norm(work.reshape(b, -1), dim=1)  # (B,)
        scale = norm.clamp_min(torch.finfo(norm.dtype).tiny)
        q = work / scale.reshape(b, *([1] * (tangents.ndim - 1)))
        return q.to(tangents.dtype), norm.unsqueeze(1)
    m = work.reshape(b, k, -1).transpose(1, 2)  # (B, D, k)
    q, r = torch.linalg.qr(m)  # (B, D, k), (B, k, k)
    diag = r.diagonal(dim1=-2, dim2=-1)  # (B, k)
    # Fix the sign so that Q's columns continue the directions they came from.
    q = q * torch.sign(diag).where(diag != 0, torch.ones_like(diag)).unsqueeze(1)
    return q.transpose(1, 2).reshape(tangents.shape).to(tangents.dtype), diag.abs()


def state_dim(h: torch.Tensor) -> int:
    """Number of units per sample of a state of shape ``(B, ...)``."""
    return math.prod(h.shape[1:])
