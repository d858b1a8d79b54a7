"""The collapse experiment's results as typed objects, with a schema version.

``results.json``'s ``data`` is :meth:`CollapseResults.to_dict`; :meth:`CollapseResults.from_dict`
reads it back, upgrades results written before the schema (schema 1: the flat ``vae_*`` /
``charlm_*`` / ``gmm_*`` config fields) and refuses a schema it does not know with a message
naming it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, TypeVar, cast, get_args

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
class _Pair:
    """A key of two named parts, written ``"first/second"`` (the fields, in order).

    Attributes (of the class):
        WHAT: what the key names, for messages.
        ALLOWED: the values a part may take, by field name (any non-empty text where absent).
    """

    WHAT: ClassVar[str]
    ALLOWED: ClassVar[dict[str, tuple[str, ...]]] = {}

    @property
    def label(self) -> str:
        """The key as ``results.json`` stores it."""
        return "/".join(str(v) for v in dataclasses.astuple(self))

    @classmethod
    def parse(cls: type[P], label: str) -> P:
        """The key's parts; a ``ValueError`` names a label that is not two parts allowed."""
        names = [f.name for f in dataclasses.fields(cls)]
        parts = _halves(label, cls.WHAT, "/".join(names))
        for name, part in zip(names, parts, strict=True):
            allowed = cls.ALLOWED.get(name)
            if allowed is not None and part not in allowed:
                raise ValueError(f"{cls.WHAT} {label!r} has the unknown {name} {part!r}; "
                                 f"use one of {allowed}")  # fmt: skip
        return cls(*cast(Any, parts))


P = TypeVar("P", bound=_Pair)


@dataclasses.dataclass(frozen=True)
class Condition(_Pair):
    """One condition of a recursion: how each generation's data is made, and how it trains
    (:attr:`label` ``"mode/method"`` keys it in ``results.json`` and unit stamps).

    Attributes:
        mode: the data mode (:data:`criticality.collapse.DATA_MODES`).
        method: the training method (``plain``, ``critical_global``, ...).
    """

    WHAT: ClassVar[str] = "condition"
    ALLOWED: ClassVar[dict[str, tuple[str, ...]]] = {"mode": DATA_MODES}

    mode: DataMode
    method: str

    @property
    def folder(self) -> str:
        """``"mode-method"``: the condition's folder under ``OUT/units/VARIANT``."""
        return f"{self.mode}-{self.method}"


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
class GaussianCase(_Pair):
    """One simulated case of the exact Gaussian study: an estimator under a data mode
    (:attr:`label` ``"estimator/mode"`` keys it in ``results.json``'s ``gaussian``).

    Attributes:
        estimator: ``mle`` or ``unbiased``.
        mode: ``replace`` or ``accumulate``.
    """

    WHAT: ClassVar[str] = "Gaussian case"
    ALLOWED: ClassVar[dict[str, tuple[str, ...]]] = {
        "estimator": get_args(Estimator),
        "mode": get_args(Mode),
    }

    estimator: Estimator
    mode: Mode


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
