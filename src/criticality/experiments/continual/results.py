"""The continual experiment's results as typed records, with a schema version.

``results.json``'s ``data`` is :meth:`ContinualResults.to_dict`; the report reads it back with
:meth:`ContinualResults.from_dict`, which also reads the files written before the schema had a
name (``continual/1``: no ``schema`` key, throughput keyed by display labels, no count of
finished tasks) and refuses any other schema with a message naming it. The per-run records
(``runs``) and the analysis stay the JSON-ready dicts of :mod:`criticality.continual.analysis`,
which reads them by key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

#: The schema this version writes.
SCHEMA = "continual/2"
#: The schemas this version reads.
READABLE = (SCHEMA, "continual/1")

#: The display labels ``continual/1`` used as keys of a throughput row.
_OLD_THROUGHPUT = {
    "members per unit": "members",
    "learner-steps/s": "learner_steps_per_s",
    "measuring share": "measuring_share",
    "compute (min)": "compute_minutes",
}


@dataclasses.dataclass(frozen=True)
class ThroughputRow:
    """One method's training speed and cost.

    Attributes:
        method: the arm's label.
        members: seeds trained together in one unit.
        learner_steps_per_s: learner-steps per second of training (all members count).
        measuring_share: share of the wall time spent measuring.
        compute_minutes: recorded training and measuring time (every session of a resumed
            unit).
    """

    method: str
    members: int
    learner_steps_per_s: float
    measuring_share: float
    compute_minutes: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ThroughputRow:
        values = {_OLD_THROUGHPUT.get(k, k): v for k, v in raw.items()}
        return cls(
            method=str(values["method"]),
            members=int(values["members"]),
            learner_steps_per_s=float(values["learner_steps_per_s"]),
            measuring_share=float(values["measuring_share"]),
            compute_minutes=float(values["compute_minutes"]),
        )


@dataclasses.dataclass(frozen=True)
class ContinualResults:
    """Everything ``results.json`` holds about one continual run.

    Attributes:
        stream: the stream's description (name, kind, sizes, seed).
        arms: each arm's label, method, options, reference and summary.
        units: each unit's key, arm label and seeds.
        runs: one record per (arm, seed): the per-task rows.
        analysis: :func:`criticality.continual.analysis.analyse`'s numbers.
        verdict: the verdict in words when the results were written.
        throughput: one row per arm.
        class_incremental: forgetting and backward transfer per arm (class-incremental
            streams; empty otherwise).
        seconds: wall time of the invocation that wrote the results.
        tasks_finished: tasks every run has finished (fewer than ``tasks_planned``: a partial
            run's export).
        tasks_planned: the config's ``tasks``.
        plasticity_examples: examples of each new task the start-of-task plasticity metrics
            were measured on (0: the fixed probe, as before ``continual/2``).
        schema: the schema version.
    """

    stream: dict[str, Any]
    arms: list[dict[str, Any]]
    units: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    analysis: dict[str, Any]
    verdict: str
    throughput: list[ThroughputRow]
    class_incremental: dict[str, Any]
    seconds: float
    tasks_finished: int
    tasks_planned: int
    plasticity_examples: int
    schema: str = SCHEMA

    @property
    def partial(self) -> bool:
        """Whether the run had not finished every planned task."""
        return self.tasks_finished < self.tasks_planned

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["throughput"] = [row.to_dict() for row in self.throughput]
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ContinualResults:
        """Read ``data`` of ``results.json`` (schema ``continual/2`` or the unnamed
        ``continual/1``).

        Raises:
            ValueError: another schema, or data missing a part, naming the schema.
        """
        schema = str(raw.get("schema", "continual/1"))
        if schema not in READABLE:
            raise ValueError(
                f"these continual results have schema {schema!r}; this version of criticality "
                f"reads {', '.join(READABLE)}: render them with the version that wrote them, or "
                "run the experiment again"
            )
        missing = [k for k in ("stream", "arms", "units", "runs", "analysis") if k not in raw]
        if missing:
            raise ValueError(
                f"these continual results (schema {schema}) lack {', '.join(missing)}: the file "
                "is incomplete; run the experiment again into its folder"
            )
        runs = list(raw["runs"])
        finished = min((len(r["tasks"]) for r in runs), default=0)
        return cls(
            stream=dict(raw["stream"]),
            arms=list(raw["arms"]),
            units=list(raw["units"]),
            runs=runs,
            analysis=dict(raw["analysis"]),
            verdict=str(raw.get("verdict", "")),
            throughput=[ThroughputRow.from_dict(r) for r in raw.get("throughput", [])],
            class_incremental=dict(raw.get("class_incremental") or {}),
            seconds=float(raw.get("seconds", float("nan"))),
            tasks_finished=int(raw.get("tasks_finished", finished)),
            tasks_planned=int(raw.get("tasks_planned", finished)),
            plasticity_examples=int(raw.get("plasticity_examples", 0)),
            schema=SCHEMA,
        )
