"""The collapse experiment's results as typed objects, with a schema version.

``results.json``'s ``data`` is :meth:`CollapseResults.to_dict`; :meth:`CollapseResults.from_dict`
reads it back, upgrades results written before the schema (schema 1: the flat ``vae_*`` /
``charlm_*`` / ``gmm_*`` config fields) and refuses a schema it does not know with a message
naming it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from criticality.experiments.collapse.config import CollapseConfig

#: 1: results written before the schema field (flat config); 2: nested config blocks.
SCHEMA = 2
RECURSIONS = ("gmm", "vae", "charlm")

#: One generation's numbers, flat (``"lambda_1/encoder"``, ...).
Row = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class VariantResults:
    """One recursion variant (``gmm``, ``vae``, ``charlm-gru``, ...).

    Attributes:
        runs: condition (``"mode/method"``) -> seeds -> generations -> row.
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
        return cls(dict(data["runs"]), dict(data.get("reference", {})), dict(data["analysis"]))

    @property
    def seeds(self) -> int:
        """Replicates of the control."""
        return len(self.runs.get("replace/plain", []))


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
