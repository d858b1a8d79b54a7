"""The work of one unit of ``criticality experiment continual``: train one method on one or
more seeds over every task, recording each task as it finishes (see
:mod:`criticality.experiments.continual`)."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from criticality.continual.networks import StackedTask, member, member_loss, mlp, stack
from criticality.continual.tracking import OnlineScore, SnapshotSettings, evaluate, snapshot
from criticality.data.streams import TaskStream, make_stream
from criticality.experiments.continual.config import ContinualConfig, Unit
from criticality.reporting import atomic_write
from criticality.training import Callback, TrainState, _checkpoint, fit
from criticality.training.methods import MethodParts, build_method
from criticality.training.methods.continual import for_ensemble

log = logging.getLogger(__name__)


def streams_of(cfg: ContinualConfig, seeds: Sequence[int]) -> list[TaskStream]:
    """One stream per seed, built with the config's options."""
    opts: dict[str, Any] = {"batch_size": cfg.batch_size}
    if cfg.examples_per_task is not None:
        opts["examples_per_task"] = cfg.examples_per_task
    if cfg.stream != "slowly_changing_regression":
        opts |= {"dataset": cfg.dataset, "n_test": cfg.n_test}
    else:
        opts["n_test"] = cfg.n_test
    return [make_stream(cfg.stream, cfg.tasks, seed=s, **opts) for s in seeds]


class TaskTracker(Callback):
    """Records one row per task and member: online and test performance, plasticity metrics
    every task, criticality at the start and end of the due tasks (and, for class-incremental
    streams, the accuracy on every task so far). Resumable: its state holds the finished rows,
    the running online score and the start-of-task snapshot."""

    name = "continual"

    def __init__(self, streams: Sequence[TaskStream], cfg: ContinualConfig) -> None:
        self.streams, self.cfg = list(streams), cfg
        self.kind = streams[0].kind
        self.settings = SnapshotSettings(seed=cfg.seed, kind=self.kind)
        self.score = OnlineScore(len(streams), self.kind)
        self.rows: list[list[dict[str, Any]]] = [[] for _ in streams]
        self.start: list[dict[str, Any]] = []
        self.task, self.began, self.measure_seconds = -1, 0.0, 0.0

    def due(self, t: int) -> bool:
        return t % self.cfg.measure_every == 0 or t == self.cfg.tasks - 1

    def _snapshots(self, model: torch.nn.Module, t: int, start: bool) -> list[dict[str, Any]]:
        """Criticality (when due) on the fixed probe; the plasticity metrics at a task's start
        on its first ``plasticity_examples`` examples (Dohare et al.), at its end on the probe."""
        began = time.perf_counter()
        settings = dataclasses.replace(self.settings, criticality=self.due(t))
        dev = next(model.parameters()).device
        n_first = self.cfg.plasticity_examples if start else 0
        out = []
        for s, stream in enumerate(self.streams):
            task = stream[t]
            first = task.first_examples(n_first).to(dev) if n_first else None
            probe = task.probe(self.cfg.probe_size).to(dev)
            out.append(snapshot(member(model, s), probe, settings, plasticity_inputs=first))
        self.measure_seconds += time.perf_counter() - began
        return out

    def on_fit_start(self, state: TrainState) -> None:
        if state.task != self.task:  # a new task, not the resumption of one
            self.task, self.measure_seconds = state.task, 0.0
            self.score.reset()
            self.start = self._snapshots(state.model, state.task, start=True)
        self.began = time.perf_counter()

    def on_step_end(self, state: TrainState) -> None:
        assert state.output is not None and state.batch is not None
        self.score.update(state.output, state.batch[1])

    def on_fit_end(self, state: TrainState) -> None:
        t = state.task
        if len(self.rows[0]) > t:  # finished before: a rerun of a task the checkpoint covers
            return
        seconds = time.perf_counter() - self.began
        end = self._snapshots(state.model, t, start=False)
        online = self.score.result()
        for s, stream in enumerate(self.streams):
            net, task = member(state.model, s), stream[t]
            x_test, y_test = task.test_data()
            row = {
                "task": t,
                "steps": task.steps,
                **online[s],
                **evaluate(net, x_test, y_test, self.kind),
                "start": self.start[s],
                "end": end[s],
                "seconds": seconds,
                "measure_seconds": self.measure_seconds,
            }
            if hasattr(stream, "test_task"):  # class-incremental: accuracy on each task so far
                tests = [stream.test_task(j) for j in range(t + 1)]
                row["accuracy_row"] = [
                    evaluate(net, x, y, self.kind)["test_accuracy"] for x, y in tests
                ]
            self.rows[s].append(row)

    def state_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "task": self.task,
            "start": self.start,
            "score": self.score.state_dict(),
            "measure_seconds": self.measure_seconds,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rows, self.task, self.start = state["rows"], int(state["task"]), state["start"]
        self.score.load_state_dict(dict(state["score"]))
        self.measure_seconds = float(state["measure_seconds"])


def train_unit(
    cfg: ContinualConfig,
    unit: Unit,
    folder: Path,
    on_task: Callable[[int], None] | None = None,
    until: int | None = None,
) -> list[dict[str, Any]]:
    """Train (or resume) one unit over its tasks; returns one record per seed.

    Finished tasks are written to ``folder/runs.json`` after each task, the training state to
    ``folder/checkpoint/last.pt`` every ``checkpoint_every`` steps and at each task's end (it
    is kept once the unit finishes, so that a longer run can continue it).

    Args:
        cfg: the experiment's config.
        unit: the unit of work.
        folder: the unit's folder.
        on_task: called with the task's index after each finished task.
        until: train the tasks before this one only (default ``cfg.tasks``): a run advances
            its units task by task.
    """
    path = folder / "runs.json"
    until = cfg.tasks if until is None else min(until, cfg.tasks)
    finished = _read_runs(path, unit)
    done = len(finished[0]["tasks"]) if finished else 0
    if done >= until:
        return [{**r, "tasks": r["tasks"][:until]} for r in finished]
    readable = (folder / "checkpoint").exists() and _has_checkpoint(folder / "checkpoint")
    if done and not readable:
        # finished tasks but no network to continue: never go on from a fresh network
        kept = _set_aside(path)
        log.warning(
            "%s: %d finished tasks but no readable checkpoint in %s; training unit %s again "
            "from its first task (the finished tasks are kept in %s)",
            folder, done, folder / "checkpoint", unit.key, kept,
        )  # fmt: skip
        done = 0
    streams = streams_of(cfg, unit.seeds)
    kind, in_dim, n_out = streams[0].kind, streams[0].in_shape[0], streams[0].n_outputs
    nets = [mlp(in_dim, cfg.hidden, n_out, activation=cfg.activation, seed=s) for s in unit.seeds]
    model = stack(nets) if len(nets) > 1 else nets[0]
    tracker = TaskTracker(streams, cfg)
    method: str | MethodParts = unit.arm.method
    if len(nets) > 1:  # the ensemble: the method built for it, its penalties per member
        method = for_ensemble(build_method(unit.arm.method, model, seed=unit.seeds[0],
                                           **unit.arm.options))  # fmt: skip
    state: TrainState | None = None
    logs: dict[str, list[dict[str, Any]]] = {}
    for t in range(done, until):
        tasks = [stream[t] for stream in streams]
        result = fit(
            model,
            StackedTask(tasks) if len(tasks) > 1 else tasks[0],
            steps=tasks[0].steps,
            lr=cfg.lr,
            optimizer=cfg.optimizer,
            optimizer_options={"momentum": cfg.momentum} if cfg.optimizer == "sgd" else None,
            loss_fn=member_loss(kind),
            method=method if state is None else None,
            method_options=unit.arm.options if state is None and len(nets) == 1 else None,
            callbacks=[tracker],
            checkpoint_dir=folder / "checkpoint",
            checkpoint_every=cfg.checkpoint_every,
            seed=unit.seeds[0],
            device=cfg.device,
            progress=False,
            state=state,
            task=t,
        )
        state, logs = result.state, result.logs
        atomic_write(path, json.dumps(_records(unit, tracker, logs, kind), default=_json))
        if on_task is not None:
            on_task(t)
    (folder / "checkpoint" / _checkpoint.PREVIOUS).unlink(missing_ok=True)
    return list(json.loads(path.read_text()))


def _set_aside(path: Path) -> Path:
    """Rename ``path`` to the first free ``NAME.damaged-N`` beside it; return the new path."""
    n = 1
    while (target := path.with_name(f"{path.name}.damaged-{n}")).exists():
        n += 1
    path.rename(target)
    return target


def _read_runs(path: Path, unit: Unit) -> list[dict[str, Any]]:
    """The unit's finished tasks from ``runs.json`` (none when absent). A file that does not
    hold one record per seed of the unit, each with the same number of task rows, is damaged:
    it is moved aside (``runs.json.damaged-N``), with its checkpoint, and the unit is
    computed again from its start, with a warning naming the file."""
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
        ok = (
            isinstance(data, list)
            and [r.get("seed") for r in data] == list(unit.seeds)
            and len({len(r["tasks"]) for r in data}) == 1
            and all(isinstance(row, dict) for r in data for row in r["tasks"])
        )
    except (ValueError, OSError, KeyError, TypeError, AttributeError) as err:
        ok, data = False, err
    if ok:
        return list(data)
    kept = _set_aside(path)
    checkpoint = path.parent / "checkpoint"
    if checkpoint.exists():
        _set_aside(checkpoint)
    log.warning("%s is damaged (%s): moved to %s; training unit %s again from its first task",
                path, data if isinstance(data, Exception) else "not this unit's records", kept,
                unit.key)  # fmt: skip
    return []


def _has_checkpoint(directory: Path) -> bool:
    """Whether ``directory`` holds a checkpoint that loads (a damaged one is moved aside)."""
    try:
        return _checkpoint.load(directory) is not None
    except _checkpoint.DamagedCheckpointError as err:
        log.warning("%s", err)
        if directory.exists():
            _set_aside(directory)
        return False


def _records(
    unit: Unit, tracker: TaskTracker, logs: Mapping[str, list[dict[str, Any]]], kind: str
) -> list[dict[str, Any]]:
    """One JSON-ready record per seed of ``unit``."""
    replaced = (
        logs.get(unit.arm.method, []) if unit.arm.method in ("continual_backprop", "redo") else []
    )
    dense = logs.get("measure_only", [])
    out = []
    for s, seed in enumerate(unit.seeds):
        out.append(
            {
                "method": unit.arm.label,
                "base_method": unit.arm.method,
                "options": unit.arm.options,
                "seed": seed,
                "members": len(unit.seeds),
                "kind": kind,
                "tasks": tracker.rows[s],
                "replaced": replaced,
                "dense": [
                    {"step": r["step"], "task": r["task"], "lambda_1": r["lambda_1"][s]}
                    for r in dense
                ],
            }
        )
    return out


def _json(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def unit_job(job: tuple[ContinualConfig, Unit, str]) -> list[dict[str, Any]]:
    """A unit as an executor job (module level, so Ray can pickle it)."""
    cfg, unit, folder = job
    torch.set_num_threads(1)
    return train_unit(cfg, unit, Path(folder) / unit.key)
