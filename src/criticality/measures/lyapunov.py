"""Top-k Lyapunov exponents across depth by JVPs and QR re-orthonormalisation.

Depth is time: a network is a chain of stage maps ``h_l = f_l(h_{l-1})``. ``k`` orthonormal tangent
vectors are pushed through each stage's Jacobian ``J_l`` with forward-mode AD and re-orthonormalised
(``J_l Q_{l-1} = Q_l R_l``); the exponents are the mean over stages of ``ln |diag R_l|``
(Benettin et al. 1980; for deep networks Storm et al. 2024). ``λ_1 < 0``: perturbations shrink
(ordered), ``λ_1 > 0``: they grow (chaotic), ``λ_1 = 0``: critical. The per-stage values
``ln g_l = ln |R_l[0, 0]|`` are the local exponents. No Jacobian is ever built.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np
import torch

from criticality.measures._perturb import check_count
from criticality.measures._registry import register_measure
from criticality.measures.prepared import (
    ModelOrStages,
    check_degenerate,
    check_finite,
    prepared,
)
from criticality.measures.results import Estimate, Result
from criticality.measures.tangents import orthonormalise, push_tangents, state_dim
from criticality.measures.words import log_gain_in_words
from criticality.numbers import fmt

Norm = Literal["l2", "rms"]

#: bfloat16 works (QR and logs in float32), see ``docs/performance.md`` for its accuracy.
_DTYPES = (torch.float32, torch.float64, torch.bfloat16)


@dataclasses.dataclass(frozen=True)
class LyapunovResult(Result):
    """Lyapunov spectrum across depth.

    Attributes:
        exponents: ``λ_1 ≥ … ≥ λ_k`` averaged over inputs, shape ``(k,)``, in nats per stage.
        per_input: exponents of each probe input, shape ``(B, k)``.
        local: per-stage local exponents ``ln |diag R_l|``, shape ``(B, L, k)``; column 0 is
            ``ln g_l``, the gain of the leading direction at stage ``l``.
        lambda_max: ``λ_1`` summarised over inputs (mean, median, spread, bootstrap CI).
        stage_log_gain: ``ln g_l`` of each stage summarised over inputs, ``L`` entries.
        stage_names: names of the ``L`` stages.
        stage_dims: units per sample at each stage's output, ``L`` entries.
        k: number of exponents.
        norm: ``"l2"`` (Euclidean) or ``"rms"`` (per-unit RMS: divides by ``sqrt(dim)``).
        seed: seed of the initial tangent vectors.
    """

    exponents: np.ndarray
    per_input: np.ndarray
    local: np.ndarray
    lambda_max: Estimate
    stage_log_gain: tuple[Estimate, ...]
    stage_names: tuple[str, ...]
    stage_dims: tuple[int, ...]
    k: int
    norm: str
    seed: int

    @property
    def distance(self) -> float:
        """Distance to criticality ``d = |λ_1|``."""
        return abs(self.lambda_max.mean)

    def headline(self) -> Estimate:
        return self.lambda_max

    def describe(self) -> str:
        return f"λ_1 = {fmt(self.lambda_max.mean, 'exponent')} per stage; " + log_gain_in_words(
            self.lambda_max.mean
        )

    def stage_profile(self) -> tuple[tuple[str, ...], np.ndarray]:
        return self.stage_names, np.array([e.mean for e in self.stage_log_gain])


@register_measure(
    "lyapunov",
    result_type=LyapunovResult,
    critical_value=0.0,
    summary="top-k Lyapunov exponents across depth (JVP + QR); critical at λ_1 = 0",
)
def lyapunov_spectrum(
    model_or_stages: ModelOrStages,
    inputs: torch.Tensor,
    *,
    k: int = 1,
    norm: Norm = "l2",
    dtype: torch.dtype | None = None,
    seed: int = 0,
    init: torch.Tensor | None = None,
    batch_size: int | None = None,
) -> LyapunovResult:
    """Top-``k`` Lyapunov exponents of the depth dynamics, averaged over probe inputs.

    Args:
        model_or_stages: a model (split by :func:`criticality.stages`) or a list of stages.
        inputs: probe inputs, shape ``(B, ...)``; the model is run in ``eval()`` mode.
        k: number of exponents; at most the smallest state dimension along the chain.
        norm: ``"l2"`` measures growth in the Euclidean norm; ``"rms"`` in the per-unit RMS
            norm, which removes the ``½ ln(d_out/d_in)`` a stage gains by changing dimension.
        dtype: compute in this dtype (e.g. ``torch.float64``); the model is copied, not changed.
        seed: seed of the random initial tangent vectors.
        init: initial tangent vectors instead of random ones, shape ``(B, k, ...)`` or
            ``(k, ...)`` (shared by all inputs); orthonormalised first.
        batch_size: process inputs in chunks of this size to bound memory.

    Returns:
        A :class:`LyapunovResult`.

    Raises:
        ValueError: bad inputs, ``k`` < 1, or ``k`` larger than a state dimension.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> chain = [nn.Linear(4, 4, bias=False) for _ in range(3)]
        >>> with torch.no_grad():
        ...     for lin in chain:
        ...         _ = nn.init.orthogonal_(lin.weight).mul_(2.0)
        >>> res = lyapunov_spectrum(chain, torch.randn(2, 4), k=4)
        >>> [round(float(x), 4) for x in res.exponents]
        [0.6931, 0.6931, 0.6931, 0.6931]
    """
    check_count("k", k)
    if norm not in ("l2", "rms"):
        raise ValueError(f"norm must be 'l2' or 'rms', got {norm!r}")
    # The tangents are not watched stage by stage: each stage's ln |R_ii| is computed right
    # after it, and check_finite names the first stage where they are not finite.
    with prepared(
        model_or_stages,
        inputs,
        dtype=dtype,
        measure="lyapunov",
        dtypes=_DTYPES,
        watch_tangents=False,
    ) as run:
        x = run.inputs
        chunks = x.split(batch_size or x.shape[0])
        inits = _split_init(init, x, k, chunks)
        parts = [
            _spectrum_chunk(list(run.stages), c, i, k, norm, seed + n)
            for n, (c, i) in enumerate(zip(chunks, inits, strict=True))
        ]
    local = torch.cat([p[0] for p in parts]).cpu().double().numpy()  # (B, L, k)
    check_degenerate(run, "lyapunov", np.exp(local[:, :, 0]))
    # inputs with a zero gain (warned about above) keep the floor of the QR's dtype
    floor_dtype = torch.float64 if run.dtype == torch.float64 else torch.float32
    floor = torch.log(torch.tensor(torch.finfo(floor_dtype).tiny, dtype=floor_dtype)).item()
    local[:, :, 0] = np.maximum(local[:, :, 0], floor)
    check_finite(run, "lyapunov", {"local exponents": local}, per_stage=local)
    dims = parts[0][1]
    names = run.names
    per_input = local.mean(axis=1)  # (B, k)
    # λ_1 and ln g_l of every stage summarised in one bootstrap (the same draws as one by one)
    summary = Estimate.from_columns(np.column_stack([per_input[:, 0], local[:, :, 0]]), seed=seed)
    return LyapunovResult(
        exponents=per_input.mean(axis=0),
        per_input=per_input,
        local=local,
        lambda_max=summary[0],
        stage_log_gain=summary[1:],
        stage_names=names,
        stage_dims=dims,
        k=k,
        norm=norm,
        seed=seed,
    )


def _split_init(
    init: torch.Tensor | None, x: torch.Tensor, k: int, chunks: tuple[torch.Tensor, ...]
) -> list[torch.Tensor | None]:
    if init is None:
        return [None] * len(chunks)
    init = init.to(x.dtype)
    if init.shape == (k, *x.shape[1:]):
        init = init.expand(x.shape[0], *init.shape)
    if init.shape != (x.shape[0], k, *x.shape[1:]):
        raise ValueError(
            f"init must have shape (B, k, ...) = {(x.shape[0], k, *x.shape[1:])} or (k, ...), "
            f"got {tuple(init.shape)}"
        )
    return list(init.split([c.shape[0] for c in chunks]))


def _spectrum_chunk(
    stage_list: list[torch.nn.Module],
    h: torch.Tensor,
    init: torch.Tensor | None,
    k: int,
    norm: Norm,
    seed: int,
) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Local exponents ``(B, L, k)`` and state dims for one chunk of inputs."""
    _check_k(k, state_dim(h), "the input")
    if init is None:
        # Drawn in float64 on the CPU then cast, so that every dtype and device starts from the
        # same vectors.
        gen = torch.Generator().manual_seed(seed)
        init = torch.randn((h.shape[0], k, *h.shape[1:]), generator=gen, dtype=torch.float64)
        init = init.to(device=h.device, dtype=h.dtype)
    tangents, _ = orthonormalise(init)  # (B, k, ...)
    logs, dims = [], []
    for i, stage in enumerate(stage_list):
        d_in = state_dim(h)
        h, tangents = push_tangents(stage, h, tangents)
        d_out = state_dim(h)
        _check_k(k, d_out, f"stage {i} ({getattr(stage, 'name', i)})")
        tangents, r = orthonormalise(tangents)
        # ln|R_ii| with a floor for the lower directions; the leading one keeps an exact zero
        # as -inf (a degenerate stage, refused by check_degenerate rather than floored).
        log_r = torch.log(r)  # (B, k)
        log_r[:, 1:] = log_r[:, 1:].clamp_min(math.log(torch.finfo(r.dtype).tiny))
        if norm == "rms":
            log_r = log_r - 0.5 * math.log(d_out / d_in)
        logs.append(log_r)
        dims.append(d_out)
    return torch.stack(logs, dim=1), tuple(dims)


def _check_k(k: int, dim: int, where: str) -> None:
    if k > dim:
        raise ValueError(
            f"k={k} exceeds the state dimension {dim} at {where}; pass k <= {dim} or measure "
            f"a sub-chain of stages that keeps at least k units"
        )
