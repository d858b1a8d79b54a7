"""Output folders belong to the run (issue 28): a run writes only into a folder that is new,
empty or marked as its experiment's own; anything else is refused with one line naming what is
there, unless ``--fresh`` (which moves it aside, never deletes); one writer per folder."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

import pytest

from criticality.reporting import (
    ConfigMismatchError,
    FolderTakenError,
    _folders,
    fresh_start,
    owned_folder,
    resume_dir,
    write_results,
)


def _old(path: Path, text: str = "mine") -> Path:
    """A user's file from before this process began."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    past = time.time() - 3600
    os.utime(path, (past, past))
    return path


def _write(out: Path, kind: str = "phase") -> Path:
    return write_results(out, kind, {"steps": 3}, {"x": 1}, seed=0)


def test_new_and_empty_folders_are_marked(tmp_path: Path) -> None:
    _write(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    _write(tmp_path / "empty")
    for name in ("new", "empty"):
        marker = json.loads((tmp_path / name / _folders.MARKER).read_text())
        assert marker["experiment"] == "phase" and len(marker["config_hash"]) == 16
    _write(tmp_path / "new")  # its own folder: a rerun writes again


@pytest.mark.parametrize("names", [("config.json", "results.json", "report.html"), ("notes.txt",)])
def test_user_files_are_never_overwritten(tmp_path: Path, names: tuple[str, ...]) -> None:
    for name in names:
        _old(tmp_path / name, f"user's {name}")
    with pytest.raises(FolderTakenError, match=r"holds .*not a phase run.*--fresh") as err:
        _write(tmp_path)
    assert names[0] in str(err.value) and "\n" not in str(err.value)
    for name in names:
        assert (tmp_path / name).read_text() == f"user's {name}"
    assert not (tmp_path / _folders.MARKER).exists()


def test_another_experiments_run_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "collapse")
    before = (tmp_path / "results.json").read_text()
    with pytest.raises(FolderTakenError, match="holds a run of 'collapse', not a phase run"):
        _write(tmp_path, "phase")
    assert (tmp_path / "results.json").read_text() == before


def test_run_from_before_markers_is_adopted(tmp_path: Path) -> None:
    _old(tmp_path / "results.json", json.dumps({"kind": "phase", "data": {}}))
    _old(tmp_path / "parts" / "phase_tanh.json", "{}")
    _write(tmp_path)
    assert json.loads((tmp_path / _folders.MARKER).read_text())["experiment"] == "phase"


def test_fresh_moves_the_content_aside(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _old(out / "config.json", "user's")
    with fresh_start():
        _write(out)
    assert (tmp_path / "out.replaced-1" / "config.json").read_text() == "user's"
    assert json.loads((out / "config.json").read_text()) == {"steps": 3}


def test_damaged_marker_is_named(tmp_path: Path) -> None:
    _write(tmp_path)
    (tmp_path / _folders.MARKER).write_text('{"experi')
    with pytest.raises(FolderTakenError, match=r"\.criticality-run\.json is damaged.*delete"):
        _write(tmp_path)


def _foreign_lock(folder: Path) -> int:
    """Hold the folder's lock through another open file, as a second process would."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / _folders.LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, b"pid 4242")
    return fd


def test_second_writer_is_refused(tmp_path: Path) -> None:
    fd = _foreign_lock(tmp_path / "out")
    try:
        with pytest.raises(ValueError, match=r"another run is writing .*pid 4242"):
            _write(tmp_path / "out")
        with pytest.raises(ValueError, match="another run is writing"):
            resume_dir(tmp_path / "out", {"a": 1})
        with (
            pytest.raises(ValueError, match="another run is writing"),
            owned_folder(tmp_path / "out", "phase", {}),
        ):
            pass
    finally:
        os.close(fd)
    _write(tmp_path / "out")  # free again once the other writer is gone


def test_units_are_locked_until_the_run_writes_its_results(tmp_path: Path) -> None:
    units = resume_dir(tmp_path / "runs", {"a": 1})
    assert _folders.held(units)
    _write(tmp_path)
    assert not _folders.held(units)


def test_owned_folder_refuses_before_any_work(tmp_path: Path) -> None:
    _old(tmp_path / "config.json")
    work: list[int] = []
    with pytest.raises(FolderTakenError), owned_folder(tmp_path, "phase", {"steps": 3}):
        work.append(1)
    assert work == [] and not _folders.held(tmp_path)
    with owned_folder(tmp_path / "run", "phase", {"steps": 3}) as out:
        assert _folders.held(out) and _folders.claimed(out)
        _write(out)
    assert not _folders.held(out)


def test_resume_dir_fresh_sets_work_aside(tmp_path: Path) -> None:
    units = resume_dir(tmp_path / "runs", {"a": 1})
    (units / "unit.json").write_text("{}")
    resume_dir(tmp_path / "runs", {"a": 1}, fresh=True)
    assert (tmp_path / "runs.replaced-1" / "unit.json").is_file()
    assert not (tmp_path / "runs" / "unit.json").exists()
    _folders.release_under(tmp_path)


def test_figures_stay_in_the_folder_being_rendered(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from criticality.reporting.plots import save

    out = tmp_path / "D"
    (out / "figures").mkdir(parents=True)
    with _folders.rendering(out):
        for name in ("../../x.png", "a/../../../x.png", "../figures/../../x.png", "ok.png"):
            path = save(plt.figure(), out / "figures" / name)
            assert path.parent == out / "figures" and path.is_file()
        with pytest.raises(ValueError, match="outside the output folder"):
            save(plt.figure(), tmp_path / "elsewhere.png")  # an absolute name from the data
    plt.close("all")
    assert _folders.render_root() is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["D"]


@pytest.mark.parametrize(
    ("name", "safe"),
    [("trajectory_mnist_mlp.png", "trajectory_mnist_mlp.png"), ("a/b.png", "a_b-"),
     ("../..", "figure-"), (".hidden.png", "hidden-"), ("x" * 300 + ".png", "x" * 120 + "-")],
)  # fmt: skip
def test_safe_name(name: str, safe: str) -> None:
    got = _folders.safe_name(name)
    assert got.startswith(safe) and "/" not in got and not got.startswith(".")
    assert _folders.safe_name(name.upper()) != got or name == name.upper()


@pytest.mark.parametrize("damage", [b'{"steps": 3, "l', b"\x00\xff" * 20, b"[1, 2]"])
def test_damaged_stamp_offers_to_keep_the_work(tmp_path: Path, damage: bytes) -> None:
    """A damaged stamp of a whole run's units offers to keep them (not only --fresh)."""
    units = resume_dir(tmp_path / "runs", {"steps": 3}, on_change="refuse")
    (units / "run_a.json").write_text("{}")
    (units / "config.json").write_bytes(damage)
    with pytest.raises(ConfigMismatchError, match=r"config\.json is damaged.*delete .* keep it"):
        resume_dir(tmp_path / "runs", {"steps": 3}, on_change="refuse")
    (units / "config.json").unlink()  # what the message advises
    assert resume_dir(tmp_path / "runs", {"steps": 3}, on_change="refuse") == units
    assert (units / "run_a.json").is_file()
    _folders.release_under(tmp_path)


def _age(folder: Path) -> None:
    """Make everything in ``folder`` older than this process, as a killed earlier run's."""
    past = time.time() - 3600
    for path in [*folder.rglob("*"), folder]:
        os.utime(path, (past, past), follow_symlinks=False)


def test_a_run_killed_before_its_results_resumes_in_a_new_process(tmp_path: Path) -> None:
    """A first run killed before ``write_results`` left units, checkpoints and a store, but no
    marker; the rerun (a new process: all of it older) keeps them and writes its results."""
    out = tmp_path / "out"
    resume_dir(out / "units" / "gmm" / "replace-plain" / "seed0", {"a": 1})
    (out / "checkpoints" / "run_a").mkdir(parents=True)
    (out / "checkpoints" / "run_a" / "last.pt").write_bytes(b"x")
    (out / "scan.sqlite").write_bytes(b"x")
    _folders.release_under(out)
    _age(out)
    _write(out)
    assert json.loads((out / _folders.MARKER).read_text())["experiment"] == "phase"


def test_a_user_folder_beside_run_work_is_still_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    resume_dir(out / "runs", {"a": 1})
    _old(out / "thesis" / "chapter1.tex")
    _folders.release_under(out)
    _age(out)
    with pytest.raises(FolderTakenError, match="holds thesis, not a phase run"):
        _write(out)


def test_every_registered_run_claims_its_folder_before_any_work(tmp_path: Path) -> None:
    from criticality.experiments import get_experiment, list_experiments

    _old(tmp_path / "config.json")
    before = sorted(_folders._content(tmp_path))  # the lock file is bookkeeping, not work
    for name in list_experiments():
        spec = get_experiment(name)
        with pytest.raises(FolderTakenError, match="not a"):
            spec.run(spec.preset("tiny"), tmp_path)
        # refused before the run began: nothing written, the user's file untouched
        assert sorted(_folders._content(tmp_path)) == before, name
    assert (tmp_path / "config.json").read_text() == "mine"
