"""Shared test settings: deterministic, double precision where mathematics is checked."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_and_threads() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)  # robust to a busy machine; the test models are small


@pytest.fixture(scope="session")
def local_ray() -> Iterator[None]:
    """One local Ray instance (2 CPUs) for every test that needs Ray; skipped without Ray."""
    try:
        import ray
    except ImportError:  # pragma: no cover - ray is an optional extra
        pytest.skip("ray is not installed (pip install 'criticality[ray]')")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Ray's own start-up notices
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny demo, run once per test session (tests that change it work on a copy)."""
    from criticality.experiments import demo

    out = tmp_path_factory.mktemp("tiny_demo")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        demo.run(demo.DemoConfig.tiny(), out)
    finally:
        torch.set_num_threads(threads)
    return out
