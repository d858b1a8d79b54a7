"""Finite-time Lyapunov exponent of the input→output map: ``(1/L) ln s_max(J(x))``.

``J(x)`` is the Jacobian of the whole network at input ``x`` and ``L`` its number of stages
(Storm et al. 2024). ``s_max`` is found matrix-free from JVPs and VJPs: by Golub–Kahan–Lanczos
bidiagonalisation (``method="lanczos"``, the default: the Lanczos method on ``JᵀJ``) or by
power iteration on ``JᵀJ`` (``method="power"``); both stop when the estimate changes by less
than ``tol`` between steps and report whether it did (:attr:`FTLEResult.converged`).
``method="svd"`` builds the full Jacobian and takes its exact top singular value, the reference
for small models. The JVPs at the fixed input replay the primal outputs of the linear layers
(:class:`~criticality.measures.tangents.Linearized`), so each step costs about one forward pass
for the JVP and one backward pass for the VJP.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch

from criticality.measures import prepared as _prepared
from criticality.measures._krylov import lanczos_smax, power_smax, start_vector
from criticality.measures._perturb import check_count
from criticality.measures._registry import register_measure
from criticality.measures.prepared import (
    DegenerateStageError,
    ModelOrStages,
    check_finite,
    prepared,
)
from criticality.measures.results import Estimate, Result
from criticality.measures.tangents import Linearized
from criticality.measures.words import log_gain_in_words
from criticality.stages import compose

Method = Literal["lanczos", "power", "svd"]

#: bfloat16 works (Krylov vectors in float32), see ``docs/performance.md`` for its accuracy.
_DTYPES = (torch.float32, torch.float64, torch.bfloat16)


@dataclasses.dataclass(frozen=True)
class FTLEResult(Result):
    """Finite-time Lyapunov exponent of the input→output map.

    Attributes:
        value: the FTLE ``(1/L) ln s_max`` summarised over inputs.
        per_input: FTLE of each probe input, shape ``(B,)``.
        s_max: top singular value of each input's Jacobian, shape ``(B,)`` (in the chosen norm).
        n_stages: ``L``.
        method: ``"lanczos"``, ``"power"`` or ``"svd"`` (full Jacobian).
        iterations: steps taken (JVPs; 0 for ``"svd"``).
        rel_change: largest relative change of ``s_max`` over inputs in the last step (0 for
            ``"svd"``).
        norm: ``"l2"`` or ``"rms"`` (``s_max`` divided by ``sqrt(d_out / d_in)``).
        converged: ``rel_change < tol`` (always true for ``"svd"``); ``None`` in results
            stored before this was recorded.
        tol: the stopping tolerance on the relative change (NaN where not recorded).
    """

    value: Estimate
    per_input: np.ndarray
    s_max: np.ndarray
    n_stages: int
    method: str
    iterations: int
    rel_change: float
    norm: str
    converged: bool | None = None
    tol: float = math.nan

    @property
    def distance(self) -> float:
        """Distance to criticality ``|FTLE|``."""
        return abs(self.value.mean)

    def headline(self) -> Estimate:
        return self.value

    def describe(self) -> str:
        text = (
            "the most expanding input direction changes by a factor "
            f"{math.exp(self.value.mean):.3g} per stage on average over {self.n_stages} stages; "
            + log_gain_in_words(self.value.mean).split(":")[0]
        )
        if self.converged is False:
            text += (
                f" (not converged: s_max still changed by {self.rel_change:.1e} > "
                f"{self.tol:g} in step {self.iterations} of {self.method}; a lower bound)"
            )
        return text


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
    method: Method = "lanczos",
    n_iter: int = 30,
    tol: float = 1e-3,
    norm: Literal["l2", "rms"] = "l2",
    dtype: torch.dtype | None = None,
    seed: int = 0,
) -> FTLEResult:
    """FTLE ``(1/L) ln s_max(J(x))`` of each probe input.

    Args:
        model_or_stages: a model or a list of stages (``L`` = number of stages).
        inputs: probe inputs, shape ``(B, ...)``.
        method: ``"lanczos"`` (Golub–Kahan–Lanczos with JVP + VJP), ``"power"`` (power
            iteration on ``JᵀJ``) or ``"svd"`` (exact, builds ``J``).
        n_iter: most steps (each one JVP and one VJP).
        tol: stop when ``s_max`` changes by less than this fraction for every input; the
            result's ``converged`` says whether that happened within ``n_iter`` steps.
        norm: ``"rms"`` divides ``s_max`` by ``sqrt(d_out / d_in)``.
        dtype: compute in this dtype; the model is copied, not changed.
        seed: seed of the starting vectors.

    Returns:
        An :class:`FTLEResult`.

    Example:
        >>> import torch
        >>> from criticality.zoo import orthogonal_chain
        >>> res = ftle(orthogonal_chain(2.0, width=8, depth=4), torch.randn(3, 8))
        >>> round(res.value.mean, 4), res.converged
        (0.6931, True)
    """
    if method not in ("lanczos", "power", "svd"):
        raise ValueError(f"method must be 'lanczos', 'power' or 'svd', got {method!r}")
    check_count("n_iter", n_iter)
    with prepared(
        model_or_stages, inputs, dtype=dtype, measure="ftle", grad=True, dtypes=_DTYPES
    ) as run:
        stage_list, x = run.stages, run.inputs

        def f(z: torch.Tensor) -> torch.Tensor:
            return compose(stage_list, z)

        if method == "svd":
            s, out_dim = _svd_smax(f, x)
            iters, change = 0, 0.0
        else:
            s, iters, change, out_dim = _krylov_smax(f, x, method, n_iter, tol, seed)
    if norm == "rms":
        s = s / math.sqrt(out_dim / x[0].numel())
    s_np = s.cpu().double().numpy()
    check_finite(run, "ftle", {"s_max": s_np})
    if (s_np == 0).all():
        raise DegenerateStageError(
            f"ftle: the network maps every perturbation to exactly zero for all {len(s_np)} "
            "probe inputs (s_max = 0, FTLE = -inf): "
            "a stage is degenerate (zero weights, or every unit cut off); lyapunov names it"
        )
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
        converged=method == "svd" or change < tol,
        tol=0.0 if method == "svd" else float(tol),
    )


def _krylov_smax(
    f: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    method: Method,
    n_iter: int,
    tol: float,
    seed: int,
) -> tuple[torch.Tensor, int, float, int]:
    """``s_max`` per input ``(B,)``, steps, last relative change and output units.

    The first JVP runs with autograd on: its primal output carries the graph the VJPs
    back-propagate through, so no separate forward pass is needed for them.
    """
    xg = x.detach().requires_grad_()
    lin = Linearized(f, xg.clone())  # no leaf: a stage may work in place on its input
    # Krylov vectors in at least float32, also for bfloat16 models.
    work = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    b = x.shape[0]

    def jvp(v: torch.Tensor) -> torch.Tensor:
        first = lin.output is None
        v = v.reshape(x.shape).to(x.dtype)
        with torch.set_grad_enabled(first):  # the first pass keeps the graph
            out = lin(v).detach()
        if not first:  # the first pass's tangents were checked stage by stage
            _prepared.check_replay(out, lambda: lin(v))
        return out.reshape(b, -1).to(work)

    def vjp(u: torch.Tensor) -> torch.Tensor:
        out = lin.output
        assert out is not None  # Lanczos and the power method start with a JVP
        if not out.requires_grad:  # the output does not depend on the input
            return torch.zeros_like(xg).reshape(b, -1).to(work)
        (w,) = torch.autograd.grad(
            out, xg, u.reshape(out.shape).to(out.dtype), retain_graph=True, allow_unused=True
        )
        return (torch.zeros_like(xg) if w is None else w.detach()).reshape(b, -1).to(work)

    v = start_vector((b, x[0].numel()), seed, x.to(work))
    smax = lanczos_smax if method == "lanczos" else power_smax
    s, iters, change = smax(jvp, vjp, v, n_iter, tol)
    assert lin.output is not None
    return s, iters, change, lin.output[0].numel()


def _svd_smax(
    f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> tuple[torch.Tensor, int]:
    """Exact top singular value per input from the full Jacobian, shape ``(B,)``; output units."""
    out, d_out = [], 0
    for xi in x:

        def fi(z: torch.Tensor) -> torch.Tensor:
            return f(z.unsqueeze(0)).squeeze(0)

        jac = torch.func.jacrev(fi)(xi)  # (*out, *in)
        d_out = jac.numel() // xi.numel()
        jac = jac.reshape(d_out, xi.numel()).detach()  # (D_out, D_in)
        out.append(torch.linalg.svdvals(jac.double() if jac.dtype == torch.bfloat16 else jac)[0])
    return torch.stack(out), d_out
