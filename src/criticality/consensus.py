"""Which measures call a model ordered, critical or chaotic, and why two of them can disagree.

Each measure of a :class:`~criticality.CriticalityReport` gets a *call* by a stated rule
(:data:`CALL_RULES`, one function per measure; adding a measure's rule is one entry):

* ``lyapunov`` (λ_1), ``ftle`` and ``branching`` (ln σ): ``critical`` within ±0.05 nats per
  stage of 0 (:data:`~criticality.measures.words.CRITICAL_BAND`), else the sign decides.
* ``susceptibility`` (peak gain g*): ``critical`` within ±0.05 of ln g* = 0; g* > 1 means the
  weights would have to grow to reach the peak (``ordered``), g* < 1 shrink (``chaotic``). A peak
  at the edge of the gain grid is a *bound* (the true peak lies beyond the grid), still a
  direction; a curve with no peak to speak of (a maximum within two standard errors, of a
  variance over the inputs, of the median: :func:`flat_chi`; zero at all but one or two gains;
  or a bootstrap interval that spans most of the grid) gets ``no call``.
* ``avalanches`` (τ_S): ``no call`` unless power laws are supported; then ``critical`` within
  ±0.2 of 3/2, ``ordered`` above (steeper: small avalanches), ``chaotic`` below.
* ``dynamic_range`` and ``weight_alpha``: ``no call``: Δ is maximal *at* criticality and has no
  sign, so one network's Δ cannot say on which side it is; α describes weights, not dynamics.

The consensus is the set of calls; the measures *agree* when every measure that makes a call
makes the same one. When they do not, :data:`WHY` explains each disagreeing pair, and a
degenerate stage (``ln g`` at the floating-point floor: a zero-initialised classifier head
annihilates every perturbation) is named with λ_1 of the stages before it.

>>> from criticality import measure
>>> from criticality.zoo import mlp
>>> import torch
>>> c = consensus(measure(mlp(depth=6, width=32, sigma_w=0.5), torch.randn(4, 32)))
>>> c.agree, c.call
(True, 'ordered')
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Literal

import numpy as np

from criticality.measures import (
    AvalancheResult,
    BranchingResult,
    FTLEResult,
    LyapunovResult,
    SusceptibilityResult,
)
from criticality.measures.results import Result
from criticality.measures.words import CRITICAL_BAND, regime
from criticality.numbers import Kind, fmt, fmt_bound, fmt_ci
from criticality.report import CriticalityReport

#: A stage whose ``ln g`` is below this annihilates perturbations (a factor below ``e^-50`` ≈
#: ``2e-22``: zero within floating-point precision; float32's floor is ln(1.2e-38) ≈ −87).
DEGENERATE_LOG_GAIN = -50.0
#: ``|τ_S − 3/2|`` within which power-law avalanches count as critical.
AVALANCHE_BAND = 0.2
#: A peak whose bootstrap 95 % interval covers more than this fraction of the grid (in ln g) is
#: not located.
WIDE_PEAK = 0.75

CALLS = ("ordered", "critical", "chaotic")


def flat_chi(n_inputs: int) -> float:
    """χ(g) has no peak when its maximum is below this multiple of its median: ``1 + 2 s``, with
    ``s = √(2 / (B − 1))`` the relative standard error of a variance over ``B`` inputs (χ is
    one), so that a peak must stand out from the sampling noise by two standard errors."""
    return 1.0 + 2.0 * math.sqrt(2.0 / max(n_inputs - 1, 1))


@dataclasses.dataclass(frozen=True)
class MeasureCall:
    """One measure's call.

    Attributes:
        measure: registry name of the measure.
        symbol: its headline symbol (``"λ_1"``, ``"σ"``, ``"g*"``, ...).
        call: ``"ordered"``, ``"critical"``, ``"chaotic"`` or ``"no call"``.
        value: the headline value, formatted; a bound reads ``"≥ 2.00 (the grid’s edge)"``.
        rule: why this call, in words.
        bound: the value is at the edge of a search grid (the true value lies beyond it).
        short: a table cell for where the value alone would mislead (``"no peak"``,
            ``"≥ 2.00 (edge)"``); empty otherwise.
    """

    measure: str
    symbol: str
    call: str
    value: str
    rule: str
    bound: bool = False
    short: str = ""


@dataclasses.dataclass(frozen=True)
class Consensus:
    """What the measures of one report say about its regime.

    Attributes:
        model: the model's name.
        calls: one :class:`MeasureCall` per measure, in the report's order.
        degenerate: names of stages whose ``ln g`` is at the floating-point floor.
        body_lambda: λ_1 over the stages before the first degenerate one (``None`` if none is
            degenerate or it is the first stage).
        explanations: why the disagreeing measures disagree, one sentence per reason.
    """

    model: str
    calls: tuple[MeasureCall, ...]
    degenerate: tuple[str, ...] = ()
    body_lambda: float | None = None
    explanations: tuple[str, ...] = ()

    @property
    def directional(self) -> tuple[MeasureCall, ...]:
        """The calls that name a regime (not ``"no call"``)."""
        return tuple(c for c in self.calls if c.call in CALLS)

    @property
    def agree(self) -> bool:
        """Every measure that makes a call makes the same one (vacuously true for 0 or 1)."""
        return len({c.call for c in self.directional}) <= 1

    @property
    def contradict(self) -> bool:
        """One measure calls it ordered and another chaotic (not just critical against a side)."""
        return {"ordered", "chaotic"} <= {c.call for c in self.directional}

    @property
    def call(self) -> str:
        """The common call when they agree, ``"disagree"`` otherwise, ``"no call"`` if none."""
        found = {c.call for c in self.directional}
        if not found:
            return "no call"
        return found.pop() if len(found) == 1 else "disagree"

    def summary(self) -> str:
        """The calls in a few words: ``"ordered"`` when all agree, else each group, e.g.
        ``"λ_1, σ ordered; g* chaotic"``."""
        if self.agree:
            return self.call
        groups: dict[str, list[str]] = {}
        for c in self.directional:
            groups.setdefault(c.call, []).append(c.symbol)
        return "; ".join(f"{', '.join(s)} {call}" for call, s in groups.items())

    def line(self) -> str:
        """The consensus in one sentence, e.g. "λ_1, FTLE and σ call vgg11 ordered; g* calls it
        chaotic (≤ 0.50, the grid's edge)."."""
        groups: dict[str, list[str]] = {}
        for c in self.directional:
            groups.setdefault(c.call, []).append(c.symbol + (f" ({c.value})" if c.bound else ""))
        if not groups:
            return f"No measure of {self.model} makes a call on its regime."
        parts = [
            f"{_join(s)} call{'s' if len(s) == 1 else ''} {{m}} {call}"
            for call, s in groups.items()
        ]
        text = "; ".join(p.format(m=self.model if i == 0 else "it") for i, p in enumerate(parts))
        silent = [c.symbol for c in self.calls if c.call not in CALLS]
        if silent:
            text += f" ({_join(silent)}: no call)"
        return (text[0].upper() + text[1:] if text[0].isascii() else text) + "."


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _log_gain_call(measure: str, symbol: str, value: float, text: str, what: str) -> MeasureCall:
    call = regime(value)
    rule = (
        f"{what} within ±{CRITICAL_BAND} of 0 is critical"
        if call == "critical"
        else f"{what} {'<' if value < 0 else '>'} 0: perturbations "
        f"{'shrink' if value < 0 else 'grow'}"
    )
    return MeasureCall(measure, symbol, call, text, rule)


def _lyapunov(r: Result) -> MeasureCall:
    assert isinstance(r, LyapunovResult)
    e = r.lambda_max
    return _log_gain_call(
        "lyapunov",
        "λ_1",
        e.mean,
        fmt_ci(e.mean, e.ci_low, e.ci_high, "exponent"),
        "the top exponent λ_1",
    )


def _ftle(r: Result) -> MeasureCall:
    assert isinstance(r, FTLEResult)
    e = r.value
    return _log_gain_call(
        "ftle",
        "FTLE",
        e.mean,
        fmt_ci(e.mean, e.ci_low, e.ci_high, "exponent"),
        "the input→output FTLE",
    )


def _branching(r: Result) -> MeasureCall:
    assert isinstance(r, BranchingResult)
    e = r.sigma
    log_sigma = math.log(e.mean) if e.mean > 0 else -math.inf
    return _log_gain_call(
        "branching", "σ", log_sigma, fmt_ci(e.mean, e.ci_low, e.ci_high, "ratio"), "ln σ"
    )


def _susceptibility(r: Result) -> MeasureCall:
    assert isinstance(r, SusceptibilityResult)
    e, gains, chi = r.peak_gain, np.asarray(r.gains), np.asarray(r.chi)
    g = e.mean
    top = int(np.argmax(chi))
    edge = top in (0, len(chi) - 1)
    finite = np.isfinite(chi)
    span = math.log(gains[-1] / gains[0])
    active = int((chi > 0).sum()) if finite.all() else 0
    if active < 3 or chi.max() < flat_chi(e.n) * float(np.median(chi)):
        what = (
            f"χ is 0 at {len(chi) - active} of {len(chi)} gains"
            if active < 3
            else f"χ(g) does not rise above its sampling noise over {e.n} inputs"
        )
        return MeasureCall(
            "susceptibility",
            "g*",
            "no call",
            fmt_ci(g, e.ci_low, e.ci_high, "ratio"),
            f"{what}: no peak to locate; the global gain barely changes how the response "
            "varies across inputs (as for ReLU networks without biases, whose relative "
            "response does not depend on the gain, or layers that normalise each input)",
            short="no peak",
        )
    if not edge and e.ci_low > 0 and math.log(e.ci_high / e.ci_low) > WIDE_PEAK * span:
        return MeasureCall(
            "susceptibility",
            "g*",
            "no call",
            fmt_ci(g, e.ci_low, e.ci_high, "ratio"),
            "the peak's 95 % interval spans most of the gain grid: not located",
            short="not located",
        )
    if edge:
        side: Literal["above", "below"] = "above" if top == len(chi) - 1 else "below"
        value = fmt_bound(float(gains[top]), side, "ratio")
        call = "ordered" if side == "above" else "chaotic"
        rule = (
            f"χ peaks at the grid's {'largest' if side == 'above' else 'smallest'} gain: "
            f"the true peak g* is {'≥' if side == 'above' else '≤'} it, so the weights "
            f"would have to {'grow' if side == 'above' else 'shrink'}"
        )
        short = ("≥ " if side == "above" else "≤ ") + fmt(float(gains[top]), "ratio") + " (edge)"
        return MeasureCall("susceptibility", "g*", call, value, rule, bound=True, short=short)
    call = regime(-math.log(g))  # g* > 1: the weights must grow to get there: ordered
    value = fmt_ci(g, e.ci_low, e.ci_high, "ratio")
    if call == "critical":
        return MeasureCall("susceptibility", "g*", call, value, "χ peaks at gain g* ≈ 1")
    grow = "grow" if g > 1 else "shrink"
    return MeasureCall(
        "susceptibility",
        "g*",
        call,
        value,
        f"χ peaks at g* {'>' if g > 1 else '<'} 1: the weights would have to "
        f"{grow} to reach the peak",
    )


def _avalanches(r: Result) -> MeasureCall:
    assert isinstance(r, AvalancheResult)
    fit = r.size_fit
    e = fit.exponent
    value = fmt_ci(e.mean, e.ci_low, e.ci_high, "ratio") if fit.n_tail else "no fit"
    if not fit.n_tail or not (fit.supported and r.duration_fit.supported):
        short = (value.split(" [")[0] + " (no power law)") if fit.n_tail else "no fit"
        why = "the avalanches do not follow power laws"
        return MeasureCall("avalanches", "τ_S", "no call", value, why, short=short)
    tau = e.mean
    if abs(tau - 1.5) <= AVALANCHE_BAND:
        return MeasureCall("avalanches", "τ_S", "critical", value, "power laws with τ_S ≈ 3/2")
    if tau > 1.5:
        rule = "τ_S > 3/2: large avalanches are rarer than at criticality"
        return MeasureCall("avalanches", "τ_S", "ordered", value, rule)
    rule = "τ_S < 3/2: large avalanches are more common than at criticality"
    return MeasureCall("avalanches", "τ_S", "chaotic", value, rule)


def _no_call(measure: str, symbol: str, kind: Kind, why: str) -> Callable[[Result], MeasureCall]:
    def rule(r: Result) -> MeasureCall:
        e = r.headline()
        return MeasureCall(
            measure, symbol, "no call", fmt_ci(e.mean, e.ci_low, e.ci_high, kind), why
        )

    return rule


#: measure name -> the rule that turns its result into a call.
CALL_RULES: dict[str, Callable[[Result], MeasureCall]] = {
    "lyapunov": _lyapunov,
    "ftle": _ftle,
    "branching": _branching,
    "susceptibility": _susceptibility,
    "avalanches": _avalanches,
    "dynamic_range": _no_call(
        "dynamic_range",
        "Δ",
        "db",
        "Δ is largest at criticality and has no sign: one network's Δ "
        "cannot say on which side it is",
    ),
    "weight_alpha": _no_call(
        "weight_alpha", "α", "ratio", "α describes the weight spectra, not the dynamics"
    ),
}

#: Why two measures can disagree (pair of measure names -> the reason in one sentence).
WHY: dict[frozenset[str], str] = {
    frozenset({"lyapunov", "susceptibility"}): (
        "λ_1 follows the most expanding direction of the network as it is, aligned stage by "
        "stage; the susceptibility multiplies every weight by one global gain g (which a deep "
        "network feels roughly as g to the power of its depth, and which leaves biases and "
        "normalisations alone) and finds where the response fluctuations across inputs peak"
    ),
    frozenset({"lyapunov", "branching"}): (
        "λ_1 follows the single most expanding direction; σ counts units pushed past a "
        "threshold by random directions, so a network that stretches a few directions and "
        "shrinks most others has λ_1 > ln σ"
    ),
    frozenset({"lyapunov", "ftle"}): (
        "λ_1 averages per-stage growth of a direction re-aligned at every stage; the FTLE is "
        "the growth of the best single input direction through the whole network, and the two "
        "differ when stages change the state's dimension or the best direction rotates"
    ),
    frozenset({"ftle", "branching"}): (
        "the FTLE takes the best input direction end to end; σ averages random directions "
        "stage by stage with finite perturbations"
    ),
    frozenset({"branching", "susceptibility"}): (
        "σ measures the network as it is; the susceptibility locates a peak under a global "
        "rescaling of the weights"
    ),
    frozenset({"ftle", "susceptibility"}): (
        "the FTLE measures the network as it is; the susceptibility locates a peak under a "
        "global rescaling of the weights"
    ),
    frozenset({"avalanches", "lyapunov"}): (
        "τ_S reads the distribution of finite cascades, which thresholds and the network's "
        "depth cut off; λ_1 is an infinitesimal growth rate"
    ),
}
_DEFAULT_WHY = "the two measures probe different aspects of the dynamics"


def consensus(report: CriticalityReport) -> Consensus:
    """The calls of every measure of ``report``, whether they agree, and why not."""
    calls = tuple(CALL_RULES[n](r) for n, r in report.results.items() if n in CALL_RULES)
    degenerate: tuple[str, ...] = ()
    body: float | None = None
    if "lyapunov" in report.results:
        lyap = report.lyapunov
        gains = np.array([e.mean for e in lyap.stage_log_gain])
        dead = np.flatnonzero(~(gains > DEGENERATE_LOG_GAIN))  # NaN counts as degenerate too
        degenerate = tuple(lyap.stage_names[i] for i in dead)
        if dead.size and dead[0] > 0:
            body = float(lyap.local[:, : dead[0], 0].mean())
    return Consensus(report.model, calls, degenerate, body, _explain(calls, degenerate, body))


def _explain(
    calls: tuple[MeasureCall, ...], degenerate: tuple[str, ...], body: float | None
) -> tuple[str, ...]:
    out = []
    if degenerate:
        text = (
            f"Stage {_join(list(degenerate))} annihilates perturbations (ln g at the "
            "floating-point floor, e.g. a zero-initialised classifier head), which pulls every "
            "end-to-end measure (λ_1, FTLE, σ) toward the floor"
        )
        if body is not None:
            text += (
                f"; the stages before it have λ_1 = {fmt(body, 'exponent')}. Measure the "
                "body alone with `measure(criticality.stages(model)[:-1], x)`"
            )
        out.append(text + ".")
    ordered = [c for c in calls if c.call == "ordered"]
    chaotic = [c for c in calls if c.call == "chaotic"]
    for a in ordered:  # a contradiction: each pair explained once
        for b in chaotic:
            why = WHY.get(frozenset({a.measure, b.measure}), _DEFAULT_WHY)
            out.append(f"{a.symbol} says ordered, {b.symbol} chaotic: {why}.")
    critical = [c.symbol for c in calls if c.call == "critical"]
    sides = [c.symbol for c in ordered + chaotic]
    if critical and sides and not (ordered and chaotic):
        side = "ordered" if ordered else "chaotic"
        out.append(
            f"{_join(critical)} {'calls' if len(critical) == 1 else 'call'} it critical and "
            f"{_join(sides)} {side}: they differ in degree, not in direction (a value within "
            f"±{CRITICAL_BAND} of critical counts as critical)."
        )
    return tuple(out)
