"""The offline zoo analysis in its tiny configuration: (a)-(c) run, resume and render."""

from __future__ import annotations

import json
from pathlib import Path

from criticality.experiments.zoo import zoo
from criticality.reporting.html import render_html


def test_tiny_zoo_runs_resumes_and_renders(tmp_path: Path) -> None:
    data = zoo.run_parts(zoo.ZooConfig.tiny(), tmp_path)
    json.dumps(data)  # JSON-ready for results.json
    a = data["a"]
    assert {r["model"] for r in a["rows"]} == {"resnet18", "squeezenet1_1", "alexnet"}
    alexnet = next(r for r in a["rows"] if r["model"] == "alexnet")
    assert alexnet["status"] == "failed" and alexnet["reason"].startswith("skipped")
    assert len(a["rows"]) + len(a["not_measured"]) == 80  # every architecture accounted for
    assert {r["weights"] for r in data["b"]["rows"]} == {"pretrained", "random"}
    mini = data["c"]["mnist"]
    assert len(mini) == 4 and all(0 <= e["accuracy"] <= 100 for e in mini)
    assert max(e["accuracy"] for e in mini) > 50  # 20 steps already learn something

    parts = sorted((tmp_path / "zoo_parts").glob("mnist_*.json"))
    marked = json.loads(parts[0].read_text())
    marked["accuracy"] = 12.5
    parts[0].write_text(json.dumps(marked))
    again = zoo.run_parts(zoo.ZooConfig.tiny(), tmp_path)  # finished pieces are reused
    assert 12.5 in [e["accuracy"] for e in again["c"]["mnist"]]

    html = render_html("zoo", zoo.sections(again, tmp_path))
    for words in ("(a) torchvision", "(b) EfficientNet-Lite", "trained mini-zoo", "Wilcoxon",
                  "not in the bounded demo"):  # fmt: skip
        assert words in html
