"""docs/performance.md and the README's cost table are generated from benchmarks/results/
(``benchmarks/performance_doc.py``): the committed documents must equal what the recorded
results give, so a re-run benchmark cannot leave a stale number behind."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _doc_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "performance_doc", ROOT / "benchmarks" / "performance_doc.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_blocks_equal_the_recorded_results() -> None:
    doc = _doc_module()
    for path in doc.DOCS:
        text = path.read_text()
        assert "<!-- generated:" in text, path
        assert doc.render(text) == text, (
            f"{path} is stale: run python benchmarks/performance_doc.py"
        )


def test_a_changed_result_changes_its_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = _doc_module()
    shutil.copytree(doc.RESULTS, tmp_path, dirs_exist_ok=True)
    cost = json.loads((tmp_path / "measure_cost.json").read_text())
    row = next(r for r in cost["rows"] if r["model"] == "resnet18")
    row["forward_equivalents_per_input"]["lyapunov_k1"] = 123.456
    (tmp_path / "measure_cost.json").write_text(json.dumps(cost))
    monkeypatch.setattr(doc, "RESULTS", tmp_path)
    text = (ROOT / "docs" / "performance.md").read_text()
    new = doc.render(text)
    assert new != text and "| 123.46 |" in new
    assert (
        new.split("<!-- generated: TABLE_LYAPUNOV -->")[0]
        == text.split("<!-- generated: TABLE_LYAPUNOV -->")[0]
    )  # the prose before the block stays as written


def test_a_row_measured_on_a_loaded_machine_is_marked() -> None:
    doc = _doc_module()
    quiet = {"device": "cpu", "threads": 1, "load_average_1min": 1.4, "cpus": 2}
    busy = {**quiet, "load_average_1min": 2.6}
    assert "loaded" not in doc._how(quiet)
    assert "**loaded**" in doc._how(busy)
    # older results carry no core count: they were taken on the 2-core machine
    assert "**loaded**" in doc._how({k: v for k, v in busy.items() if k != "cpus"})
