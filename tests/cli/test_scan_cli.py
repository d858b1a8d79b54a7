"""``criticality scan`` arguments map onto a ScanConfig and produce a report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from criticality.cli import scan as scan_cli


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    scan_cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_scan_command_writes_a_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scan"
    args = _args("squeezenet1_1", "mnasnet0_5", "--image-size", "32", "--n-probes", "2",
                 "--measures", "lyapunov", "--threads", "1", "--out", str(out))  # fmt: skip
    assert scan_cli.run(args) == 0
    assert f"report: {out / 'report.html'}" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["patterns"] == ["squeezenet1_1", "mnasnet0_5"] and config["weights"] == ["random"]
    assert config["measures"] == ["lyapunov"] and config["image_size"] == 32


def test_paired_needs_pretrained() -> None:
    with pytest.raises(ValueError, match="--paired"):
        scan_cli.run(_args("--paired"))
