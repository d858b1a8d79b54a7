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
import json
import logging
import math
import re
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from criticality.continual.analysis import analyse, by_method, mean_ci, verdict
from criticality.continual.metrics import backward_transfer, forgetting
from criticality.continual.networks import mlp
from criticality.data.streams import STREAMS
from criticality.executor import map_jobs
from criticality.experiments._continual_report import (
    TITLE,
    criticality_methods,
    scorecard,
    sections,
)
from criticality.experiments._continual_units import TaskTracker as TaskTracker
from criticality.experiments._continual_units import streams_of, train_unit, unit_job
from criticality.experiments._registry import register_experiment, render
from criticality.reporting import atomic_write, resume_dir, write_results
from criticality.training.methods import build_method, get_method, method_options
from criticality.training.methods.continual import for_ensemble, separable

log = logging.getLogger(__name__)

METHODS = (
    "plain",
    "adam",
    "weight_decay",
    "l2_init",
    "shrink_perturb",
    "continual_backprop",
    "redo",
    "layernorm_wd",
    "critical_global",
    "critical_stagewise",
    "measure_only",
)

#: The full preset's grid: (method, option, values); each value not the default is one more arm.
SWEEP: tuple[tuple[str, str, tuple[Any, ...]], ...] = (
    ("adam", "lr", (1e-4, 3e-5)),
    ("weight_decay", "weight", (1e-3, 1e-4, 1e-5)),
    ("l2_init", "weight", (5e-4, 5e-5, 5e-6)),  # the pulls of the weight_decay values
    ("shrink_perturb", "noise_std", (1e-4, 1e-5, 1e-6)),
    ("continual_backprop", "replacement_rate", (1e-4, 1e-5, 1e-6)),
    ("redo", "tau", (0.025, 0.1)),
    ("critical_global", "weight", (1.0, 5.0, 20.0)),
)


@dataclasses.dataclass(frozen=True)
class ContinualConfig:
    """What the experiment runs. The full preset is Dohare et al.'s small network (3 × 100
    ReLU) on online permuted MNIST with their batch size 1 and SGD step 0.003, 200 tasks of
    60,000 examples: GPU-sized (12 million steps per learner).

    Attributes:
        stream: a stream of :data:`criticality.data.streams.STREAMS`.
        tasks: tasks in the stream.
        examples_per_task: examples per task (``None``: the stream's default).
        batch_size: examples per step.
        dataset: ``"mnist"`` or ``"fashion_mnist"`` for the image streams.
        methods: rows of the training-method registry; ``baseline`` must be among them.
        options: per-method option overrides, ``(method, {option: value})``; the default
            overrides the ``weight_decay`` row to Dohare et al.'s L2 value 1e-4.
        sweep: ``(method, option, values)``: further arms of a method, one per value.
        baseline: the control every method is compared with.
        seeds: one run per seed (network initialisation, the stream's permutations and order).
        hidden: units of each hidden layer of the learner.
        activation: hidden activation.
        optimizer: the run's optimizer (``"sgd"``: plain SGD with ``momentum``).
        lr: its step size.
        momentum: SGD momentum (0 in Dohare et al.).
        probe_size: fixed probe inputs of the criticality measures (and of the plasticity
            metrics at each task's end).
        plasticity_examples: the plasticity metrics at each task's start are measured on the
            first this-many training examples of the task about to be learned, as Dohare et
            al. do (``online_expr.py`` measures on ``x[:2000]`` before the task's first step);
            0: on the fixed probe instead.
        measure_every: measure criticality at the start and end of every this-many-th task
            (and the last); the plasticity metrics are taken every task.
        n_test: test examples per task evaluation.
        vectorise: train the seeds of a separable method as one ensemble.
        checkpoint_every: steps between checkpoints inside a task.
        device: ``"cpu"`` or ``"cuda"``.
        executor: ``"local"`` or ``"ray"`` (one Ray task per unit of work).
        address: a Ray cluster's address (``None``: a local Ray instance).
        seed: seed of the measures' random directions.
    """

    stream: str = "permuted_mnist"
    tasks: int = 200
    examples_per_task: int | None = 60_000
    batch_size: int = 1
    dataset: str = "mnist"
    methods: tuple[str, ...] = METHODS
    options: tuple[tuple[str, dict[str, Any]], ...] = (("weight_decay", {"weight": 1e-4}),)
    sweep: tuple[tuple[str, str, tuple[Any, ...]], ...] = SWEEP
    baseline: str = "plain"
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    hidden: tuple[int, ...] = (100, 100, 100)
    activation: str = "relu"
    optimizer: str = "sgd"
    lr: float = 0.003
    momentum: float = 0.0
    probe_size: int = 128
    plasticity_examples: int = 2_000
    measure_every: int = 1
    n_test: int = 2_000
    vectorise: bool = True
    checkpoint_every: int = 20_000
    device: str = "cpu"
    executor: str = "local"
    address: str | None = None
    seed: int = 0

    @classmethod
    def tiny(cls) -> ContinualConfig:
        """Seconds-long: scikit-learn's 8×8 digits, permuted, 3 tasks of 25 steps."""
        return cls(
            tasks=3,
            examples_per_task=100,
            batch_size=4,
            dataset="digits",
            methods=("plain", "continual_backprop", "critical_global", "measure_only"),
            options=(
                ("continual_backprop", {"replacement_rate": 0.01, "maturity_threshold": 5}),
                ("measure_only", {"every": 10, "probe_size": 8}),
            ),
            sweep=(),
            seeds=(0, 1),
            hidden=(16, 16),
            lr=0.05,
            probe_size=16,
            n_test=50,
            checkpoint_every=10,
        )

    @classmethod
    def demo(cls) -> ContinualConfig:
        """The library's own faster variant (not a reference setting; for Dohare et al.'s,
        see :meth:`dohare_small`). Minutes on 2 CPU cores: a narrow network (2 × 32), short
        tasks (1,000 examples) and a large step (0.03), which lose plasticity within 3 · 10⁴
        steps; plain SGD against continual backprop (replacement rate 1e-3, for the short run),
        the global criticality regularizer (its penalty every 4th step: 5× cheaper than
        every step at batch size 1, and it rescues as much, docs/continual.md) and the
        measure-only control."""
        return cls(
            tasks=30,
            examples_per_task=1_000,
            methods=("plain", "continual_backprop", "critical_global", "measure_only"),
            options=(
                ("continual_backprop", {"replacement_rate": 1e-3}),
                ("measure_only", {"every": 5_000}),
                ("critical_global", {"every": 4}),
            ),
            sweep=(),
            hidden=(32, 32),
            lr=0.03,
            probe_size=64,
            n_test=1_000,
            measure_every=2,
        )

    @classmethod
    def dohare_small(cls) -> ContinualConfig:
        """Dohare et al.'s small-network permuted MNIST (Nature 2024), every value from their
        code (``shibhansh/loss-of-plasticity``, ``lop/permuted_mnist/``; file:line):

        * network 784-100-100-100-10, ReLU: ``cfg/bp/small_net.json:14-15``
          (``num_features`` 100, ``num_hidden_layers`` 3); their ``DeepFFNN`` is ReLU;
        * SGD step 0.003: ``cfg/bp/small_net.json:16`` (``[0.01, 0.003, 0.001]``; 0.003 is
          also the step of ``cfg/cbp.json:16``, ``cfg/l2.json:16``, ``cfg/snp.json:16``),
          momentum 0: ``lop/algos/bp.py:8,16``;
        * batch 1: ``online_expr.py:35`` (``mini_batch_size = 1``);
        * 60,000 examples per task: ``online_expr.py:31`` (``change_after = 10 * 6000``) and
          ``:72,110`` (6,000 images per class × 10 classes); tasks 800: ``small_net.json:6``
          (run fewer with ``--set tasks=N``; a longer rerun continues the finished tasks);
        * plasticity metrics at each task's start on its first 2,000 examples:
          ``online_expr.py:142-149`` (``net.predict(x[:2000])``, dead = zero activity sum);
        * L2 (``weight_decay`` row) 1e-4: ``cfg/l2.json:17`` with the figure's setting
          ``plots/all_metrics.py:55`` (index 1 of ``[1e-3, 1e-4, 1e-5]``);
        * Shrink & Perturb: decay 1e-4 (``cfg/snp.json:17``), noise 1e-5 (``cfg/snp.json:19``
          with ``plots/all_metrics.py:56``, index 1 of ``[1e-4, 1e-5, 1e-6]``);
        * continual backprop: utility ``adaptable_contribution`` (``cfg/cbp.json:18``),
          η = 0.99 (``:20``), maturity 100 (``:21``; ``online_expr.py:38``), replacement rate
          1e-6, the rate their figure plots (``plots/all_metrics.py:57``: index 2 of
          ``cfg/cbp.json:19``, ``[1e-4, 1e-5, 1e-6]``);
        * 1 run per seed; their figure averages 10 runs (``cfg/*.json:5``); we default to 3.

        Their L2 / S&P / CBP files set a 2,000-unit network (``num_features`` 2000); on the
        small network only plain backprop has a file of its own (``small_net.json``): the
        other values are theirs, the pairing with 3 × 100 is ours. ``l2_init`` runs at the
        pull of the L2 row (λ = 5e-5: ``λ‖θ − θ₀‖²`` pulls with ``2λ``, weight decay ``wd``
        with ``wd``). The criticality measures (λ_1, σ) are ours: measured every 10th task.
        """
        return cls(
            tasks=800,
            examples_per_task=60_000,
            batch_size=1,
            methods=(
                "plain",
                "continual_backprop",
                "weight_decay",
                "shrink_perturb",
                "l2_init",
                "redo",
                "critical_global",
            ),
            options=(
                ("weight_decay", {"weight": 1e-4}),
                ("shrink_perturb", {"weight_decay": 1e-4, "noise_std": 1e-5}),
                ("l2_init", {"weight": 5e-5}),
                (
                    "continual_backprop",
                    {
                        "replacement_rate": 1e-6,
                        "decay_rate": 0.99,
                        "maturity_threshold": 100,
                        "utility": "adaptable_contribution",
                    },
                ),
                ("redo", {"tau": 0.1, "interval": 100, "window": "batch"}),
            ),
            sweep=(),
            seeds=(0, 1, 2),
            hidden=(100, 100, 100),
            lr=0.003,
            momentum=0.0,
            plasticity_examples=2_000,
            measure_every=10,
            n_test=2_000,
            checkpoint_every=20_000,
        )

    @classmethod
    def named_presets(cls) -> dict[str, Callable[[], ContinualConfig]]:
        """Presets beyond tiny / demo / full, by their ``--preset`` name."""
        return {"dohare-small": cls.dohare_small}

    def validate(self) -> None:
        """Raise ``ValueError`` naming the bad field and what to do."""
        if self.stream not in STREAMS:
            raise ValueError(f"unknown stream {self.stream!r}; choose one of {sorted(STREAMS)}")
        for name in (*self.methods, *(m for m, _ in self.options), *(m for m, _, _ in self.sweep)):
            get_method(name)  # raises with the known names
        if self.baseline not in self.methods:
            raise ValueError(
                f"include the baseline {self.baseline!r} in methods: it is the control"
            )
        for name, opts in self.options:
            method_options(name, overrides=opts)  # raises naming the method's options
        for name, option, _ in self.sweep:
            method_options(name, overrides={option: None})
        if self.plasticity_examples < 0 or self.probe_size < 2:
            raise ValueError("plasticity_examples must be >= 0 and probe_size >= 2")
        if self.tasks < 1 or not self.seeds or self.measure_every < 1:
            raise ValueError("tasks, seeds and measure_every must be positive (at least one seed)")
        repeated = sorted({s for s in self.seeds if list(self.seeds).count(s) > 1})
        if repeated:
            raise ValueError(
                f"seeds {repeated} are listed more than once: a repeated seed is the same run "
                "again, not a replicate; list each seed once"
            )
        for field in ("lr", "momentum"):
            value = getattr(self, field)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{field} must be a finite number, got {value!r}")
        if self.lr <= 0 or self.momentum < 0:
            raise ValueError(
                f"lr must be > 0 and momentum >= 0, got {self.lr!r}, {self.momentum!r}"
            )
        for name, opts in (*self.options, *((m, {o: v}) for m, o, vs in self.sweep for v in vs)):
            for option, value in opts.items():
                if isinstance(value, float) and not math.isfinite(value):
                    raise ValueError(f"option {option} of {name} must be finite, got {value!r}")
        if self.executor not in ("local", "ray"):
            raise ValueError(f"executor must be 'local' or 'ray', got {self.executor!r}")


@dataclasses.dataclass(frozen=True)
class Arm:
    """One method with one set of options (a column of the comparison)."""

    label: str
    method: str
    options: dict[str, Any]


def arms(cfg: ContinualConfig) -> list[Arm]:
    """Each method at its (overridden) defaults, then the sweep's other values."""
    overrides = dict(cfg.options)
    out = []
    for name in cfg.methods:
        base = dict(overrides.get(name, {}))
        out.append(Arm(name, name, base))
        defaults = method_options(name, overrides=base)
        for method, option, values in cfg.sweep:
            for value in values if method == name else ():
                if value != defaults[option]:
                    shown = f"{value:g}" if isinstance(value, float) else value
                    out.append(Arm(f"{name}[{option}={shown}]", name, {**base, option: value}))
    return out


@dataclasses.dataclass(frozen=True)
class Unit:
    """A unit of work: one arm on some seeds, trained together (an ensemble) or alone."""

    arm: Arm
    seeds: tuple[int, ...]

    @property
    def key(self) -> str:
        return re.sub(
            r"[^A-Za-z0-9_.=-]", "_", f"{self.arm.label}-s{'_'.join(map(str, self.seeds))}"
        )


def plan(cfg: ContinualConfig) -> list[Unit]:
    """The units of work: with ``vectorise``, one ensemble of all seeds per arm whose parts act
    on each member alone (the criticality regularizer in its ensemble form included); else one
    unit per seed."""
    units = []
    for arm in arms(cfg):
        parts = for_ensemble(build_method(arm.method, mlp(4, (3,), 2), **arm.options))
        if cfg.vectorise and separable(parts) and len(cfg.seeds) > 1:
            units.append(Unit(arm, tuple(cfg.seeds)))
        else:
            units += [Unit(arm, (s,)) for s in cfg.seeds]
    return units


#: Config fields that do not change a unit's results (where and how it is computed, and which
#: other units run).
_NOT_RESULTS = ("methods", "options", "sweep", "baseline", "seeds", "vectorise", "device",
                "executor", "address", "checkpoint_every")  # fmt: skip


#: Streams whose task ``t`` does not depend on the number of tasks: a longer run continues.
_OPEN_ENDED = ("permuted_mnist", "label_permuted_mnist", "slowly_changing_regression")


def unit_stamp(cfg: ContinualConfig, unit: Unit) -> dict[str, Any]:
    """What decides a unit's results: the shared settings, its method, options and seeds. A
    finished unit is reused by any run whose stamp for it is the same (other methods may
    be added or dropped). On a stream whose tasks do not depend on their number, ``tasks`` is
    not stamped: a rerun with more tasks continues the finished ones."""
    skip = (*_NOT_RESULTS, "tasks") if cfg.stream in _OPEN_ENDED else _NOT_RESULTS
    config = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in skip}
    return {**config, "method": unit.arm.method, "options": unit.arm.options,
            "seeds": list(unit.seeds)}  # fmt: skip


@register_experiment(
    "continual",
    title=TITLE,
    config=ContinualConfig,
    sections=sections,
    summary="continual learning: loss of plasticity, the baselines, and criticality per task",
    demo_rank=50,
    scorecard=scorecard,
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
            records: dict[str, list[dict[str, Any]]] = {}
            for upto in range(1, cfg.tasks + 1):
                for unit in units:
                    records[unit.key] = train_unit(
                        cfg, unit, folder / unit.key, until=upto,
                        on_task=lambda t, u=unit: _progress(bar, u, t, cfg.tasks, began),
                    )  # fmt: skip
            runs = [r for unit in units for r in records[unit.key]]
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
    data = {
        "stream": stream.describe(),
        "arms": [
            dataclasses.asdict(a)
            | {"reference": get_method(a.method).reference, "summary": get_method(a.method).summary}
            for a in arms(cfg)
        ],
        "units": [{"key": u.key, "method": u.arm.label, "seeds": list(u.seeds)} for u in units],
        "runs": runs,
        "analysis": analysis,
        "verdict": verdict(analysis, criticality_methods(list(analysis["tail"]))),
        "tasks_finished": finished,
        "tasks_planned": cfg.tasks,
        "plasticity_examples": cfg.plasticity_examples,
        "throughput": throughput(runs),
        "class_incremental": class_incremental(runs),
        "seconds": seconds,
    }
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
        # the checkpoint first: it is never behind runs.json, which is written after it
        for name in ("checkpoint/last.pt", "config.json", "runs.json"):
            if (folder / name).is_file():
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(folder / name, target / name)
        runs += json.loads((target / "runs.json").read_text())
    shutil.copyfile(config_file, dst / RUN_CONFIG)
    seconds = sum(t["seconds"] + t["measure_seconds"] for r in runs for t in r["tasks"])
    return finish(cfg, dst, units, runs, seconds)


def config_from_dict(raw: Mapping[str, Any]) -> ContinualConfig:
    """A :class:`ContinualConfig` from its JSON form (lists back to tuples)."""
    fields = {f.name for f in dataclasses.fields(ContinualConfig)}
    unknown = set(raw) - fields
    if unknown:
        raise ValueError(f"unknown continual config fields {sorted(unknown)}")

    def tup(value: Any) -> Any:
        return tuple(tup(v) for v in value) if isinstance(value, list) else value

    return ContinualConfig(**{k: tup(v) for k, v in raw.items()})


def _progress(bar: Any, unit: Unit, t: int, tasks: int, began: float) -> None:
    """One log line per finished task of a unit (a long run's log shows where it is)."""
    bar.update(1)
    log.info("continual: unit %s finished task %d/%d; %.1f min since this invocation began",
             unit.key, t + 1, tasks, (time.perf_counter() - began) / 60)  # fmt: skip


def throughput(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
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
            {
                "method": method,
                "members per unit": members,
                "learner-steps/s": steps / train if train > 0 else math.nan,
                "measuring share": measure / (train + measure) if train + measure else math.nan,
                "compute (min)": (train + measure) / 60,
            }
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
