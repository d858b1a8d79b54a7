"""The family-aware rule of claim M1 on the trained zoo (docs/report.md, stated before the run).

The trained zoo's networks come in families; a network that never left chance tells which
architectures start learning under the budget, not where trained networks sit. So every
interval here resamples *families* (:func:`criticality.stats.cluster_spearman`) and a verdict of
*supported* needs the learned-only sensitivity (networks at or above :data:`FLOOR` % test
accuracy) to agree. Beside the verdict, and not part of it: the pair bootstrap's interval, the
within-family relation, the partial ρ given parameter count and depth, and the power at the
number of families.

This module holds the rule and its typed result; each interval is read by the shared rule of
:mod:`criticality.reporting.verdicts` (families as the replicates), and the family-aware rule
adds what is particular to M1: at least 3 families and the learned-only agreement.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from criticality.numbers import fmt, fmt_ci
from criticality.reporting.verdicts import (
    INCONCLUSIVE,
    SUPPORTED,
    Verdict,
    judge_interval,
)
from criticality.stats import (
    Array,
    ClusteredMean,
    ClusteredSpearman,
    cluster_mean,
    cluster_spearman,
    detectable_correlation,
    partial_spearman,
    spearman,
    within_cluster_spearman,
)

#: Test accuracy (%) at or above which a network counts as having learned (10 classes).
FLOOR = 50.0
#: Families needed for any verdict but *inconclusive*.
MIN_FAMILIES = 3
SCHEMA = 1


@dataclasses.dataclass(frozen=True)
class M1Test:
    """One M1 question under the family-aware rule.

    Attributes:
        x: the predictor's name (e.g. ``"|λ_1|"``).
        y: the response's name (e.g. ``"accuracy"``).
        headline: ρ(x, y) over the networks, family-resampled interval.
        learned: the same among the networks at or above ``floor`` accuracy.
        pairs: the pair bootstrap's interval of the headline (for comparison), as a dict.
        within: the within-family relation (NaN when y or x is constant inside families).
        partial: ρ(x, y) given parameter count and depth (family-resampled interval).
        n_families: families among the networks.
        n_learned: networks at or above the floor.
        n_learned_families: families among them.
        detectable_rho: the |ρ| detectable with ``n_families`` observations (α = 0.05,
            power 0.8).
        floor: the accuracy floor (%).
        direction: the claimed sign of ρ (−1: larger x, smaller y).
        verdict: ``supported`` / ``not supported`` / ``inconclusive``.
        reason: the verdict's reason in words.
    """

    x: str
    y: str
    headline: ClusteredSpearman
    learned: ClusteredSpearman
    pairs: dict[str, Any]
    within: ClusteredSpearman
    partial: ClusteredSpearman
    n_families: int
    n_learned: int
    n_learned_families: int
    detectable_rho: float
    floor: float
    direction: int
    verdict: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["schema"] = SCHEMA
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> M1Test:
        if data.get("schema") != SCHEMA:
            raise ValueError(
                f"M1 test of schema {data.get('schema')!r}, this version reads schema {SCHEMA}; "
                "re-render from the store with this version (criticality report OUT)"
            )
        kw = {f.name: data[f.name] for f in dataclasses.fields(cls)}
        for key in ("headline", "learned", "within", "partial"):
            kw[key] = ClusteredSpearman.from_dict(data[key])
        return cls(**kw)


def family_verdict(
    headline: ClusteredSpearman, learned: ClusteredSpearman, *, direction: Literal[1, -1] = -1
) -> Verdict:
    """The rule of docs/report.md, a :class:`~criticality.reporting.verdicts.Verdict` (the word,
    with its reason). Each interval is read by the shared rule
    (:func:`~criticality.reporting.verdicts.judge_interval`, families as the replicates); the
    family-aware rule adds the learned-only agreement."""
    if headline.n_clusters < MIN_FAMILIES or math.isnan(headline.rho):
        note = f"; {headline.note}" if headline.note else ""
        return Verdict(
            INCONCLUSIVE, f"{headline.n_clusters} families (the rule needs ≥ {MIN_FAMILIES}){note}"
        )
    head = judge_interval(
        headline.ci_low, headline.ci_high, direction=direction, replicates=headline.n_clusters
    )
    if head == INCONCLUSIVE:
        return Verdict(INCONCLUSIVE, head.reason or "the family-resampled interval contains 0")
    if learned.n_clusters < MIN_FAMILIES or math.isnan(learned.rho):
        return Verdict(INCONCLUSIVE, (
            f"only {learned.n} networks in {learned.n_clusters} families reach the "
            f"{FLOOR:g} % floor: the learned-only sensitivity cannot be read, so networks that "
            "did not learn may carry the headline"
        ))  # fmt: skip
    sens = judge_interval(
        learned.ci_low, learned.ci_high, direction=direction, replicates=learned.n_clusters
    )
    if sens != head:
        return Verdict(INCONCLUSIVE, (
            "the headline interval excludes 0 but the learned-only one "
            f"({fmt_ci(learned.rho, learned.ci_low, learned.ci_high, 'corr')}, "
            f"n = {learned.n}) does not agree: the networks below the {FLOOR:g} % floor carry it"
        ))  # fmt: skip
    side = "the claimed side" if head == SUPPORTED else "the other side"
    return Verdict(str(head), (
        f"the family-resampled interval excludes 0 on {side}, and so does the learned-only "
        "sensitivity"
    ))  # fmt: skip


def m1_test(
    x: Array,
    y: Array,
    families: Sequence[str],
    accuracy: Array,
    params: Array,
    depth: Array,
    *,
    x_name: str,
    y_name: str,
    direction: Literal[1, -1] = -1,
    floor: float = FLOOR,
    seed: int = 0,
) -> M1Test:
    """Every statistic of one M1 question over networks (one value each; ``accuracy`` decides
    who is above the floor) and its verdict."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    acc = np.asarray(accuracy, dtype=float)
    fams = list(families)
    head = cluster_spearman(xs, ys, fams, seed=seed)
    keep = acc >= floor
    learned = cluster_spearman(xs[keep], ys[keep], [f for f, k in zip(fams, keep, strict=True)
                                                     if k], seed=seed)  # fmt: skip
    pairs = dataclasses.asdict(spearman(xs, ys, seed=seed))
    within = within_cluster_spearman(xs, ys, fams, seed=seed)
    partial = partial_spearman(xs, ys, [params, depth], clusters=fams, seed=seed)
    n_fam = len(set(fams))
    verdict = family_verdict(head, learned, direction=direction)
    reason = verdict.reason
    return M1Test(
        x_name, y_name, head, learned, pairs, within, partial, n_fam, int(keep.sum()),
        learned.n_clusters, detectable_correlation(n_fam), floor, direction, verdict, reason,
    )  # fmt: skip


def m1_rows(test: M1Test) -> list[dict[str, Any]]:
    """The table beside the verdict: one row per statistic."""

    def row(label: str, r: ClusteredSpearman | dict[str, Any], interval: str) -> dict[str, Any]:
        d = r if isinstance(r, dict) else dataclasses.asdict(r)
        fams = d.get("n_clusters")
        return {"statistic": label, "ρ": d["rho"], "95 % CI": _ci(d), "interval": interval,
                "n": str(d["n"]), "families": "–" if fams is None else str(fams)}  # fmt: skip

    return [
        row(f"ρ({test.y}, {test.x}), all networks", test.headline, "families resampled"),
        row("the same", test.pairs, "networks resampled (ignores families)"),
        row(f"networks at ≥ {test.floor:g} % accuracy", test.learned, "families resampled"),
        row("within families", test.within, "families resampled"),
        row("given parameter count and depth", test.partial, "families resampled"),
    ]


def diff_text(mean: float, low: float, high: float) -> str:
    """A difference with its interval, or alone where the interval is undefined."""
    if math.isnan(low) or math.isnan(high):
        return f"{fmt(mean, 'diff')} (no interval: too few families)"
    return fmt_ci(mean, low, high, "diff")


def _ci(d: dict[str, Any]) -> str:
    if math.isnan(d["ci_low"]):
        return "–"
    return f"[{fmt(d['ci_low'], 'corr')}, {fmt(d['ci_high'], 'corr')}]"


def m1_sentence(test: M1Test) -> str:
    """The verdict with the numbers a reader needs, in words."""
    h, lr, w = test.headline, test.learned, test.within
    if math.isnan(h.rho):
        return f"ρ({test.y}, {test.x}): too few networks (n = {h.n}). Verdict: {test.verdict}."
    text = (
        f"ρ({test.y}, {test.x}) = {fmt_ci(h.rho, h.ci_low, h.ci_high, 'corr')} over {h.n} "
        f"networks in {h.n_clusters} families (95 % interval resampling families)"
    )
    if not math.isnan(lr.rho):
        text += (
            f"; among the {lr.n} networks at ≥ {test.floor:g} % accuracy "
            f"({lr.n_clusters} families) ρ = {fmt_ci(lr.rho, lr.ci_low, lr.ci_high, 'corr')}"
        )
    else:
        text += f"; {lr.n} networks reach {test.floor:g} % accuracy (too few to read)"
    if not math.isnan(w.rho):
        text += f"; within families ρ = {fmt_ci(w.rho, w.ci_low, w.ci_high, 'corr')}"
    text += (
        f". With {test.n_families} families the study detects |ρ| ≥ "
        f"{fmt(test.detectable_rho, 'corr')} (α = 0.05, power 0.8). Verdict: {test.verdict} "
        f"({test.reason})."
    )
    return text


@dataclasses.dataclass(frozen=True)
class Intervention:
    """The intervention arm: the critical start (``self_organise`` before training) against the
    default initialisation, paired by network and seed.

    Attributes:
        metric: what is compared (e.g. ``"final accuracy"``).
        diff: the mean of (critical start − default) over networks (each network's pairs
            averaged over seeds), with its family-resampled interval.
        n_pairs: network × seed pairs.
        verdict: ``supported`` (interval above 0), ``not supported`` (below 0), else
            ``inconclusive``; fewer than 3 families: ``inconclusive``.
    """

    metric: str
    diff: ClusteredMean
    n_pairs: int
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "diff": self.diff.to_dict(), "n_pairs": self.n_pairs,
                "verdict": self.verdict, "schema": SCHEMA}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Intervention:
        return cls(data["metric"], ClusteredMean.from_dict(data["diff"]), data["n_pairs"],
                   data["verdict"])  # fmt: skip


def intervention(
    metric: str, diffs: Array, families: Sequence[str], n_pairs: int, *, seed: int = 0
) -> Intervention:
    """The paired difference per network (critical start − default) with its interval."""
    d = cluster_mean(diffs, families, seed=seed)
    verdict = judge_interval(d.ci_low, d.ci_high, direction=1, replicates=d.n_clusters)
    return Intervention(metric, d, n_pairs, str(verdict))
