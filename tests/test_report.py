"""measure() and CriticalityReport: bundling, words, JSON round trip, option errors."""

from __future__ import annotations

import json
import math

import pytest
import torch

from criticality import CriticalityReport, measure
from criticality.measures._words import log_gain_in_words, regime
from criticality.zoo import mlp, orthogonal_chain


@pytest.fixture(scope="module")
def report() -> CriticalityReport:
    net = mlp(depth=6, width=32, sigma_w=0.7, seed=1)
    return measure(net, torch.randn(5, 32), lyapunov={"k": 3}, name="mlp07")


def test_report_bundles_measures(report: CriticalityReport) -> None:
    assert set(report.results) == {"lyapunov", "ftle"}
    assert report.lyapunov.exponents.shape == (3,)
    assert [r["stage"] for r in report.stage_table()] == list(report.stage_names)
    assert {r["regime"] for r in report.stage_table()} == {"ordered"}


@pytest.mark.parametrize("gain", [0.8, 1.0, 1.3])
def test_report_numbers_on_an_analytic_chain(gain: float) -> None:
    """On a chain of g·Q every exponent is ln g: the report's headline, distance, per-stage
    table and words say so."""
    chain = orthogonal_chain(gain, width=16, depth=5, seed=2)
    rep = measure(chain, torch.randn(4, 16, dtype=torch.float64), lyapunov={"k": 2})
    assert rep.lambda_max == pytest.approx(math.log(gain), abs=1e-9)
    assert rep.distance == pytest.approx(abs(math.log(gain)), abs=1e-9)
    assert rep.results["ftle"].headline().mean == pytest.approx(math.log(gain), abs=1e-6)
    rows = rep.stage_table()
    assert len(rows) == 5
    assert [r["lyapunov"] for r in rows] == pytest.approx([math.log(gain)] * 5, abs=1e-9)
    assert {r["regime"] for r in rows} == {regime(math.log(gain))}
    assert rep.interpretation().startswith(f"Sequential operates in the {regime(math.log(gain))}")


def test_interpretation_speaks_words(report: CriticalityReport) -> None:
    text = report.interpretation()
    assert text.startswith("mlp07 operates in the ordered regime: perturbations shrink by")
    assert "95 % CI" in text


def test_json_round_trip(report: CriticalityReport) -> None:
    again = CriticalityReport.from_json(json.dumps(json.loads(report.to_json())))
    assert again.to_dict() == report.to_dict()
    assert (again.lyapunov.local == report.lyapunov.local).all()


def test_schema_version_is_checked(report: CriticalityReport) -> None:
    data = report.to_dict() | {"schema_version": 99}
    with pytest.raises(ValueError, match="schema version"):
        CriticalityReport.from_dict(data)


def test_bad_measure_requests() -> None:
    net = mlp(depth=2, width=8)
    with pytest.raises(ValueError, match="unknown measure 'lyapunuv'"):
        measure(net, torch.randn(2, 8), measures=["lyapunuv"])
    with pytest.raises(ValueError, match="options given for measures not requested: ftle"):
        measure(net, torch.randn(2, 8), measures=["lyapunov"], ftle={"n_iter": 2})


@pytest.mark.parametrize(
    ("log_gain", "expected"),
    [
        (math.log(0.88), "ordered: perturbations shrink by 12 % per stage"),
        (math.log(1.5), "chaotic: perturbations grow by 50 % per stage"),
        (0.01, "critical: perturbations change by +1.0 % per stage"),
        (-math.inf, "ordered: perturbations vanish"),
    ],
)
def test_signs_in_words(log_gain: float, expected: str) -> None:
    assert log_gain_in_words(log_gain) == expected
    assert regime(log_gain) == expected.split(":")[0]


def test_symbols_keep_their_case_in_the_reading() -> None:
    rep = measure(
        mlp(depth=4, width=16, seed=0), torch.randn(3, 16), measures=["lyapunov", "branching"]
    )
    text = rep.interpretation()
    assert "Σ" not in text and "σ" in text
