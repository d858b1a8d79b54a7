"""The floors of the package: no import circle (``TYPE_CHECKING`` imports included), and the
training monitor reaches TensorBoard only through a sink handed in from outside."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import torch

from criticality.training import CriticalityMonitor, fit
from criticality.zoo import mlp

SRC = Path(__file__).resolve().parents[1] / "src"

#: Circles still to be removed, each with the work that removes it. Remove a line when its circle
#: is gone (the test fails on a listed circle that no longer exists, and on any new one).
KNOWN: dict[frozenset[str], str] = {}


def import_graph(root: Path) -> tuple[dict[str, set[str]], set[str]]:
    """Module -> the package's modules it imports (every ``import``, at any depth, including
    those under ``if TYPE_CHECKING:``), and the set of packages (``__init__`` modules)."""
    files = {}
    for path in root.rglob("*.py"):
        name = ".".join(path.relative_to(root).with_suffix("").parts)
        files[name.removesuffix(".__init__")] = path
    packages = {m for m, p in files.items() if p.name == "__init__.py"}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        here = module if module in packages else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                graph[module] |= {a.name for a in node.names if a.name in files}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join([*parts, *([base] if base else [])])
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    graph[module].add(full if full in files else base)
        graph[module] &= set(files)
    return graph, packages


def circles(graph: dict[str, set[str]], skip: set[str]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan), ``skip`` left out."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v] - skip:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(frozenset(comp))

    for v in sorted(set(graph) - skip):
        if v not in index:
            visit(v)
    return found


def test_the_circle_finder_finds_a_type_checking_circle(tmp_path: Path) -> None:
    pkg = tmp_path / "p"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from p import b\n")
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from p.a import X\n"
    )
    (pkg / "c.py").write_text("from . import a\n")
    graph, packages = import_graph(tmp_path)
    assert graph["p.c"] == {"p.a"}
    assert circles(graph, packages) == [frozenset({"p.a", "p.b"})]


def test_no_import_circle_in_the_package() -> None:
    """A package's ``__init__`` re-exports its children, so edges into packages are left out;
    every other circle, ``TYPE_CHECKING`` imports included, is an error."""
    graph, packages = import_graph(SRC)
    found = set(circles(graph, packages))
    assert found - set(KNOWN) == set(), "new import circle(s)"
    assert set(KNOWN) - found == set(), "a listed circle is gone: remove it from KNOWN"


def test_training_imports_no_integration() -> None:
    graph, _ = import_graph(SRC)
    below = [m for m in graph if not m.startswith(("criticality.integrations", "criticality.cli"))]
    upward = {
        m: sorted(i for i in graph[m] if i.startswith("criticality.integrations")) for m in below
    }
    assert {m: v for m, v in upward.items() if v} == {}


class Recorder:
    """A sink that keeps what it is sent."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.closed = 0

    def write(self, results: dict[str, Any], step: int) -> None:
        assert "lyapunov" in results
        self.steps.append(step)

    def close(self) -> None:
        self.closed += 1


def test_the_monitor_sends_every_measurement_to_its_sinks() -> None:
    net = mlp(depth=3, width=6, seed=0)
    x, y = torch.randn(16, 6), torch.randint(0, 6, (16,))
    sink = Recorder()
    monitor = CriticalityMonitor(
        torch.randn(3, 6), every=2, options={"lyapunov": {"k": 1}}, sinks=[sink]
    )
    fit(net, (x, y), steps=4, batch_size=8, lr=0.05, callbacks=[monitor])
    assert sink.steps == [r["step"] for r in monitor.records()] == [0, 2, 4]
    assert sink.closed == 1
    with pytest.raises(TypeError, match=r"sinks=\[TensorBoardSink\('runs/tb'\)\]"):
        CriticalityMonitor(torch.randn(3, 6), tensorboard="runs/tb")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs write"):
        CriticalityMonitor(torch.randn(3, 6), sinks=[object()])  # type: ignore[list-item]


def test_tensorboard_sink_writes_each_measurement(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from criticality.integrations.tensorboard import TensorBoardSink

    net = mlp(depth=3, width=6, seed=0)
    x, y = torch.randn(16, 6), torch.randint(0, 6, (16,))
    sink = TensorBoardSink(tmp_path / "tb")
    monitor = CriticalityMonitor(
        torch.randn(3, 6), every=2, options={"lyapunov": {"k": 2}}, sinks=[sink]
    )
    fit(net, (x, y), steps=4, batch_size=8, lr=0.05, callbacks=[monitor])
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    scalars = acc.Scalars("criticality/lambda_1")
    assert [s.step for s in scalars] == [0, 2, 4]
    for s, record in zip(scalars, monitor.records(), strict=True):
        assert s.value == pytest.approx(record["lyapunov"], rel=1e-6)  # stored as float32
