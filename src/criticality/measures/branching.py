"""Branching ratio ``σ`` of perturbation cascades between consecutive stages.

In neuronal avalanches the branching ratio is the mean number of descendants (units active in
the next time bin) per ancestor (unit active now); ``σ = 1`` is critical, ``σ < 1`` activity
dies out, ``σ > 1`` it explodes (Beggs & Plenz 2003, J. Neurosci. 23:11167). Depth is time: at
each stage ``l`` a finite perturbation ``δ = ε · s_{l-1} · u`` (``u`` a fresh Gaussian direction
with per-unit RMS 1, ``s_{l-1}`` the per-unit RMS of the state ``h_{l-1}`` of that input) is
applied to the stage's input and its response ``Δ = f_l(h_{l-1} + δ) − f_l(h_{l-1})`` is read.

Threshold rule. A unit is *active* when its perturbation exceeds the stage's threshold
``θ_l = τ · ε · s_{l-1}`` (``τ`` = ``threshold``, a fraction of the RMS of the ancestor
perturbation). An active unit carries ``⌊(δ/θ_l)²⌋`` quanta of activity: it is counted once for
every threshold ``θ_l √m``, ``m = 1, 2, …``, that it exceeds. Ancestors and descendants are
counted against the same ``θ_l`` and per unit of their layer (stages may change width)::

    A_l = Σ_i ⌊(δ_i / θ_l)²⌋ / N_{l-1},   D_l = Σ_j ⌊(Δ_j / θ_l)²⌋ / N_l,   σ_l = (D_l / A_l)^½.

Quanta are counted in squared units so that the count is the perturbation's energy measured in
units of ``θ_l²``; the square root turns the ratio of energies into the ratio of amplitudes, so
that on a linear chain of ``g·Q`` (``Q`` orthogonal) ``σ_l = g`` up to the ``O(τ²)``
quantisation error at any ``ε``. Counting each unit once instead saturates at ``N`` units and
reports ``P(|z| > τ/g) / P(|z| > τ)`` for Gaussian perturbations, which equals ``g`` only at
``g = 1``.

The network's ``σ = exp(mean_l ln σ_l)`` (geometric mean over stages), per input. Its
*infinitesimal form* ``σ_inf = exp(mean_l ln g_l)``, ``g_l = RMS(J_l u) / RMS(u)`` (RMS pooled
over the ``n_dirs`` directions), uses the same fresh random (not aligned) directions and the
per-unit RMS norm; as ``ε → 0`` the cascade ``σ_l`` converges to ``g_l`` (``τ → 0``). At finite
``ε`` the cascade includes the non-linear response: saturating units make ``σ < σ_inf``.
Unlike ``λ_1`` (:mod:`.lyapunov`), ``σ_inf`` measures the gain of a *typical* direction, not of
the direction the dynamics align a tangent with. On wide random networks
``σ_inf ≈ √χ_1`` of mean-field theory (:mod:`.meanfield`) when the inputs sit at the fixed point.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import nn

from criticality.measures._perturb import (
    broadcast,
    check_count,
    check_positive,
    flat,
    generator,
    random_directions,
    unit_rms,
)
from criticality.measures._registry import register_measure
from criticality.measures.prepared import ModelOrStages, check_degenerate, check_finite, prepared
from criticality.measures.results import Estimate, Result
from criticality.measures.tangents import push_tangents
from criticality.measures.words import log_gain_in_words


@dataclasses.dataclass(frozen=True)
class BranchingResult(Result):
    """Branching ratio of perturbation cascades across depth.

    Attributes:
        sigma: cascade branching ratio ``σ = exp(mean_l ln σ_l)`` summarised over inputs.
        sigma_inf: infinitesimal form ``exp(mean_l ln g_l)`` summarised over inputs.
        per_input: cascade ``σ`` of each probe input, shape ``(B,)``.
        per_input_inf: ``σ_inf`` of each probe input, shape ``(B,)``.
        stage_ratio: ``σ_l = (D_l / A_l)^½`` per input and stage, shape ``(B, L)``.
        stage_gain: ``g_l`` per input and stage, shape ``(B, L)``.
        ancestors: ancestor quanta per unit ``A_l``, shape ``(B, L)`` (summed over directions).
        descendants: descendant quanta per unit ``D_l``, shape ``(B, L)``.
        stage_names: names of the ``L`` stages.
        epsilon: relative perturbation size ``ε``.
        threshold: ``τ``; the threshold of stage ``l`` is ``θ_l = τ · ε · s_{l-1}``.
        n_dirs: random directions per input and stage.
        seed: seed of the directions.
    """

    sigma: Estimate
    sigma_inf: Estimate
    per_input: np.ndarray
    per_input_inf: np.ndarray
    stage_ratio: np.ndarray
    stage_gain: np.ndarray
    ancestors: np.ndarray
    descendants: np.ndarray
    stage_names: tuple[str, ...]
    epsilon: float
    threshold: float
    n_dirs: int
    seed: int

    def headline(self) -> Estimate:
        return self.sigma

    def describe(self) -> str:
        words = log_gain_in_words(math.log(max(self.sigma.mean, 1e-300)))
        return (
            f"σ = {self.sigma.mean:.3f}: each active unit has {self.sigma.mean:.2f} active "
            f"descendants at the next stage on average; {words}"
        )

    def stage_profile(self) -> tuple[tuple[str, ...], np.ndarray]:
        return self.stage_names, np.exp(_safe_log(self.stage_ratio).mean(axis=0))


@register_measure(
    "branching",
    result_type=BranchingResult,
    critical_value=1.0,
    summary="branching ratio σ of perturbation cascades between stages; critical at σ = 1",
)
def branching_ratio(
    model_or_stages: ModelOrStages,
    inputs: torch.Tensor,
    *,
    epsilon: float = 1e-2,
    threshold: float = 0.05,
    n_dirs: int = 4,
    dtype: torch.dtype | None = None,
    seed: int = 0,
) -> BranchingResult:
    """Branching ratio ``σ`` (cascade form) and its infinitesimal form, per probe input.

    Args:
        model_or_stages: a model (split by :func:`criticality.stages`) or a list of stages.
        inputs: probe inputs, shape ``(B, ...)``; the model is run in ``eval()`` mode.
        epsilon: relative size ``ε`` of the finite perturbation at each stage (RMS of the
            perturbation over RMS of the state).
        threshold: ``τ``, the activity quantum as a fraction of the ancestor perturbation's
            RMS, ``θ_l = τ · ε · s_{l-1}``; smaller is closer to the continuum limit.
        n_dirs: fresh random directions per input and stage (counts are pooled over them).
        dtype: compute in this dtype; the model is copied, not changed.
        seed: seed of the random directions.

    Returns:
        A :class:`BranchingResult`; ``headline()`` is the cascade ``σ`` (critical at 1).

    Raises:
        ValueError: bad inputs or non-positive ``epsilon``, ``threshold`` or ``n_dirs``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> chain = [nn.Linear(64, 64, bias=False) for _ in range(3)]
        >>> with torch.no_grad():
        ...     for lin in chain:
        ...         _ = nn.init.orthogonal_(lin.weight).mul_(1.5)
        >>> res = branching_ratio(chain, torch.randn(4, 64), threshold=1e-2)
        >>> round(res.sigma_inf.mean, 4), round(res.sigma.mean, 2)
        (1.5, 1.5)
    """
    check_positive("epsilon", epsilon)
    check_positive("threshold", threshold)
    check_count("n_dirs", n_dirs)
    with prepared(model_or_stages, inputs, dtype=dtype, measure="branching") as run:
        gen = generator(seed, run.inputs)
        h, parts = run.inputs, []
        for stage in run.stages:
            h, part = _stage_cascade(stage, h, epsilon, threshold, n_dirs, gen)
            parts.append(part)
    anc, desc, gain = (
        torch.stack([p[i] for p in parts], 1).double().cpu().numpy() for i in range(3)
    )
    check_finite(run, "branching", {"stage gains": gain, "quanta": desc}, per_stage=gain)
    check_degenerate(run, "branching", gain, "ln σ_inf")
    ratio = np.sqrt(desc / np.where(anc > 0, anc, np.nan))  # (B, L)
    ratio = np.nan_to_num(ratio, nan=0.0)
    per_input = np.exp(_safe_log(ratio).mean(axis=1))  # (B,)
    per_input_inf = np.exp(_safe_log(gain).mean(axis=1))  # (B,)
    return BranchingResult(
        sigma=Estimate.from_samples(per_input, seed=seed),
        sigma_inf=Estimate.from_samples(per_input_inf, seed=seed),
        per_input=per_input,
        per_input_inf=per_input_inf,
        stage_ratio=ratio,
        stage_gain=gain,
        ancestors=anc,
        descendants=desc,
        stage_names=run.names,
        epsilon=float(epsilon),
        threshold=float(threshold),
        n_dirs=n_dirs,
        seed=seed,
    )


def _stage_cascade(
    stage: nn.Module, h: torch.Tensor, eps: float, tau: float, k: int, gen: torch.Generator
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """One stage: next state ``(B, ...')``; ancestor, descendant quanta and gain ``(B,)`` each."""
    b = h.shape[0]
    u = random_directions((b, k), h.shape[1:], gen, h)  # (B, k, ...)
    s = unit_rms(h)  # (B,)
    delta = eps * broadcast(s, h).unsqueeze(1) * u  # (B, k, ...)
    out = stage(h)  # (B, ...')
    pert = stage((h.unsqueeze(1) + delta).reshape(b * k, *h.shape[1:]))
    resp = pert.reshape(b, k, *out.shape[1:]) - out.unsqueeze(1)  # (B, k, ...')
    theta = (tau * eps * s).reshape(b, 1, 1)  # (B, 1, 1)
    anc = _quanta(delta.reshape(b, k, -1), theta) / delta[0, 0].numel()
    desc = _quanta(resp.reshape(b, k, -1), theta) / out[0].numel()
    _, tangent = push_tangents(stage, h, u)  # (B, k, ...')
    # Pooled over the k directions like the quanta: RMS(J u) over all of them (RMS(u) = 1).
    gain = flat(tangent).pow(2).mean(dim=1).sqrt()  # (B,)
    return out, (anc, desc, gain)


def _quanta(perturbation: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Activity quanta ``Σ ⌊(δ/θ)²⌋`` of perturbations ``(B, k, D)``, pooled per input: ``(B,)``."""
    return torch.floor((perturbation / theta).pow(2)).sum(dim=(1, 2))


def _safe_log(x: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(x, np.finfo(np.float64).tiny))
