"""Shared numerics of the measures: input checks, eval mode, tangent propagation."""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.autograd.forward_ad as fwAD
from torch import nn

from criticality.stages import stages as split_stages

ModelOrStages = nn.Module | Sequence[nn.Module]


def as_stages(model_or_stages: ModelOrStages, dtype: torch.dtype | None = None) -> list[nn.Module]:
    """The stage list of a model (split with :func:`criticality.stages`) or a given list.

    With ``dtype`` set and different from the parameters' dtype, a converted deep copy is
    returned so that the caller's model is left as it was.
    """
    if isinstance(model_or_stages, nn.Module) and not isinstance(model_or_stages, nn.ModuleList):
        model: nn.Module = model_or_stages
        if dtype is not None and _param_dtype(model) not in (None, dtype):
            model = copy.deepcopy(model).to(dtype)
        return list(split_stages(model))
    if isinstance(model_or_stages, (Sequence, nn.ModuleList)):
        stage_list = list(model_or_stages)
        if not stage_list or not all(isinstance(s, nn.Module) for s in stage_list):
            raise TypeError("pass a model or a non-empty list of stage modules")
        dtypes = {_param_dtype(s) for s in stage_list} - {None}
        if dtype is not None and dtypes - {dtype}:
            stage_list = [s.to(dtype) for s in copy.deepcopy(stage_list)]
        return stage_list
    raise TypeError(
        f"expected an nn.Module or a list of stages, got {type(model_or_stages).__name__}"
    )


def _param_dtype(module: nn.Module) -> torch.dtype | None:
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return None


def check_inputs(inputs: object, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Validate probe inputs (shape ``(B, ...)``, finite, floating) and cast to ``dtype``."""
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(
            f"inputs must be a torch.Tensor of shape (B, ...), got {type(inputs).__name__}"
        )
    if inputs.ndim < 2 or inputs.shape[0] == 0:
        raise ValueError(
            f"inputs must have shape (B, ...) with B >= 1 probe inputs and a batch dimension "
            f"first, got shape {tuple(inputs.shape)}; add one with inputs.unsqueeze(0)"
        )
    if not inputs.is_floating_point():
        raise TypeError(f"inputs must be floating point, got {inputs.dtype}; use inputs.float()")
    if not torch.isfinite(inputs).all():
        raise ValueError("inputs contain NaN or inf; clean or drop those probe inputs")
    return inputs.to(dtype) if dtype is not None else inputs


def infer_dtype(stage_list: Sequence[nn.Module], inputs: torch.Tensor) -> torch.dtype:
    dtypes = {d for d in map(_param_dtype, stage_list) if d is not None}
    return next(iter(dtypes)) if len(dtypes) == 1 else inputs.dtype


@contextlib.contextmanager
def eval_mode(modules: Sequence[nn.Module]) -> Iterator[None]:
    """Put ``modules`` in ``eval()`` and restore each submodule's training flag afterwards.

    Also selects attention kernels that forward-mode AD can differentiate: the fused fast path
    of ``nn.MultiheadAttention`` (which eval mode would pick) is turned off and
    ``scaled_dot_product_attention`` uses its plain math backend.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    flags = [(m, m.training) for s in modules for m in s.modules()]
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    for s in modules:
        s.eval()
    try:
        with sdpa_kernel([SDPBackend.MATH]):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for m, flag in flags:
            m.training = flag


def first_stage_output(stage: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Run the first stage, turning a shape mismatch into an error that names the input shape."""
    try:
        with torch.no_grad():
            return stage(inputs)
    except RuntimeError as err:
        raise ValueError(
            f"inputs of shape {tuple(inputs.shape)} do not fit the model's first stage "
            f"({err}); pass inputs shaped (B, ...) as the model expects"
        ) from err


def ready_forward_ad() -> None:
    """Load torch's forward-AD decompositions once, hiding their internal deprecation warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
        from torch._decomp import decompositions_for_jvp  # noqa: F401


def jvp(
    fn: Callable[[torch.Tensor], torch.Tensor], h: torch.Tensor, tangent: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(fn(h), J_fn(h) tangent)`` by forward-mode AD; shapes ``(B, ...')`` each.

    Uses dual tensors (``torch.autograd.forward_ad``) directly, which costs less per call than
    ``torch.func.jvp``'s functional wrapper; inside ``vmap`` use ``torch.func.jvp``.
    """
    ready_forward_ad()
    with fwAD.dual_level():
        out = fn(fwAD.make_dual(h, tangent))
        primal, tan = fwAD.unpack_dual(out)
    if tan is None:  # the output does not depend on the input
        tan = torch.zeros_like(primal)
    return primal, tan


def push_tangents(
    stage: nn.Module, h: torch.Tensor, tangents: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Push ``k`` tangent vectors through one stage by forward-mode AD (JVP).

    Args:
        stage: the stage map ``f``.
        h: states, shape ``(B, ...)``.
        tangents: tangent vectors at ``h``, shape ``(B, k, ...)``.

    Returns:
        ``(f(h), J_f(h) v)`` with shapes ``(B, ...')`` and ``(B, k, ...')``. The primal is
        computed once; with ``k > 1`` the tangents are vectorised with ``vmap``.
    """
    ready_forward_ad()
    if tangents.shape[1] == 1:
        out, t = jvp(stage, h, tangents[:, 0])
        return out, t.unsqueeze(1)

    def jvp_one(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        result = torch.func.jvp(stage, (h,), (t,))
        return result[0], result[1]

    with warnings.catch_warnings():
        # Ops without a batching rule fall back to a loop over the k tangents: slower, not wrong.
        warnings.filterwarnings(
            "ignore", message="There is a performance drop", category=UserWarning
        )
        out, t = torch.func.vmap(jvp_one, in_dims=1, out_dims=(None, 1))(tangents)  # type: ignore[arg-type]
    return out, t


def orthonormalise(tangents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """QR of each sample's tangent set.

    Args:
        tangents: shape ``(B, k, ...)``.

    Returns:
        ``(Q, r)``: orthonormal tangents of the same shape and ``|diag R|`` of shape ``(B, k)``.
    """
    b, k = tangents.shape[:2]
    m = tangents.reshape(b, k, -1).transpose(1, 2)  # (B, D, k)
    q, r = torch.linalg.qr(m)  # (B, D, k), (B, k, k)
    diag = r.diagonal(dim1=-2, dim2=-1)  # (B, k)
    # Fix the sign so that Q's columns continue the directions they came from.
    q = q * torch.sign(diag).where(diag != 0, torch.ones_like(diag)).unsqueeze(1)
    return q.transpose(1, 2).reshape(tangents.shape), diag.abs()


def state_dim(h: torch.Tensor) -> int:
    """Number of units per sample of a state of shape ``(B, ...)``."""
    return h[0].numel()
