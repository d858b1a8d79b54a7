"""Consensus of the measures on constructed reports: all agree, λ_1 against the susceptibility,
a peak at the gain grid's edge, a flat susceptibility, a degenerate stage."""

from __future__ import annotations

import numpy as np
import pytest

from criticality.consensus import consensus
from criticality.measures import (
    BranchingResult,
    Estimate,
    FTLEResult,
    LyapunovResult,
    SusceptibilityResult,
)
from criticality.report import CriticalityReport

STAGES = ("stem", "block1", "block2", "head")


def est(mean: float, half: float = 0.01) -> Estimate:
    return Estimate(mean, mean, half, mean - half, mean + half, 4)


def lyapunov(gains: list[float]) -> LyapunovResult:
    """A result whose stage log-gains are ``gains`` for every input (λ_1 their mean)."""
    local = np.tile(np.asarray(gains, dtype=float)[None, :, None], (4, 1, 1))  # (B, L, 1)
    lam = float(np.mean(gains))
    return LyapunovResult(
        exponents=np.array([lam]),
        per_input=np.full((4, 1), lam),
        local=local,
        lambda_max=est(lam),
        stage_log_gain=tuple(est(g) for g in gains),
        stage_names=STAGES,
        stage_dims=(8, 8, 8, 2),
        k=1,
        norm="l2",
        seed=0,
    )


def ftle(value: float) -> FTLEResult:
    return FTLEResult(
        est(value), np.full(4, value), np.full(4, np.exp(value)), 4, "power", 5, 0.0, "l2"
    )


def branching(sigma: float) -> BranchingResult:
    z = np.zeros((4, 4))
    return BranchingResult(
        est(sigma),
        est(sigma),
        np.full(4, sigma),
        np.full(4, sigma),
        z,
        z,
        z,
        z,
        STAGES,
        0.01,
        1.0,
        2,
        0,
    )


def susceptibility(
    chi: list[float], peak: float, ci: tuple[float, float] | None = None, n: int = 4
) -> SusceptibilityResult:
    gains = np.exp(np.linspace(np.log(0.5), np.log(2.0), len(chi)))
    lo, hi = ci or (peak * 0.97, peak * 1.03)
    e = Estimate(peak, peak, 0.01, lo, hi, n)
    return SusceptibilityResult(
        e, gains, np.asarray(chi, dtype=float), np.zeros((len(chi), n)),
        float(chi[len(chi) // 2]), 10, 0.01, 2, 0,
    )  # fmt: skip


def report(**results: object) -> CriticalityReport:
    return CriticalityReport("net", STAGES, dict(results), {})  # type: ignore[arg-type]


PEAKED = [0.1, 0.3, 1.0, 3.0, 1.0, 0.3, 0.1]  # χ peaks in the middle of the grid, at g = 1


def test_all_measures_agree_on_an_ordered_network() -> None:
    chi = [0.1, 0.2, 0.3, 0.5, 1.0, 3.0, 1.0]  # peak at g ≈ 1.59 > 1: ordered side
    g = float(np.exp(np.linspace(np.log(0.5), np.log(2.0), 7))[5])
    c = consensus(
        report(
            lyapunov=lyapunov([-0.3, -0.2, -0.25, -0.25]),
            ftle=ftle(-0.2),
            branching=branching(0.8),
            susceptibility=susceptibility(chi, g),
        )
    )
    assert c.agree and not c.contradict and c.call == "ordered"
    assert {x.call for x in c.calls} == {"ordered"}
    assert c.explanations == ()
    assert c.line().startswith("λ_1, FTLE, σ and g* call net ordered")


def test_lyapunov_against_susceptibility_is_explained() -> None:
    chi = [0.1, 3.0, 1.0, 0.5, 0.3, 0.2, 0.1]  # a peak at g ≈ 0.63 < 1: chaotic side
    g = float(np.exp(np.linspace(np.log(0.5), np.log(2.0), 7))[1])
    c = consensus(report(lyapunov=lyapunov([-0.2] * 4), susceptibility=susceptibility(chi, g)))
    assert not c.agree and c.contradict and c.call == "disagree"
    calls = {x.measure: x.call for x in c.calls}
    assert calls == {"lyapunov": "ordered", "susceptibility": "chaotic"}
    (why,) = c.explanations
    assert why.startswith("λ_1 says ordered, g* chaotic: ")
    assert "global gain" in why and "most expanding direction" in why
    assert "g* calls it chaotic" in c.line()


def test_a_peak_at_the_grid_edge_is_a_bound() -> None:
    chi = [0.1, 0.1, 0.2, 0.3, 0.5, 1.0, 3.0]  # still rising at g = 2.0
    c = consensus(report(lyapunov=lyapunov([-0.2] * 4), susceptibility=susceptibility(chi, 2.0)))
    s = next(x for x in c.calls if x.measure == "susceptibility")
    assert s.bound and s.call == "ordered"
    assert s.value == "≥ 2.00 (the grid’s edge)"
    assert "true peak g* is ≥" in s.rule
    assert c.agree and "(≥ 2.00 (the grid’s edge))" in c.line()
    low = consensus(report(susceptibility=susceptibility(chi[::-1], 0.5))).calls[0]
    assert low.bound and low.call == "chaotic" and low.value.startswith("≤ 0.500")


@pytest.mark.parametrize(
    ("chi", "ci"),
    [
        ([1.0, 1.1, 1.0, 1.05, 1.0, 1.1, 1.0], None),  # flat: no peak to speak of
        ([0, 0, 0, 0, 0, 0, 0.01], None),  # zero but at the edge (ResNet-18 at random init)
        (PEAKED, (0.52, 1.9)),  # a peak whose bootstrap interval spans the grid
    ],
)
def test_no_call_without_a_located_peak(chi: list[float], ci: tuple[float, float] | None) -> None:
    c = consensus(
        report(lyapunov=lyapunov([-0.2] * 4), susceptibility=susceptibility(chi, 1.0, ci))
    )
    s = next(x for x in c.calls if x.measure == "susceptibility")
    assert s.call == "no call"
    assert c.agree and c.call == "ordered" and "(g*: no call)" in c.line()


def test_critical_against_one_side_differs_in_degree_only() -> None:
    c = consensus(report(lyapunov=lyapunov([-0.3] * 4), ftle=ftle(0.01)))
    assert not c.agree and not c.contradict
    assert "FTLE calls it critical and λ_1 ordered: they differ in degree" in c.explanations[0]


def test_a_degenerate_head_is_named_with_the_body_exponent() -> None:
    floor = float(np.log(np.finfo(np.float32).tiny))  # ≈ −87.3, where float32 clamps ln 0
    c = consensus(report(lyapunov=lyapunov([0.1, -0.1, 0.06, floor])))
    assert c.degenerate == ("head",)
    assert c.body_lambda == pytest.approx((0.1 - 0.1 + 0.06) / 3)
    (why,) = c.explanations
    assert why.startswith("Stage head annihilates perturbations")
    assert "λ_1 = +0.020" in why and "criticality.stages(model)[:-1]" in why
    assert consensus(report(lyapunov=lyapunov([-0.1, float("-inf")]))).degenerate == ("block1",)


def test_a_peak_must_stand_out_from_the_noise_of_a_variance() -> None:
    """MobileNet-V3-small at random init, 4 inputs: χ falls from 3.1 to 0.5 across the grid, but
    a variance over 4 inputs has a relative standard error of 0.82: no call. The same curve
    measured over 40 inputs is a peak at the grid's lower edge."""
    chi = [3.14, 2.95, 3.13, 1.88, 2.27, 2.21, 1.55, 0.62, 0.79, 0.91, 0.74, 1.14, 0.46]
    few = consensus(report(susceptibility=susceptibility(chi, 0.5, (0.5, 0.92)))).calls[0]
    assert few.call == "no call" and "sampling noise over 4 inputs" in few.rule
    many = consensus(report(susceptibility=susceptibility(chi, 0.5, (0.5, 0.92), n=40))).calls[0]
    assert many.call == "chaotic" and many.bound
