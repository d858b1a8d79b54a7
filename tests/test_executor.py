"""map_jobs: local and Ray executors give the same results, and report failures the same way."""

from __future__ import annotations

import os

import pytest

from criticality.executor import map_jobs


def square(n: int) -> int:
    if n == 3:
        raise RuntimeError(f"job {n} failed")
    return n * n


def label_error(n: int, err: BaseException) -> str:
    return f"failed {n}: {type(err).__name__}"


def test_local_runs_in_order_and_hands_failures_to_on_error() -> None:
    out = list(map_jobs(square, [1, 2, 3, 4], on_error=label_error))  # type: ignore[arg-type]
    assert out == [(1, 1), (2, 4), (3, "failed 3: RuntimeError"), (4, 16)]
    with pytest.raises(RuntimeError, match="job 3 failed"):
        list(map_jobs(square, [3]))
    with pytest.raises(ValueError, match="unknown executor 'dask'"):
        map_jobs(square, [1], executor="dask")
    assert list(map_jobs(square, [], executor="ray")) == []  # no jobs: Ray is not even started


def die(n: int) -> int:
    if n == 2:
        os._exit(1)  # the worker process dies, as when the OS kills it for memory
    return n


def test_ray_gives_the_local_results_and_failure_rows(local_ray: None) -> None:
    jobs = [1, 2, 3, 4]
    local = sorted(map_jobs(square, jobs, on_error=label_error))  # type: ignore[arg-type]
    remote = sorted(map_jobs(square, jobs, executor="ray", on_error=label_error))  # type: ignore[arg-type]
    assert remote == local
    died = dict(map_jobs(die, jobs, executor="ray", on_error=lambda n, e: -n))
    assert died == {1: 1, 2: -2, 3: 3, 4: 4}
