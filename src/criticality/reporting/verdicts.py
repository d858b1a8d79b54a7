"""The one rule that turns an interval into a verdict, and the statistics in words that several
experiments share (Spearman and Wilcoxon verdicts, ``ρ = … [… , …], n = …``).

The rule (:func:`judge_interval`), in order:

1. *inconclusive* when the evidence is too thin to call: fewer than :data:`MIN_REPLICATES`
   distinct replicates (seeds, models, pairs), learners that never left chance, an interval that
   is not finite, or an interval of zero width (identical replicates, e.g. a seed run twice);
2. *supported* when the interval excludes 0 on the claimed side (``direction``);
3. *not supported* when it excludes 0 on the other side, or lies inside ``±margin`` (no effect
   as large as the margin);
4. *inconclusive* otherwise (it contains 0 and reaches beyond the margin).

A verdict is a :class:`Verdict`: a ``str`` (``"supported"`` …, so it compares, prints and
serialises as the word) that also carries the reason in words; a scorecard row whose verdict
carries a reason shows it (:class:`~criticality.reporting.scorecard.ScoreRow`).

>>> judge_interval(0.01, 0.03, replicates=5)
'supported'
>>> v = judge_interval(-0.5, -0.5, direction=-1, replicates=[0, 1])
>>> v, v.reason
('inconclusive', 'only 2 distinct replicates (at least 3 are needed to call it)')
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, Literal

from criticality.numbers import fmt_ci

SUPPORTED = "supported"
INCONCLUSIVE = "inconclusive"
NOT_SUPPORTED = "not supported"
NOT_TESTABLE = "not testable here"

#: The fewest distinct replicates on which a verdict other than *inconclusive* is given.
MIN_REPLICATES = 3
#: How far above chance (in accuracy, absolute) a learner must get to count as having learned.
CHANCE_MARGIN = 0.05


class Verdict(str):
    """A verdict word (``"supported"``, ``"inconclusive"``, …) with the reason in words.

    It is the word as a ``str`` (``Verdict("supported") == "supported"``); ``reason`` says why
    (empty when the interval alone decided).

    >>> v = Verdict(INCONCLUSIVE, "the interval has zero width")
    >>> v == "inconclusive", v.reason
    (True, 'the interval has zero width')
    """

    reason: str

    def __new__(cls, word: str, reason: str = "") -> Verdict:
        self = super().__new__(cls, word)
        self.reason = reason
        return self

    def __reduce__(self) -> tuple[Any, ...]:  # pickles (Ray) with its reason
        return (Verdict, (str(self), self.reason))


def distinct(replicates: int | Iterable[Hashable]) -> int:
    """How many distinct replicates: an ``int`` is taken as the count; a sequence of seeds (or
    other keys) counts each value once.

    >>> distinct([0, 0, 1]), distinct(4)
    (2, 4)
    """
    if isinstance(replicates, bool):
        raise TypeError("replicates must be a count or the replicates' keys, not a bool")
    if isinstance(replicates, int):
        return replicates
    return len(set(replicates))


def thin_evidence(
    low: float,
    high: float,
    *,
    replicates: int | Iterable[Hashable] | None = None,
    learned: bool = True,
) -> str:
    """Why an interval is too thin to call, in words (``""``: it is not).

    >>> thin_evidence(0.1, 0.1)
    'the interval has zero width (identical replicates, e.g. a seed run twice)'
    >>> thin_evidence(0.1, 0.2, learned=False)
    'the learners never left chance'
    """
    if replicates is not None and (n := distinct(replicates)) < MIN_REPLICATES:
        plural = "s" if n != 1 else ""
        need = f"at least {MIN_REPLICATES} are needed to call it"
        return f"only {n} distinct replicate{plural} ({need})"
    if not learned:
        return "the learners never left chance"
    if not (math.isfinite(low) and math.isfinite(high)):
        return "the interval could not be computed (too few values)"
    if high - low <= 1e-12 * max(1.0, abs(low), abs(high)):
        return "the interval has zero width (identical replicates, e.g. a seed run twice)"
    return ""


def judge_interval(
    low: float,
    high: float,
    *,
    direction: Literal[1, -1] = 1,
    margin: float = 0.0,
    replicates: int | Iterable[Hashable] | None = None,
    learned: bool = True,
) -> Verdict:
    """The verdict on "the effect goes in ``direction``" from its 95 % interval (module rule).

    Args:
        low, high: the interval's ends.
        direction: ``1``: the claim is that the effect is positive; ``-1``: negative.
        margin: an interval inside ``±margin`` reads *not supported* (no effect that large).
        replicates: the number of independent replicates behind the interval, or their keys
            (duplicates count once); ``None``: the caller has checked it.
        learned: ``False`` when the networks never left chance (see :func:`left_chance`).

    >>> judge_interval(-0.03, -0.01, replicates=3), judge_interval(-1, 1, replicates=3)
    ('not supported', 'inconclusive')
    >>> judge_interval(-0.002, 0.003, margin=0.005)
    'not supported'
    """
    if reason := thin_evidence(low, high, replicates=replicates, learned=learned):
        return Verdict(INCONCLUSIVE, reason)
    lo, hi = sorted((direction * low, direction * high))
    if lo > 0:
        return Verdict(SUPPORTED)
    if hi < 0:
        return Verdict(NOT_SUPPORTED)
    if margin > 0 and -margin <= lo and hi <= margin:
        return Verdict(NOT_SUPPORTED, f"the interval lies within ±{margin:g}")
    return Verdict(INCONCLUSIVE)


def interval_verdict(
    low: float,
    high: float,
    *,
    direction: Literal[1, -1] = 1,
    margin: float = 0.0,
    replicates: int | Iterable[Hashable] | None = None,
    learned: bool = True,
) -> str:
    """The same as :func:`judge_interval` (its older name; typed ``str``, still a
    :class:`Verdict`).

    >>> interval_verdict(0.01, 0.03), interval_verdict(-0.03, -0.01), interval_verdict(-1, 1)
    ('supported', 'not supported', 'inconclusive')
    """
    return judge_interval(
        low, high, direction=direction, margin=margin, replicates=replicates, learned=learned
    )


def left_chance(accuracy: float, chance: float, *, margin: float = CHANCE_MARGIN) -> bool:
    """Whether a learner left chance: its accuracy at least ``chance + margin``.

    >>> left_chance(0.13, 0.1), left_chance(0.9, 0.1)
    (False, True)
    """
    if not 0.0 <= chance < 1.0:
        raise ValueError(f"chance must be an accuracy in [0, 1), got {chance}")
    return bool(accuracy >= chance + margin)


def combine(verdicts: Iterable[str]) -> str:
    """One verdict from several tests of the same claim.

    Rule: all *supported* → supported; none supported and at least one *not supported* → not
    supported; all *not testable* (or none) → not testable; anything else → inconclusive (with
    the reasons of its inconclusive parts).

    >>> combine(["supported", "inconclusive"]), combine(["not supported", "inconclusive"])
    ('inconclusive', 'not supported')
    """
    found = [v for v in verdicts if v != NOT_TESTABLE]
    if not found:
        return Verdict(NOT_TESTABLE)
    if all(v == SUPPORTED for v in found):
        return Verdict(SUPPORTED)
    if SUPPORTED not in found and NOT_SUPPORTED in found:
        return Verdict(NOT_SUPPORTED)
    reasons = dict.fromkeys(getattr(v, "reason", "") for v in found if v == INCONCLUSIVE)
    return Verdict(INCONCLUSIVE, "; ".join(r for r in reasons if r))


# ---- statistics in words shared by several experiments ----------------------------------------


def wilcoxon_verdict(test: Mapping[str, Any]) -> str:
    """Rule for "closer to criticality after training" from a Wilcoxon signed-rank test of
    |λ_1| (after − before): *inconclusive* with fewer than :data:`MIN_REPLICATES` pairs or
    p ≥ 0.05; else *supported* when the median difference is negative, *not supported* when it
    is positive.

    >>> wilcoxon_verdict({"p_value": 0.01, "median_diff": -0.2, "n": 12})
    'supported'
    >>> wilcoxon_verdict({"p_value": 0.01, "median_diff": -0.2, "n": 2}).reason
    'only 2 distinct replicates (at least 3 are needed to call it)'
    """
    n = int(test.get("n", MIN_REPLICATES))
    if n < MIN_REPLICATES:
        return Verdict(INCONCLUSIVE, thin_evidence(0.0, 1.0, replicates=n))
    p, d = test["p_value"], test["median_diff"]
    if not (p < 0.05):
        return Verdict(INCONCLUSIVE, "p ≥ 0.05")
    return Verdict(SUPPORTED if d < 0 else NOT_SUPPORTED)


def spearman_verdict(row: Mapping[str, Any]) -> str:
    """Rule for "more accurate (or newer) networks sit closer to criticality", ρ of the
    accuracy (or year) against |λ_1|: :func:`judge_interval` of its 95 % bootstrap interval in
    the negative direction, with ``n`` models as the replicates.

    >>> spearman_verdict({"rho": -0.6, "ci_low": -0.9, "ci_high": -0.2, "n": 11})
    'supported'
    """
    if math.isnan(row["rho"]):
        return Verdict(NOT_TESTABLE, "too few values for a rank correlation")
    return judge_interval(row["ci_low"], row["ci_high"], direction=-1, replicates=row.get("n"))


def rho_text(row: Mapping[str, Any]) -> str:
    """E.g. ``"ρ = −0.42 [−0.93, +0.40], n = 11"``.

    >>> rho_text({"rho": -0.42, "ci_low": -0.93, "ci_high": 0.40, "n": 11})
    'ρ = −0.42 [−0.93, +0.40], n = 11'
    """
    if math.isnan(row["rho"]):
        return f"too few models for a rank correlation (n = {row['n']})"
    return f"ρ = {fmt_ci(row['rho'], row['ci_low'], row['ci_high'], 'corr')}, n = {row['n']}"


def reasons(verdicts: Sequence[str]) -> str:
    """The reasons carried by ``verdicts``, once each, joined (``""``: none)."""
    found = dict.fromkeys(getattr(v, "reason", "") for v in verdicts)
    return "; ".join(r for r in found if r)
