"""Outputs are readable by others (the umask decides, as for any tool); `report --open`."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from criticality._meta import atomic_write
from criticality.cli.main import main


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def modes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in folder.rglob("*")}


@pytest.mark.parametrize(("mask", "file_mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_write_respects_the_umask(
    tmp_path: Path, umask: None, mask: int, file_mode: int
) -> None:
    os.umask(mask)
    path = atomic_write(tmp_path / "sub" / "x.json", "{}")
    assert stat.S_IMODE(path.stat().st_mode) == file_mode
    atomic_write(path, "{}")  # replacing keeps it
    assert stat.S_IMODE(path.stat().st_mode) == file_mode
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_every_output_of_a_run_is_readable_by_others(tmp_path: Path, umask: None) -> None:
    out = tmp_path / "run"
    assert (
        main(["measure", "--model", "mlp", "--n-probes", "2", "--k", "2", "--out", str(out)]) == 0
    )
    found = modes(out)
    assert {"results.json", "config.json", "report.html", "figures/stage_profile.png"} <= set(found)
    for name, mode in found.items():
        want = 0o755 if (out / name).is_dir() else 0o644
        assert mode == want, f"{name}: {oct(mode)}"


def test_report_open_opens_the_browser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert (
        main(["measure", "--model", "mlp", "--n-probes", "2", "--k", "2", "--out", str(out)]) == 0
    )
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    assert main(["report", str(out), "--open"]) == 0
    assert opened == [(out / "report.html").resolve().as_uri()]
    monkeypatch.setattr("webbrowser.open", lambda url: False)
    assert main(["report", str(out), "--open"]) == 0
    assert "no browser found" in capsys.readouterr().out
