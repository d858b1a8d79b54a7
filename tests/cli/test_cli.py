"""The command line end to end on small models: measure, report, list, demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from criticality.cli.main import main


def test_measure_writes_results_figures_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code = main(["measure", "--model", "mlp", "--n-probes", "3", "--k", "2", "--out", str(out)])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["schema_version"] == 1 and results["kind"] == "measure"
    assert {"seed", "versions", "device"} <= set(results)
    assert (out / "config.json").is_file()
    assert sorted(p.name for p in (out / "figures").iterdir()) == [
        "spectrum.png",
        "stage_profile.png",
    ]
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and 'src="http' not in html
    assert "operates in the" in capsys.readouterr().out

    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0
    rerendered = (out / "report.html").read_text()
    assert "Regime of mlp" in rerendered and len(rerendered) > 0.9 * len(html)


def test_unknown_model_gets_suggestions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["measure", "--model", "resnt18", "--out", "unused"]) == 2
    assert "Did you mean: resnet18" in capsys.readouterr().err


def test_report_of_empty_folder_fails_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "results.json does not exist" in capsys.readouterr().err


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "models", "resnet1*", "--source", "torchvision"]) == 0
    assert capsys.readouterr().out.split() == ["resnet101", "resnet152", "resnet18"]
    assert main(["list", "measures"]) == 0
    assert "lyapunov" in capsys.readouterr().out
