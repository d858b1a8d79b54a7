"""A resumable results store: one SQLite row per model × weights × measure configuration.

A scan writes one :class:`Row` per finished model, whether it worked (``status="ok"``, the
report's JSON) or not (``status="failed"``, the reason). Rows are keyed by the model name, the
weights label (``"random"``, ``"pretrained"``, a file name) and :func:`config_hash` of the
measurement settings, so re-running a scan skips what is already there and a changed
configuration starts fresh rows beside the old ones. Only one process (the scan's driver) writes;
workers return rows to it.

Example:
    >>> store = ResultStore(":memory:")
    >>> key = config_hash({"measures": ["lyapunov"], "n_probes": 4})
    >>> store.put(Row("resnet18", "random", key, "ok", "", "{}", 1.5))
    >>> store.done(key)
    {('resnet18', 'random')}
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

Status = Literal["ok", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    model TEXT NOT NULL,
    weights TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    reason TEXT NOT NULL,
    report TEXT NOT NULL,
    seconds REAL NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (model, weights, config_hash)
);
CREATE TABLE IF NOT EXISTS configs (config_hash TEXT PRIMARY KEY, config TEXT NOT NULL);
"""


@dataclasses.dataclass(frozen=True)
class Row:
    """One measured (or failed) model.

    Attributes:
        model: the model's zoo name.
        weights: ``"random"``, ``"pretrained"`` or the weights file's name.
        config_hash: :func:`config_hash` of the measurement settings.
        status: ``"ok"`` or ``"failed"``.
        reason: why it failed (``""`` when ok), e.g. ``"timeout: ..."``.
        report: the :class:`~criticality.report.CriticalityReport` as JSON (``"{}"`` if failed).
        seconds: wall time spent on the model, building and probing included.
        created: when the row was written (ISO 8601, filled in by :meth:`ResultStore.put`).
    """

    model: str
    weights: str
    config_hash: str
    status: Status
    reason: str
    report: str
    seconds: float
    created: str = ""

    def report_dict(self) -> dict[str, Any]:
        """The report as a dict (``{}`` for a failed row)."""
        value: dict[str, Any] = json.loads(self.report)
        return value


def config_hash(config: Mapping[str, Any]) -> str:
    """A short stable hash of a JSON-serialisable configuration (key order does not matter)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ResultStore:
    """The SQLite file holding a scan's rows; safe to reopen, append to and read while scanning.

    Args:
        path: the database file (created with its folder if missing), or ``":memory:"``.
    """

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self._db = sqlite3.connect(self.path)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_config(self, config: Mapping[str, Any]) -> str:
        """Record ``config`` and return its hash."""
        key = config_hash(config)
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO configs VALUES (?, ?)",
                (key, json.dumps(config, sort_keys=True, default=str)),
            )
        return key

    def config(self, key: str) -> dict[str, Any]:
        """The configuration recorded under ``key``."""
        found = self._db.execute("SELECT config FROM configs WHERE config_hash = ?", (key,))
        row = found.fetchone()
        if row is None:
            raise KeyError(f"no configuration {key!r} in {self.path}")
        value: dict[str, Any] = json.loads(row[0])
        return value

    def put(self, row: Row) -> None:
        """Insert or replace ``row`` (committed at once, so an interruption loses nothing)."""
        created = row.created or time.strftime("%Y-%m-%dT%H:%M:%S%z")
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (row.model, row.weights, row.config_hash, row.status, row.reason, row.report,
                 float(row.seconds), created),
            )  # fmt: skip

    def get(self, model: str, weights: str, key: str) -> Row | None:
        """The row of ``model`` with ``weights`` under configuration ``key``, if any."""
        found = self._db.execute(
            "SELECT * FROM results WHERE model = ? AND weights = ? AND config_hash = ?",
            (model, weights, key),
        ).fetchone()
        return Row(*found) if found else None

    def done(self, key: str, *, include_failed: bool = True) -> set[tuple[str, str]]:
        """``(model, weights)`` pairs already stored under ``key`` (failed ones optionally)."""
        query = "SELECT model, weights FROM results WHERE config_hash = ?"
        if not include_failed:
            query += " AND status = 'ok'"
        return {(m, w) for m, w in self._db.execute(query, (key,))}

    def rows(self, key: str | None = None) -> list[Row]:
        """All rows (of configuration ``key`` if given), ordered by model then weights."""
        return list(self._iter(key))

    def to_frame(self, key: str | None = None) -> pd.DataFrame:
        """All rows (of configuration ``key`` if given) as a tidy DataFrame: one row per model ×
        weights × measure (``measure``, ``value``, ``ci_low``, ``ci_high``, ``critical_value``,
        ``verdict``) beside ``model``, ``weights``, ``config_hash``, ``status``, ``reason``,
        ``seconds`` and ``created``; a failed model is one row without a measure.

        Reads the summary each report's JSON carries (reports written before it did have
        no measure rows: re-run them).
        """
        import pandas as pd

        rows = []
        for row in self._iter(key):
            fixed = dataclasses.asdict(row)
            del fixed["report"]
            summary = row.report_dict().get("summary", []) if row.status == "ok" else []
            rows += [{**fixed, **measure} for measure in summary] or [fixed]
        columns = [f.name for f in dataclasses.fields(Row) if f.name != "report"]
        return pd.DataFrame(rows, columns=None if rows else columns)

    def _iter(self, key: str | None) -> Iterator[Row]:
        query = "SELECT * FROM results"
        args: tuple[str, ...] = ()
        if key is not None:
            query, args = query + " WHERE config_hash = ?", (key,)
        for found in self._db.execute(query + " ORDER BY model, weights", args):
            yield Row(*found)
