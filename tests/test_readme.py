"""The README's extension examples run as written: a new training method, a new experiment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def snippet(name: str) -> str:
    """The ```python block that follows ``<!-- readme-test: NAME -->`` in the README."""
    match = re.search(rf"<!-- readme-test: {name} -->\s*```python\n(.*?)```", README.read_text(),
                      re.S)  # fmt: skip
    assert match, f"no readme-test block {name!r}"
    return match.group(1)


def test_the_method_example_registers_a_method_that_trains() -> None:
    from criticality.training import fit
    from criticality.training.methods import _registry
    from criticality.zoo import mlp_classifier

    exec(snippet("method"), {})
    try:
        model = mlp_classifier((4,), 2, depth=1, width=8, seed=0)
        data = (torch.randn(32, 4), torch.randint(0, 2, (32,)))
        result = fit(model, data, steps=3, batch_size=8, method="l1", progress=False)
        l1 = sum(p.abs().sum() for p in model.parameters()).item()
        assert result.penalty[-1] == pytest.approx(1e-5 * l1, rel=0.05)  # the penalty it adds
    finally:
        del _registry._REGISTRY["l1"]


def test_the_experiment_example_registers_an_experiment_that_runs(tmp_path: Path) -> None:
    import sys
    import types

    from criticality.experiments import _registry, get_experiment, render

    module = types.ModuleType("readme_experiment")  # dataclasses look their module up
    sys.modules[module.__name__] = module
    exec(snippet("experiment"), module.__dict__)
    try:
        spec = get_experiment("width")
        path = spec.run(spec.preset("tiny"), tmp_path)
        assert "λ_1 against width" in path.read_text()
        assert render(tmp_path) == path
    finally:
        del _registry._REGISTRY["width"], sys.modules[module.__name__]
