"""Dynamic range ``Δ`` of the stimulus–response curve, in dB.

A stimulus of relative size ``S`` pushes a probe input along a random direction,
``x → x + S · RMS(x) · u`` (``u`` Gaussian with per-unit RMS 1), over a log grid of ``S``. The
response ``F(S) ∈ [0, 1]`` is how much the output changed: the fraction of output units whose
change exceeds ``threshold`` times the RMS of that input's output (``response="units"``), or
for classifiers the total-variation distance of the softmax predictive distributions
(``response="tv"``). With ``F_x = F_min + x (F_max − F_min)`` and ``S_x`` the stimulus where
``F`` first reaches ``F_x``,

    ``Δ = 10 · log10(S_0.9 / S_0.1)``

is the range of stimuli, in decibels, that the network tells apart: it is maximal at
criticality (Kinouchi & Copelli 2006, Nat. Phys. 2:348). ``F`` is averaged over ``n_dirs``
directions per input; ``Δ`` is computed per input and summarised over inputs. For a linear
network with Gaussian output perturbations and ``response="units"``, ``F(S) = P(|z| > c/S)``
and ``Δ = 10 log10(1.645 / 0.126) ≈ 11.2 dB`` whatever the gain; departures from it measure
how the non-linearity compresses (larger ``Δ``) or sharpens (smaller ``Δ``) the response.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from criticality.measures._perturb import (
    Response,
    check_count,
    check_positive,
    generator,
    output_response,
    perturbed_outputs,
    random_directions,
)
from criticality.measures._registry import register_measure
from criticality.measures.prepared import ModelOrStages, prepared
from criticality.measures.results import Estimate, Result
from criticality.stages import compose


@dataclasses.dataclass(frozen=True)
class DynamicRangeResult(Result):
    """Dynamic range of each probe input's stimulus–response curve.

    Attributes:
        delta: ``Δ`` in dB summarised over inputs.
        per_input: ``Δ`` of each probe input, shape ``(B,)``; 0 where the output never responds.
        stimuli: relative stimulus sizes ``S``, shape ``(n_stimuli,)``, increasing.
        response: response curves ``F_b(S)``, shape ``(B, n_stimuli)``, in ``[0, 1]``.
        s_low: ``S_0.1`` of each input, shape ``(B,)`` (NaN where the output never responds).
        s_high: ``S_0.9`` of each input, shape ``(B,)`` (NaN likewise).
        f_min: ``F_min`` of each input (response to the smallest stimulus), shape ``(B,)``.
        f_max: ``F_max`` of each input (largest response on the grid), shape ``(B,)``.
        response_kind: ``"units"`` or ``"tv"``.
        threshold: relative change above which an output unit counts as responding.
        n_dirs: random stimulus directions per input.
        seed: seed of the directions.
    """

    delta: Estimate
    per_input: np.ndarray
    stimuli: np.ndarray
    response: np.ndarray
    s_low: np.ndarray
    s_high: np.ndarray
    f_min: np.ndarray
    f_max: np.ndarray
    response_kind: str
    threshold: float
    n_dirs: int
    seed: int

    @property
    def mean_response(self) -> np.ndarray:
        """The response curve averaged over inputs, shape ``(n_stimuli,)`` (for plots)."""
        return self.response.mean(axis=0)

    def headline(self) -> Estimate:
        return self.delta

    def describe(self) -> str:
        d = self.delta.mean
        if d <= 0:
            return "the output does not respond to the stimuli on the grid (Δ = 0 dB)"
        return (
            f"Δ = {d:.1f} dB: the network's response spans stimuli over a factor "
            f"{10 ** (d / 10):.3g} in size (larger is closer to criticality)"
        )


@register_measure(
    "dynamic_range",
    result_type=DynamicRangeResult,
    critical_value=math.nan,
    summary="dynamic range Δ (dB) of the stimulus–response curve; maximal at criticality",
)
def dynamic_range(
    model_or_stages: ModelOrStages,
    inputs: torch.Tensor,
    *,
    response: Response = "units",
    threshold: float = 0.1,
    s_min: float = 1e-4,
    s_max: float = 10.0,
    n_stimuli: int = 41,
    n_dirs: int = 8,
    dtype: torch.dtype | None = None,
    seed: int = 0,
) -> DynamicRangeResult:
    """Dynamic range ``Δ = 10 log10(S_0.9 / S_0.1)`` in dB, per probe input.

    Args:
        model_or_stages: a model (split by :func:`criticality.stages`) or a list of stages.
        inputs: probe inputs, shape ``(B, ...)``; the model is run in ``eval()`` mode.
        response: ``"units"`` (fraction of output units changed beyond ``threshold``) or
            ``"tv"`` (total-variation distance of the softmax of the outputs; classifiers).
        threshold: a unit responds when its change exceeds this fraction of the per-unit RMS
            of its input's unperturbed output (``"units"`` only).
        s_min: smallest relative stimulus ``S``.
        s_max: largest relative stimulus ``S``.
        n_stimuli: points of the log grid from ``s_min`` to ``s_max``.
        n_dirs: random stimulus directions per input (the response is averaged over them).
        dtype: compute in this dtype; the model is copied, not changed.
        seed: seed of the directions.

    Returns:
        A :class:`DynamicRangeResult` holding the curves ``F_b(S)`` and ``Δ``.

    Raises:
        ValueError: bad inputs, an unknown ``response``, or a bad stimulus grid.
    """
    if response not in ("units", "tv"):
        raise ValueError(f"response must be 'units' or 'tv', got {response!r}")
    check_positive("threshold", threshold)
    check_positive("s_min", s_min)
    check_positive("s_max", s_max)
    check_count("n_stimuli", n_stimuli, 3)
    check_count("n_dirs", n_dirs)
    if s_max <= s_min:
        raise ValueError(f"need s_min < s_max, got {s_min} and {s_max}")
    stimuli = np.logspace(math.log10(s_min), math.log10(s_max), n_stimuli)
    with prepared(model_or_stages, inputs, dtype=dtype, measure="dynamic_range") as run:
        curves = response_curves(
            list(run.stages), run.inputs, stimuli, response, threshold, n_dirs, seed
        )
    bounds = np.array([half_points(stimuli, c) for c in curves])  # (B, 4)
    per_input = np.where(
        np.isfinite(bounds[:, 1]), 10.0 * np.log10(bounds[:, 1] / bounds[:, 0]), 0.0
    )
    return DynamicRangeResult(
        delta=Estimate.from_samples(per_input, seed=seed),
        per_input=per_input,
        stimuli=stimuli,
        response=curves,
        s_low=bounds[:, 0],
        s_high=bounds[:, 1],
        f_min=bounds[:, 2],
        f_max=bounds[:, 3],
        response_kind=response,
        threshold=float(threshold),
        n_dirs=n_dirs,
        seed=seed,
    )


def response_curves(
    stage_list: list[torch.nn.Module],
    x: torch.Tensor,
    stimuli: np.ndarray,
    kind: Response,
    threshold: float,
    n_dirs: int,
    seed: int,
) -> np.ndarray:
    """``F_b(S)`` averaged over ``n_dirs`` directions, shape ``(B, len(stimuli))``."""
    u = random_directions((x.shape[0], n_dirs), x.shape[1:], generator(seed, x), x)
    y = compose(stage_list, x)  # (B, ...')
    amps = torch.as_tensor(stimuli, dtype=x.dtype, device=x.device)
    outs = perturbed_outputs(stage_list, x, u, amps)  # (S, B, k, ...')
    base = y.unsqueeze(1).expand(-1, n_dirs, *y.shape[1:]).reshape(-1, *y.shape[1:])
    curves = [
        output_response(base, o.reshape(-1, *y.shape[1:]), kind, threshold)
        .reshape(x.shape[0], n_dirs)
        .mean(dim=1)
        for o in outs
    ]
    return torch.stack(curves, dim=1).double().cpu().numpy()


def half_points(stimuli: np.ndarray, curve: np.ndarray) -> tuple[float, float, float, float]:
    """``(S_0.1, S_0.9, F_min, F_max)`` of one response curve (shape ``(S,)``).

    The curve is replaced by its running maximum (responses are read as non-decreasing) and
    ``S_x`` is interpolated in ``log S``. Both ``S_x`` are NaN when ``F_max = F_min``.
    """
    f = np.maximum.accumulate(curve)
    f_min, f_max = float(f[0]), float(f[-1])
    if f_max - f_min <= 1e-12:
        return math.nan, math.nan, f_min, f_max
    log_s = np.log(stimuli)
    s_x = []
    for level in (0.1, 0.9):
        target = f_min + level * (f_max - f_min)
        i = int(np.argmax(f >= target))  # first grid point at or above the level
        lo = max(i - 1, 0)
        span = f[i] - f[lo]
        t = 0.0 if span <= 0 else (target - f[lo]) / span
        s_x.append(math.exp(log_s[lo] + t * (log_s[i] - log_s[lo])))
    return s_x[0], s_x[1], f_min, f_max
