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
    marked["value"]["accuracy"] = 12.5  # the unit file: {"unit", "config", "value"}
    parts[0].write_text(json.dumps(marked))
    parts[1].write_text(parts[1].read_text()[:100])  # cut short: set aside, trained again
    again = zoo.run_parts(zoo.ZooConfig.tiny(), tmp_path)  # finished pieces are reused
    assert 12.5 in [e["accuracy"] for e in again["c"]["mnist"]]
    assert (tmp_path / "zoo_parts" / f"{parts[1].name}.damaged-1").is_file()
    redone = {e["spec"]["name"]: e for e in again["c"]["mnist"]}
    for entry in mini:  # the entry trained again equals the first (deterministic)
        if f"mnist_{entry['spec']['name']}.json" == parts[1].name:
            assert (
                redone[entry["spec"]["name"]]["trained"]["results"] == entry["trained"]["results"]
            )
            assert redone[entry["spec"]["name"]]["accuracy"] == entry["accuracy"]

    html = render_html("zoo", zoo.sections(again, tmp_path))
    for words in ("(a) torchvision", "(b) EfficientNet-Lite", "trained mini-zoo", "Wilcoxon",
                  "not in the bounded demo"):  # fmt: skip
        assert words in html
