"""The Ray executor on a local Ray instance gives the same rows as the local executor."""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path
from typing import Any

import pytest

from criticality.experiments.zoo import scan
from criticality.store import ResultStore

ray: Any
try:
    import ray
except ImportError:  # pragma: no cover - ray is an optional extra
    ray = None

pytestmark = pytest.mark.skipif(ray is None, reason="ray is not installed (pip install ray)")

NAMES = ("resnet18", "squeezenet1_1", "alexnet")


def test_ray_rows_equal_local_rows(tmp_path: Path, local_ray: None) -> None:
    assert "ray" in sys.modules  # started by the fixture, so the scan joins it
    # alexnet is over the cap: its failure row must come back through Ray too.
    cfg = dataclasses.replace(scan.ScanConfig.tiny(), patterns=NAMES, threads=1,
                              max_params=30_000_000)  # fmt: skip
    scan.run(cfg, tmp_path / "local")
    scan.run(dataclasses.replace(cfg, executor="ray"), tmp_path / "ray")
    with ResultStore(tmp_path / "local" / "scan.sqlite") as a, \
            ResultStore(tmp_path / "ray" / "scan.sqlite") as b:  # fmt: skip
        local, remote = a.rows(), b.rows()
    assert [(r.model, r.weights, r.config_hash, r.status, r.reason) for r in local] == [
        (r.model, r.weights, r.config_hash, r.status, r.reason) for r in remote
    ]
    assert [r.status for r in local] == ["failed", "ok", "ok"]
    for x, y in zip(local, remote, strict=True):
        if x.status == "ok":
            lam_x = x.report_dict()["results"]["lyapunov"]["exponents"]
            lam_y = y.report_dict()["results"]["lyapunov"]["exponents"]
            assert all(math.isclose(u, v, rel_tol=1e-5, abs_tol=1e-6)
                       for u, v in zip(lam_x, lam_y, strict=True))  # fmt: skip
    assert ray.is_initialized()  # the scan left the test's instance running


def test_time_limit_works_inside_ray_workers(local_ray: None) -> None:
    assert ray is not None
    cfg = dataclasses.replace(scan.ScanConfig.tiny(), time_limit=0.001)
    task = ray.remote(max_retries=0)(scan.run_job)
    row = ray.get(task.remote(scan.Job("resnet18", "random", None, cfg, "k")))
    assert row.status == "failed" and row.reason.startswith("timeout")
