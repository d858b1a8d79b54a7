"""The continual experiment's scorecard rows (claim M3) on analyses with known verdicts."""

from __future__ import annotations

from typing import Any

from criticality.experiments.continual.report import scorecard


def _comparison(mean: float, low: float, high: float, n: int = 5) -> dict[str, Any]:
    return {"mean_diff": mean, "ci_low": low, "ci_high": high, "n": n}


def _data(rho: tuple[float, float, float], tails: dict[str, tuple[float, float, float]]) -> dict:
    mean, low, high = rho
    return {
        "analysis": {
            "baseline": "plain",
            "performance": "online_accuracy",
            "higher_is_better": True,
            "fraction": 0.1,
            "correlation": {
                "abs_lambda_1": {
                    "plain": {"mean_rho": {"mean": mean, "ci_low": low, "ci_high": high, "n": 5}}
                }
            },
            "tail": {m: {"online_accuracy": _comparison(*c)} for m, c in tails.items()},
        }
    }


def test_both_parts_supported() -> None:
    rows = scorecard(_data((-0.5, -0.7, -0.3), {"critical_global": (0.1, 0.05, 0.15)}))
    assert [(r.claim, r.verdict) for r in rows] == [("M3", "supported"), ("M3", "supported")]
    assert "critical_global: +10.0 [+5.0, +15.0] pp" in rows[1].figure


def test_wrong_sign_and_no_effect_are_not_supported() -> None:
    rows = scorecard(_data((0.4, 0.2, 0.6), {"critical_global": (0.001, -0.002, 0.004)}))
    assert [r.verdict for r in rows] == ["not supported", "not supported"]


def test_only_criticality_methods_count_and_all_must_agree() -> None:
    tails = {
        "critical_global": (0.1, 0.05, 0.15),
        "critical_stagewise": (0.02, -0.05, 0.09),  # inconclusive
        "continual_backprop": (-0.2, -0.3, -0.1),  # a baseline: not part of the claim
    }
    rows = scorecard(_data((-0.5, -0.7, -0.3), tails))
    assert rows[1].verdict == "inconclusive"
    assert "continual_backprop" not in rows[1].figure
