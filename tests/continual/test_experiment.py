"""`criticality experiment continual`: tiny end to end, resume across a kill, the plan."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from criticality.experiments import continual
from criticality.experiments.continual import ContinualConfig, arms, plan


def small(**changes):
    base = ContinualConfig.tiny()
    return dataclasses.replace(base, **changes)


def strip_times(runs):
    """Runs without wall times (the only thing a resumed run may change)."""
    out = json.loads(json.dumps(runs))
    for run in out:
        for row in run["tasks"]:
            for key in ("seconds", "measure_seconds"):
                row.pop(key)
            for snap in (row["start"], row["end"]):
                if snap:
                    snap.pop("criticality_seconds", None)
    return out


def test_tiny_end_to_end(tmp_path: Path) -> None:
    cfg = ContinualConfig.tiny()
    path = continual.run(cfg, tmp_path)
    assert path.read_text().startswith("<!DOCTYPE html>")
    data = json.loads((tmp_path / "results.json").read_text())["data"]
    runs = data["runs"]
    assert {(r["method"], r["seed"]) for r in runs} == {
        (m, s) for m in cfg.methods for s in cfg.seeds
    }
    for run in runs:
        assert [row["task"] for row in run["tasks"]] == [0, 1, 2]
        row = run["tasks"][0]
        assert 0.0 <= row["online_accuracy"] <= 1.0 and 0.0 <= row["test_accuracy"] <= 1.0
        assert len(row["start"]["stage_log_gain"]) == len(cfg.hidden) + 1
        assert 0.0 <= row["end"]["dead"] <= 1.0 and row["end"]["effective_rank"] > 0
    # every seed trained as one ensemble, the criticality regularizer in its per-member form
    assert all(len(u["seeds"]) == 2 for u in data["units"])
    # measuring changes nothing: the control trains exactly as plain
    assert data["analysis"]["max_difference_from_baseline"]["measure_only"] == 0.0
    dense = next(r for r in runs if r["method"] == "measure_only")["dense"]
    assert dense and all("lambda_1" in d for d in dense)
    # two seeds, learners near chance: the tiny preset earns no verdict, and says why
    assert data["verdict"].startswith("Inconclusive: 2 distinct seeds of plain")
    assert "Supported here" not in data["verdict"]
    assert {t["method"] for t in data["throughput"]} == set(cfg.methods)
    # the recorded compute counts each ensemble unit once (its members share the time)
    for row in data["throughput"]:
        unit_runs = [r for r in runs if r["method"] == row["method"]][:1]
        spent = sum(t["seconds"] + t["measure_seconds"] for r in unit_runs for t in r["tasks"])
        assert row["compute_minutes"] == pytest.approx(spent / 60)
    assert "recorded training and measuring time" in path.read_text()


class Killed(Exception):
    """Stands for the process being killed: nothing in memory survives a rerun."""


def test_resume_after_a_kill_mid_task_loses_nothing(tmp_path: Path, monkeypatch) -> None:
    cfg = small(methods=("continual_backprop",), baseline="continual_backprop", tasks=3)
    ref = continual.run(cfg, tmp_path / "ref").parent
    reference = json.loads((ref / "results.json").read_text())["data"]["runs"]

    original = continual.TaskTracker.on_step_end

    def crash(self, state):
        original(self, state)
        if state.task == 1 and state.task_step == 17:  # after the checkpoint at step 35
            raise Killed

    monkeypatch.setattr(continual.TaskTracker, "on_step_end", crash)
    with pytest.raises(Killed):
        continual.run(cfg, tmp_path / "killed")
    unit = tmp_path / "killed" / "units" / "continual_backprop-s0_1"
    assert len(json.loads((unit / "runs.json").read_text())[0]["tasks"]) == 1  # task 0 done
    assert (unit / "checkpoint" / "last.pt").is_file()
    monkeypatch.setattr(continual.TaskTracker, "on_step_end", original)
    continual.run(cfg, tmp_path / "killed")
    resumed = json.loads((tmp_path / "killed" / "results.json").read_text())["data"]["runs"]
    assert strip_times(resumed) == strip_times(reference)
    assert not (unit / "checkpoint" / "previous.pt").exists()  # last.pt kept to continue


def test_arms_and_units_follow_the_config() -> None:
    cfg = small(
        methods=("plain", "shrink_perturb", "critical_global"),
        sweep=(("shrink_perturb", "noise_std", (1e-4, 1e-5)),),
        seeds=(0, 1, 2),
    )
    labels = [a.label for a in arms(cfg)]
    assert labels == ["plain", "shrink_perturb", "shrink_perturb[noise_std=0.0001]",
                      "critical_global"]  # fmt: skip
    assert [len(u.seeds) for u in plan(cfg)] == [3, 3, 3, 3]
    units = plan(dataclasses.replace(cfg, vectorise=False))
    assert len(units) == 12 and all(len(u.seeds) == 1 for u in units)
    jac = plan(dataclasses.replace(cfg, methods=("plain", "jacobian"), sweep=()))
    assert [len(u.seeds) for u in jac] == [3, 1, 1, 1]  # Jacobian penalty: not per member


def test_bad_configs_say_what_to_do() -> None:
    with pytest.raises(ValueError, match="include the baseline"):
        small(methods=("continual_backprop",)).validate()
    with pytest.raises(ValueError, match="unknown stream"):
        small(stream="rotated").validate()
    with pytest.raises(ValueError, match="has no option"):
        small(options=(("redo", {"threshold": 0.1}),)).validate()
    with pytest.raises(ValueError, match="unknown training method"):
        small(methods=("plain", "dropout")).validate()


@pytest.mark.parametrize("stream", ["split_mnist", "slowly_changing_regression"])
def test_other_streams_run(stream: str, tmp_path: Path) -> None:
    cfg = small(stream=stream, methods=("plain", "redo"), options=(("redo", {"interval": 5}),),
                tasks=3, examples_per_task=24, probe_size=8)  # fmt: skip
    continual.run(cfg, tmp_path)
    data = json.loads((tmp_path / "results.json").read_text())["data"]
    row = data["runs"][0]["tasks"][-1]
    if stream == "split_mnist":
        assert len(row["accuracy_row"]) == 3
        assert set(data["class_incremental"]) == {"plain", "redo"}
    else:
        assert data["analysis"]["performance"] == "online_error" and row["online_error"] > 0


def test_a_sweep_finishes_and_reports_every_arm(tmp_path: Path) -> None:
    cfg = small(
        methods=("plain", "continual_backprop", "critical_global"),
        sweep=(("continual_backprop", "replacement_rate", (0.001,)),),
        tasks=2,
    )
    path = continual.run(cfg, tmp_path)
    data = json.loads((tmp_path / "results.json").read_text())["data"]
    labels = ["plain", "continual_backprop", "continual_backprop[replacement_rate=0.001]",
              "critical_global"]  # fmt: skip
    assert [a["label"] for a in data["arms"]] == labels
    assert {r["method"] for r in data["runs"]} == set(labels)
    assert set(data["analysis"]["tail"]) == set(labels[1:])
    html = path.read_text()
    assert all(label in html for label in labels)


def test_bad_numbers_and_repeated_seeds_are_refused_up_front(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lr must be a finite number"):
        continual.run(small(lr=math.nan), tmp_path)
    with pytest.raises(ValueError, match="lr must be > 0"):
        small(lr=-0.1).validate()
    with pytest.raises(ValueError, match=r"seeds \[0\] are listed more than once"):
        small(seeds=(0, 0)).validate()
    with pytest.raises(ValueError, match="noise_std of shrink_perturb must be finite"):
        small(options=(("shrink_perturb", {"noise_std": math.inf}),)).validate()
    assert not (tmp_path / "units").exists()  # refused before any work


def _plain(tmp_path: Path, name: str, **changes: Any) -> tuple[Path, list[dict[str, Any]]]:
    cfg = small(methods=("plain",), tasks=3, **changes)
    continual.run(cfg, tmp_path / name)
    out = tmp_path / name
    return out, json.loads((out / "results.json").read_text())["data"]["runs"]


def test_a_damaged_runs_file_is_named_set_aside_and_its_unit_recomputed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out, reference = _plain(tmp_path, "run")
    runs_file = out / "units" / "plain-s0_1" / "runs.json"
    runs_file.write_text(runs_file.read_text()[:200])  # cut short
    cfg = small(methods=("plain",), tasks=3)
    with caplog.at_level("WARNING"):
        continual.run(cfg, out)
    assert str(runs_file) in caplog.text and "damaged" in caplog.text
    assert (runs_file.parent / "runs.json.damaged-1").is_file()
    again = json.loads((out / "results.json").read_text())["data"]["runs"]
    assert strip_times(again) == strip_times(reference)


def test_a_damaged_unit_stamp_recomputes_only_that_unit(tmp_path: Path) -> None:
    cfg = small(methods=("plain", "continual_backprop"), tasks=2)
    continual.run(cfg, tmp_path)
    units = tmp_path / "units"
    (units / "plain-s0_1" / "config.json").write_bytes(b"\x00garbage")
    other = units / "continual_backprop-s0_1" / "runs.json"
    before = other.stat().st_mtime_ns
    continual.run(cfg, tmp_path)
    assert (units / "plain-s0_1.replaced-1").is_dir()  # kept aside, never deleted
    assert other.stat().st_mtime_ns == before  # the other unit was not touched
    runs = json.loads((tmp_path / "results.json").read_text())["data"]["runs"]
    assert all(len(r["tasks"]) == 2 for r in runs)


def test_finished_tasks_without_a_checkpoint_are_recomputed_from_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _, reference = _plain(tmp_path, "ref")
    cfg = small(methods=("plain",), tasks=3)
    original = continual.TaskTracker.on_step_end

    def crash(self, state):
        original(self, state)
        if state.task == 2 and state.task_step == 3:
            raise Killed

    monkeypatch.setattr(continual.TaskTracker, "on_step_end", crash)
    with pytest.raises(Killed):
        continual.run(cfg, tmp_path / "cut")
    unit = tmp_path / "cut" / "units" / "plain-s0_1"
    assert len(json.loads((unit / "runs.json").read_text())[0]["tasks"]) == 2
    shutil.rmtree(unit / "checkpoint")  # what an earlier error message advised
    monkeypatch.setattr(continual.TaskTracker, "on_step_end", original)
    with caplog.at_level("WARNING"):
        continual.run(cfg, tmp_path / "cut")
    assert "no readable checkpoint" in caplog.text and "from its first task" in caplog.text
    again = json.loads((tmp_path / "cut" / "results.json").read_text())["data"]["runs"]
    assert [row["task"] for row in again[0]["tasks"]] == [0, 1, 2]
    assert strip_times(again) == strip_times(reference)


def test_plasticity_at_task_start_is_measured_on_the_tasks_first_examples(tmp_path: Path) -> None:
    """Dohare et al.'s protocol: before a task's first step, on its first N examples."""
    from criticality.continual.metrics import plasticity_metrics
    from criticality.continual.networks import mlp
    from criticality.experiments.continual.units import streams_of

    cfg = small(methods=("plain",), seeds=(0,), tasks=1, plasticity_examples=40)
    continual.run(cfg, tmp_path)
    row = json.loads((tmp_path / "results.json").read_text())["data"]["runs"][0]["tasks"][0]
    task = streams_of(cfg, (0,))[0][0]
    first = task.first_examples(40)
    batches = torch.cat([task(step)[0] for step in range(10)])  # batch size 4
    assert torch.equal(first, batches)  # in training order
    net = mlp(first.shape[1], cfg.hidden, 10, seed=0)  # the network task 0 meets
    expected = plasticity_metrics(net, first)
    assert row["start"]["plasticity_inputs"] == 40 and row["end"]["plasticity_inputs"] == 16
    assert row["start"]["dead"] == pytest.approx(expected.dead)
    assert row["start"]["effective_rank"] == pytest.approx(expected.effective_rank)
    units = sum(cfg.hidden)
    assert row["start"]["dead_percent"] == pytest.approx(100 * expected.dead)
    er = sum(expected.layer_effective_rank)
    assert row["start"]["effective_rank_percent"] == pytest.approx(100 * er / units)


def test_a_partial_run_exports_renders_and_continues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped after some tasks: its export holds the finished tasks and the network
    state, renders a report saying how far it got, and the same config continues from it to
    the numbers of an uninterrupted run."""
    from criticality.experiments._registry import render

    cfg = small(methods=("plain", "continual_backprop"), tasks=3)
    reference = json.loads(
        (continual.run(cfg, tmp_path / "ref").parent / "results.json").read_text()
    )["data"]["runs"]
    original = continual.TaskTracker.on_step_end

    def crash(self, state):
        original(self, state)
        if state.task == 2 and state.task_step == 3:
            raise Killed

    monkeypatch.setattr(continual.TaskTracker, "on_step_end", crash)
    with pytest.raises(Killed):
        continual.run(cfg, tmp_path / "live")
    monkeypatch.setattr(continual.TaskTracker, "on_step_end", original)
    exported = tmp_path / "results" / "continual-x"
    report = continual.export(tmp_path / "live", exported)
    data = json.loads((exported / "results.json").read_text())["data"]
    assert (data["tasks_finished"], data["tasks_planned"]) == (2, 3)
    assert "Partial run: 2 of 3 tasks finished" in report.read_text()
    for unit in ("plain-s0_1", "continual_backprop-s0_1"):
        last = exported / "units" / unit / "checkpoint" / "last.pt"
        assert torch.load(last, weights_only=True)["model"]  # loads without unpickling code
    assert render(exported).is_file()  # offline, from the exported files alone
    # the next session: the same config on the exported folder continues it
    continual.run(cfg, exported)
    again = json.loads((exported / "results.json").read_text())["data"]["runs"]
    assert strip_times(again) == strip_times(reference)


def test_old_results_load_and_another_schema_is_refused_by_name() -> None:
    from criticality.experiments.continual.results import SCHEMA, ContinualResults

    row = {"task": 0, "steps": 10, "seconds": 1.0, "measure_seconds": 0.5}
    old = {  # a continual/1 file: no schema, display labels as keys, no task counts
        "stream": {"name": "permuted_mnist"},
        "arms": [],
        "units": [],
        "runs": [{"method": "plain", "seed": 0, "tasks": [row, row]}],
        "analysis": {},
        "throughput": [
            {
                "method": "plain",
                "members per unit": 1,
                "learner-steps/s": 9.0,
                "measuring share": 0.1,
                "compute (min)": 0.05,
            }
        ],
    }
    r = ContinualResults.from_dict(old)
    assert r.schema == SCHEMA and (r.tasks_finished, r.tasks_planned) == (2, 2)
    assert r.throughput[0].compute_minutes == 0.05 and r.plasticity_examples == 0
    assert ContinualResults.from_dict(r.to_dict()) == r
    with pytest.raises(ValueError, match="schema 'continual/9'"):
        ContinualResults.from_dict({**old, "schema": "continual/9"})
    with pytest.raises(ValueError, match=r"\(schema continual/1\) lack runs"):
        ContinualResults.from_dict({k: v for k, v in old.items() if k != "runs"})


def test_the_package_has_no_import_cycle() -> None:
    """config <- units <- experiment -> report -> results: no module of the package imports
    one that imports it back (TYPE_CHECKING imports included)."""
    import ast

    folder = Path(continual.__file__).parent
    edges = {}
    for path in folder.glob("*.py"):
        if path.name == "__init__.py":
            continue
        mods = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "criticality.experiments.continual."
            ):
                mods.add(node.module.rsplit(".", 1)[1])
        edges[path.stem] = mods
    assert edges["config"] == set() and edges["results"] == set()
    assert edges["units"] == {"config"} and edges["report"] == {"results"}

    def reaches(a: str, b: str, seen: frozenset = frozenset()) -> bool:
        return any(n == b or (n not in seen and reaches(n, b, seen | {n})) for n in edges[a])

    assert not any(reaches(m, m) for m in edges)


def test_a_checkpoint_one_task_ahead_of_runs_json_resumes(tmp_path: Path) -> None:
    """What an export of a live run can hold: runs.json copied just before the run finished a
    task, the checkpoint just after. The rerun records that task from the checkpoint."""
    cfg = small(methods=("plain",), tasks=3)
    reference = json.loads(
        (continual.run(cfg, tmp_path / "ref").parent / "results.json").read_text()
    )["data"]["runs"]
    two = small(methods=("plain",), tasks=2)
    continual.run(two, tmp_path / "run")
    unit = tmp_path / "run" / "units" / "plain-s0_1"
    runs = json.loads((unit / "runs.json").read_text())
    (unit / "runs.json").write_text(json.dumps([{**r, "tasks": r["tasks"][:1]} for r in runs]))
    continual.run(cfg, tmp_path / "run")
    again = json.loads((tmp_path / "run" / "results.json").read_text())["data"]["runs"]
    assert strip_times(again) == strip_times(reference)
