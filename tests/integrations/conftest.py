"""The integration tests use the real optional packages (``make test`` installs every extra)."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``; skip where the extra is not installed, fail on CI (which has it)."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        reason = f"{module} is not installed: pip install 'criticality[{extra}]' ({err})"
        if os.environ.get("CI"):
            pytest.fail(f"CI installs every extra; {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def transformers() -> ModuleType:
    return require("transformers", "hf")


@pytest.fixture(scope="session")
def lightning() -> ModuleType:
    return require("lightning", "lightning")
