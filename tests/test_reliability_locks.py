"""One writer per output folder, across real processes (issue 28).

A second ``criticality experiment`` (or ``criticality train``) on an ``--out`` that another
process is writing exits non-zero with one line naming the folder, and the first run finishes
with its results intact. The lock is a ``flock`` (:mod:`criticality.reporting._folders`), so the
tests are deterministic: the test process holds the lock itself, or stops the first run
(``SIGSTOP``) while it holds the lock, starts the second, and lets the first go on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import criticality
from criticality.experiments import get_experiment
from criticality.reporting import _folders

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock: POSIX only")

SRC = str(Path(criticality.__file__).resolve().parents[1])
#: ``criticality experiment phase`` at its smallest: seconds.
PHASE = ["experiment", "phase", "--preset", "tiny", "--set", 'activations=["tanh"]',
         "--set", 'measures=["lyapunov"]']  # fmt: skip
TRAIN = ["train", "--dataset", "digits", "--steps", "4", "--monitor-every", "2",
         "--batch-size", "16", "--probe-size", "8"]  # fmt: skip


def _start(args: list[str], out: Path) -> subprocess.Popen[str]:
    """``criticality ARGS --out OUT`` in a new process."""
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "criticality.cli.main", *args, "--out", str(out)]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def _refusal(err: str, folder: Path) -> str:
    """The one error line of a refused run; it names the folder being written."""
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    assert f"another run is writing {folder}" in lines[0], err
    assert "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [pytest.param(PHASE, id="experiment"), pytest.param(TRAIN, id="train")],
)
def test_a_run_on_a_folder_another_process_writes_is_refused_before_any_work(
    tmp_path: Path, args: list[str]
) -> None:
    """The test process holds ``--out``'s lock, as a running experiment would."""
    out = tmp_path / "out"
    _folders.hold(out)
    try:
        code, err = _finish(_start(args, out))
    finally:
        _folders.release(out)
    assert code != 0
    assert f"pid {os.getpid()}" in _refusal(err, out)
    assert sorted(p.name for p in out.iterdir()) == [_folders.LOCK]  # nothing written


def _wait_until_locked_by(proc: subprocess.Popen[str], lock: Path, timeout: float = 120) -> None:
    """Wait until ``proc`` has written its process id into ``lock`` (it holds the lock)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if lock.is_file() and lock.read_text() == f"pid {proc.pid}":
            return
        if proc.poll() is not None:
            pytest.fail(f"the first run ended before it took the lock: {proc.communicate()}")
        time.sleep(0.01)
    pytest.fail("the first run never took the lock")


def _locked(lock: Path) -> bool:
    """Whether some process holds ``lock`` (tried without taking it for long)."""
    import fcntl

    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock taken here at once
    return False


def test_two_real_runs_on_one_folder(tmp_path: Path) -> None:
    """The first run is stopped while it holds the folder; the second is refused with one
    line naming it; the first, let go, finishes with the results of an undisturbed run."""
    out = tmp_path / "out"
    first = _start(PHASE, out)
    try:
        _wait_until_locked_by(first, out / _folders.LOCK)
        first.send_signal(signal.SIGSTOP)  # it cannot finish (and unlock) while we look
        if not _locked(out / _folders.LOCK):  # pragma: no cover - it had finished already
            first.send_signal(signal.SIGCONT)
            pytest.skip("the first run finished before it could be stopped")
        code, err = _finish(_start(PHASE, out))
        assert code != 0
        assert f"pid {first.pid}" in _refusal(err, out)
    finally:
        first.send_signal(signal.SIGCONT)
    code, err = _finish(first)
    assert code == 0, err
    got = json.loads((out / "results.json").read_text())
    assert got["kind"] == "phase"
    assert not [p for p in tmp_path.iterdir() if p.name != "out"], "nothing set aside"
    reference = tmp_path.parent / f"{tmp_path.name}-reference"
    spec = get_experiment("phase")
    tiny = spec.preset("tiny")
    spec.run(dataclasses.replace(tiny, activations=("tanh",), measures=("lyapunov",)), reference)
    want = json.loads((reference / "results.json").read_text())
    assert got["data"] == want["data"]


def test_a_finished_run_gives_back_every_lock(tmp_path: Path) -> None:
    """After ``run`` returns (or fails), this process holds no lock under ``--out``, so another
    process (a terminal beside a notebook) may resume there."""
    spec = get_experiment("phase")
    cfg = dataclasses.replace(spec.preset("tiny"), activations=("tanh",), measures=("lyapunov",))
    out = tmp_path / "out"
    spec.run(cfg, out)
    assert not [k for k in _folders._HELD if k.startswith(str(out.resolve()))]
    with pytest.raises(ValueError, match="other settings"):
        spec.run(dataclasses.replace(cfg, depth=cfg.depth + 1), out)  # refused by the stamp
    assert not [k for k in _folders._HELD if k.startswith(str(out.resolve()))]
