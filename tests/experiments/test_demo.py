"""The demo composes every registered demo part, runs end to end tiny, and resumes."""

from __future__ import annotations

import json
from pathlib import Path

from criticality.experiments import demo, demo_parts, get_experiment
from criticality.experiments.phase import PhaseConfig


def test_tiny_demo_runs_every_part_and_resumes(tmp_path: Path) -> None:
    cfg = demo.DemoConfig.tiny()
    path = demo.run(cfg, tmp_path)
    assert path == tmp_path / "report.html"
    html = path.read_text()
    results = json.loads((tmp_path / "results.json").read_text())
    parts = results["data"]["parts"]
    assert list(parts) == demo_parts()  # the registry decides, in demo_rank order
    assert {"phase", "architectures", "zoo", "training"} <= set(parts)
    for name, data in parts.items():  # each part renders its own sections into the demo
        for section in get_experiment(name).sections(data, tmp_path / name):
            assert section.title in html
    assert "Phase diagram of random MLPs" in html and "resnet18" in html
    tanh = parts["phase"]["phase"]["tanh"]
    assert len(tanh["measured"]["lyapunov"]) == len(PhaseConfig.tiny().sigma_w)
    # ordered at the smallest σ_w, chaotic at the largest
    assert tanh["measured"]["lyapunov"][0] < 0 < tanh["measured"]["lyapunov"][-1]

    # A finished unit of a part is reused, not recomputed: plant a marker, drop the part's
    # results so that the part runs again, and run the demo again.
    unit = tmp_path / "phase" / "parts" / "phase_tanh.json"
    data = json.loads(unit.read_text())
    data["marker"] = True
    unit.write_text(json.dumps(data))
    (tmp_path / "phase" / "results.json").unlink()
    demo.run(cfg, tmp_path)
    again = json.loads((tmp_path / "results.json").read_text())["data"]["parts"]
    assert again["phase"]["phase"]["tanh"]["marker"]
    assert again["training"] == parts["training"]  # a finished part is not run again
