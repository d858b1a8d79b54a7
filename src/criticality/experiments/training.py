"""Does training toward criticality help? ``criticality experiment training`` (PAPER claim 2).

For each dataset (MNIST, Fashion-MNIST) and model (a tanh MLP and a tanh CNN) and seed, the
same network is trained with each method under a matched budget (same steps, batch size,
optimizer, learning rate and data order; only the loss term or weight decay differs):

* ``plain``: cross-entropy only;
* ``critical_global`` / ``critical_stagewise``: + :class:`CriticalityRegularizer`;
* ``jacobian``: + :class:`JacobianRegularizer` (Hoffman et al. 2019, pushes toward order);
* ``weight_decay``: L2 weight decay in the optimizer.

Then: clean accuracy, robustness (Gaussian noise, MNIST-C-style corruptions, FGSM, PGD), the
final ``λ_1`` and its trajectory over training. Methods are compared with ``plain`` seed by seed
(paired t interval, paired t test, Wilcoxon signed-rank). An initialisation study trains from
deliberately ordered and chaotic weight scales: does the regularizer bring both back to λ_1 ≈ 0?

Each finished (dataset, model, init, method, seed) run is saved under ``OUT/runs/`` and not
redone when an interrupted experiment is started again with the same config.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from criticality.data import load_tensors
from criticality.experiments._training_report import METRICS as METRICS
from criticality.experiments._training_report import effect_sentences as effect_sentences
from criticality.experiments._training_report import sections as sections
from criticality.regularizers import CriticalityRegularizer, JacobianRegularizer
from criticality.reporting import atomic_write, render, write_results
from criticality.training import CriticalityMonitor, accuracy, evaluate_robustness, fit
from criticality.training._models import cnn_classifier, mlp_classifier
from criticality.training.stats import mean_ci, paired_comparison

log = logging.getLogger(__name__)

TITLE = "criticality experiment training: does training toward criticality help?"
METHODS = ("plain", "critical_global", "critical_stagewise", "jacobian", "weight_decay")


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """What the experiment runs (all runs share every setting except the method).

    Attributes:
        datasets: datasets of :func:`criticality.data.load_tensors`.
        models: ``"mlp"`` and/or ``"cnn"``.
        methods: subset of :data:`METHODS`; ``"plain"`` must be included (the control).
        seeds: one run per seed and method (model init, data order and regularizer tangents).
        inits: initialisations of the main comparison (``"default"``, ``"ordered"``,
            ``"chaotic"``); weight scales ``sigma_w`` below.
        init_study: extra initialisations trained on ``init_study_model`` only.
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
        critical_weight: weight of the criticality penalty. 5 holds λ_1 within about 0.03 of
            0 on the MNIST MLP in the demo budget (1, 5 and 20 gave +0.086, +0.028 and
            +0.015 on two seeds; plain Adam drifts to +0.165); chosen by that criterion, not
            by accuracy.
        jacobian_weight: ``λ_JR`` of the Jacobian penalty.
        weight_decay: L2 coefficient of the weight-decay method.
        sub_batch: inputs per step used by both regularizers.
        norm: norm of the log-gains, in the regularizer and the measured λ_1 alike.
        probe_size: training inputs on which λ_1 is measured.
        monitor_every: steps between λ_1 measurements.
        noise_levels: std of the Gaussian noise.
        severities: corruption severities (1..5).
        fgsm_eps: FGSM budgets (L∞, pixels in [0, 1]).
        pgd_eps: PGD budgets; ``pgd_steps`` iterations, step ``2.5 ε / steps``, random start.
        pgd_steps: PGD iterations.
        device: ``"cpu"`` or ``"cuda"``.
        seed: seed of the data subsets and probe set.
    """

    datasets: tuple[str, ...] = ("mnist", "fashion_mnist")
    models: tuple[str, ...] = ("mlp", "cnn")
    methods: tuple[str, ...] = METHODS
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    inits: tuple[str, ...] = ("default",)
    init_study: tuple[str, ...] = ("ordered", "chaotic")
    init_study_model: str = "mlp"
    init_study_methods: tuple[str, ...] = (
        "plain",
        "critical_global",
        "critical_stagewise",
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
    critical_weight: float = 5.0
    jacobian_weight: float = 0.01
    weight_decay: float = 1e-3
    sub_batch: int = 16
    norm: str = "rms"
    probe_size: int = 128
    monitor_every: int = 100
    noise_levels: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5)
    severities: tuple[int, ...] = (1, 3, 5)
    fgsm_eps: tuple[float, ...] = (0.05, 0.1, 0.2)
    pgd_eps: tuple[float, ...] = (0.05, 0.1)
    pgd_steps: int = 10
    device: str = "cpu"
    seed: int = 0

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
        """A bounded version (about 5 minutes on one CPU thread): MNIST, the MLP, 5 seeds,
        400 steps; ordered and chaotic starts with plain, critical_global and jacobian."""
        return cls(
            datasets=("mnist",),
            models=("mlp",),
            init_study_methods=("plain", "critical_global", "jacobian"),
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
        unknown = set(self.methods) | set(self.init_study_methods)
        if bad := unknown - set(METHODS):
            raise ValueError(f"unknown methods {sorted(bad)}; choose from {METHODS}")
        if "plain" not in self.methods or (
            self.init_study and "plain" not in self.init_study_methods
        ):
            raise ValueError("include 'plain' in methods and init_study_methods: it is the control")
        if bad := ({*self.models, self.init_study_model} - {"mlp", "cnn"}):
            raise ValueError(f"models must be 'mlp' or 'cnn', got {sorted(bad)}")
        scales = dict(self.sigma_w)
        if bad := (set(self.inits) | set(self.init_study)) - set(scales):
            raise ValueError(f"no sigma_w for initialisations {sorted(bad)}; add them to sigma_w")


Config = TrainingConfig  # the name `criticality experiment` looks up in every experiment


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


def run(cfg: TrainingConfig, out_dir: str | Path) -> Path:
    """Run (or resume) the experiment; write ``config.json``, ``results.json``, figures, report.

    Returns:
        The path of ``report.html`` (or of ``results.json`` when no renderer is registered).
    """
    from tqdm.auto import tqdm

    cfg.validate()
    out = Path(out_dir)
    config = dataclasses.asdict(cfg)
    runs_dir = _fresh_runs_dir(out / "runs", config)
    records = []
    specs = run_specs(cfg)
    with tqdm(total=len(specs), desc="training runs", disable=not sys.stderr.isatty()) as bar:
        for dataset, group in _by_dataset(specs):
            data = load_data(dataset, cfg)
            for spec in group:
                path = runs_dir / f"{spec.key}.json"
                if not path.is_file():
                    _, record = train_and_evaluate(spec, cfg, data, out / "checkpoints" / spec.key)
                    atomic_write(path, json.dumps(record))
                    shutil.rmtree(out / "checkpoints" / spec.key, ignore_errors=True)
                records.append(json.loads(path.read_text()))
                bar.update(1)
    if (out / "checkpoints").is_dir() and not any((out / "checkpoints").iterdir()):
        (out / "checkpoints").rmdir()
    return write_outputs(out, cfg, config, records)


def write_outputs(
    out: Path, cfg: TrainingConfig, config: dict[str, Any], records: list[dict[str, Any]]
) -> Path:
    """``results.json`` (runs, per-group statistics, budget), figures and, when the renderer
    is registered, ``report.html``; returns the report's path (else ``results.json``'s)."""
    from criticality.reporting import RENDERERS

    results = {"runs": records, "groups": aggregate(records), "budget": _budget(cfg)}
    write_results(out, "training", config, results, seed=cfg.seed, device=cfg.device)
    if "training" in RENDERERS:
        return render(out)
    sections(results, out)  # the figures, without the HTML
    return out / "results.json"


def _fresh_runs_dir(runs_dir: Path, config: dict[str, Any]) -> Path:
    """Keep finished runs only if they were made with the same config."""
    stamp, text = runs_dir / "config.json", json.dumps(config, sort_keys=True)
    if stamp.is_file() and stamp.read_text() != text:
        log.warning("config changed: discarding the finished runs in %s", runs_dir)
        shutil.rmtree(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(stamp, text)
    return runs_dir


def _by_dataset(specs: list[RunSpec]) -> Iterator[tuple[str, list[RunSpec]]]:
    for dataset in dict.fromkeys(s.dataset for s in specs):
        yield dataset, [s for s in specs if s.dataset == dataset]


Data = dict[str, torch.Tensor]


def load_data(dataset: str, cfg: TrainingConfig) -> Data:
    """Seeded train/test subsets and the probe set (the first training inputs)."""
    x, y = load_tensors(dataset, "train")
    xt, yt = load_tensors(dataset, "test")
    gen = torch.Generator().manual_seed(cfg.seed)
    keep = torch.randperm(x.shape[0], generator=gen)[: cfg.n_train or x.shape[0]]
    test = torch.randperm(xt.shape[0], generator=gen)[: cfg.n_test]
    return {
        "x": x[keep],
        "y": y[keep],
        "xt": xt[test],
        "yt": yt[test],
        "probe": x[keep][: cfg.probe_size],
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


def build_regularizer(method: str, cfg: TrainingConfig, seed: int) -> nn.Module | None:
    """The loss term of ``method`` (``None`` for plain training and weight decay)."""
    if method.startswith("critical_"):
        mode: Any = method.removeprefix("critical_")
        norm: Any = cfg.norm
        return CriticalityRegularizer(
            mode=mode, weight=cfg.critical_weight, sub_batch=cfg.sub_batch, norm=norm, seed=seed
        )
    if method == "jacobian":
        return JacobianRegularizer(weight=cfg.jacobian_weight, sub_batch=cfg.sub_batch, seed=seed)
    return None


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
        seed=cfg.seed,
    )
    result = fit(
        model,
        (x, y),
        steps=cfg.steps,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay if spec.method == "weight_decay" else 0.0,
        regularizer=build_regularizer(spec.method, cfg, spec.seed),
        callbacks=[monitor],
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
    }


def aggregate(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (dataset, model, init): each method's metrics over seeds, and paired differences
    (matched by seed) of every method from ``plain`` and of each criticality method from the
    other regularizers, keyed ``"A − B"``."""
    groups = []
    for key in dict.fromkeys((r["dataset"], r["model"], r["init"]) for r in records):
        rows = [r for r in records if (r["dataset"], r["model"], r["init"]) == key]
        by_method: dict[str, dict[int, dict[str, Any]]] = {}
        for r in rows:
            by_method.setdefault(r["method"], {})[r["seed"]] = r
        summary = {
            m: {k: mean_ci([r[k] for r in runs.values()]) for k in (*METRICS, "lambda_initial")}
            for m, runs in by_method.items()
        }
        comparisons = {
            f"{a} − {b}": _paired(by_method[a], by_method[b])
            for a, b in _contrasts(list(by_method))
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


def _contrasts(methods: list[str]) -> list[tuple[str, str]]:
    """Pairs ``(A, B)`` compared as ``A − B``: each method vs plain, criticality vs baselines."""
    pairs = [(m, "plain") for m in methods if m != "plain" and "plain" in methods]
    baselines = [m for m in ("jacobian", "weight_decay") if m in methods]
    return pairs + [(m, b) for m in methods if m.startswith("critical_") for b in baselines]


def _paired(a: dict[int, dict[str, Any]], b: dict[int, dict[str, Any]]) -> dict[str, Any]:
    seeds = sorted(set(a) & set(b))
    return {
        k: paired_comparison([a[s][k] for s in seeds], [b[s][k] for s in seeds]) for k in METRICS
    }


def _budget(cfg: TrainingConfig) -> dict[str, Any]:
    return {
        "steps": cfg.steps,
        "batch_size": cfg.batch_size,
        "optimizer": "adam",
        "lr": cfg.lr,
        "inputs_seen": cfg.steps * cfg.batch_size,
    }
