"""The collapse experiment's results as typed objects, with a schema version.

``results.json``'s ``data`` is :meth:`CollapseResults.to_dict`; :meth:`CollapseResults.from_dict`
reads it back, upgrades results written before the schema (schema 1: the flat ``vae_*`` /
``charlm_*`` / ``gmm_*`` config fields) and refuses a schema it does not know with a message
naming it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, cast, get_args

from criticality.collapse import DATA_MODES
from criticality.collapse.gaussian import Estimator, Mode
from criticality.collapse.recursion import DataMode
from criticality.experiments.collapse.config import CONTROL, CollapseConfig

#: 1: results written before the schema field (flat config); 2: nested config blocks.
SCHEMA = 2
RECURSIONS = ("gmm", "vae", "charlm")

#: One generation's numbers, flat (``"lambda_1/encoder"``, ...: :class:`Metric` labels).
Row = dict[str, Any]


def _halves(label: str, what: str, form: str) -> tuple[str, str]:
    """``"a/b"`` as ``("a", "b")``; a ``ValueError`` names ``label`` unless it has exactly two
    non-empty parts."""
    first, slash, second = label.partition("/")
    if not (slash and first and second) or "/" in second:
        raise ValueError(f"{what} {label!r} is not of the form {form!r}")
    return first, second


@dataclasses.dataclass(frozen=True)
class Condition:
    """One condition of a recursion: how each generation's data is made, and how it trains.

    Attributes:
        mode: the data mode (:data:`criticality.collapse.DATA_MODES`).
        method: the training method (``plain``, ``critical_global``, ...).
    """

    mode: DataMode
    method: str

    @property
    def label(self) -> str:
        """``"mode/method"``: the key of the condition in ``results.json`` and unit stamps."""
        return f"{self.mode}/{self.method}"

    @property
    def folder(self) -> str:
        """``"mode-method"``: the condition's folder under ``OUT/units/VARIANT``."""
        return f"{self.mode}-{self.method}"

    @classmethod
    def parse(cls, label: str) -> Condition:
        """The condition of a ``"mode/method"`` label; a ``ValueError`` names a bad label."""
        mode, method = _halves(label, "condition", "mode/method")
        if mode not in DATA_MODES:
            raise ValueError(
                f"condition {label!r} has the unknown data mode {mode!r}; modes: {DATA_MODES}"
            )
        return cls(cast(DataMode, mode), method)


@dataclasses.dataclass(frozen=True)
class Metric:
    """One number of a :data:`Row`: a measure, of one network part where it has parts.

    Attributes:
        measure: ``neg_elbo``, ``lambda_1``, ``stage_log_gain``, ...
        part: the network part (``encoder``, ``depth``, ``time``, ...), or ``None``.
    """

    measure: str
    part: str | None = None

    @property
    def label(self) -> str:
        """``"measure/part"`` (``"measure"`` without a part): the row's key."""
        return self.measure if self.part is None else f"{self.measure}/{self.part}"

    @classmethod
    def parse(cls, label: str) -> Metric:
        """The metric of a row key; a ``ValueError`` names a bad key."""
        if "/" not in label and label:
            return cls(label)
        return cls(*_halves(label, "metric", "measure/part"))


def lambda_keys(metrics: Iterable[str]) -> list[str]:
    """The ``λ_1`` keys among ``metrics`` (``lambda_1/PART``, one per network part), in order."""
    return [k for k in metrics if (m := Metric.parse(k)).measure == "lambda_1" and m.part]


@dataclasses.dataclass(frozen=True)
class GaussianCase:
    """One simulated case of the exact Gaussian study: an estimator under a data mode.

    Attributes:
        estimator: ``mle`` or ``unbiased``.
        mode: ``replace`` or ``accumulate``.
    """

    estimator: Estimator
    mode: Mode

    @property
    def label(self) -> str:
        """``"estimator/mode"``: the case's key in ``results.json``'s ``gaussian``."""
        return f"{self.estimator}/{self.mode}"

    @classmethod
    def parse(cls, label: str) -> GaussianCase:
        """The case of an ``"estimator/mode"`` key; a ``ValueError`` names a bad key."""
        est, mode = _halves(label, "Gaussian case", "estimator/mode")
        if est not in get_args(Estimator) or mode not in get_args(Mode):
            raise ValueError(
                f"Gaussian case {label!r}: the estimator is one of {get_args(Estimator)}, "
                f"the mode one of {get_args(Mode)}"
            )
        return cls(cast(Estimator, est), cast(Mode, mode))


#: The exact Gaussian study's cases, in the report's order.
GAUSSIAN_CASES = tuple(
    GaussianCase(e, m) for m in ("replace", "accumulate") for e in ("mle", "unbiased")
)


@dataclasses.dataclass(frozen=True)
class VariantResults:
    """One recursion variant (``gmm``, ``vae``, ``charlm-gru``, ...).

    Attributes:
        runs: condition (:attr:`Condition.label`) -> seeds -> generations -> row.
        reference: the real test data's own scores (text statistics; empty for images).
        analysis: bands, contrasts and lead-lag per condition (:func:`.run.analyse`).
    """

    runs: dict[str, list[list[Row]]]
    reference: dict[str, Any]
    analysis: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"runs": self.runs, "reference": self.reference, "analysis": self.analysis}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VariantResults:
        """Read one variant's block; a ``ValueError`` names a condition key that is not
        ``"mode/method"``."""
        runs = dict(data["runs"])
        for label in runs:
            Condition.parse(label)
        return cls(runs, dict(data.get("reference", {})), dict(data["analysis"]))

    @property
    def seeds(self) -> int:
        """Replicates of the control."""
        return len(self.runs.get(CONTROL, []))

    @property
    def conditions(self) -> list[Condition]:
        """The conditions run, in order (a ``ValueError`` names a bad key)."""
        return [Condition.parse(c) for c in self.runs]


@dataclasses.dataclass(frozen=True)
class CollapseResults:
    """Everything one run of the experiment found.

    Attributes:
        config: the configuration that made it.
        gaussian: the exact Gaussian case (bands over runs and closed forms), or ``None``.
        regression: the regression case, or ``None``.
        recursions: model (``gmm``, ``vae``, ``charlm``) -> variant -> :class:`VariantResults`.
        schema: :data:`SCHEMA`.
    """

    config: CollapseConfig
    gaussian: dict[str, Any] | None = None
    regression: dict[str, Any] | None = None
    recursions: dict[str, dict[str, VariantResults]] = dataclasses.field(default_factory=dict)
    schema: int = SCHEMA

    def to_dict(self) -> dict[str, Any]:
        """``results.json``'s ``data`` (the report reads this)."""
        out: dict[str, Any] = {"schema": self.schema, "config": self.config.to_dict()}
        if self.gaussian is not None:
            out["gaussian"] = self.gaussian
        if self.regression is not None:
            out["regression"] = self.regression
        for model, variants in self.recursions.items():
            out[model] = {v: r.to_dict() for v, r in variants.items()}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CollapseResults:
        """Read ``results.json``'s ``data``; a ``ValueError`` names an unknown schema."""
        schema = data.get("schema", 1)
        if schema not in (1, SCHEMA):
            raise ValueError(
                f"these collapse results have schema {schema!r}; this version of criticality "
                f"reads schemas 1 and {SCHEMA}: open them with the version that wrote them, or "
                "re-run the experiment"
            )
        if "config" not in data:
            raise ValueError("these collapse results have no config: re-run the experiment")
        return cls(
            config=CollapseConfig.from_dict(data["config"]),
            gaussian=data.get("gaussian"),
            regression=data.get("regression"),
            recursions={
                m: {v: VariantResults.from_dict(b) for v, b in data[m].items()}
                for m in RECURSIONS
                if m in data
            },
        )


def upgrade(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` of any known schema as the current schema's dict (what the report reads)."""
    return CollapseResults.from_dict(data).to_dict()
