"""Shared test settings: deterministic, double precision where mathematics is checked."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_and_threads() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)  # robust to a busy machine; the test models are small
