"""The demo runs end to end in its tiny configuration, and resumes from finished parts."""

from __future__ import annotations

import json
from pathlib import Path

from criticality.experiments import demo


def test_tiny_demo_runs_and_resumes(tmp_path: Path) -> None:
    cfg = demo.DemoConfig.tiny()
    path = demo.run(cfg, tmp_path)
    assert path == tmp_path / "report.html"
    html = path.read_text()
    assert "Phase diagram of random MLPs" in html and "resnet18" in html
    results = json.loads((tmp_path / "results.json").read_text())
    tanh = results["data"]["phase"]["tanh"]
    assert len(tanh["measured"]["lyapunov"]) == len(cfg.sigma_w)
    # ordered at the smallest σ_w, chaotic at the largest
    assert tanh["measured"]["lyapunov"][0] < 0 < tanh["measured"]["lyapunov"][-1]

    # A finished part is reused, not recomputed: plant a marker and run again.
    part = tmp_path / "parts" / "phase_tanh.json"
    data = json.loads(part.read_text())
    data["marker"] = True
    part.write_text(json.dumps(data))
    demo.run(cfg, tmp_path)
    assert json.loads((tmp_path / "results.json").read_text())["data"]["phase"]["tanh"]["marker"]
