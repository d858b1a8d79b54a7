"""Every experiment's tiny preset against its golden file (``tests/golden/NAME.json``): a silent
numerical drift fails here. Regenerate after a change that moves a number on purpose:
``PYTHONPATH=src python -m criticality.experiments._golden NAME`` (see its docstring). Both run
the presets in a child process with the CPU kernels pinned, so that a file written on one x86-64
machine holds on another."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from criticality.experiments import get_experiment, list_experiments
from criticality.experiments._golden import PINNED, compare, golden_file, write_pinned

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
def test_tiny_preset_matches_its_golden_file(name: str, tmp_path: Path) -> None:
    if name in NO_HEADLINE_YET:
        pytest.skip(f"{name} registers no headline numbers yet: {NO_HEADLINE_YET[name]}")
    path = golden_file(name, GOLDEN)
    assert path.is_file(), (
        f"no golden file {path}: python -m criticality.experiments._golden {name}"
    )
    golden = json.loads(path.read_text())
    assert golden["experiment"] == name and golden["preset"] == "tiny"
    assert all(v["tol"] >= 0 for v in golden["values"].values()) and golden["values"]
    write_pinned([name], tmp_path)  # the tiny preset under the pinned kernels, as the file was
    found = json.loads(golden_file(name, tmp_path).read_text())["values"]
    assert compare(golden["values"], found) == []


def test_the_pins_reach_the_libraries() -> None:
    """A child with :data:`PINNED` runs PyTorch's scalar kernels on one thread (a variable misspelt
    or read too late would leave the machine's own choice, and the golden files would again
    depend on the machine)."""
    probe = "import torch; print(torch.backends.cpu.get_cpu_capability(), torch.get_num_threads())"
    child = subprocess.run(
        [sys.executable, "-c", probe], env=PINNED, capture_output=True, text=True, check=True
    )
    assert child.stdout.split() == ["DEFAULT", "1"]


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
