"""The zoo family's results as typed records, with a schema version each.

``results.json``'s ``data`` of each experiment is its record's ``to_dict()`` (with
``"schema": "NAME/1"``); the reports read it back with ``from_dict``, which also reads the files
written before schemas were recorded (the same layout, no ``schema`` key, e.g. the committed
study in ``results/zoo-train``) and refuses another experiment's or a newer schema with a
message naming both. The rows stay the JSON records the store and the statistics read by key
(one per model × weights, or per measured point, each holding a report dict).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from criticality.experiments._results import IncompleteResultsError, Results

#: A stored row: ``model``, ``weights``, ``status``, ``reason``, ``seconds``, ``report`` (and,
#: for a scan, the model's zoo metadata ``meta``).
Row = dict[str, Any]
R = TypeVar("R", bound="_Optional")


@dataclasses.dataclass(frozen=True)
class _Optional(Results):
    """Results some of whose fields may be absent from a file (:attr:`OPTIONAL`: ``None``
    when absent, and left out of ``to_dict`` when ``None``)."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        return {k: v for k, v in out.items() if not (k in self.OPTIONAL and v is None)}

    @classmethod
    def from_dict(cls: type[R], data: Mapping[str, Any]) -> R:
        if isinstance(data, Mapping):
            data = {**dict.fromkeys(cls.OPTIONAL), **data}
        return super().from_dict(data)


def _rows(value: Any) -> list[Row]:
    if not isinstance(value, list) or not all(isinstance(r, Mapping) for r in value):
        raise IncompleteResultsError("its rows are not a list of records")
    return [dict(r) for r in value]


@dataclasses.dataclass(frozen=True)
class ScanResults(Results):
    """A scan: every stored row of its settings for the models asked for.

    Attributes:
        config_hash: the store key of the measurement settings.
        settings: those settings (:meth:`ScanConfig.settings`).
        rows: one per model × weights, ``ok`` with its report or ``failed`` with the reason.
        weights: the weights asked for (``random``, ``pretrained``).
    """

    SCHEMA: ClassVar[str] = "scan"

    config_hash: str
    settings: dict[str, Any]
    rows: list[Row]
    weights: list[str]

    @classmethod
    def _decode(cls, name: str, value: Any) -> Any:
        return _rows(value) if name == "rows" else value


@dataclasses.dataclass(frozen=True)
class TrainPoint:
    """What a zoo-train row's ``weights`` names: one job (a dataset, a seed, a start), and the
    training step of the point measured (``None`` in a failed job's row, which has no point).

    Attributes:
        dataset: the training data (``fashion_mnist``).
        seed: the training seed.
        start: ``default`` (the builder's initialisation) or ``critical`` (the intervention arm).
        step: the optimiser steps taken before the point was measured, or ``None``.
    """

    dataset: str
    seed: int
    start: str = "default"
    step: int | None = None

    @property
    def job(self) -> str:
        """``DATASET/seedS`` (``DATASET/START/seedS`` for another start): the job's name."""
        start = "" if self.start == "default" else f"{self.start}/"
        return f"{self.dataset}/{start}seed{self.seed}"

    @property
    def label(self) -> str:
        """``weights`` as stored: the job's name, then ``/stepN`` when there is a step."""
        return self.job if self.step is None else f"{self.job}/step{self.step}"

    @classmethod
    def parse(cls, label: str) -> TrainPoint:
        """The point of a stored ``weights`` label; a ``ValueError`` names a bad label."""
        found = _WEIGHTS.fullmatch(label)
        if found is None or found["start"] == "default":  # the default start is not written
            raise ValueError(
                f"zoo-train weights {label!r} is not of the form 'DATASET/[START/]seedS[/stepN]' "
                "(the default start is left out)"
            )
        step = found["step"]
        return cls(found["dataset"], int(found["seed"]), found["start"] or "default",
                   None if step is None else int(step))  # fmt: skip


_WEIGHTS = re.compile(
    r"(?P<dataset>[^/]+)/(?:(?P<start>[^/]+)/)?seed(?P<seed>0|[1-9]\d*)(?:/step(?P<step>0|[1-9]\d*))?"
)


@dataclasses.dataclass(frozen=True)
class ZooTrainResults(_Optional):
    """The trained zoo: every stored point of one configuration.

    Attributes:
        config_hash: the store key of the recipe and measurement (:meth:`ZooTrainConfig.settings`).
        settings: those settings.
        rows: one per measured point (``weights``: a :attr:`TrainPoint.label`,
            ``DATASET/[critical/]seedS/stepN``).
        planned: the networks, datasets, seeds and starts asked for (``None``: read from a
            store without its config).
        full: a full run's results shown beside this run (``full_from``), or ``None``.
        path: where a full run's results were read from (only in ``full``).
    """

    SCHEMA: ClassVar[str] = "zoo-train"
    OPTIONAL: ClassVar[tuple[str, ...]] = ("planned", "full", "path")

    config_hash: str
    settings: dict[str, Any]
    rows: list[Row]
    planned: dict[str, list[Any]] | None = None
    full: ZooTrainResults | None = None
    path: str | None = None

    @classmethod
    def _decode(cls, name: str, value: Any) -> Any:
        if name == "full":
            return _zoo_train(value)
        return _rows(value) if name == "rows" else value


def _zoo_train(value: Any) -> ZooTrainResults | None:
    """A nested full run (``None`` when there is none)."""
    return None if value is None else ZooTrainResults.from_dict(value)


@dataclasses.dataclass(frozen=True)
class ZooResults(_Optional):
    """The offline zoo analysis, parts (a)-(d).

    Attributes:
        config: the :class:`ZooConfig` as a dict.
        a: the scan of the torchvision architectures at random initialisation (a scan's data,
            plus ``not_measured``: the architectures left out, with the reason).
        b: the scan of EfficientNet-Lite, pretrained and random.
        c: dataset -> the mini-zoo's entries (:func:`~.minizoo.train_and_measure`).
        seconds: wall time of each part.
        d: the stored full ``zoo-train`` run's data, or ``None``.
    """

    SCHEMA: ClassVar[str] = "zoo"
    OPTIONAL: ClassVar[tuple[str, ...]] = ("d",)

    config: dict[str, Any]
    a: dict[str, Any]
    b: dict[str, Any]
    c: dict[str, list[dict[str, Any]]]
    seconds: dict[str, float]
    d: ZooTrainResults | None = None

    @classmethod
    def _decode(cls, name: str, value: Any) -> Any:
        if name == "d":
            return _zoo_train(value)
        if name not in ("a", "b"):
            return value
        if not isinstance(value, Mapping):
            raise IncompleteResultsError(f"its part ({name}) is not a record")
        return {**value, "rows": _rows(value.get("rows"))}


@dataclasses.dataclass(frozen=True)
class ArchitecturesResults(Results):
    """Each architecture's report.

    Attributes:
        architectures: model name -> its report as a dict (in the config's order).
    """

    SCHEMA: ClassVar[str] = "architectures"

    architectures: dict[str, dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class PairsResults(Results):
    """Pretrained networks against their random-initialisation twins.

    Attributes:
        rows: one per network: ``λ_1`` of the pretrained network and of its twin.
        summary: :func:`~.pairs.summary` (how many moved closer, the mean change, the
            Wilcoxon test and the verdict).
    """

    SCHEMA: ClassVar[str] = "zoo-pairs"

    rows: list[Row]
    summary: dict[str, Any]

    @classmethod
    def _decode(cls, name: str, value: Any) -> Any:
        return _rows(value) if name == "rows" else value
