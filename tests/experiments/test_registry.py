"""Every registered experiment runs at its tiny preset and renders, and the registry is sound."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from criticality.experiments import demo_parts, get_experiment, list_experiments, render
from criticality.experiments._registry import register_experiment

# The demo's parts run (tiny) in tests/experiments/test_demo.py; the others run here.
STANDALONE = [n for n in list_experiments() if n not in demo_parts() and n != "demo"]


def test_every_experiment_is_covered_and_has_its_presets() -> None:
    assert set(STANDALONE) | set(demo_parts()) | {"demo"} == set(list_experiments())
    for name in list_experiments():
        spec = get_experiment(name)
        for preset in ("tiny", "demo", "full"):
            cfg = spec.preset(preset)
            assert dataclasses.is_dataclass(cfg) and type(cfg) is spec.config
        json.dumps(dataclasses.asdict(spec.preset("full")), default=str)  # saved beside results


@pytest.mark.parametrize("name", STANDALONE)
def test_tiny_preset_runs_and_renders(name: str, tmp_path: Path) -> None:
    spec = get_experiment(name)
    path = spec.run(spec.preset("tiny"), tmp_path)
    assert path == tmp_path / "report.html"
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["kind"] == name
    path.unlink()
    assert render(tmp_path).read_text().startswith("<!DOCTYPE html>")  # from results.json alone
    for section in spec.sections(results["data"], tmp_path):
        assert section.title in path.read_text()


def test_registry_refuses_duplicates_and_configs_without_presets() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoPresets:
        steps: int = 1

    with pytest.raises(TypeError, match="tiny"):
        register_experiment("x", title="x", config=NoPresets, sections=lambda d, o: [],
                            summary="x")  # fmt: skip
    spec = get_experiment("phase")
    with pytest.raises(ValueError, match="registered twice"):
        register_experiment("phase", title="x", config=spec.config, sections=spec.sections,
                            summary="x")(spec.run)  # fmt: skip
    with pytest.raises(ValueError, match="unknown preset 'huge' for phase"):
        spec.preset("huge")
