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


def test_the_first_screen_commands_two_sentences_a_picture_then_the_quick_start() -> None:
    text = README.read_text()
    screen = text.split("## Quick start (Python)", 1)[0]
    commands = re.search(r"```bash\n(.*?)```", screen, re.S)
    assert commands and screen.index("```bash") < screen.index("`criticality` measures")
    assert [line.split()[:2] for line in commands.group(1).splitlines()] == [
        ["make", "demo"],
        ["make", "test"],
    ]
    picture = re.search(r"!\[[^\]]+\]\((docs/figures/[\w.]+\.png)\)", screen)
    assert picture, "a picture before the quick start"
    png = README.parent / picture.group(1)
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    assert width >= 600 and height >= 200 and png.stat().st_size < 300_000
    assert "docs/figures/readme_figure.py" in screen  # how it is regenerated
    # dated timings live on the results page, not in the README
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b|took \d+ minutes", text)
    demo = (README.parent / "docs" / "results" / "demo.md").read_text()
    assert re.search(r"\| 20\d\d-\d\d-\d\d \|", demo)


def test_the_readme_figure_script_draws_from_a_run(tmp_path: Path) -> None:
    """The script's drawing on a seconds-long run of the same experiment."""
    import dataclasses
    import importlib.util
    import json

    from criticality.experiments.phase import PhaseConfig, run

    path = README.parent / "docs" / "figures" / "readme_figure.py"
    spec = importlib.util.spec_from_file_location("readme_figure", path)
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    cfg = dataclasses.replace(PhaseConfig.tiny(), measures=script.CONFIG.measures)
    run(cfg, tmp_path / "run")
    phase = json.loads((tmp_path / "run" / "results.json").read_text())["data"]["phase"]
    script.draw(phase, tmp_path / "figure.png")
    assert (tmp_path / "figure.png").read_bytes()[:4] == b"\x89PNG"
