"""Typed results: to_dict/from_dict round trips, and the schema check on old and foreign files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from criticality.experiments import render
from criticality.experiments._results import Results, SchemaError
from criticality.experiments.measure import MeasureConfig, MeasureResults
from criticality.experiments.measure import run as run_measure


@dataclasses.dataclass(frozen=True)
class Toy(Results):
    """Toy results.

    Attributes:
        values: some numbers.
        name: a name.
    """

    SCHEMA = "toy"
    VERSION = 2

    values: list[float]
    name: str

    @classmethod
    def upgrade(cls, data: dict, version: int) -> dict:  # type: ignore[type-arg]
        if version == 1:  # version 1 called it "label"
            return {"values": data["values"], "name": data["label"]}
        return super().upgrade(data, version)


def test_round_trip_and_schema() -> None:
    toy = Toy([1.0, 2.0], "a")
    data = toy.to_dict()
    assert data == {"schema": "toy/2", "values": [1.0, 2.0], "name": "a"}
    assert Toy.from_dict(json.loads(json.dumps(data))) == toy


def test_old_files_load_or_are_refused_naming_the_schema() -> None:
    assert Toy.from_dict({"schema": "toy/1", "values": [3.0], "label": "b"}) == Toy([3.0], "b")
    # no "schema" key: written before schemas were recorded, read as version 1
    assert Toy.from_dict({"values": [3.0], "label": "b"}) == Toy([3.0], "b")
    with pytest.raises(SchemaError, match=r"schema toy/3 cannot be read .* reads toy/2: upgrade"):
        Toy.from_dict({"schema": "toy/3", "values": [], "name": "c"})
    with pytest.raises(SchemaError, match="these are 'phase/1' results, not toy/2"):
        Toy.from_dict({"schema": "phase/1"})
    with pytest.raises(SchemaError, match="toy/2 results lack name"):
        Toy.from_dict({"schema": "toy/2", "values": []})


def test_measure_results_round_trip_and_an_old_file_renders(tmp_path: Path) -> None:
    run_measure(MeasureConfig.tiny(), tmp_path)
    path = tmp_path / "results.json"
    results = json.loads(path.read_text())
    data = results["data"]
    assert data["schema"] == "measure/1"
    typed = MeasureResults.from_dict(data)
    assert typed.report.model == "mlp" and "lyapunov" in typed.report.results
    assert MeasureResults.from_dict(typed.to_dict()).to_dict() == typed.to_dict()
    # a results.json of the version before schemas: no "schema", no "command"
    del data["schema"], data["command"]
    path.write_text(json.dumps(results))
    assert render(tmp_path).is_file()
    data["schema"] = "measure/7"
    path.write_text(json.dumps(results))
    with pytest.raises(SchemaError, match=r"results.json: results of schema measure/7 .* upgrade"):
        render(tmp_path)
