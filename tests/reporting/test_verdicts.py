"""The one interval -> verdict rule, on intervals whose verdict is known by construction."""

from __future__ import annotations

import pickle

import pytest

from criticality.reporting.scorecard import ScoreRow
from criticality.reporting.verdicts import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    NOT_TESTABLE,
    SUPPORTED,
    Verdict,
    combine,
    judge_interval,
    left_chance,
    spearman_verdict,
    wilcoxon_verdict,
)


@pytest.mark.parametrize(
    ("low", "high", "direction", "margin", "expected"),
    [
        (0.1, 0.3, 1, 0.0, SUPPORTED),
        (-0.3, -0.1, -1, 0.0, SUPPORTED),
        (0.1, 0.3, -1, 0.0, NOT_SUPPORTED),
        (-0.3, -0.1, 1, 0.0, NOT_SUPPORTED),
        (-0.1, 0.3, 1, 0.0, INCONCLUSIVE),
        (-0.004, 0.004, 1, 0.005, NOT_SUPPORTED),  # no effect as large as the margin
        (-0.004, 0.006, 1, 0.005, INCONCLUSIVE),  # reaches beyond the margin
        (0.0, 0.3, 1, 0.0, INCONCLUSIVE),  # touches 0: does not exclude it
    ],
)
def test_interval_rule(
    low: float, high: float, direction: int, margin: float, expected: str
) -> None:
    v = judge_interval(low, high, direction=direction, margin=margin, replicates=5)  # type: ignore[arg-type]
    assert v == expected
    assert isinstance(v, Verdict) and isinstance(v, str)


def test_thin_evidence_is_inconclusive_with_its_reason() -> None:
    # the continual tiny preset's case: ρ = −0.50 [−0.50, −0.50] over 2 seeds
    v = judge_interval(-0.5, -0.5, direction=-1, replicates=2)
    assert v == INCONCLUSIVE and v.reason.startswith("only 2 distinct replicates")
    # duplicate seeds count once: [0, 0, 1] is two replicates
    assert judge_interval(0.1, 0.3, replicates=[0, 0, 1]).reason.startswith("only 2 distinct")
    assert judge_interval(0.1, 0.3, replicates=[0, 1, 2]) == SUPPORTED
    zero = judge_interval(-0.5, -0.5, direction=-1, replicates=3)
    assert zero == INCONCLUSIVE and "zero width" in zero.reason
    chance = judge_interval(0.1, 0.3, replicates=5, learned=False)
    assert chance == INCONCLUSIVE and chance.reason == "the learners never left chance"
    nan = judge_interval(float("nan"), 0.3, replicates=5)
    assert nan == INCONCLUSIVE and "could not be computed" in nan.reason
    with pytest.raises(TypeError, match="count"):
        judge_interval(0.1, 0.3, replicates=True)


def test_left_chance() -> None:
    assert not left_chance(0.13, 0.1)  # the continual tiny preset: 0.13 on ten classes
    assert left_chance(0.16, 0.1) and left_chance(0.9, 0.1)
    with pytest.raises(ValueError, match="chance"):
        left_chance(0.5, 1.5)


def test_combine_keeps_the_reasons() -> None:
    thin = judge_interval(0.1, 0.3, replicates=2)
    assert combine([SUPPORTED, SUPPORTED]) == SUPPORTED
    assert combine([SUPPORTED, thin]) == INCONCLUSIVE
    assert combine([SUPPORTED, thin]).reason == thin.reason
    assert combine([NOT_SUPPORTED, INCONCLUSIVE]) == NOT_SUPPORTED
    assert combine([]) == combine([NOT_TESTABLE]) == NOT_TESTABLE


def test_a_row_says_why_it_is_inconclusive() -> None:
    thin = judge_interval(0.1, 0.3, replicates=1)
    row = ScoreRow("claim", "fig", thin, "rule: CI above 0")
    assert row.why == (
        "rule: CI above 0; inconclusive: only 1 distinct replicate "
        "(at least 3 are needed to call it)"
    )
    assert ScoreRow("claim", "fig", SUPPORTED, "rule").why == "rule"
    assert pickle.loads(pickle.dumps(thin)).reason == thin.reason


def test_shared_statistics_in_words() -> None:
    assert wilcoxon_verdict({"p_value": 0.001, "median_diff": 0.3, "n": 20}) == NOT_SUPPORTED
    assert wilcoxon_verdict({"p_value": 0.2, "median_diff": -0.3, "n": 20}) == INCONCLUSIVE
    assert wilcoxon_verdict({"p_value": 0.001, "median_diff": -0.3, "n": 2}) == INCONCLUSIVE
    row = {"rho": -0.7, "ci_low": -0.9, "ci_high": -0.3, "n": 2}
    assert spearman_verdict(row) == INCONCLUSIVE
    assert spearman_verdict({**row, "n": 12}) == SUPPORTED
    assert spearman_verdict({**row, "rho": float("nan")}) == NOT_TESTABLE


def test_old_import_names_still_work() -> None:
    from criticality.experiments.zoo import scan_report
    from criticality.reporting import scorecard, verdicts

    assert scorecard.interval_verdict is verdicts.interval_verdict
    assert scorecard.combine is verdicts.combine
    assert scan_report.wilcoxon_verdict is verdicts.wilcoxon_verdict
    assert scan_report.rho_text is verdicts.rho_text
