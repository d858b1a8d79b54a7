"""Fixtures for the data tests.

Real fetches use the default cache (``$CRITICALITY_CACHE`` or ``~/.cache/criticality``), shared
with ``make test`` and with users, so each item is fetched once. Fault tests run in a temporary
cache (``tmp_cache``) so corrupting or deleting files there loses nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from criticality.data import DataUnavailableError, cache_dir, fetch

_ENV = (
    "CRITICALITY_OFFLINE",
    "CRITICALITY_TIMEOUT",
    "CRITICALITY_MNIST",
    "CRITICALITY_DARKNET_PHOTOS",
    "HF_HUB_OFFLINE",
)


@pytest.fixture(scope="session")
def need() -> Callable[[str], Path]:
    """Return ``need(name)``: the item's folder in the shared cache, or skip saying why not.

    The shared cache is the one in effect when the session's first user of ``need`` starts
    (session fixtures start before ``tmp_cache``), so a test may call ``need`` after switching
    to a temporary cache and still get the shared copy.
    """
    shared = cache_dir()
    unavailable: dict[str, str] = {}

    def _need(name: str) -> Path:
        if name in unavailable:
            pytest.skip(unavailable[name])
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("CRITICALITY_CACHE", str(shared))
            try:
                return fetch(name)
            except DataUnavailableError as err:
                unavailable[name] = f"{name} unavailable here: {err}"
        pytest.skip(unavailable[name])

    return _need


@pytest.fixture
def tmp_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache in a temporary folder, with internet mirrors skipped."""
    root = tmp_path / "cache"
    monkeypatch.setenv("CRITICALITY_CACHE", str(root))
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CRITICALITY_OFFLINE", "1")
    return root


@pytest.fixture
def copy_item() -> Callable[[Path, Path], None]:
    """Return ``copy_item(src, root)``: copy a verified item folder into the cache ``root``."""
    from criticality.data import _cache

    def _copy(src: Path, root: Path) -> None:
        with _cache.staging(src.name, root) as tmp:
            shutil.copytree(src, tmp / "out")
            _cache.install(src.name, tmp / "out", "copied from the shared cache", root)

    return _copy
