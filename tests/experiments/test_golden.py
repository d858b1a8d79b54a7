"""Every experiment's tiny preset against its golden file (``tests/golden/NAME.json``): a silent
numerical drift fails here. Regenerate after a change that moves a number on purpose:
``PYTHONPATH=src python -m criticality.experiments._golden NAME`` (see its docstring)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from criticality.experiments import demo_parts, get_experiment, list_experiments
from criticality.experiments._golden import compare, golden_file, headline, run_tiny
from criticality.reporting import load_results

GOLDEN = Path(__file__).resolve().parents[1] / "golden"

#: Experiments that register no headline numbers yet, with the work that adds them. Remove a
#: name when its experiment registers ``headline=`` (the test then needs its golden file).
NO_HEADLINE_YET = {
    "demo": "composed of the other experiments: their golden files cover it",
}


def test_the_list_of_experiments_without_headline_is_current() -> None:
    without = {n for n in list_experiments() if get_experiment(n).headline is None}
    assert without <= set(NO_HEADLINE_YET), "register headline= (and a golden file)"
    assert set(NO_HEADLINE_YET) & set(list_experiments()) <= without, "remove it from the list"


@pytest.mark.parametrize("name", list_experiments())
def test_tiny_preset_matches_its_golden_file(name: str, tiny_demo: Path, tmp_path: Path) -> None:
    if name in NO_HEADLINE_YET:
        pytest.skip(f"{name} registers no headline numbers yet: {NO_HEADLINE_YET[name]}")
    path = golden_file(name, GOLDEN)
    assert path.is_file(), (
        f"no golden file {path}: python -m criticality.experiments._golden {name}"
    )
    golden = json.loads(path.read_text())
    assert golden["experiment"] == name and golden["preset"] == "tiny"
    assert all(v["tol"] >= 0 for v in golden["values"].values()) and golden["values"]
    if name in demo_parts():  # the session's tiny demo ran this tiny preset already
        data = load_results(tiny_demo / name)["data"]
    else:
        data = run_tiny(name, tmp_path)
    assert compare(golden["values"], headline(name, data)) == []


def test_compare_catches_a_drift_and_a_missing_number() -> None:
    golden = {"a": {"value": 1.0, "tol": 0.01}, "b": {"value": float("nan"), "tol": 0.0}}
    assert (
        compare(
            golden, {"a": {"value": 1.005, "tol": 0.01}, "b": {"value": float("nan"), "tol": 0}}
        )
        == []
    )
    assert compare(golden, {"a": {"value": 1.02, "tol": 0.01}}) == [
        "a: 1.02 differs from the golden 1 by 0.02 > 0.01",
        "b: in the golden file but not in the results",
    ]
