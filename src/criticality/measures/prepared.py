"""The opening every measure shares: stages, checked probe inputs, dtype, eval mode.

:func:`prepared` is the one place where a model (or a list of stages) and a batch of probe inputs
become what a measure computes on::

    with prepared(model_or_stages, inputs, dtype=dtype, measure="lyapunov") as run:
        h = run.inputs                  # (B, ...), checked, in the compute dtype
        for stage in run.stages:        # in eval() mode until the block ends
            h = stage(h)

Per-stage checks that every measure should get (e.g. a non-finite state) belong here: register
a forward hook on each of ``run.stages`` inside :func:`prepared`, since every stage call of
every measure happens inside that context on those modules.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import weakref
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from criticality.stages import stages as split_stages

ModelOrStages = nn.Module | Sequence[nn.Module]

#: Dtypes every measure computes in; lower precisions only where a measure says so.
FULL_PRECISION = (torch.float32, torch.float64)


@dataclasses.dataclass(frozen=True)
class Prepared:
    """Stages and probe inputs ready to be measured.

    Attributes:
        stages: the ``L`` stage modules, in ``eval()`` mode while the context is open.
        inputs: probe inputs, shape ``(B, ...)``: checked, in the compute dtype.
    """

    stages: tuple[nn.Module, ...]
    inputs: torch.Tensor

    @property
    def names(self) -> tuple[str, ...]:
        """The stages' names (their index where a stage has none), ``L`` entries."""
        return tuple(getattr(s, "name", str(i)) for i, s in enumerate(self.stages))

    @property
    def dtype(self) -> torch.dtype:
        """The compute dtype."""
        return self.inputs.dtype


@contextlib.contextmanager
def prepared(
    model_or_stages: ModelOrStages,
    inputs: object,
    *,
    dtype: torch.dtype | None = None,
    measure: str = "this measure",
    copy_stages: bool = False,
    grad: bool = False,
    min_inputs: int = 1,
    dtypes: Sequence[torch.dtype] = FULL_PRECISION,
) -> Iterator[Prepared]:
    """Split, check and cast; run the block with the stages in ``eval()`` mode.

    Args:
        model_or_stages: a model (split by :func:`criticality.stages`) or a list of stages.
        inputs: probe inputs, shape ``(B, ...)``, floating point, finite.
        dtype: compute dtype; the model is copied (never changed) when it differs.
        measure: the measure's name, for error messages.
        copy_stages: deep-copy the stages (for measures that change weights).
        grad: autograd on inside the block (reverse-mode measures); off otherwise.
        min_inputs: fewest probe inputs the measure needs.
        dtypes: compute dtypes the measure supports; others are refused with a ``ValueError``.

    Yields:
        A :class:`Prepared` bundle. The stages' training flags are restored afterwards.

    Raises:
        TypeError: inputs that are no floating-point tensor, or no model / stage list.
        ValueError: inputs of the wrong shape, non-finite, too few, or an unsupported dtype.
    """
    stage_list = as_stages(model_or_stages, dtype)
    if copy_stages:
        stage_list = copy.deepcopy(stage_list)  # shared modules stay shared
    x = check_inputs(inputs)
    x = x.to(dtype or infer_dtype(stage_list, x))
    if x.dtype not in dtypes:
        names = ", ".join(str(d).removeprefix("torch.") for d in dtypes)
        raise ValueError(
            f"{measure} does not support dtype {str(x.dtype).removeprefix('torch.')}; "
            f"pass dtype= one of {names}"
        )
    if x.shape[0] < min_inputs:
        raise ValueError(f"{measure} needs at least {min_inputs} probe inputs, got {x.shape[0]}")
    with eval_mode(stage_list), torch.set_grad_enabled(grad):
        _check_fits(stage_list[0], x[:1])
        yield Prepared(tuple(stage_list), x)


def as_stages(model_or_stages: ModelOrStages, dtype: torch.dtype | None = None) -> list[nn.Module]:
    """The stage list of a model (split with :func:`criticality.stages`) or a given list.

    With ``dtype`` set and different from the parameters' dtype, a converted deep copy is
    returned so that the caller's model is left as it was.
    """
    if isinstance(model_or_stages, nn.Module) and not isinstance(model_or_stages, nn.ModuleList):
        model: nn.Module = model_or_stages
        if dtype is not None and _param_dtype(model) not in (None, dtype):
            model = copy.deepcopy(model).to(dtype)
        return _split(model)
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


#: Splits of ``nn.Sequential`` models, reused while the model's modules stay the same objects:
#: splitting costs about half a forward pass of a 20-layer MLP of width 512 at batch 4. Only
#: ``nn.Sequential`` is cached: its stages hold its sub-modules, never the model itself, so an
#: entry dies with its model (weak key).
_SPLITS: weakref.WeakKeyDictionary[nn.Module, tuple[tuple[int, ...], list[nn.Module]]] = (
    weakref.WeakKeyDictionary()
)


def _split(model: nn.Module) -> list[nn.Module]:
    if not isinstance(model, nn.Sequential):
        return list(split_stages(model))
    key = tuple(map(id, model.modules()))  # any module replaced or added: split again
    hit = _SPLITS.get(model)
    if hit is None or hit[0] != key:
        hit = (key, list(split_stages(model)))
        _SPLITS[model] = hit
    return list(hit[1])


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
    """The stages' parameter dtype when they agree on one, else the inputs' dtype."""
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


def _check_fits(stage: nn.Module, inputs: torch.Tensor) -> None:
    """Run the first stage on one input, turning a shape mismatch into a clear error."""
    try:
        with torch.no_grad():
            stage(inputs)
    except RuntimeError as err:
        raise ValueError(
            f"inputs of shape {tuple(inputs.shape)} do not fit the model's first stage "
            f"({err}); pass inputs shaped (B, ...) as the model expects"
        ) from err
