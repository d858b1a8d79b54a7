"""Tidy DataFrames, notebook views and TensorBoard, from real runs of the experiments."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

import criticality as cr
from criticality.experiments import get_experiment
from criticality.integrations.frames import results_frames, write_frames
from criticality.integrations.notebook import load_run
from criticality.store import ResultStore, Row, config_hash
from criticality.training import CriticalityMonitor, fit
from criticality.zoo import mlp


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny presets of two experiments: one with reports, one with trajectories."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name in ("architectures", "training"):
        spec = get_experiment(name)
        spec.run(spec.preset("tiny"), root / name)
        out[name] = root / name
    return out


def test_report_to_frame_and_html() -> None:
    report = cr.measure(
        mlp(depth=6, width=16, sigma_w=1.5, seed=1),
        torch.randn(4, 16),
        measures=["lyapunov", "branching"],
        lyapunov={"k": 3},
    )
    frame = report.to_frame()
    assert list(frame["stage"]) == list(report.stage_names)
    assert frame["lyapunov"].tolist() == [e.mean for e in report.lyapunov.stage_log_gain]
    assert set(frame.columns) == {"stage", "lyapunov", "branching", "regime"}
    page = report._repr_html_()
    assert report.interpretation().split(" (")[0] in page.replace("&#x27;", "'")
    assert page.count("<svg") == 2  # stage exponents and the top-3 spectrum
    assert page.count("<rect") == len(report.stage_names) + 3
    assert "http" not in page  # self-contained


def test_results_frames_of_an_experiment_with_reports(runs: dict[str, Path]) -> None:
    frames = results_frames(runs["architectures"])
    data = json.loads((runs["architectures"] / "results.json").read_text())["data"]
    reports = {k: cr.CriticalityReport.from_dict(v) for k, v in data["architectures"].items()}
    measures = frames["measures"]
    assert len(measures) == sum(len(r.results) for r in reports.values())
    for name, report in reports.items():
        rows = measures[(measures["model"] == report.model)].set_index("measure")
        for row in report.summary_table():
            assert rows.loc[row["measure"], "value"] == row["value"]
            assert rows.loc[row["measure"], "source"] == f"architectures/{name}"
    stages = frames["stages"]
    one = next(iter(reports.values()))
    lyap = stages[(stages["model"] == one.model) & (stages["measure"] == "lyapunov")]
    assert lyap["value"].tolist() == [e.mean for e in one.lyapunov.stage_log_gain]
    assert frames["trajectories"].empty


def test_results_frames_of_training_runs(runs: dict[str, Path]) -> None:
    frame = results_frames(runs["training"])["trajectories"]
    data = json.loads((runs["training"] / "results.json").read_text())["data"]
    n = sum(len(r["trajectory"]) for r in data["runs"])
    lyap = frame[frame["measure"] == "lyapunov"]
    assert len(lyap) == n
    assert {"method", "seed", "dataset"} <= set(frame.columns)  # what varied between runs
    run = data["runs"][0]
    mine = lyap[
        (lyap["method"] == run["method"])
        & (lyap["seed"] == run["seed"])
        & (lyap["source"] == "runs/0/trajectory")
    ]
    assert mine["value"].tolist() == [r["lyapunov"] for r in run["trajectory"]]
    assert mine["step"].tolist() == [r["step"] for r in run["trajectory"]]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_round_trips(runs: dict[str, Path], tmp_path: Path, fmt: str) -> None:
    paths = write_frames(runs["training"], fmt, tmp_path)  # type: ignore[arg-type]
    assert [p.name for p in paths] == [f"trajectories.{fmt}"]
    back = pd.read_csv(paths[0]) if fmt == "csv" else pd.read_parquet(paths[0])
    frame = results_frames(runs["training"])["trajectories"]
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


def test_result_store_to_frame() -> None:
    report = cr.measure(mlp(depth=4, width=8, seed=0), torch.randn(3, 8))
    store = ResultStore(":memory:")
    key = config_hash({"measures": ["lyapunov", "ftle"]})
    store.put(Row("mlp", "random", key, "ok", "", report.to_json(), 0.5))
    store.put(Row("vgg11", "random", key, "failed", "timeout: 60 s", "{}", 60.0))
    frame = store.to_frame()
    assert len(frame) == 3  # two measures of mlp, one row for the failed model
    ok = frame[frame["status"] == "ok"].set_index("measure")
    assert ok.loc["lyapunov", "value"] == report.lambda_max
    assert ok.loc["ftle", "ci_high"] == report.results["ftle"].headline().ci_high
    failed = frame[frame["status"] == "failed"].iloc[0]
    assert failed["reason"] == "timeout: 60 s" and pd.isna(failed["measure"])
    assert ResultStore(":memory:").to_frame().empty


def test_notebook_run_view(runs: dict[str, Path]) -> None:
    run = load_run(runs["architectures"])
    assert run.kind == "architectures"
    page = run._repr_html_()
    assert page.startswith("<iframe srcdoc=") and "&lt;h1&gt;" in page
    assert not run.frames()["measures"].empty


def _events(folder: Path) -> Any:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    return acc


def test_monitor_writes_tensorboard(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    net = mlp(depth=4, width=8, seed=0)
    probe = torch.randn(4, 8, generator=torch.Generator().manual_seed(1))
    x, y = torch.randn(32, 8), torch.randint(0, 8, (32,))
    from criticality.integrations.tensorboard import TensorBoardSink

    monitor = CriticalityMonitor(
        probe, every=2, options={"lyapunov": {"k": 2}}, sinks=[TensorBoardSink(tmp_path / "tb")]
    )
    fit(net, (x, y), steps=4, batch_size=8, lr=0.05, callbacks=[monitor])
    acc = _events(tmp_path / "tb")
    scalars = acc.Scalars("criticality/lambda_1")
    assert [s.step for s in scalars] == [r["step"] for r in monitor.records()]
    for s, record in zip(scalars, monitor.records(), strict=True):
        assert math.isclose(s.value, record["lyapunov"], rel_tol=1e-6)  # stored as float32
    assert len(acc.Histograms("criticality/spectrum")) == len(scalars)
    assert any(t.startswith("criticality/ln_g/") for t in acc.Tags()["scalars"])


def test_export_run_to_tensorboard(runs: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from criticality.integrations.tensorboard import export_run

    folders = export_run(runs["training"], tmp_path)
    data = json.loads((runs["training"] / "results.json").read_text())["data"]
    # one per run's λ_1 trajectory; the accuracy traces of the cost section come on top
    trajectories = [f for f in folders if "/trajectory/" in f.as_posix()]
    assert len(trajectories) == len(data["runs"]) < len(folders)
    first = _events(trajectories[0]).Scalars("criticality/lambda_1")
    assert [s.step for s in first] == [r["step"] for r in data["runs"][0]["trajectory"]]
    folders = export_run(runs["architectures"], tmp_path / "arch")
    assert len(folders) == len(
        json.loads((runs["architectures"] / "results.json").read_text())["data"]["architectures"]
    )
    assert _events(folders[0]).Histograms("criticality/spectrum")
