"""``criticality train`` and ``criticality experiment training`` through their argparse modules."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import ModuleType

import pytest

from criticality.cli import experiment, train


def call(module: ModuleType, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(argv)))


def test_train_one_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "--dataset",
        "digits",
        "--init",
        "ordered",
        "--steps",
        "20",
        "--monitor-every",
        "10",
        "--batch-size",
        "32",
        "--lr",
        "0.01",
        "--out",
        str(tmp_path),
    ]
    assert call(train, argv) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["kind"] == "training"
    (run,) = results["data"]["runs"]
    assert run["method"] == "critical_global" and run["init"] == "ordered"
    assert [p["step"] for p in run["trajectory"]] == [0, 10, 20]
    assert (tmp_path / "model.pt").is_file()
    assert (tmp_path / "figures" / "trajectory_digits-mlp-ordered.png").is_file()
    assert "λ_1:" in capsys.readouterr().out


def test_experiment_with_preset_and_overrides(tmp_path: Path) -> None:
    argv = [
        "training",
        "--preset",
        "tiny",
        "--set",
        "seeds=[0]",
        "--set",
        'models=["mlp"]',
        "--set",
        'methods=["plain", "jacobian"]',
        "--set",
        "init_study=[]",
        "--out",
        str(tmp_path),
    ]
    assert call(experiment, argv) == 0
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["seeds"] == [0] and config["models"] == ["mlp"]
    assert len(list((tmp_path / "runs").glob("digits-*.json"))) == 2


def test_experiment_rejects_unknown_fields_and_presets(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match="training has no field epochs; its fields: address, baseline"
    ):
        call(experiment, ["training", "--set", "epochs=3", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        call(experiment, ["training", "--set", "steps", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="unknown experiment 'trainig'; known experiments: "):
        call(experiment, ["trainig", "--out", str(tmp_path)])
    # presets include named ones (dohare-small, shumailov), so the registry lists them
    with pytest.raises(ValueError, match="unknown preset 'huge' for training; use one of tiny, "):
        call(experiment, ["training", "--preset", "huge", "--out", str(tmp_path)])


def test_train_method_options_reach_the_method(tmp_path: Path) -> None:
    argv = ["--dataset", "digits", "--method", "jacobian", "--weight", "0.5", "--option",
            "sub_batch=4", "--steps", "2", "--monitor-every", "2",
            "--out", str(tmp_path)]  # fmt: skip
    assert call(train, argv) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["data"]["methods"]["jacobian"]["options"] == {"weight": 0.5, "sub_batch": 4}
    with pytest.raises(ValueError, match="'plain' has no option weight"):
        call(train, ["--method", "plain", "--weight", "1", "--out", str(tmp_path / "x")])


def test_experiment_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert call(experiment, ["list"]) == 0
    out = capsys.readouterr().out
    for name in ("training", "phase", "demo", "scan", "zoo", "architectures", "measure"):
        assert f"\n{name} " in f"\n{out}"
