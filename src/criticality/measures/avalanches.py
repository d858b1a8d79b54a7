"""Perturbation avalanches across depth and units: size and duration power laws.

An avalanche is a cascade of activity started by a small seed. At a critical branching point
sizes ``S`` and durations ``T`` are power-law distributed, ``P(S) ∝ S^{-τ_S}`` and
``P(T) ∝ T^{-τ_T}`` (mean field: ``τ_S = 3/2``, ``τ_T = 2``; Beggs & Plenz 2003), and the mean
size at a given duration scales as ``⟨S⟩(T) ∝ T^γ`` with the crackling-noise relation

    ``γ = (τ_T − 1) / (τ_S − 1) = 1 / (σ ν z)``

(Sethna, Dahmen & Myers 2001, Nature 410:242; tested in neuronal data by Friedman et al. 2012,
Phys. Rev. Lett. 108:208102; mean field ``γ = 2``). :func:`fit_avalanches` fits ``τ_S`` and
``τ_T`` by discrete maximum likelihood with ``x_min`` chosen by the Kolmogorov–Smirnov distance
(Clauset, Shalizi & Newman 2009) using the ``powerlaw`` package, compares the power law with an
exponential and a log-normal by log-likelihood ratio tests (Vuong's ``p``), fits ``γ`` by least
squares of ``ln⟨S⟩`` on ``ln T``, and bootstraps the avalanches for confidence intervals.

Network avalanches (:func:`avalanches`): depth is time and units are sites. For each probe
input and trial, ``seed_units`` random input units are perturbed (together a perturbation of
relative RMS ``ε``), and the perturbation is pushed through the stages; after each stage a unit
is *active* when its change exceeds ``θ_l = threshold · ε · s_l`` (``s_l`` the per-unit RMS of
the unperturbed state), and the changes of inactive units are set to zero, so that silence is
absorbing. Size = active units summed over stages, duration = stages until silence (the seed
counts as generation 0). Avalanches still active at the output are censored (dropped and
counted): depth bounds durations, so dense networks only support short power laws.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import math
import warnings

import numpy as np
import powerlaw
import torch

from criticality.measures._perturb import (
    broadcast,
    check_count,
    check_positive,
    flat,
    trajectory,
    unit_rms,
)
from criticality.measures._registry import register_measure
from criticality.measures.prepared import ModelOrStages, prepared
from criticality.measures.results import Estimate, Result

#: Fewer avalanches above x_min than this and a power law is not claimed.
MIN_TAIL = 50

#: Fewer ended avalanches than this and nothing is fitted.
MIN_AVALANCHES = 10

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PowerLawFit(Result):
    """A discrete power-law fit ``P(x) ∝ x^{-τ}``, ``x ≥ x_min``, and its model comparison.

    Attributes:
        exponent: ``τ``: ``mean`` is the fit, the rest from the bootstrap (``x_min`` fixed).
        xmin: fitted ``x_min``.
        n_tail: data points at or above ``x_min``.
        ks: Kolmogorov–Smirnov distance of the fit.
        lr_exponential: normalised log-likelihood ratio, power law vs exponential (``> 0``
            favours the power law).
        p_exponential: Vuong's ``p`` of that ratio's sign.
        lr_lognormal: log-likelihood ratio power law vs log-normal.
        p_lognormal: Vuong's ``p``.
        supported: the data support a power law: at least ``MIN_TAIL`` points in the tail and
            the exponential significantly worse (``lr > 0``, ``p < 0.1``). A log-normal is often
            indistinguishable or, with finite-size corrections, slightly better even for a true
            critical branching process, so it is reported (``lr_lognormal``) but not decisive.
    """

    exponent: Estimate
    xmin: float
    n_tail: int
    ks: float
    lr_exponential: float
    p_exponential: float
    lr_lognormal: float
    p_lognormal: float
    supported: bool

    @classmethod
    def not_fitted(cls) -> PowerLawFit:
        """The fit of too few data: NaN everywhere, not supported."""
        nan = math.nan
        return cls(Estimate(nan, nan, nan, nan, nan, 0), nan, 0, nan, nan, nan, nan, nan, False)

    def headline(self) -> Estimate:
        return self.exponent

    def describe(self) -> str:
        verdict = (
            "a power law" if self.supported else "not a power law (the data do not support it)"
        )
        if self.supported and self.lr_lognormal < 0 and self.p_lognormal < 0.1:
            verdict += ", though a log-normal fits better"
        return f"τ = {self.exponent.mean:.2f} above x_min = {self.xmin:g}: {verdict}"


@dataclasses.dataclass(frozen=True)
class AvalancheResult(Result):
    """Avalanche statistics.

    Attributes:
        sizes: size of each (uncensored) avalanche, shape ``(n,)``.
        durations: duration of each avalanche, shape ``(n,)``.
        size_fit: power-law fit of the sizes (``τ_S``; mean field 3/2).
        duration_fit: power-law fit of the durations (``τ_T``; mean field 2).
        gamma_fit: fitted ``γ`` of ``⟨S⟩(T) ∝ T^γ`` (NaN with fewer than 3 durations).
        gamma_predicted: ``(τ_T − 1) / (τ_S − 1)`` from the two exponents.
        n_censored: avalanches still active at the output, not in ``sizes``.
    """

    sizes: np.ndarray
    durations: np.ndarray
    size_fit: PowerLawFit
    duration_fit: PowerLawFit
    gamma_fit: float
    gamma_predicted: float
    n_censored: int

    @property
    def crackling_gap(self) -> float:
        """``γ_fit − γ_predicted``: 0 when the crackling-noise relation holds."""
        return self.gamma_fit - self.gamma_predicted

    def headline(self) -> Estimate:
        return self.size_fit.exponent

    def describe(self) -> str:
        s, t = self.size_fit, self.duration_fit
        if s.n_tail == 0:
            return (
                f"only {self.sizes.size} avalanches ended inside the network "
                f"({self.n_censored} still active at the output): no power law can be fitted"
            )
        if not (s.supported and t.supported):
            return (
                f"the {self.sizes.size} avalanches do not support power laws "
                f"(sizes: {'yes' if s.supported else 'no'}, durations: "
                f"{'yes' if t.supported else 'no'}); τ_S = {s.exponent.mean:.2f} is not meaningful"
            )
        return (
            f"power-law avalanches with τ_S = {s.exponent.mean:.2f} (critical 1.5) and "
            f"τ_T = {t.exponent.mean:.2f} (critical 2); ⟨S⟩ ∝ T^{self.gamma_fit:.2f} against "
            f"{self.gamma_predicted:.2f} from the crackling-noise relation"
        )


def fit_avalanches(
    sizes: np.ndarray,
    durations: np.ndarray,
    *,
    n_censored: int = 0,
    n_boot: int = 50,
    seed: int = 0,
) -> AvalancheResult:
    """Power-law fits, model comparison and the crackling-noise check for given avalanches.

    Args:
        sizes: avalanche sizes, shape ``(n,)``, positive integers.
        durations: avalanche durations, shape ``(n,)``, positive integers.
        n_censored: avalanches left out because they did not end (recorded only).
        n_boot: bootstrap resamples of the avalanches for the exponents' spread.
        seed: seed of the bootstrap.

    Returns:
        An :class:`AvalancheResult`.

    Raises:
        ValueError: mismatched, empty or non-positive sizes or durations.
    """
    s = np.asarray(sizes, dtype=np.float64).reshape(-1)
    t = np.asarray(durations, dtype=np.float64).reshape(-1)
    if s.shape != t.shape or s.size < MIN_AVALANCHES:
        raise ValueError(
            f"need as many sizes as durations, at least {MIN_AVALANCHES}; got {s.size}, {t.size}"
        )
    if (s < 1).any() or (t < 1).any() or not (np.isfinite(s).all() and np.isfinite(t).all()):
        raise ValueError("sizes and durations must be finite and >= 1")
    rng = np.random.default_rng(seed)
    size_fit = fit_power_law(s, n_boot=n_boot, rng=rng)
    duration_fit = fit_power_law(t, n_boot=n_boot, rng=rng)
    tau_s, tau_t = size_fit.exponent.mean, duration_fit.exponent.mean
    return AvalancheResult(
        sizes=s,
        durations=t,
        size_fit=size_fit,
        duration_fit=duration_fit,
        gamma_fit=_gamma(s, t),
        gamma_predicted=(tau_t - 1.0) / (tau_s - 1.0) if tau_s != 1.0 else math.inf,
        n_censored=int(n_censored),
    )


def fit_power_law(x: np.ndarray, *, n_boot: int, rng: np.random.Generator) -> PowerLawFit:
    """Discrete power-law fit of ``x`` (shape ``(n,)``) with ``powerlaw`` (output silenced).

    Degenerate data that ``powerlaw`` cannot fit (e.g. one distinct value in the tail) give an
    unsupported fit with a NaN exponent.
    """
    try:
        return _fit_power_law(x, n_boot=n_boot, rng=rng)
    except ValueError:
        nan = math.nan
        return PowerLawFit(Estimate(nan, nan, nan, nan, nan, 0), nan, 0, nan, 0.0, 1.0, 0.0, 1.0,
                           supported=False)  # fmt: skip


def _fit_power_law(x: np.ndarray, *, n_boot: int, rng: np.random.Generator) -> PowerLawFit:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(x, discrete=True, verbose=False)
        xmin = float(fit.xmin)
        r_exp, p_exp = _compare(fit, "exponential")
        r_ln, p_ln = _compare(fit, "lognormal")
        tail = x[x >= xmin]
        boot = np.array([_alpha_discrete(rng.choice(tail, tail.size), xmin) for _ in range(n_boot)])
        tau, ks = float(fit.power_law.alpha), float(fit.power_law.D)  # lazy: read them in here
    boot = boot[np.isfinite(boot)]
    lo, hi = np.quantile(boot, [0.025, 0.975]) if boot.size > 1 else (tau, tau)
    spread = float(boot.std(ddof=1)) if boot.size > 1 else 0.0
    median = float(np.median(boot)) if boot.size else tau
    r_exp, p_exp, r_ln, p_ln = (float(np.nan_to_num(v)) for v in (r_exp, p_exp, r_ln, p_ln))
    supported = tail.size >= MIN_TAIL and r_exp > 0 and p_exp < 0.1
    return PowerLawFit(
        exponent=Estimate(tau, median, spread, float(lo), float(hi), int(tail.size)),
        xmin=xmin,
        n_tail=int(tail.size),
        ks=ks,
        lr_exponential=r_exp,
        p_exponential=p_exp,
        lr_lognormal=r_ln,
        p_lognormal=p_ln,
        supported=bool(supported),
    )


def _compare(fit: powerlaw.Fit, alternative: str) -> tuple[float, float]:
    """Normalised log-likelihood ratio and p of power law vs ``alternative``.

    ``(0, 1)`` (no preference) where ``powerlaw`` cannot fit the alternative, e.g. when the tail
    holds a single distinct value.
    """
    try:
        r, p = fit.distribution_compare("power_law", alternative, normalized_ratio=True)
    except ValueError:
        return 0.0, 1.0
    return float(r), float(p)


def _alpha_discrete(tail: np.ndarray, xmin: float) -> float:
    """Discrete MLE approximation ``1 + n / Σ ln(x / (x_min − ½))`` (Clauset et al. eq. 3.7)."""
    log_sum = float(np.sum(np.log(tail / (xmin - 0.5))))
    return 1.0 + tail.size / log_sum if log_sum > 0 else math.nan  # nan: a degenerate tail


def _gamma(sizes: np.ndarray, durations: np.ndarray) -> float:
    """Slope of ``ln⟨S⟩(T)`` on ``ln T`` over durations seen at least 5 times (NaN if < 3)."""
    ts, counts = np.unique(durations, return_counts=True)
    ts = ts[counts >= 5]
    if ts.size < 3:
        return math.nan
    mean_s = np.array([sizes[durations == v].mean() for v in ts])
    return float(np.polyfit(np.log(ts), np.log(mean_s), 1)[0])


@register_measure(
    "avalanches",
    result_type=AvalancheResult,
    critical_value=1.5,
    summary="power-law exponent τ_S of perturbation avalanche sizes; 3/2 when critical",
)
def avalanches(
    model_or_stages: ModelOrStages,
    inputs: torch.Tensor,
    *,
    n_trials: int = 64,
    seed_units: int = 1,
    epsilon: float = 1e-2,
    threshold: float = 1.0,
    n_boot: int = 50,
    dtype: torch.dtype | None = None,
    seed: int = 0,
) -> AvalancheResult:
    """Perturbation avalanches across depth and units, and their power-law analysis.

    Args:
        model_or_stages: a model (split by :func:`criticality.stages`) or a list of stages.
        inputs: probe inputs, shape ``(B, ...)``; run in ``eval()`` mode.
        n_trials: avalanches started per input (random seed units each).
        seed_units: input units perturbed by each seed.
        epsilon: relative RMS size ``ε`` of the seed perturbation.
        threshold: ``θ_l = threshold · ε · s_l``: a unit is active when its change exceeds it.
        n_boot: bootstrap resamples for the exponents' confidence intervals.
        dtype: compute in this dtype; the model is copied, not changed.
        seed: seed of the seeds and of the bootstrap.

    Returns:
        An :class:`AvalancheResult`; ``headline()`` is ``τ_S`` (3/2 at a critical branching
        point). ``size_fit.supported`` says whether the data support a power law at all.

    Raises:
        ValueError: bad inputs or options. When fewer than ``MIN_AVALANCHES`` avalanches end
            inside the network (e.g. a chaotic one), the result has NaN exponents and says so.
    """
    check_count("n_trials", n_trials)
    check_count("seed_units", seed_units)
    check_count("n_boot", n_boot, 0)
    check_positive("epsilon", epsilon)
    check_positive("threshold", threshold)
    with prepared(model_or_stages, inputs, dtype=dtype, measure="avalanches") as run:
        x = run.inputs
        if seed_units > x[0].numel():
            raise ValueError(f"seed_units={seed_units} exceeds the {x[0].numel()} input units")
        counts = _cascade_counts(
            list(run.stages), x, n_trials, seed_units, epsilon, threshold, seed
        )
    sizes, durations, censored = _avalanches_from_counts(counts)
    if sizes.size < MIN_AVALANCHES:
        logger.info("only %d avalanches ended inside the network; nothing to fit", sizes.size)
        empty = PowerLawFit.not_fitted()
        return AvalancheResult(sizes, durations, empty, empty, math.nan, math.nan, censored)
    return fit_avalanches(sizes, durations, n_censored=censored, n_boot=n_boot, seed=seed)


def _cascade_counts(
    stage_list: list[torch.nn.Module],
    x: torch.Tensor,
    n_trials: int,
    seed_units: int,
    eps: float,
    tau: float,
    seed: int,
) -> np.ndarray:
    """Active units per generation of every avalanche, shape ``(n_trials · B, L + 1)``.

    One trial at a time (batches of ``B``), so memory does not grow with ``n_trials``.
    """
    gen = torch.Generator(device=x.device).manual_seed(seed)
    states = trajectory(stage_list, x)  # [h_0, ..., h_L], each (B, ...)
    thresholds = [broadcast(tau * eps * unit_rms(h), h) for h in states[1:]]
    b, d = x.shape[0], x[0].numel()
    amp = eps * unit_rms(x) * math.sqrt(d / seed_units)  # (B,): relative RMS ε overall
    rows = []
    for _ in range(n_trials):
        picks = torch.rand((b, d), generator=gen, device=x.device).topk(seed_units).indices
        signs = torch.randint(0, 2, (b, seed_units), generator=gen, device=x.device) * 2 - 1
        delta = torch.zeros((b, d), dtype=x.dtype, device=x.device)
        delta.scatter_(1, picks, signs.to(x.dtype) * amp.unsqueeze(1))
        delta = delta.reshape(x.shape)
        counts = [torch.full((b,), seed_units, dtype=torch.long, device=x.device)]
        for stage, h, out, theta in zip(
            stage_list, states[:-1], states[1:], thresholds, strict=True
        ):
            change = stage(h + delta) - out  # (B, ...')
            active = change.abs() > theta
            delta = change * active
            counts.append(flat(active).sum(dim=1))
        rows.append(torch.stack(counts, dim=1))
    return torch.cat(rows).cpu().numpy()


def _avalanches_from_counts(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Sizes and durations of the avalanches that ended, and how many did not."""
    alive = counts > 0  # (N, L+1); silence is absorbing, so alive is a prefix
    durations = alive.sum(axis=1)
    ended = ~alive[:, -1]
    sizes = (counts * alive).sum(axis=1)
    return sizes[ended].astype(np.float64), durations[ended].astype(np.float64), int((~ended).sum())
