"""The demo composes every registered demo part, runs end to end tiny, and resumes."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

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
    data = json.loads(unit.read_text())  # a unit file: {"unit", "config", "value"}
    data["value"]["marker"] = True
    unit.write_text(json.dumps(data))
    run = next((tmp_path / "training" / "runs").glob("digits-*.json"))
    record = json.loads(run.read_text())
    record["value"]["clean"] = 0.125
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


def test_committed_studies_are_judged_from_their_data_beside_the_live_parts(
    tiny_demo: Path, tmp_path: Path
) -> None:
    """A committed study is read from its folder, judged by its experiment's own scorecard,
    labelled with its folder and command in the demo's scorecard and sections; a damaged one
    is listed with the reason, never judged."""
    from criticality.experiments import render

    out = tmp_path / "demo"
    shutil.copytree(tiny_demo, out)
    committed = tmp_path / "results"
    shutil.copytree(out / "training", committed / "training-study")
    (committed / "training-study" / "study.json").write_text(
        json.dumps({"command": "criticality experiment training --preset full", "status": "done"})
    )
    shutil.copytree(out / "continual", committed / "continual-study")
    (committed / "continual-study" / "results.json").write_text('{"cut short')
    (committed / "notes").mkdir()  # a folder without results.json is no study

    studies = demo.committed_studies(committed)
    assert [Path(s["folder"]).name for s in studies] == ["continual-study", "training-study"]
    damaged, trained = studies
    assert damaged["error"] and "continual-study" in damaged["error"] and not damaged["rows"]
    own = get_experiment("training").scorecard(json.loads((out / "training" / "results.json")
                                                          .read_text())["data"])  # fmt: skip
    assert [r["statement"] for r in trained["rows"]] == [r.statement for r in own]
    assert [r["verdict"] for r in trained["rows"]] == [str(r.verdict) for r in own]
    assert trained["command"] == "criticality experiment training --preset full"

    results = json.loads((out / "results.json").read_text())
    results["data"]["committed"] = studies
    (out / "results.json").write_text(json.dumps(results))
    html = render(out).read_text()
    assert "Committed study: " + trained["folder"] in html and "is damaged" in html
    rows, ids = read_scorecard(html)
    mine = [r for r in rows if r["section"] == "sec-committed-training-study"]
    assert [r["verdict"] for r in mine] == [str(r.verdict) for r in own] and mine[0][
        "section"
    ] in ids
    assert html.count(" (committed study)</td>") == len(own)
    assert html.count(f"{trained['folder']}: ") >= len(own)
    assert demo.committed_studies(tmp_path / "absent") == []


def test_the_repository_committed_studies_are_readable_by_this_version() -> None:
    """Every study under results/ loads, is judged by its experiment's scorecard and says how
    to reproduce it (what the demo shows beside its live parts)."""
    root = Path(__file__).resolve().parents[2] / "results"
    studies = demo.committed_studies(root)
    assert studies, "results/ holds no committed study"
    for study in studies:
        assert study["error"] is None, study
        assert study["command"] and study["status"], f"{study['folder']}: write its study.json"
        assert study["rows"], f"{study['folder']}: its scorecard gave no row"


def test_parts_side_by_side_give_the_numbers_of_parts_one_after_the_other(
    tmp_path: Path,
) -> None:
    """``workers=2`` runs the parts in two spawned processes, one thread each: the same data as
    running them in this process one after the other (one thread: the test's setting)."""
    parts = ("phase", "zoo-train")
    serial = demo.DemoConfig(parts=parts, preset="tiny", committed=None, workers=1)
    demo.run(serial, tmp_path / "serial")
    demo.run(dataclasses.replace(serial, workers=2), tmp_path / "parallel")
    for name in parts:
        one = json.loads((tmp_path / "serial" / name / "results.json").read_text())["data"]
        two = json.loads((tmp_path / "parallel" / name / "results.json").read_text())["data"]
        assert _numbers(one) == _numbers(two), name
    with pytest.raises(ValueError, match="workers must be at least 1"):
        demo.run(dataclasses.replace(serial, workers=0), tmp_path / "none")


def _numbers(value: object) -> object:
    """The data without wall times and dates (which differ between any two runs)."""
    if isinstance(value, dict):
        volatile = ("seconds", "time", "created", "elapsed", "wall")
        return {k: _numbers(v) for k, v in value.items() if not any(w in k for w in volatile)}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value
