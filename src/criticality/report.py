"""CriticalityReport: the per-stage table, the summary, the reading in words, and JSON."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from criticality._meta import SCHEMA_VERSION, atomic_write
from criticality.measures import LyapunovResult, get_measure
from criticality.measures.results import Result
from criticality.measures.words import CRITICAL_BAND, log_gain_in_words, regime
from criticality.numbers import fmt

if TYPE_CHECKING:
    import pandas as pd


@dataclasses.dataclass(frozen=True)
class CriticalityReport:
    """Everything :func:`criticality.measure` found for one model.

    Attributes:
        model: the model's name (or its class name).
        stage_names: names of the ``L`` stages.
        results: measure name -> its result dataclass.
        metadata: run metadata (seed, dtype, device, versions, input shape, seconds per measure).
    """

    model: str
    stage_names: tuple[str, ...]
    results: dict[str, Result]
    metadata: dict[str, Any]

    @property
    def lyapunov(self) -> LyapunovResult:
        """The Lyapunov result (a ``KeyError`` if it was not measured)."""
        result = self.results["lyapunov"]
        assert isinstance(result, LyapunovResult)
        return result

    @property
    def lambda_max(self) -> float:
        """``λ_1``, the top Lyapunov exponent per stage (mean over inputs)."""
        return self.lyapunov.lambda_max.mean

    @property
    def distance(self) -> float:
        """Distance to criticality ``d = |λ_1|``."""
        return abs(self.lambda_max)

    def summary_table(self) -> list[dict[str, Any]]:
        """One row per measure: value, CI, critical value and the verdict in words."""
        rows = []
        for name, result in self.results.items():
            est = result.headline()
            rows.append(
                {
                    "measure": name,
                    "value": est.mean,
                    "ci_low": est.ci_low,
                    "ci_high": est.ci_high,
                    "critical_value": get_measure(name).critical_value,
                    "verdict": result.describe(),
                }
            )
        return rows

    def stage_table(self) -> list[dict[str, Any]]:
        """One row per stage: its name and each measure's per-stage value (``None`` if absent)."""
        columns = {}
        for name, result in self.results.items():
            profile = result.stage_profile()
            if profile is not None and tuple(profile[0]) == self.stage_names:
                columns[name] = profile[1]
        rows = []
        for i, stage in enumerate(self.stage_names):
            row: dict[str, Any] = {"stage": stage}
            row.update({name: float(values[i]) for name, values in columns.items()})
            if "lyapunov" in columns:
                row["regime"] = regime(float(columns["lyapunov"][i]))
            rows.append(row)
        return rows

    def interpretation(self) -> str:
        """One paragraph in words: ordered, critical or chaotic, how strongly, which stages."""
        if "lyapunov" not in self.results:
            return " ".join([*(r.describe() for r in self.results.values()), *self._start()])
        lyap = self.lyapunov
        lam = lyap.lambda_max
        words = log_gain_in_words(lam.mean)
        ci_has_zero = lam.ci_low <= 0.0 <= lam.ci_high
        text = [
            f"{self.model} operates in the {words.split(':')[0]} regime:{words.split(':', 1)[1]} "
            f"on average (λ_1 = {fmt(lam.mean, 'exponent')} nats per stage, 95 % CI "
            f"[{fmt(lam.ci_low, 'exponent')}, {fmt(lam.ci_high, 'exponent')}] over {lam.n} inputs"
            + ("; the interval contains 0" if ci_has_zero else "")
            + ")."
        ]
        gains = [(e.mean, n) for e, n in zip(lyap.stage_log_gain, lyap.stage_names, strict=True)]
        far = [g for g in gains if abs(g[0]) > CRITICAL_BAND and math.isfinite(g[0])]
        if far:
            worst = sorted(far, key=lambda g: -abs(g[0]))[:3]
            listed = ", ".join(
                f"{n} ({log_gain_in_words(g).split(':')[0]}, ln g = {fmt(g, 'exponent')})"
                for g, n in worst
            )
            text.append(f"The stages furthest from critical are {listed}.")
        else:
            text.append(f"Every stage is within ±{CRITICAL_BAND:.2f} of critical.")
        others = [r.describe() for n, r in self.results.items() if n != "lyapunov"]
        # a sentence starts with a capital, but a symbol keeps its case (σ is not Σ)
        text += [(d[:1].upper() if d[:1].isascii() else d[:1]) + d[1:] + "." for d in others]
        return " ".join([*text, *self._start()])

    def _start(self) -> list[str]:
        """Where the measures started, when not at the model's input (one sentence, or none)."""
        after = self.metadata.get("start_after")
        if after is None:
            return []
        why = " (the inputs are token ids)" if self.metadata.get("start_after_auto") else ""
        return [f"Measured from the output of stage {after!r} on{why}."]

    def to_frame(self) -> pd.DataFrame:
        """The per-stage table (:meth:`stage_table`) as a pandas DataFrame, one row per stage."""
        import pandas as pd

        return pd.DataFrame(self.stage_table())

    def _repr_html_(self) -> str:
        """Jupyter's view: the reading in words, the summary table, stage and spectrum charts."""
        from criticality._report_html import report_html

        return report_html(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; ``"summary"`` (:meth:`summary_table`) is written for readers without this
        package (e.g. :meth:`criticality.store.ResultStore.to_frame`) and ignored on reading."""
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "stage_names": list(self.stage_names),
            "results": {name: r.to_dict() for name, r in self.results.items()},
            "metadata": self.metadata,
            "summary": self.summary_table(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CriticalityReport:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(
                f"report schema version {data.get('schema_version')} is not {SCHEMA_VERSION}; "
                "re-run the measurement with this version of criticality"
            )
        results = {
            name: get_measure(name).result_type.from_dict(r) for name, r in data["results"].items()
        }
        return cls(data["model"], tuple(data["stage_names"]), results, dict(data["metadata"]))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=True)

    @classmethod
    def from_json(cls, text: str) -> CriticalityReport:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> None:
        atomic_write(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> CriticalityReport:
        """The report saved in ``path``; a ``ValueError`` naming the file if it is cut short,
        not JSON or not a report."""
        from criticality._files import read_json

        data = read_json(path)  # DamagedFileError (a ValueError) names the file
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(
                f"{path} is not a criticality report (it lacks {err}); measure again to write it"
            ) from None
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None
