"""Is loss of plasticity a loss of criticality? ``criticality experiment continual`` (claim 3).

A network learns a stream of tasks (:mod:`criticality.data.streams`: online permuted MNIST and
the slowly-changing regression of Dohare et al. 2024, class-incremental and label-permuted MNIST
of ours) with each training method (the loss-of-plasticity baselines of
:mod:`criticality.training.methods.continual`, the criticality regularizer, a measure-only
control). For every task and seed it records the online performance (prediction on each example
before its update), the test performance on the current task, the plasticity metrics on a fixed
probe batch (dead, dormant and τ-dormant units, effective and 99 % rank, weight magnitude) and,
at the start and end of the task, the criticality of the network (``λ_1``, per-stage ``ln g_l``,
``σ``). :mod:`criticality.continual.analysis` then asks whether ``λ_1`` moves with the online
performance within runs, whether it moves first, and which methods keep both.

Seeds of a method whose parts act on each member alone train together as one vectorised
ensemble (:func:`criticality.continual.networks.stack`); the criticality regularizer trains seed
by seed. Each (method, seeds) unit keeps a checkpoint and its finished tasks under
``OUT/units/``: a killed run started again continues from the last finished task (or from the
last checkpoint inside a task) and loses nothing. Units fan out over Ray with
``--set executor=ray``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from criticality.continual.analysis import analyse, by_method, mean_ci
from criticality.continual.metrics import backward_transfer, forgetting
from criticality.executor import map_jobs
from criticality.experiments._registry import register_experiment, render
from criticality.experiments.continual.config import (
    ContinualConfig,
    Unit,
    arms,
    config_from_dict,
    plan,
    unit_stamp,
)
from criticality.experiments.continual.report import (
    TITLE,
    criticality_methods,
    scorecard,
    sections,
    verdict,
)
from criticality.experiments.continual.results import ContinualResults, ThroughputRow
from criticality.experiments.continual.units import streams_of, train_unit, unit_job
from criticality.reporting import atomic_write, resume_dir, write_results
from criticality.training.methods import get_method

log = logging.getLogger(__name__)


def headline(data: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """The golden numbers (:mod:`criticality.experiments._golden`): per arm, the mean online
    accuracy of every task, and the test accuracy and end-of-task λ_1 of the last task.

    Tolerances, for the tiny preset: an accuracy moves in steps of one example of a seed (online:
    100 examples per task and 2 seeds, 0.005; test: 50 inputs and 2 seeds, 0.01), and may move by
    two steps (0.01, 0.02). λ_1 is float32: every linear layer's output scaled by one ulp
    (``1 + 2^-23``) moved it by 2.3e-7 and no accuracy at all; 1e-4 leaves 400 times that.
    """
    curves = data["analysis"]["curves"]
    out: dict[str, tuple[float, float]] = {}
    for metric, tol, every_task in (("online_accuracy", 0.01, True),
                                    ("test_accuracy", 0.02, False),
                                    ("end.lambda_1", 1e-4, False)):  # fmt: skip
        for arm, curve in curves[metric].items():
            points = list(zip(curve["task"], curve["mean"], strict=True))
            for task, mean in points if every_task else points[-1:]:
                out[f"{arm}.{metric}@task{task}"] = (mean, tol)
    return out


@register_experiment(
    "continual",
    title=TITLE,
    config=ContinualConfig,
    sections=sections,
    summary="continual learning: loss of plasticity, the baselines, and criticality per task",
    demo_rank=50,
    scorecard=scorecard,
    headline=headline,
)
def run(cfg: ContinualConfig, out_dir: str | Path) -> Path:
    """Run (or resume) every unit; write ``results.json`` and ``report.html``."""
    from tqdm.auto import tqdm

    cfg.validate()
    out = Path(out_dir)
    folder = out / "units"
    units = plan(cfg)
    for unit in units:  # a unit made with other settings is started afresh
        resume_dir(folder / unit.key, unit_stamp(cfg, unit))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / RUN_CONFIG, json.dumps(dataclasses.asdict(cfg), indent=1))
    jobs = [(cfg, unit, str(folder)) for unit in units]
    runs: list[dict[str, Any]] = []
    began = time.perf_counter()
    total = len(units) * cfg.tasks
    with tqdm(total=total, desc="continual tasks", disable=not sys.stderr.isatty()) as bar:
        if cfg.executor == "local":
            # task by task across units, so that a run stopped early holds every arm equally far
            by_unit: dict[str, list[dict[str, Any]]] = {}
            for upto in range(1, cfg.tasks + 1):
                for unit in units:
                    by_unit[unit.key] = train_unit(
                        cfg, unit, folder / unit.key, until=upto,
                        on_task=functools.partial(_progress, bar, unit, tasks=cfg.tasks,
                                                  began=began),
                    )  # fmt: skip
            runs = [r for unit in units for r in by_unit[unit.key]]
        else:
            for _, records in map_jobs(
                unit_job,
                jobs,
                executor="ray",
                address=cfg.address,
                gpus=1.0 if cfg.device.startswith("cuda") else 0,
            ):
                runs += records
                bar.update(cfg.tasks)
    return finish(cfg, out, units, runs, time.perf_counter() - began)


#: The config of a run, written when it starts (a partial run's export reads it).
RUN_CONFIG = "continual_config.json"


def finish(
    cfg: ContinualConfig,
    out: Path,
    units: Sequence[Unit],
    runs: list[dict[str, Any]],
    seconds: float,
) -> Path:
    """Analyse ``runs``, write ``results.json`` and the report. Runs with fewer tasks than
    ``cfg.tasks`` (a partial run's export) are cut to the tasks every run has finished, and the
    results say how many that is."""
    finished = min(len(r["tasks"]) for r in runs)
    if finished < 1:
        raise ValueError(f"no unit in {out} has finished a task yet: nothing to report")
    runs = [{**r, "tasks": r["tasks"][:finished]} for r in runs]
    kind = runs[0]["kind"]
    stream = streams_of(cfg, cfg.seeds[:1])[0]
    chance = 1.0 / stream.n_outputs if kind == "classification" else None
    analysis = analyse(runs, kind=kind, baseline=cfg.baseline, chance=chance)
    results = ContinualResults(
        stream=stream.describe(),
        arms=[
            dataclasses.asdict(a)
            | {"reference": get_method(a.method).reference, "summary": get_method(a.method).summary}
            for a in arms(cfg)
        ],
        units=[{"key": u.key, "method": u.arm.label, "seeds": list(u.seeds)} for u in units],
        runs=runs,
        analysis=analysis,
        verdict=verdict(analysis, criticality_methods(list(analysis["tail"]))),
        throughput=throughput(runs),
        class_incremental=class_incremental(runs),
        seconds=seconds,
        tasks_finished=finished,
        tasks_planned=cfg.tasks,
        plasticity_examples=cfg.plasticity_examples,
    )
    data = results.to_dict()
    write_results(out, "continual", dataclasses.asdict(cfg), data, seed=cfg.seed, device=cfg.device)
    return render(out)


def export(source: str | Path, dest: str | Path) -> Path:
    """Copy what a (possibly unfinished) run in ``source`` has finished into ``dest`` and
    render its report there: the run's config, each unit's stamp, finished tasks
    (``runs.json``) and the network state at its last checkpoint (``checkpoint/last.pt``: a
    ``weights_only`` torch file of model, optimizer, method and tracker state; a few MB for
    the small network), then ``results.json`` and ``report.html`` over the tasks every unit
    has finished. The same command with ``--out`` on a copy of ``dest`` continues the run.

    Returns:
        The report's path.
    """
    src, dst = Path(source), Path(dest)
    config_file = src / RUN_CONFIG
    if not config_file.is_file():
        raise ValueError(f"{src} holds no continual run ({RUN_CONFIG} is missing)")
    cfg = config_from_dict(json.loads(config_file.read_text()))
    units = plan(cfg)
    runs: list[dict[str, Any]] = []
    for unit in units:
        folder, target = src / "units" / unit.key, dst / "units" / unit.key
        if not (folder / "runs.json").is_file():
            raise ValueError(f"unit {unit.key} in {src} has finished no task yet")
        target.mkdir(parents=True, exist_ok=True)
        # runs.json first, the checkpoint after it: a live run may finish a task between the
        # two copies, and a checkpoint ahead of runs.json resumes (the task it covers is not
        # trained again), where one behind it would not
        for name in ("config.json", "runs.json", "checkpoint/last.pt"):
            if (folder / name).is_file():
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(folder / name, target / name)
        runs += json.loads((target / "runs.json").read_text())
    shutil.copyfile(config_file, dst / RUN_CONFIG)
    seconds = sum(t["seconds"] + t["measure_seconds"] for r in runs for t in r["tasks"])
    return finish(cfg, dst, units, runs, seconds)


def _progress(bar: Any, unit: Unit, t: int, *, tasks: int, began: float) -> None:
    """One log line per finished task of a unit (a long run's log shows where it is)."""
    bar.update(1)
    log.info("continual: unit %s finished task %d/%d; %.1f min since this invocation began",
             unit.key, t + 1, tasks, (time.perf_counter() - began) / 60)  # fmt: skip


def throughput(runs: Sequence[Mapping[str, Any]]) -> list[ThroughputRow]:
    """Per method: learner-steps per second of training (all members of a unit count), the
    share of the wall time spent measuring (plasticity metrics and criticality) and the recorded
    training and measuring time in minutes (every session of a resumed unit)."""
    out = []
    for method, group in by_method(runs).items():
        members = group[0]["members"]
        rows = [r for run in group[:: max(1, members)] for r in run["tasks"]]
        steps = sum(r["steps"] for r in rows) * members
        train = sum(r["seconds"] for r in rows)
        measure = sum(r["measure_seconds"] for r in rows)
        out.append(
            ThroughputRow(
                method=method,
                members=members,
                learner_steps_per_s=steps / train if train > 0 else math.nan,
                measuring_share=measure / (train + measure) if train + measure else math.nan,
                compute_minutes=(train + measure) / 60,
            )
        )
    return out


def class_incremental(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per method: forgetting and backward transfer over seeds (class-incremental streams)."""
    out = {}
    for method, group in by_method(runs).items():
        if "accuracy_row" not in group[0]["tasks"][0]:
            return {}
        f, b = [], []
        for run in group:
            rows = [r["accuracy_row"] for r in run["tasks"]]
            r = np.full((len(rows), len(rows)), np.nan)
            for i, row in enumerate(rows):
                r[i, : len(row)] = row
            f.append(forgetting(r))
            b.append(backward_transfer(r))
        out[method] = {"forgetting": mean_ci(f), "backward_transfer": mean_ci(b)}
    return out
