"""The training experiment: the tiny config end to end, its outputs, and resuming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from criticality.experiments import training
from criticality.experiments.training import TrainingConfig, run, run_specs


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("training")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: a second thread only waits on a busy CPU
    try:
        run(TrainingConfig.tiny(), out)
    finally:
        torch.set_num_threads(threads)
    return out


def test_tiny_config_runs_end_to_end(finished: Path) -> None:
    cfg = TrainingConfig.tiny()
    results = json.loads((finished / "results.json").read_text())
    assert {"schema_version", "seed", "versions", "device"} <= set(results)
    assert json.loads((finished / "config.json").read_text())["steps"] == cfg.steps
    data = results["data"]
    assert len(data["runs"]) == len(run_specs(cfg)) == 16
    assert len(list((finished / "runs").glob("digits-*.json"))) == 16
    groups = {(g["dataset"], g["model"], g["init"]): g for g in data["groups"]}
    assert set(groups) == {
        ("digits", "mlp", "default"),
        ("digits", "cnn", "default"),
        ("digits", "mlp", "ordered"),
    }
    comp = groups[("digits", "mlp", "default")]["comparisons"]
    assert set(comp) == {
        "critical_global − plain",
        "jacobian − plain",
        "critical_global − jacobian",
    }
    assert comp["jacobian − plain"]["clean"]["n"] == 2
    for r in data["runs"]:
        assert 0 <= r["pgd"] <= 1 and 0 <= r["clean"] <= 1  # exact values: test_robustness.py
        assert [p["step"] for p in r["trajectory"]] == [0, 10, 20]
    ordered = [r for r in data["runs"] if r["init"] == "ordered"]
    assert all(r["lambda_initial"] < -0.5 for r in ordered)
    assert len(list((finished / "figures").glob("*.png"))) == 9  # λ_1, accuracy, compute
    assert not (finished / "checkpoints").exists()


def test_finished_runs_are_not_redone(finished: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = json.loads((finished / "results.json").read_text())["data"]["runs"]
    victim = finished / "runs" / f"{run_specs(TrainingConfig.tiny())[4].key}.json"
    victim.unlink()
    calls = []
    real = training.train_and_evaluate

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args[0].key)
        return real(*args, **kwargs)

    monkeypatch.setattr(training.experiment, "train_and_evaluate", counted)  # where run finds it
    run(TrainingConfig.tiny(), finished)
    assert calls == [victim.stem]
    after = json.loads((finished / "results.json").read_text())["data"]["runs"]
    drop = ("seconds", "energy")  # measured wall times differ from run to run
    assert [{k: v for k, v in r.items() if k not in drop} for r in after] == [
        {k: v for k, v in r.items() if k not in drop} for r in before
    ]


def test_report_rerenders_from_results_alone(finished: Path) -> None:
    from criticality.experiments import get_experiment, render

    report = finished / "report.html"
    report.unlink()
    for png in (finished / "figures").glob("*.png"):
        png.unlink()
    assert render(finished) == report  # the registry finds the renderer from results.json
    html = report.read_text()
    data = json.loads((finished / "results.json").read_text())["data"]
    for section in get_experiment("training").sections(data, finished):
        assert section.title in html
    assert "critical_global − plain" in html and html.count("data:image/png;base64") == 9
    for method in ("plain", "critical_global", "jacobian"):  # the methods table of the set-up
        assert data["methods"][method]["summary"] in html


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"methods": ("critical_global",)}, "plain"),
        ({"methods": ("plain", "dropout")}, "unknown training method 'dropout'"),
        ({"method_options": {"plain": {"weight": 1.0}}}, "has no option weight"),
        ({"models": ("resnet",)}, "mlp"),
        ({"inits": ("lukewarm",)}, "sigma_w"),
    ],
)
def test_bad_configs_raise(change: dict, match: str, tmp_path: Path) -> None:
    import dataclasses

    with pytest.raises(ValueError, match=match):
        run(dataclasses.replace(TrainingConfig.tiny(), **change), tmp_path)


def test_ray_executor_gives_the_local_runs(finished: Path, tmp_path: Path, local_ray: None) -> None:
    import dataclasses

    cfg = dataclasses.replace(TrainingConfig.tiny(), methods=("plain", "critical_global"),
                              init_study=(), models=("mlp",), executor="ray")  # fmt: skip
    run(cfg, tmp_path)
    runs = (finished / "runs").glob("digits-*.json")
    local = {p.name: json.loads(p.read_text())["value"] for p in runs}  # a unit file's record
    for path in (tmp_path / "runs").glob("digits-*.json"):
        remote = json.loads(path.read_text())["value"]
        drop = ("seconds", "energy")  # measured wall times differ from run to run
        assert {k: v for k, v in remote.items() if k not in drop} == {
            k: v for k, v in local[path.name].items() if k not in drop
        }
    assert len(list((tmp_path / "runs").glob("digits-*.json"))) == 4
