"""Each experiment's scorecard rows on constructed results: the verdicts follow the stated rules."""

from __future__ import annotations

from typing import Any

import numpy as np

from criticality.experiments import _training_report, phase
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
    p["runs"] = [p["runs"][0], p["runs"][0], far]  # the mean still crosses near 1.4 or so
    (m5, _) = phase.phase_scorecard({"tanh": p})
    assert m5.verdict in (INCONCLUSIVE, NOT_SUPPORTED)
    p["runs"] = [p["runs"][0]] * 9 + [far]  # one seed of ten misses: the mean finds it
    (m5, _) = phase.phase_scorecard({"tanh": p})
    assert m5.verdict == INCONCLUSIVE


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


def group(init: str, clean: float, robust: float, distance: float) -> dict[str, Any]:
    comp = {k: comparison(robust, 0.01) for k in ("noise", "corruption", "fgsm", "pgd")}
    comp |= {
        "clean": comparison(clean, 0.002),
        "distance": comparison(distance, 0.01),
        "lambda_final": comparison(0.0, 0.01),
    }
    stat = {"mean": -0.01, "ci_low": -0.02, "ci_high": 0.0, "n": 5}
    summary = {m: {"lambda_final": stat, "clean": stat} for m in ("plain", "critical_global")}
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
