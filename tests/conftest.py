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


#: Fixtures whose tests share one pytest-xdist worker (``make test`` runs ``-n 2 --dist
#: loadgroup``): one Ray instance per machine, and the expensive session fixtures made once.
_SHARED_FIXTURES = {"local_ray": "ray", "tiny_demo": "tiny_demo"}
#: Modules whose module-scoped fixtures run every experiment once: kept on one worker.
_SHARED_MODULES = ("test_fuzz_experiments.py",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the tests that share an expensive fixture in one xdist group (a no-op without
    ``--dist loadgroup``), so that a parallel run makes each fixture once, as a serial one."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        group = next((g for f, g in _SHARED_FIXTURES.items() if f in names), None)
        if group is None and item.path.name in _SHARED_MODULES:
            group = item.path.stem
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
