"""Each experiment's scorecard rows on constructed results: the verdicts follow the stated rules."""

from __future__ import annotations

from typing import Any

import numpy as np

from criticality.experiments import phase
from criticality.experiments.training import report as _training_report
from criticality.reporting.scorecard import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED

SIGMA = [0.5, 1.0, 1.3, 1.4, 1.5, 2.0, 3.0]


def sweep(crossing: float, delta_peak: float, *, seeds: int = 3) -> dict[str, Any]:
    """A phase sweep whose λ_1 and ln σ cross 0 at ``crossing`` and whose Δ peaks at
    ``delta_peak`` (a grid point), identical for every seed."""
    x = np.asarray(SIGMA)
    lam = (np.log(x) - np.log(crossing)).tolist()
    delta = (20 - 10 * np.abs(x - delta_peak)).tolist()
    measured = {"lyapunov": lam, "branching": np.exp(lam).tolist(), "dynamic_range": delta}
    run = {"measured": measured, "scalars": {}, "ci": {}}
    return {
        "sigma_w": SIGMA,
        "theory": lam,
        "critical": 1.4,
        "depth": 4,
        "width": 8,
        "sigma_b": 0.3,
        **run,
        "runs": [run] * seeds,
    }


def test_m5_supported_when_every_metric_finds_the_critical_point() -> None:
    m5, mf = phase.phase_scorecard({"tanh": sweep(1.4, 1.4)})
    assert m5.claim == "M5" and m5.verdict == SUPPORTED
    assert m5.figure == "tanh: λ_1 1.40, ln σ 1.40, Δ (dB) 1.40 (mean field 1.40)"
    assert mf.verdict == SUPPORTED and mf.figure.startswith("mean |λ_1 − ½ ln χ₁| = <1e-6")


def test_m5_not_supported_when_a_peak_sits_at_the_grid_edge() -> None:
    (m5, _) = phase.phase_scorecard({"tanh": sweep(1.4, 3.0)})
    assert m5.verdict == NOT_SUPPORTED
    assert "Δ (dB) ≥ 3.00 (edge)" in m5.figure and "missed: tanh Δ (dB)" in m5.why
    rows = phase.readoffs(sweep(1.4, 3.0))
    assert next(r for r in rows if r["measure"] == "dynamic_range")["edge"]


def test_m5_inconclusive_when_a_seed_misses() -> None:
    p = sweep(1.4, 1.4)
    far = sweep(2.0, 1.4)["runs"][0]
    # two seeds at 1.4 and one at 2.0: the mean λ_1 crosses 0 at (1.4² · 2.0)^(1/3) = 1.58,
    # beyond the 10 % tolerance (0.14) of mean field: the mean curve misses, so not supported
    p["runs"] = [p["runs"][0], p["runs"][0], far]
    (m5, _) = phase.phase_scorecard({"tanh": p})
    assert m5.verdict == NOT_SUPPORTED
    assert "missed: tanh λ_1, tanh ln σ" in m5.why and "λ_1 1.59" in m5.figure
    p["runs"] = [p["runs"][0]] * 9 + [far]  # one seed of ten misses: the mean finds it
    (m5, _) = phase.phase_scorecard({"tanh": p})
    assert m5.verdict == INCONCLUSIVE


def test_m5_inconclusive_with_fewer_than_three_seeds() -> None:
    (m5, _) = phase.phase_scorecard({"tanh": sweep(1.4, 1.4, seeds=2)})
    assert m5.verdict == INCONCLUSIVE
    assert m5.why.endswith(
        "inconclusive: only 2 distinct replicates (at least 3 are needed to call it)"
    )


def comparison(mean: float, half: float, n: int = 5) -> dict[str, float]:
    return {
        "n": n,
        "mean_diff": mean,
        "ci_low": mean - half,
        "ci_high": mean + half,
        "p_t": 0.5,
        "p_wilcoxon": 0.5,
        "effect_dz": 0.1,
    }


def group(
    init: str, clean: float, robust: float, distance: float, *, n: int = 5, accuracy: float = 0.9
) -> dict[str, Any]:
    comp = {k: comparison(robust, 0.01, n) for k in ("noise", "corruption", "fgsm", "pgd")}
    comp |= {
        "clean": comparison(clean, 0.002, n),
        "distance": comparison(distance, 0.01, n),
        "lambda_final": comparison(0.0, 0.01, n),
    }
    stat = {"mean": -0.01, "ci_low": -0.02, "ci_high": 0.0, "n": n}
    acc = {"mean": accuracy, "ci_low": accuracy - 0.01, "ci_high": accuracy + 0.01, "n": n}
    summary = {m: {"lambda_final": stat, "clean": acc} for m in ("plain", "critical_global")}
    return {
        "dataset": "mnist",
        "model": "mlp",
        "init": init,
        "summary": summary,
        "comparisons": {"critical_global − plain": comp},
    }


def test_m2_rules() -> None:
    gain = {"groups": [group("default", 0.02, 0.03, -0.1)]}
    acc, corr, pgd = _training_report.scorecard(gain)
    assert (acc.claim, acc.verdict, corr.verdict, pgd.verdict) == (
        "M2",
        SUPPORTED,
        SUPPORTED,
        SUPPORTED,
    )
    assert acc.figure == "critical_global: clean +2.00 [+1.80, +2.20] pp"
    none = {"groups": [group("default", 0.001, -0.03, -0.1)]}  # within ±0.5 pp; robustness worse
    acc, corr, pgd = _training_report.scorecard(none)
    assert acc.verdict == corr.verdict == pgd.verdict == NOT_SUPPORTED


def test_m2_inconclusive_on_thin_evidence() -> None:
    """The same clear gain is not called with two seeds, nor when the networks stayed at
    chance (10 % on ten classes); the row says why."""
    acc, corr, pgd = _training_report.scorecard(
        {"groups": [group("default", 0.02, 0.03, -0.1, n=2)]}
    )
    assert acc.verdict == corr.verdict == pgd.verdict == INCONCLUSIVE
    assert acc.why.endswith(
        "inconclusive: only 2 distinct replicates (at least 3 are needed to call it)"
    )
    chance = {"groups": [group("default", 0.02, 0.03, -0.1, accuracy=0.12)]}
    acc, *_ = _training_report.scorecard(chance)
    assert acc.verdict == INCONCLUSIVE and acc.why.endswith("the learners never left chance")


def test_init_study_rule() -> None:
    data = {
        "groups": [
            group("default", 0.0, 0.0, 0.0),
            group("ordered", 0.0, 0.0, -0.2),
            group("chaotic", 0.0, 0.0, 0.005),
        ]
    }
    *_, init = _training_report.scorecard(data)
    assert init.claim is None and init.verdict == INCONCLUSIVE  # chaotic start: CI contains 0
    assert "ordered, critical_global: λ_1 → −0.010" in init.figure


def test_a_gain_over_plain_mentions_a_baseline_that_does_better() -> None:
    g = group("default", 0.02, 0.03, -0.1)
    g["comparisons"]["critical_global − jacobian"] = {
        k: comparison(-0.194, 0.01) for k in ("clean", "corruption", "pgd", "distance")
    }
    *_, pgd = _training_report.scorecard({"groups": [g]})
    assert pgd.verdict == SUPPORTED and pgd.why.endswith("; behind jacobian (−19.4 pp)")
