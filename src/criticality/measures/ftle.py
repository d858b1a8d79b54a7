"""Finite-time Lyapunov exponent of the input→output map: ``(1/L) ln s_max(J(x))``.

``J(x)`` is the Jacobian of the whole network at input ``x`` and ``L`` its number of stages
(Storm et al. 2024). ``s_max`` is found by power iteration on ``JᵀJ`` using one JVP and one VJP
per step (matrix-free); :func:`ftle` with ``method="svd"`` builds the full Jacobian and takes its
exact top singular value, the reference for small models.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch

from criticality.measures._linalg import (
    ModelOrStages,
    as_stages,
    check_inputs,
    eval_mode,
    first_stage_output,
    infer_dtype,
    jvp,
    ready_forward_ad,
    state_dim,
)
from criticality.measures._registry import register_measure
from criticality.measures._result import Estimate, Result
from criticality.measures._words import log_gain_in_words
from criticality.stages import compose

Method = Literal["power", "svd"]


@dataclasses.dataclass(frozen=True)
class FTLEResult(Result):
    """Finite-time Lyapunov exponent of the input→output map.

    Attributes:
        value: the FTLE ``(1/L) ln s_max`` summarised over inputs.
        per_input: FTLE of each probe input, shape ``(B,)``.
        s_max: top singular value of each input's Jacobian, shape ``(B,)`` (in the chosen norm).
        n_stages: ``L``.
        method: ``"power"`` (power iteration) or ``"svd"`` (full Jacobian).
        iterations: power-iteration steps taken (0 for ``"svd"``).
        rel_change: largest relative change of ``s_max`` in the last step (0 for ``"svd"``).
        norm: ``"l2"`` or ``"rms"`` (``s_max`` divided by ``sqrt(d_out / d_in)``).
    """

    value: Estimate
    per_input: np.ndarray
    s_max: np.ndarray
    n_stages: int
    method: str
    iterations: int
    rel_change: float
    norm: str

    @property
    def distance(self) -> float:
        """Distance to criticality ``|FTLE|``."""
        return abs(self.value.mean)

    def headline(self) -> Estimate:
        return self.value

    def describe(self) -> str:
        return (
            "the most expanding input direction changes by a factor "
            f"{math.exp(self.value.mean):.3g} per stage on average over {self.n_stages} stages; "
            + log_gain_in_words(self.value.mean).split(":")[0]
        )


@register_measure(
    "ftle",
    result_type=FTLEResult,
    critical_value=0.0,
    summary="finite-time Lyapunov exponent of the input→output map; critical at 0",
)
def ftle(
    model_or_stages: ModelOrStages,
    inputs: torch.Tensor,
    *,
    method: Method = "power",
    n_iter: int = 20,
    tol: float = 1e-4,
    norm: Literal["l2", "rms"] = "l2",
    dtype: torch.dtype | None = None,
    seed: int = 0,
) -> FTLEResult:
    """FTLE ``(1/L) ln s_max(J(x))`` of each probe input.

    Args:
        model_or_stages: a model or a list of stages (``L`` = number of stages).
        inputs: probe inputs, shape ``(B, ...)``.
        method: ``"power"`` (JVP + VJP power iteration) or ``"svd"`` (exact, builds ``J``).
        n_iter: maximum power-iteration steps.
        tol: stop when ``s_max`` changes by less than this fraction for every input.
        norm: ``"rms"`` divides ``s_max`` by ``sqrt(d_out / d_in)``.
        dtype: compute in this dtype; the model is copied, not changed.
        seed: seed of the starting vectors.

    Returns:
        An :class:`FTLEResult`.
    """
    if method not in ("power", "svd"):
        raise ValueError(f"method must be 'power' or 'svd', got {method!r}")
    if n_iter < 1:
        raise ValueError(f"n_iter must be at least 1, got {n_iter}")
    stage_list = as_stages(model_or_stages, dtype)
    x = check_inputs(inputs, dtype or infer_dtype(stage_list, inputs))

    def f(z: torch.Tensor) -> torch.Tensor:
        return compose(stage_list, z)

    with eval_mode(stage_list):
        first_stage_output(stage_list[0], x[:1])
        if method == "svd":
            s, iters, change = _svd_smax(f, x), 0, 0.0
        else:
            s, iters, change = _power_smax(f, x, n_iter, tol, seed)
        if norm == "rms":
            with torch.no_grad():
                s = s / math.sqrt(state_dim(f(x[:1])) / state_dim(x))
    s_np = s.cpu().double().numpy()
    per_input = np.log(np.maximum(s_np, np.finfo(np.float64).tiny)) / len(stage_list)
    return FTLEResult(
        value=Estimate.from_samples(per_input, seed=seed),
        per_input=per_input,
        s_max=s_np,
        n_stages=len(stage_list),
        method=method,
        iterations=iters,
        rel_change=change,
        norm=norm,
    )


def _power_smax(
    f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, n_iter: int, tol: float, seed: int
) -> tuple[torch.Tensor, int, float]:
    """Top singular value per input by power iteration on ``JᵀJ``; shapes ``(B,)``."""
    ready_forward_ad()
    gen = torch.Generator().manual_seed(seed)  # float64 on the CPU: the same start everywhere
    v = _unit(torch.randn(x.shape, generator=gen, dtype=torch.float64).to(x.device, x.dtype))
    vjp_fn = torch.func.vjp(f, x)[1]
    s = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    change, it = math.inf, 0
    for it in range(1, n_iter + 1):  # noqa: B007  (the count is reported)
        with torch.no_grad():
            _, u = jvp(f, x, v)
        (w,) = vjp_fn(u)
        w = w.detach()
        s_new = _flat(w).mul(_flat(v)).sum(1).clamp_min(0).sqrt()  # (B,) sqrt(vᵀJᵀJv)
        change = float(((s_new - s).abs() / s_new.clamp_min(torch.finfo(x.dtype).tiny)).max())
        s, v = s_new, _unit(w)
        if change < tol:
            break
    return s, it, change


def _svd_smax(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Exact top singular value per input from the full Jacobian; shape ``(B,)``."""
    out = []
    for xi in x:

        def fi(z: torch.Tensor) -> torch.Tensor:
            return f(z.unsqueeze(0)).squeeze(0)

        jac = torch.func.jacrev(fi)(xi)  # (*out, *in)
        jac = jac.reshape(-1, xi.numel()).detach()  # (D_out, D_in)
        out.append(torch.linalg.svdvals(jac)[0])
    return torch.stack(out)


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1)


def _unit(t: torch.Tensor) -> torch.Tensor:
    """Normalise each sample of ``t`` (shape ``(B, ...)``) to unit Euclidean norm."""
    norms = _flat(t).norm(dim=1).clamp_min(torch.finfo(t.dtype).tiny)
    return t / norms.reshape(-1, *([1] * (t.ndim - 1)))
