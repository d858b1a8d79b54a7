"""Does training toward criticality help? ``criticality experiment training`` (PAPER claim 2).

For each dataset (MNIST, Fashion-MNIST) and model (a tanh MLP and a tanh CNN) and seed, the
same network is trained with each method under a matched budget (same steps, batch size,
optimizer, learning rate and data order; only the loss term or weight decay differs):

* ``plain``: cross-entropy only;
* ``critical_global`` / ``critical_stagewise``: + :class:`CriticalityRegularizer`;
* ``jacobian``: + :class:`JacobianRegularizer` (Hoffman et al. 2019, pushes toward order);
* ``weight_decay``: L2 weight decay in the optimizer;
* ``homeostatic``: every stage scales its own gain toward 1 from local signals (no gradient);

or any other row of the training-method registry (:mod:`criticality.training.methods`).

Then: clean accuracy, robustness (Gaussian noise, MNIST-C-style corruptions, FGSM, PGD), the
final ``λ_1`` and its trajectory over training, and the cost (FLOPs and seconds per step,
active units, test accuracy against FLOPs, FLOPs and seconds to a target accuracy). Every
method is compared with the control (``baseline``, default ``plain``) seed by seed, and every
criticality method with every baseline method of the run (paired t interval, paired t test,
Wilcoxon signed-rank). An initialisation study trains from deliberately ordered and chaotic
weight scales: do the regularizer and the homeostatic controller bring both back to λ_1 ≈ 0?

Each finished (dataset, model, init, method, seed) run is saved under ``OUT/runs/`` and not
redone when an interrupted experiment is started again with the same config.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from criticality.data import load_tensors
from criticality.executor import map_jobs
from criticality.experiments._registry import register_experiment, render
from criticality.experiments._units import finished_unit, stamped_folder, write_unit
from criticality.experiments.training.energy import energy_summary, run_energy
from criticality.experiments.training.report import METRICS as METRICS
from criticality.experiments.training.report import effect_sentences as effect_sentences
from criticality.experiments.training.report import scorecard
from criticality.experiments.training.report import sections as sections
from criticality.experiments.training.results import RunRecord, TrainingResults
from criticality.reporting import write_results
from criticality.stats import mean_ci, paired_comparison
from criticality.training import CriticalityMonitor, accuracy, evaluate_robustness, fit
from criticality.training.energy import AccuracyTrace
from criticality.training.methods import build_method, get_method
from criticality.zoo import cnn_classifier, mlp_classifier

log = logging.getLogger(__name__)

TITLE = "criticality experiment training: does training toward criticality help?"


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """What the experiment runs (all runs share every setting except the method).

    Attributes:
        datasets: datasets of :func:`criticality.data.load_tensors`.
        models: ``"mlp"`` and/or ``"cnn"``.
        methods: rows of the training-method registry; ``baseline`` must be among them.
        baseline: the control every method is compared with.
        seeds: the replicates: one run per seed and method (model init, data order and the
            methods' random draws); each seed once.
        inits: initialisations of the main comparison (``"default"``, ``"ordered"``,
            ``"chaotic"``); weight scales ``sigma_w`` below.
        init_study: extra initialisations trained on ``init_study_model`` only (``()``: no
            initialisation study).
        init_study_model: model of the initialisation study.
        init_study_methods: methods of the initialisation study.
        sigma_w: weight scale of each initialisation (``N(0, σ_w²/fan_in)``, tanh).
        n_train: training inputs (a seeded subset; ``None``: all).
        n_test: test inputs for clean accuracy; ``n_robust`` of them for robustness.
        n_robust: test inputs for noise, corruptions and attacks.
        steps: optimizer steps of every run (the matched budget).
        batch_size: inputs per step.
        lr: Adam learning rate.
        mlp_depth: hidden stages of the MLP.
        mlp_width: units per hidden stage.
        cnn_channels: channels of the CNN's two blocks.
        method_options: per method, options that replace its registry defaults, e.g.
            ``{"critical_global": {"weight": 1.0}}`` (``criticality train`` lists them).
        sub_batch: inputs per step used by the methods that take it (both regularizers).
        norm: norm of the log-gains, in the criticality methods and the measured λ_1 alike.
        probe_size: training inputs on which λ_1 is measured.
        monitor_every: steps between λ_1 measurements.
        noise_levels: std of the Gaussian noise.
        severities: corruption severities (1..5).
        fgsm_eps: FGSM budgets (L∞, pixels in [0, 1]).
        pgd_eps: PGD budgets; ``pgd_steps`` iterations, step ``2.5 ε / steps``, random start.
        pgd_steps: PGD iterations.
        target_accuracy: test accuracy whose cost (FLOPs, seconds) is reported; ``None``:
            95 % of the control's mean final accuracy, rounded down to 0.01.
        device: ``"cpu"`` or ``"cuda"``.
        executor: ``"local"`` (one run after another) or ``"ray"`` (runs as Ray tasks).
        address: Ray cluster address (``None``: a local instance).
        probe_seed: seed of the data subsets, the probe set and the monitor's random
            directions (the same for every replicate).
    """

    datasets: tuple[str, ...] = ("mnist", "fashion_mnist")
    models: tuple[str, ...] = ("mlp", "cnn")
    methods: tuple[str, ...] = (
        "plain", "critical_global", "critical_stagewise", "homeostatic", "jacobian",
        "weight_decay",
    )  # fmt: skip
    baseline: str = "plain"
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    inits: tuple[str, ...] = ("default",)
    init_study: tuple[str, ...] = ("ordered", "chaotic")
    init_study_model: str = "mlp"
    init_study_methods: tuple[str, ...] = (
        "plain",
        "critical_global",
        "critical_stagewise",
        "homeostatic",
        "jacobian",
    )
    sigma_w: tuple[tuple[str, float], ...] = (("default", 1.0), ("ordered", 0.5), ("chaotic", 3.0))
    n_train: int | None = 20_000
    n_test: int = 5_000
    n_robust: int = 1_000
    steps: int = 2_000
    batch_size: int = 128
    lr: float = 1e-3
    mlp_depth: int = 6
    mlp_width: int = 128
    cnn_channels: tuple[int, int] = (16, 32)
    method_options: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    sub_batch: int = 16
    norm: str = "rms"
    probe_size: int = 128
    monitor_every: int = 100
    noise_levels: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5)
    severities: tuple[int, ...] = (1, 3, 5)
    fgsm_eps: tuple[float, ...] = (0.05, 0.1, 0.2)
    pgd_eps: tuple[float, ...] = (0.05, 0.1)
    pgd_steps: int = 10
    target_accuracy: float | None = None
    device: str = "cpu"
    executor: str = "local"
    address: str | None = None
    probe_seed: int = 0

    @classmethod
    def tiny(cls) -> TrainingConfig:
        """Seconds-long version for tests: digits (8×8), 2 seeds, 20 steps."""
        return cls(
            datasets=("digits",),
            methods=("plain", "critical_global", "jacobian"),
            seeds=(0, 1),
            init_study=("ordered",),
            init_study_methods=("plain", "critical_global"),
            n_train=None,
            n_test=200,
            n_robust=50,
            steps=20,
            batch_size=32,
            lr=3e-3,
            mlp_depth=3,
            mlp_width=32,
            cnn_channels=(4, 8),
            probe_size=16,
            monitor_every=10,
            noise_levels=(0.2,),
            severities=(3,),
            fgsm_eps=(0.1,),
            pgd_eps=(0.1,),
            pgd_steps=2,
        )

    @classmethod
    def demo(cls) -> TrainingConfig:
        """A bounded version (about two and a half minutes of one CPU thread): MNIST, the
        MLP, 3 seeds, 400 steps; ordered and chaotic starts with plain, critical_global and
        homeostatic."""
        return cls(
            datasets=("mnist",),
            models=("mlp",),
            seeds=(0, 1, 2),
            init_study_methods=("plain", "critical_global", "homeostatic"),
            n_train=10_000,
            n_test=2_000,
            n_robust=500,
            steps=400,
            monitor_every=50,
            severities=(3,),
            pgd_steps=5,
        )

    def validate(self) -> None:
        """Raise ``ValueError`` naming the bad field."""
        for name in {*self.methods, *self.init_study_methods, *self.method_options}:
            get_method(name)  # raises with the known names
        for name, options in self.method_options.items():
            build_options(name, self, options)  # raises naming the method's options
        if self.baseline not in self.methods or (
            self.init_study and self.baseline not in self.init_study_methods
        ):
            raise ValueError(
                f"include the control {self.baseline!r} in methods and init_study_methods"
            )
        if bad := ({*self.models, self.init_study_model} - {"mlp", "cnn"}):
            raise ValueError(f"models must be 'mlp' or 'cnn', got {sorted(bad)}")
        scales = dict(self.sigma_w)
        if bad := (set(self.inits) | set(self.init_study)) - set(scales):
            raise ValueError(f"no sigma_w for initialisations {sorted(bad)}; add them to sigma_w")
        _check_numbers(self)


#: Fields of :class:`TrainingConfig` that must be at least 1 (``steps`` may be 0: untrained).
_POSITIVE = ("n_test", "n_robust", "batch_size", "mlp_depth", "mlp_width", "sub_batch",
             "probe_size", "monitor_every", "pgd_steps")  # fmt: skip


def _check_numbers(cfg: TrainingConfig) -> None:
    """Refuse sizes, rates and budgets that would fail (or mean nothing) inside a run."""
    for name in _POSITIVE:
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(cfg, name)}")
    if cfg.steps < 0 or (cfg.n_train is not None and cfg.n_train < 1):
        raise ValueError(f"steps must be >= 0 and n_train >= 1 or None, got {cfg.steps}, "
                         f"{cfg.n_train}")  # fmt: skip
    if min(cfg.cnn_channels) < 1:
        raise ValueError(f"cnn_channels must be at least 1, got {list(cfg.cnn_channels)}")
    if not cfg.lr > 0:
        raise ValueError(f"lr must be > 0, got {cfg.lr}")
    if bad := [s for s in cfg.severities if not 1 <= s <= 5]:
        raise ValueError(f"severities are 1..5, got {bad}")
    for name in ("noise_levels", "fgsm_eps", "pgd_eps"):
        if bad := [v for v in getattr(cfg, name) if v < 0]:
            raise ValueError(f"{name} must be >= 0, got {bad}")
    if scales := [f"{i}={v}" for i, v in cfg.sigma_w if not v > 0]:
        raise ValueError(f"sigma_w must be > 0, got {', '.join(scales)}")
    if cfg.target_accuracy is not None and not 0 < cfg.target_accuracy <= 1:
        raise ValueError(f"target_accuracy must be in (0, 1] or None, got {cfg.target_accuracy}")
    if cfg.norm not in ("l2", "rms"):
        raise ValueError(f"norm must be 'l2' or 'rms', got {cfg.norm!r}")
    if cfg.executor not in ("local", "ray"):
        raise ValueError(f"executor must be 'local' or 'ray', got {cfg.executor!r}")
    if not (cfg.device == "cpu" or cfg.device.startswith("cuda")):
        raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {cfg.device!r}")


def build_options(name: str, cfg: TrainingConfig, overrides: dict[str, Any]) -> dict[str, Any]:
    """Options of method ``name`` in this experiment: its registry defaults, the shared
    ``norm`` and ``sub_batch`` where it takes them, then ``overrides``."""
    from criticality.training.methods import method_options

    shared = {"norm": cfg.norm, "sub_batch": cfg.sub_batch}
    return method_options(name, shared, overrides)


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One training run of the experiment."""

    dataset: str
    model: str
    init: str
    method: str
    seed: int

    @property
    def key(self) -> str:
        return f"{self.dataset}-{self.model}-{self.init}-{self.method}-s{self.seed}"


def run_specs(cfg: TrainingConfig) -> list[RunSpec]:
    """Every run: the main comparison, then the initialisation study."""
    specs = [
        RunSpec(d, m, i, meth, s)
        for d in cfg.datasets
        for m in cfg.models
        for i in cfg.inits
        for meth in cfg.methods
        for s in cfg.seeds
    ]
    specs += [
        RunSpec(d, cfg.init_study_model, i, meth, s)
        for d in cfg.datasets
        for i in cfg.init_study
        for meth in cfg.init_study_methods
        for s in cfg.seeds
    ]
    return list(dict.fromkeys(specs))  # an init in both lists runs once


def headline(data: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """The golden numbers (:mod:`._golden`): per group and method, the mean clean accuracy
    (tolerance 0.02: four test inputs of 200) and the mean final λ_1 (0.02)."""
    out: dict[str, tuple[float, float]] = {}
    for g in TrainingResults.from_dict(data).groups:
        for method, s in g["summary"].items():
            tag = f"{g['dataset']}-{g['model']}-{g['init']}.{method}"
            out[f"{tag}.clean"] = (s["clean"]["mean"], 0.02)
            out[f"{tag}.lambda_final"] = (s["lambda_final"]["mean"], 0.02)
    return out


@register_experiment(
    "training",
    title=TITLE,
    config=TrainingConfig,
    sections=sections,
    summary="training toward criticality against plain, Jacobian and weight decay (claim 2)",
    demo_rank=40,
    scorecard=scorecard,
    headline=headline,
)
def run(cfg: TrainingConfig, out_dir: str | Path) -> Path:
    """Run (or resume) the experiment; write ``config.json``, ``results.json``, figures, report.

    Returns:
        The path of ``report.html``.
    """
    cfg.validate()
    out = Path(out_dir)
    config = dataclasses.asdict(cfg)
    # where the runs execute does not change their results: not part of the resume stamp
    stamp = {k: v for k, v in config.items() if k not in _WHERE}
    runs_dir = stamped_folder(out / "runs", stamp, unvouched=[out / "checkpoints"])
    specs = run_specs(cfg)
    done = {}
    for s in specs:
        found, record = finished_unit(runs_dir / f"{s.key}.json", config=stamp,
                                      on_change="refuse", check=_record_check(s))  # fmt: skip
        if found:
            done[s.key] = record
    todo = [s for s in specs if s.key not in done]
    jobs = [TrainJob(s, cfg, str(out / "checkpoints" / s.key)) for s in todo]
    gpus = 1 if cfg.device.startswith("cuda") else 0
    finished = map_jobs(run_job, jobs, executor=cfg.executor, address=cfg.address, gpus=gpus,
                        desc="training runs", done=len(done), unit="run")  # fmt: skip
    for job, record in finished:
        done[job.spec.key] = write_unit(runs_dir / f"{job.spec.key}.json", stamp, record)
        shutil.rmtree(job.checkpoint, ignore_errors=True)
    if (out / "checkpoints").is_dir() and not any((out / "checkpoints").iterdir()):
        (out / "checkpoints").rmdir()
    return write_outputs(out, cfg, config, [done[s.key] for s in specs])


def _record_check(spec: RunSpec) -> Callable[[Any], object]:
    """What a finished run's file must hold: a whole record of this run."""

    def check(record: Any) -> None:
        if RunRecord.from_dict(record).key != spec.key:
            raise ValueError(f"it holds run {record['key']!r}, not {spec.key!r}")

    return check


_WHERE = ("executor", "address")


@dataclasses.dataclass(frozen=True)
class TrainJob:
    """One run for the executor: everything a (possibly remote) worker needs."""

    spec: RunSpec
    cfg: TrainingConfig
    checkpoint: str

    @property
    def key(self) -> str:
        """The run's name in progress lines and file names."""
        return self.spec.key


def run_job(job: TrainJob) -> dict[str, Any]:
    """Train and evaluate one run (resuming from its checkpoint); its JSON-ready record."""
    data = load_data(job.spec.dataset, job.cfg)
    _, record = train_and_evaluate(job.spec, job.cfg, data, Path(job.checkpoint))
    return record


def write_outputs(
    out: Path, cfg: TrainingConfig, config: dict[str, Any], records: list[dict[str, Any]]
) -> Path:
    """``results.json`` (runs, per-group statistics, budget), figures and ``report.html``;
    returns the report's path."""
    results = TrainingResults(
        runs=tuple(RunRecord.from_dict(r) for r in records),
        groups=aggregate(records, cfg.baseline),
        budget=_budget(cfg),
        energy=energy_summary(records, cfg.baseline, cfg.target_accuracy),
        methods={m: _method_row(m, cfg) for m in dict.fromkeys(r["method"] for r in records)},
    )
    seeds = {"seeds": list(cfg.seeds), "probe_seed": cfg.probe_seed}
    write_results(out, "training", config, results.to_dict(), seed=seeds, device=cfg.device)
    return render(out)


def _method_row(name: str, cfg: TrainingConfig) -> dict[str, Any]:
    spec = get_method(name)
    options = build_options(name, cfg, cfg.method_options.get(name, {}))
    return {"summary": spec.summary, "reference": spec.reference, "kind": spec.kind,
            "options": options}  # fmt: skip


Data = dict[str, torch.Tensor]


def load_data(dataset: str, cfg: TrainingConfig) -> Data:
    """Seeded train/test subsets and the probe set (the first training inputs); loaded once
    per process for the same settings."""
    return _load_data(dataset, cfg.n_train, cfg.n_test, cfg.probe_size, cfg.probe_seed)


@functools.lru_cache(maxsize=2)
def _load_data(dataset: str, n_train: int | None, n_test: int, probe_size: int, seed: int) -> Data:
    x, y = load_tensors(dataset, "train")
    xt, yt = load_tensors(dataset, "test")
    gen = torch.Generator().manual_seed(seed)
    keep = torch.randperm(x.shape[0], generator=gen)[: n_train or x.shape[0]]
    test = torch.randperm(xt.shape[0], generator=gen)[:n_test]
    return {
        "x": x[keep],
        "y": y[keep],
        "xt": xt[test],
        "yt": yt[test],
        "probe": x[keep][:probe_size],
    }


def build_model(
    spec: RunSpec, cfg: TrainingConfig, in_shape: tuple[int, ...], n_classes: int
) -> nn.Module:
    """The run's network at its initial weight scale."""
    sigma_w = dict(cfg.sigma_w)[spec.init]
    if spec.model == "mlp":
        return mlp_classifier(
            in_shape,
            n_classes,
            depth=cfg.mlp_depth,
            width=cfg.mlp_width,
            sigma_w=sigma_w,
            seed=spec.seed,
        )
    return cnn_classifier(
        in_shape, n_classes, channels=cfg.cnn_channels, sigma_w=sigma_w, seed=spec.seed
    )


def train_and_evaluate(
    spec: RunSpec, cfg: TrainingConfig, data: Data, ckpt: Path | None
) -> tuple[nn.Module, dict[str, Any]]:
    """Train one run (resuming from ``ckpt`` if it holds a checkpoint) and evaluate it.

    Returns:
        The trained model and its JSON-ready record: the spec, accuracies (clean on
        ``n_test`` inputs, the rest on ``n_robust``), initial and final ``λ_1``, the trajectory,
        the final training loss and penalty, wall time and the full robustness result.
    """
    x, y = data["x"], data["y"]
    model = build_model(spec, cfg, tuple(x.shape[1:]), int(y.max()) + 1)
    monitor = CriticalityMonitor(
        data["probe"],
        every=cfg.monitor_every,
        options={"lyapunov": {"norm": cfg.norm}},
        seed=cfg.probe_seed,
    )
    trace = AccuracyTrace(data["xt"], data["yt"], every=cfg.monitor_every)
    options = build_options(spec.method, cfg, cfg.method_options.get(spec.method, {}))
    result = fit(
        model,
        (x, y),
        steps=cfg.steps,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        method=build_method(spec.method, model, seed=spec.seed, **options),
        callbacks=[monitor, trace],
        checkpoint_dir=ckpt,
        checkpoint_every=max(1, cfg.steps // 4),
        seed=spec.seed,
        device=cfg.device,
        progress=False,
    )
    n = cfg.n_robust
    rob = evaluate_robustness(
        model,
        data["xt"][:n],
        data["yt"][:n],
        noise_levels=cfg.noise_levels,
        severities=cfg.severities,
        fgsm_eps=cfg.fgsm_eps,
        pgd_eps=cfg.pgd_eps,
        pgd_steps=cfg.pgd_steps,
        seed=spec.seed,
    )
    summary = rob.summary()
    summary["clean"] = accuracy(model, data["xt"], data["yt"])
    trajectory = result.logs["criticality"]
    tail = max(1, cfg.steps // 10)
    return model, {
        **dataclasses.asdict(spec),
        "key": spec.key,
        **summary,
        "lambda_initial": trajectory[0]["lyapunov"],
        "lambda_final": trajectory[-1]["lyapunov"],
        "distance": abs(trajectory[-1]["lyapunov"]),
        "trajectory": trajectory,
        "train_loss": float(np.mean(result.loss[-tail:])) if result.steps else float("nan"),
        "penalty": float(np.mean(result.penalty[-tail:])) if result.steps else 0.0,
        "seconds": result.seconds,
        "robustness": rob.to_dict(),
        **(
            {"energy": run_energy(result.energy.to_dict(), result.logs["accuracy"])}
            if result.energy is not None
            else {}
        ),
    }


def aggregate(records: list[dict[str, Any]], baseline: str = "plain") -> list[dict[str, Any]]:
    """Per (dataset, model, init): each method's metrics over seeds, and paired differences
    (matched by seed) of every method from ``baseline`` and of each criticality method from
    each baseline method, keyed ``"A − B"``."""
    groups = []
    for key in dict.fromkeys((r["dataset"], r["model"], r["init"]) for r in records):
        rows = [r for r in records if (r["dataset"], r["model"], r["init"]) == key]
        by_method: dict[str, dict[int, dict[str, Any]]] = {}
        for r in rows:
            by_method.setdefault(r["method"], {})[r["seed"]] = r
        summary = {
            m: {
                k: mean_ci([r[k] for r in runs.values()]).to_dict()
                for k in (*METRICS, "lambda_initial")
            }
            for m, runs in by_method.items()
        }
        comparisons = {
            f"{a} − {b}": _paired(by_method[a], by_method[b])
            for a, b in contrasts(list(by_method), baseline)
        }
        groups.append(
            {
                "dataset": key[0],
                "model": key[1],
                "init": key[2],
                "summary": summary,
                "comparisons": comparisons,
            }
        )
    return groups


def contrasts(methods: list[str], baseline: str = "plain") -> list[tuple[str, str]]:
    """Pairs ``(A, B)`` compared as ``A − B``: each method against ``baseline``, then each
    criticality method against each baseline method (kinds from the method registry)."""
    pairs = [(m, baseline) for m in methods if m != baseline and baseline in methods]
    kind = {m: get_method(m).kind for m in methods}
    others = [m for m in methods if kind[m] == "baseline"]
    pairs += [(m, b) for m in methods if kind[m] == "criticality" for b in others]
    return list(dict.fromkeys(pairs))  # the control may itself be a baseline


def _paired(a: dict[int, dict[str, Any]], b: dict[int, dict[str, Any]]) -> dict[str, Any]:
    seeds = sorted(set(a) & set(b))
    return {
        k: paired_comparison([a[s][k] for s in seeds], [b[s][k] for s in seeds]).to_dict()
        for k in METRICS
    }


def _budget(cfg: TrainingConfig) -> dict[str, Any]:
    return {
        "steps": cfg.steps,
        "batch_size": cfg.batch_size,
        "optimizer": "adam",
        "lr": cfg.lr,
        "inputs_seen": cfg.steps * cfg.batch_size,
    }
