"""The collapse results' keys: every ``"a/b"`` key has one typed home that writes and parses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from criticality.experiments.collapse.config import CONTROL, CollapseConfig
from criticality.experiments.collapse.results import (
    GAUSSIAN_CASES,
    CollapseResults,
    Condition,
    GaussianCase,
    Metric,
    VariantResults,
    lambda_keys,
)


def test_condition_round_trips_and_names_its_folder() -> None:
    cond = Condition.parse("mixed_fresh/critical_global")
    assert (cond.mode, cond.method) == ("mixed_fresh", "critical_global")
    assert (
        cond.label == "mixed_fresh/critical_global" and cond.folder == "mixed_fresh-critical_global"
    )
    assert Condition.parse(CONTROL) == Condition("replace", "plain")
    cfg = CollapseConfig.tiny()
    for model in ("gmm", "vae", "charlm"):
        for label in cfg.conditions(model):
            assert Condition.parse(label).label == label


@pytest.mark.parametrize(
    "bad", ["replace", "replace/", "/plain", "replace/plain/x", "rewind/plain"]
)
def test_condition_refuses_a_bad_label_naming_it(bad: str) -> None:
    with pytest.raises(ValueError, match=repr(bad)):
        Condition.parse(bad)


def test_metric_and_gaussian_case_round_trip() -> None:
    assert Metric.parse("lambda_1/time") == Metric("lambda_1", "time")
    assert Metric.parse("neg_elbo") == Metric("neg_elbo") and Metric("neg_elbo").label == "neg_elbo"
    assert Metric("stage_log_gain", "encoder").label == "stage_log_gain/encoder"
    keys = ["neg_elbo", "lambda_1/encoder", "lambda_1_ci/encoder", "sigma/depth", "lambda_1/time"]
    assert lambda_keys(keys) == ["lambda_1/encoder", "lambda_1/time"]
    assert [c.label for c in GAUSSIAN_CASES] == [
        "mle/replace",
        "unbiased/replace",
        "mle/accumulate",
        "unbiased/accumulate",
    ]
    case = GaussianCase.parse("unbiased/accumulate")
    assert (case.estimator, case.mode) == ("unbiased", "accumulate")
    assert case.label == "unbiased/accumulate"
    for bad in ("", "lambda_1/", "/encoder", "lambda_1/a/b"):
        with pytest.raises(ValueError, match=repr(bad)):
            Metric.parse(bad)
    for bad in ("mle", "mle/mixed", "map/replace", "mle/replace/x"):
        with pytest.raises(ValueError, match=repr(bad)):
            GaussianCase.parse(bad)


def test_results_refuse_a_condition_key_that_is_not_mode_method() -> None:
    good = {"runs": {CONTROL: [[{"generation": 0}]]}, "analysis": {}}
    assert VariantResults.from_dict(good).conditions == [Condition("replace", "plain")]
    with pytest.raises(ValueError, match="'replace-plain'"):
        VariantResults.from_dict({**good, "runs": {"replace-plain": [[]]}})


def test_the_committed_study_parses_and_writes_back_unchanged() -> None:
    path = Path(__file__).parents[2] / "results" / "collapse" / "results.json"
    data = json.loads(path.read_text())["data"]
    results = CollapseResults.from_dict(data)
    written = results.to_dict()
    assert all(written[m] == data[m] for m in ("gaussian", "regression", "gmm", "vae") if m in data)
    for variants in results.recursions.values():
        for block in variants.values():
            assert [c.label for c in block.conditions] == list(block.runs)
            for rows in block.runs.values():
                assert all(Metric.parse(k).label == k for k in rows[0][0])
    assert all(GaussianCase.parse(k).label == k for k in data["gaussian"] if "/" in k)
