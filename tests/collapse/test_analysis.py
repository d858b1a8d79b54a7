"""The per-generation analysis on curves whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from criticality.collapse.analysis import band, contrast, halfway_generation, lead_lag, tracking


def test_band_is_the_student_t_interval() -> None:
    x = np.array([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0]])
    b = band(x)
    half = stats.t.ppf(0.975, 2) * 2.0 / math.sqrt(3)
    assert b["mean"] == [3.0, 2.0]
    assert b["ci_low"][0] == pytest.approx(3 - half) and b["ci_high"][1] == pytest.approx(2.0)


def test_contrast_pairs_by_seed() -> None:
    control = np.array([[0.0, 1.0], [0.0, 2.0], [0.0, 3.0]])
    treat = control + np.array([[0.0, 0.5], [0.0, 0.5], [0.0, 0.7]])
    c = contrast(treat, control)
    assert c["n"] == 3 and c["mean_diff"] == pytest.approx(0.5667, abs=1e-4)
    assert contrast(treat, control, generation=0)["mean_diff"] == 0.0
    with pytest.raises(ValueError, match="must match"):
        contrast(treat[:2], control)


def test_halfway_generation() -> None:
    assert halfway_generation([0, 0, 1, 2, 4]) == 3  # half of 4 first reached at g = 3
    assert halfway_generation([5, 4, 3, 3]) == 1  # |−1| >= 0.5·2
    assert math.isnan(halfway_generation([1, 1, 1]))


def test_lead_lag_finds_a_known_delay() -> None:
    rng = np.random.default_rng(0)
    steps = rng.standard_normal((4, 30))
    lam = np.cumsum(np.concatenate([np.zeros((4, 1)), steps], axis=1), axis=1)  # (4, 31)
    # Quality moves two generations after λ_1: Δq(g + 2) = −Δλ(g).
    dq = np.concatenate([np.zeros((4, 2)), -steps[:, :-2]], axis=1)
    quality = np.cumsum(np.concatenate([np.zeros((4, 1)), dq], axis=1), axis=1)
    out = lead_lag(lam, quality, max_lag=3)
    assert out["best_lag"] == 2
    assert out["r"][out["lags"].index(2)] == pytest.approx(-1.0)
    tr = tracking(lam, -lam)
    assert tr["rho_quality_vs_lambda"] == pytest.approx(-1.0)


def _rows(q: list[list[float]], lam: list[list[float]]) -> list[list[dict[str, float]]]:
    """Per-seed, per-generation rows of a quality ``q`` and a ``λ_1`` (seeds × generations)."""
    return [
        [{"q": a, "lambda_1/net": b} for a, b in zip(qs, ls, strict=True)]
        for qs, ls in zip(q, lam, strict=True)
    ]


def test_claim_tests_orient_every_difference_and_give_verdicts() -> None:
    from criticality.collapse.analysis import claim_tests
    from criticality.experiments.collapse.report import claim_verdicts

    # Loss (lower is better) rises by 10, 12, 14 under the control while λ_1 goes from about 0
    # to about −1 (farther from criticality); the critical method ends 4, 5, 6 lower, costs
    # +1, +1.5, +2 at generation 0 and stays at λ_1 ≈ −0.1; "flat" changes nothing.
    control = _rows([[100, 105, 110], [101, 107, 113], [99, 106, 113]],
                    [[0.0, -0.5, -1.0], [0.1, -0.4, -0.9], [-0.1, -0.6, -1.1]])  # fmt: skip
    critical = _rows([[101, 103, 106], [102.5, 105, 108], [101, 104, 107]],
                     [[0.0, -0.1, -0.1], [0.1, -0.1, -0.1], [-0.1, -0.1, -0.1]])  # fmt: skip
    runs = {"replace/plain": control, "replace/critical": critical, "flat": control}
    t = claim_tests(runs, "q", higher_is_better=False, lambda_keys=["lambda_1/net"])
    assert t["generations"] == 2
    assert t["collapse"]["mean_diff"] == pytest.approx(12.0)  # quality fell by 12 on average
    assert t["distance"]["lambda_1/net"]["mean_diff"] == pytest.approx(1.0 - 0.2 / 3)
    r = t["remedies"]["replace/critical"]
    assert r["slowing"]["mean_diff"] == pytest.approx(12.0 - 5.5)  # rose by 5.5 instead of 12
    assert r["gain"]["mean_diff"] == pytest.approx(5.0)  # 5 lower loss = better
    assert r["cost"]["mean_diff"] == pytest.approx(-1.5)  # 1.5 worse at generation 0
    assert r["distance"]["lambda_1/net"]["mean_diff"] == pytest.approx(0.1 - 1.0)
    v = claim_verdicts(t)
    assert v["collapsed"] is True
    assert v["loss_of_criticality"] == {"lambda_1/net": "supported"}
    assert v["remedies"]["replace/critical"] == {
        "slows_collapse": "supported",
        "better_at_end": "supported",
        "costs_at_generation_0": "supported",
        "closer_to_criticality": {"lambda_1/net": "supported"},
    }
    # A method that starts 20 better and collapses as fast is better at the end but does not
    # slow the collapse: the difference in differences tells the two apart.
    # (shifts of 20, 20.5 and 21: a constant shift would give a zero-width interval)
    shifted = [[{"q": row["q"] - 20 - 0.5 * i, "lambda_1/net": 0.0} for row in seed]
               for i, seed in enumerate(control)]  # fmt: skip
    level = claim_verdicts(claim_tests({"replace/plain": control, "shift": shifted}, "q",
                                       higher_is_better=False))["remedies"]["shift"]  # fmt: skip
    assert level["better_at_end"] == "supported" and level["slows_collapse"] == "inconclusive"
    # Identical runs: every difference is exactly 0, nothing is claimed either way.
    assert v["remedies"]["flat"]["slows_collapse"] == "inconclusive"
    # Higher-is-better flips every orientation: the same numbers are now an improvement.
    up = claim_verdicts(claim_tests(runs, "q", higher_is_better=True, lambda_keys=["lambda_1/net"]))
    assert up["collapsed"] is False and up["loss_of_criticality"] is None
    assert up["remedies"]["replace/critical"]["slows_collapse"] == "not supported"
    with pytest.raises(ValueError, match="control"):
        claim_tests({"flat": control}, "q", higher_is_better=True)


def test_thin_evidence_gives_no_verdict() -> None:
    from criticality.collapse.analysis import claim_tests
    from criticality.experiments.collapse.report import _verdict, claim_verdicts, thin_evidence

    # two seeds that agree perfectly: a zero-width interval and too few replicates
    assert _verdict({"ci_low": 1.0, "ci_high": 1.0, "n": 5}) == "inconclusive"
    assert _verdict({"ci_low": 1.0, "ci_high": 2.0, "n": 2}) == "inconclusive"
    assert _verdict({"ci_low": 1.0, "ci_high": 2.0, "n": 3}) == "supported"
    two = _rows([[100, 110], [101, 111]], [[0.0, -1.0], [0.0, -1.2]])
    v = claim_verdicts(claim_tests({"replace/plain": two}, "q", higher_is_better=False,
                                   lambda_keys=["lambda_1/net"]))  # fmt: skip
    assert v["collapsed"] is False  # 2 pairs: no call either way
    cfg = {"seeds": [0, 1, 2], "vae": {"dataset": "digits"}}

    def block(start: float) -> dict:
        bands = {"test_ppl": {"mean": [start, start + 1]}}
        return {"analysis": {"quality": "test_ppl",
                             "conditions": {"replace/plain": {"bands": bands}}}}  # fmt: skip

    assert thin_evidence("charlm-gru", block(95.0), cfg) is not None  # never left chance
    assert "did not learn" in (thin_evidence("charlm-gru", block(95.0), cfg) or "")
    assert thin_evidence("charlm-gru", block(6.0), cfg) is None
    assert "only 2 distinct replicates" in (
        thin_evidence("charlm-gru", block(6.0), {**cfg, "seeds": [0, 0, 1]}) or ""
    )
