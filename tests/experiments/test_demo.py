"""The demo composes every registered demo part, runs end to end tiny, and resumes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from criticality.experiments import demo, demo_parts, get_experiment
from criticality.experiments.phase import PhaseConfig
from criticality.reporting.scorecard import read_scorecard


def test_tiny_demo_runs_every_part_and_resumes(tiny_demo: Path, tmp_path: Path) -> None:
    cfg = demo.DemoConfig.tiny()
    shutil.copytree(tiny_demo, tmp_path, dirs_exist_ok=True)  # the session's run, changed here
    html = (tmp_path / "report.html").read_text()
    results = json.loads((tmp_path / "results.json").read_text())
    parts = results["data"]["parts"]
    assert list(parts) == demo_parts()  # the registry decides, in demo_rank order
    assert {"phase", "architectures", "zoo", "training"} <= set(parts)
    for name, data in parts.items():  # each part renders its own sections into the demo
        for section in get_experiment(name).sections(data, tmp_path / name):
            assert section.title in html
    assert "Phase diagram of random MLPs" in html and "resnet18" in html
    rows, ids = read_scorecard(html)  # the scorecard: every paper claim, links that resolve
    assert {"M1", "M2", "M3", "M4", "M5"} <= {r["label"] for r in rows}
    assert all(r["section"] in ids for r in rows if r["section"])
    tanh = parts["phase"]["phase"]["tanh"]
    assert len(tanh["measured"]["lyapunov"]) == len(PhaseConfig.tiny().sigma_w)
    # ordered at the smallest σ_w, chaotic at the largest
    assert tanh["measured"]["lyapunov"][0] < 0 < tanh["measured"]["lyapunov"][-1]

    # Finished units of every part are reused, not recomputed: plant markers and run again.
    unit = tmp_path / "phase" / "parts" / "phase_tanh.json"
    data = json.loads(unit.read_text())
    data["marker"] = True
    unit.write_text(json.dumps(data))
    run = next((tmp_path / "training" / "runs").glob("digits-*.json"))
    record = json.loads(run.read_text())
    record["clean"] = 0.125
    run.write_text(json.dumps(record))
    demo.run(cfg, tmp_path)
    again = json.loads((tmp_path / "results.json").read_text())["data"]["parts"]
    assert again["phase"]["phase"]["tanh"]["marker"]
    assert 0.125 in [r["clean"] for r in again["training"]["runs"]]


def test_the_demo_seed_sets_each_part_probe_seed_and_the_footer_says_so() -> None:
    """``criticality demo --seed 3`` sets the probe seed of every part that has one, leaves each
    part's replicates (its ``seeds``) alone, and the results say both."""
    cfg = demo.DemoConfig(parts=("phase", "training"), preset="tiny", probe_seed=3)
    configs = demo.part_configs(cfg)
    assert configs["phase"].probe_seed == configs["training"].probe_seed == 3
    assert configs["phase"].seeds == PhaseConfig.tiny().seeds
    seeded = demo.seeded(cfg, configs)
    assert seeded == {
        "probe_seed": 3,
        "set in": ["phase", "training"],
        "phase seeds": [0, 1],
        "training seeds": [0, 1],
    }
    from criticality.reporting import seed_text

    assert seed_text(seeded).startswith(
        "probe_seed 3: probe inputs, data subsets and the measures' random directions; "
        "set in phase, training; phase seeds 0, 1"
    )
