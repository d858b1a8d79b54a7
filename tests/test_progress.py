"""Progress of long work: one log line per finished unit when stderr is not a terminal."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from criticality import progress as progress_module
from criticality.executor import map_jobs
from criticality.progress import duration, progress


def square(n: int) -> int:
    return n * n


def test_map_jobs_logs_a_line_per_unit_with_elapsed_and_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="criticality.progress")
    assert [r for _, r in map_jobs(square, [1, 2, 3], desc="squares", done=2)] == [1, 4, 9]
    lines = [r.getMessage() for r in caplog.records if r.name == "criticality.progress"]
    assert lines[0] == "squares: 2 of 5 units already done"
    assert [re.sub(r"\d+ s", "T", x) for x in lines[1:]] == [
        "squares: unit 3 of 5 done (1), T elapsed, about T left",
        "squares: unit 4 of 5 done (2), T elapsed, about T left",
        "squares: unit 5 of 5 done (3), T elapsed",  # nothing left: no estimate
    ]
    caplog.clear()  # a resumed run with nothing left still says where it stands
    assert list(map_jobs(square, [], desc="squares", done=5)) == []
    lines = [r.getMessage() for r in caplog.records if r.name == "criticality.progress"]
    assert lines == ["squares: 5 of 5 units already done"]


def test_the_estimate_is_the_rate_of_this_run_times_what_is_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = iter([100.0, 160.0])  # opened at 100 s; one unit done at 160 s
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: next(clock))
    bar = progress_module.Progress(5, "runs", unit="run", initial=1)
    bar.done += 1  # one unit of this run took 60 s; 3 are left: about 3 min
    assert bar.line("b") == "runs: run 2 of 5 done (b), 1 min 0 s elapsed, about 3 min 0 s left"


def test_progress_refuses_an_impossible_count() -> None:
    with pytest.raises(ValueError, match="initial <= total"), progress(2, "x", initial=3):
        pass
    assert duration(3725) == "1 h 2 min"


def test_cli_writes_a_progress_line_per_part_and_unit_to_a_log(tmp_path: Path) -> None:
    """The demo (one part: the phase diagram's tiny preset) with stderr sent to a file, as in
    ``make demo > log 2>&1``: one line per part and one per point of the sweep."""
    log = tmp_path / "demo.log"
    src = Path(__file__).resolve().parents[1] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with log.open("w") as err:
        done = subprocess.run(
            [sys.executable, "-m", "criticality.cli.main", "demo", "--tiny", "--parts", "phase",
             "--out", str(tmp_path / "demo")],
            stderr=err, stdout=subprocess.PIPE, text=True, env=env, timeout=600, check=False,
        )  # fmt: skip
    text = log.read_text()
    assert done.returncode == 0, text
    points = re.findall(r"phase diagram: point (\d+) of 12 done", text)
    assert points == [str(i) for i in range(1, 13)]  # 2 activations × 3 σ_w × 2 seeds
    assert re.findall(r"demo: part (\d) of 1 done \(phase\), \d+ s elapsed", text) == ["1"]
    assert "demo: part 1 of 1: phase" in text
