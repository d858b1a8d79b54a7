"""The training experiment's typed results (``results.json``'s ``data``, schema ``training/1``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from criticality.experiments._results import IncompleteResultsError, Results


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One trained network: its spec, what it scored and how its λ_1 moved.

    Attributes:
        dataset: dataset name.
        model: ``"mlp"`` or ``"cnn"``.
        init: ``"default"``, ``"ordered"`` or ``"chaotic"``.
        method: training method (a registry row).
        seed: the replicate.
        key: the run's name, ``dataset-model-init-method-sSEED``.
        clean: test accuracy on ``n_test`` inputs.
        noise: accuracy under Gaussian noise (mean over the levels).
        corruption: accuracy under corruptions (mean over kinds and severities).
        fgsm: accuracy under FGSM (mean over the budgets).
        pgd: accuracy under PGD (mean over the budgets).
        lambda_initial: λ_1 at step 0.
        lambda_final: λ_1 after the last step.
        distance: ``|lambda_final|``.
        trajectory: the monitor's records ``{"step", "task", "lyapunov", ...}``.
        train_loss: mean training loss over the last 10 % of steps.
        penalty: mean penalty of the method's loss terms over the last 10 % of steps.
        seconds: wall time of training.
        robustness: the full robustness result (per level, severity and budget).
        energy: the cost record (FLOPs, seconds, accuracy trace); ``None`` if not counted.
    """

    dataset: str
    model: str
    init: str
    method: str
    seed: int
    key: str
    clean: float
    noise: float
    corruption: float
    fgsm: float
    pgd: float
    lambda_initial: float
    lambda_final: float
    distance: float
    trajectory: list[dict[str, Any]]
    train_loss: float
    penalty: float
    seconds: float
    robustness: dict[str, Any]
    energy: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if out["energy"] is None:
            del out["energy"]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [n for n in names[:-1] if n not in data]
        if missing:
            raise IncompleteResultsError(
                f"training run {data.get('key', '?')!r} lacks {', '.join(missing)}; re-run it"
            )
        return cls(**{n: data[n] for n in names if n in data})


@dataclasses.dataclass(frozen=True)
class TrainingResults(Results):
    """What ``criticality experiment training`` (and ``criticality train``) found.

    Attributes:
        runs: every trained network.
        groups: per (dataset, model, init): each method's mean and 95 % interval over seeds
            (``summary``) and the paired differences ``"A − B"`` (``comparisons``).
        budget: the matched budget (steps, batch size, learning rate, ...).
        energy: per group, each method's cost (FLOPs and seconds per step, to the target).
        methods: per method, its registry row (summary, reference, kind, options).
    """

    SCHEMA = "training"
    VERSION = 1

    runs: tuple[RunRecord, ...]
    groups: list[dict[str, Any]]
    budget: dict[str, Any]
    energy: list[dict[str, Any]]
    methods: dict[str, dict[str, Any]]

    @classmethod
    def _decode(cls, name: str, value: Any) -> Any:
        if name == "runs":
            return tuple(RunRecord.from_dict(r) for r in value)
        return value

    def runs_of(self, dataset: str, model: str, init: str) -> list[RunRecord]:
        """The runs of one group."""
        return [r for r in self.runs if (r.dataset, r.model, r.init) == (dataset, model, init)]
