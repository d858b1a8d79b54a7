"""Bad command lines get one clear line and exit code 2, before any work is done (issue 16)."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import pytest
import torch

from criticality.cli import _checks
from criticality.cli.main import main

TRAIN = ["train", "--dataset", "digits", "--init", "ordered", "--steps", "6", "--monitor-every",
         "3", "--batch-size", "32", "--lr", "0.01", "--n-train", "200"]  # fmt: skip
MEASURE = ["measure", "--model", "mlp", "--n-probes", "2", "--k", "1", "--measures", "lyapunov"]


def _error(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 2) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("error:") == 1 and err.endswith("\n"), err
    line = err.splitlines()[-1]  # one line (a progress note may come before it)
    assert line.startswith(f"criticality {argv[0]}: error: "), err
    return line


def test_out_that_is_a_file(tmp_path: Path, capsys, monkeypatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr("criticality.experiments.measure.run", lambda *a, **k: calls.append(1))
    file = tmp_path / "taken"
    file.write_text("x")
    err = _error(capsys, [*MEASURE, "--out", str(file)])
    assert "is an existing file, not a folder" in err and calls == []


def test_out_below_a_file_cannot_be_created(tmp_path: Path, capsys) -> None:
    (tmp_path / "taken").write_text("x")
    err = _error(capsys, [*TRAIN, "--out", str(tmp_path / "taken" / "run")])
    assert "cannot be created" in err


def test_unwritable_out(tmp_path: Path, capsys, monkeypatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_checks.tempfile, "mkstemp", refuse)  # root ignores chmod: simulate
    err = _error(capsys, [*TRAIN, "--out", str(tmp_path)])
    assert "is not writable (Permission denied)" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    err = _error(capsys, [*TRAIN, "--out", str(folder)])
    assert "not writable" in err


@pytest.mark.parametrize(
    ("device", "match"),
    [("banana", "is not a device"), ("cuda:99", "CUDA GPU"), ("mps", "MPS|not supported")],
)
def test_bad_device(tmp_path: Path, capsys, device: str, match: str) -> None:
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    err = _error(capsys, [*MEASURE, "--device", device, "--out", str(tmp_path)])
    assert "--device" in err
    assert __import__("re").search(match, err)


def test_cpu_device_and_a_new_out_pass_and_leave_nothing(tmp_path: Path) -> None:
    import argparse

    out = tmp_path / "new" / "run"
    args = argparse.Namespace(command="measure", out=out, device="cpu")
    assert _checks.check_arguments(args) is None
    assert out.is_dir() and list(out.iterdir()) == []  # created, and the write probe removed
    with pytest.raises(ValueError, match="is not a device"):
        _checks.check_arguments(argparse.Namespace(command="measure", out=out, device="cpu0"))


@pytest.mark.parametrize("content", [b"", b"\x00garbage" * 10, b"PK\x03\x04cut"])
def test_corrupted_probe_file(tmp_path: Path, capsys, content: bytes) -> None:
    probe = tmp_path / "probes.pt"
    probe.write_bytes(content)
    err = _error(capsys, [*MEASURE, "--inputs", str(probe), "--out", str(tmp_path / "o")])
    assert f"probe file {probe} is damaged" in err
    assert "weights_only" not in err


def test_truncated_npy_probe_file(tmp_path: Path, capsys) -> None:
    import numpy as np

    probe = tmp_path / "probes.npy"
    np.save(probe, np.zeros((4, 64)))
    probe.write_bytes(probe.read_bytes()[:100])
    err = _error(capsys, [*MEASURE, "--inputs", str(probe), "--out", str(tmp_path / "o")])
    assert "is damaged" in err


def test_report_on_truncated_results_names_the_file(tmp_path: Path, capsys) -> None:
    (tmp_path / "results.json").write_text('{"schema_version": 1, "kind": "meas')
    err = _error(capsys, ["report", str(tmp_path)])
    assert str(tmp_path / "results.json") in err and "damaged" in err


def test_report_on_results_without_a_key(tmp_path: Path, capsys) -> None:
    (tmp_path / "results.json").write_text(json.dumps({"schema_version": 1, "data": {}}))
    err = _error(capsys, ["report", str(tmp_path)])
    assert str(tmp_path / "results.json") in err and "'kind'" in err


def test_train_rerun_with_other_settings_is_refused_then_fresh(tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "run")
    assert main([*TRAIN, "--method", "plain", "--out", out]) == 0
    first = json.loads((tmp_path / "run" / "results.json").read_text())
    capsys.readouterr()
    err = _error(capsys, [*TRAIN, "--method", "weight_decay", "--out", out])
    assert "other settings" in err and "--fresh" in err and "method" in err
    # the refused run changed nothing
    assert json.loads((tmp_path / "run" / "results.json").read_text()) == first
    err = _error(capsys, [*TRAIN, "--method", "plain", "--steps", "3", "--out", out])
    assert "more than the 3 asked for" in err
    assert main([*TRAIN, "--method", "weight_decay", "--fresh", "--out", out]) == 0
    second = json.loads((tmp_path / "run" / "results.json").read_text())
    assert second["data"]["runs"][0]["method"] == "weight_decay"


def test_train_rerun_with_more_steps_continues(tmp_path: Path, caplog) -> None:
    out = str(tmp_path / "run")
    assert main([*TRAIN, "--method", "plain", "--out", out]) == 0
    argv = [a if a != "6" else "9" for a in TRAIN]
    with caplog.at_level(logging.WARNING):
        assert main([*argv, "--method", "plain", "--out", out]) == 0
    assert "continuing that run to 9 steps" in caplog.text
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["data"]["runs"][0]["trajectory"][-1]["step"] == 9


@pytest.fixture(scope="module")
def phase_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished phase run (one activation, one seed: seconds) to craft results from."""
    import dataclasses

    from criticality.experiments.phase import PhaseConfig
    from criticality.experiments.phase import run as run_phase

    out = tmp_path_factory.mktemp("phase") / "run"
    cfg = dataclasses.replace(PhaseConfig.tiny(), activations=("tanh",), seeds=(0,))
    run_phase(cfg, out)
    return out


@pytest.mark.parametrize(
    "name", ["../../escaped", "../../../escaped", "{abs}/escaped", "ünï côde/x:y*?|<>", ".."]
)
def test_report_writes_nothing_outside_its_folder(
    phase_run: Path, tmp_path: Path, capsys, name: str
) -> None:
    """A results.json whose names hold ``../``, absolute paths or odd characters: every figure
    lands in ``D/figures`` under a plain file name (issue 28)."""
    import shutil

    crafted = tmp_path / "a" / "b" / "D"
    shutil.copytree(phase_run, crafted)
    shutil.rmtree(crafted / "figures")
    path = crafted / "results.json"
    results = json.loads(path.read_text())
    name = name.format(abs=tmp_path)
    results["data"]["phase"] = {name: results["data"]["phase"]["tanh"]}
    path.write_text(json.dumps(results))
    before = {p for p in tmp_path.rglob("*") if not p.is_relative_to(crafted)}
    assert main(["report", str(crafted)]) == 0
    capsys.readouterr()
    after = {p for p in tmp_path.rglob("*") if not p.is_relative_to(crafted)}
    assert after == before  # nothing written outside D
    figures = sorted((crafted / "figures").iterdir())
    assert len(figures) == 1 and figures[0].suffix == ".png"
    assert re.fullmatch(r"[A-Za-z0-9._+=-]+", figures[0].name), figures[0].name
    assert "data:image/png;base64" in (crafted / "report.html").read_text()  # and drawn


@pytest.mark.parametrize("flag", ["--format", "--tensorboard"])
def test_report_export_to_a_bad_place_fails_before_rendering(
    tmp_path: Path, capsys, flag: str
) -> None:
    run = tmp_path / "run"
    assert main([*MEASURE, "--out", str(run)]) == 0
    capsys.readouterr()
    (run / "report.html").unlink()
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    if flag == "--format":
        (run / "tables").write_text("mine")  # where the tables go is a file
        argv = ["report", str(run), "--format", "csv"]
    else:
        argv = ["report", str(run), "--tensorboard", str(blocker)]
    err = _error(capsys, argv)
    assert "is a file, not a folder" in err
    assert not (run / "report.html").exists()  # refused before re-rendering
