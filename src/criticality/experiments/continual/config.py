"""The continual experiment's configuration, its arms (a method with options) and its units of
work (an arm on some seeds), with the stamp that decides when a finished unit is reused."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from criticality.continual.networks import mlp
from criticality.data.streams import STREAMS
from criticality.training.methods import build_method, get_method, method_options
from criticality.training.methods.continual import for_ensemble, separable

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
        see :meth:`dohare_small`; the demo shows that study's committed data beside this
        run). About a minute and a half of one CPU thread: a narrow network (2 × 32), 12 short
        tasks (1,000 examples) and a large step (0.03), which lose plasticity within 10⁴
        steps; plain SGD against continual backprop (replacement rate 1e-3, for the short run)
        and the global criticality regularizer (its penalty every 4th step: 5× cheaper than
        every step at batch size 1, and it rescues as much, docs/continual.md); 5 seeds."""
        return cls(
            tasks=12,
            examples_per_task=1_000,
            methods=("plain", "continual_backprop", "critical_global"),
            options=(
                ("continual_backprop", {"replacement_rate": 1e-3}),
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


def config_from_dict(raw: Mapping[str, Any]) -> ContinualConfig:
    """A :class:`ContinualConfig` from its JSON form (lists back to tuples)."""
    fields = {f.name for f in dataclasses.fields(ContinualConfig)}
    unknown = set(raw) - fields
    if unknown:
        raise ValueError(f"unknown continual config fields {sorted(unknown)}")

    def tup(value: Any) -> Any:
        return tuple(tup(v) for v in value) if isinstance(value, list) else value

    return ContinualConfig(**{k: tup(v) for k, v in raw.items()})
