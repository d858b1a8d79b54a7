"""A resumable results store: one SQLite row per model × weights × measure configuration.

A scan writes one :class:`Row` per finished model, whether it worked (``status="ok"``, the
report's JSON) or not (``status="failed"``, the reason). Rows are keyed by the model name, the
weights label (``"random"``, ``"pretrained"``, a file name) and :func:`config_hash` of the
measurement settings, so re-running a scan skips what is already there and a changed
configuration starts fresh rows beside the old ones. Only one process (the scan's driver) writes;
workers return rows to it, and :func:`writer_lock` refuses a second writer on the same file.

Every row and configuration is also appended to a journal, ``PATH.rows.jsonl`` (one JSON line
each). A damaged database (cut short, overwritten, not SQLite) is detected when it is opened,
moved aside to ``PATH.damaged-TIME`` with a warning, and rebuilt from the rows still readable in
it and from the journal; a deleted one is restored from the journal.

Example:
    >>> store = ResultStore(":memory:")
    >>> key = config_hash({"measures": ["lyapunov"], "n_probes": 4})
    >>> store.put(Row("resnet18", "random", key, "ok", "", "{}", 1.5))
    >>> store.done(key)
    {('resnet18', 'random')}
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

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
        self.path = str(path)
        self._journal: Path | None = None
        if self.path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._journal = Path(f"{self.path}.rows.jsonl")
        lost = self._journal is not None and not Path(self.path).exists()
        try:
            self._db = _open(self.path)
        except sqlite3.DatabaseError as err:
            if self._journal is None:
                raise
            self._db = self._rebuild(err)
        if lost and self._journal is not None and self._journal.is_file():
            self._restore_journal()

    def _restore_journal(self) -> None:
        """A database deleted beside its journal: take the journal's rows back."""
        assert self._journal is not None
        configs, rows = _read_journal(self._journal)
        with self._db:
            for key, text in configs.items():
                self._db.execute("INSERT OR IGNORE INTO configs VALUES (?, ?)", (key, text))
            for row in rows:
                self._db.execute(
                    "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row
                )
        log.warning("%s was missing: restored %d rows from %s", self.path, len(rows),
                    self._journal.name)  # fmt: skip

    def _rebuild(self, err: sqlite3.DatabaseError) -> sqlite3.Connection:
        """Move a damaged database aside and rebuild it from its readable rows and the journal."""
        aside = Path(f"{self.path}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(self.path, aside)
        for suffix in ("-journal", "-wal", "-shm"):  # never replay them into the new file
            if Path(self.path + suffix).exists():
                os.replace(self.path + suffix, f"{aside}{suffix}")
        configs, rows = _salvage(aside)
        assert self._journal is not None
        journal = _read_journal(self._journal)
        db = _open(self.path)
        with db:
            for key, text in {**configs, **journal[0]}.items():
                db.execute("INSERT OR IGNORE INTO configs VALUES (?, ?)", (key, text))
            for row in [*rows, *journal[1]]:  # the journal's rows are the later ones
                db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
        log.warning(
            "%s was damaged (%s): moved it to %s and rebuilt %d rows from what was readable "
            "there and in %s; models whose rows were lost are measured again",
            self.path, err, aside, len(db.execute("SELECT 1 FROM results").fetchall()),
            self._journal.name,
        )  # fmt: skip
        return db

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_config(self, config: Mapping[str, Any]) -> str:
        """Record ``config`` and return its hash."""
        key, text = config_hash(config), json.dumps(config, sort_keys=True, default=str)
        with self._db:
            self._db.execute("INSERT OR IGNORE INTO configs VALUES (?, ?)", (key, text))
        self._log({"config_hash": key, "config": text})
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
        values = (row.model, row.weights, row.config_hash, row.status, row.reason, row.report,
                  float(row.seconds), created)  # fmt: skip
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?)", values
            )
        self._log({"row": list(values)})

    def _log(self, entry: dict[str, Any]) -> None:
        """Append ``entry`` to the journal (one JSON line per row), from which a damaged
        database is rebuilt."""
        if self._journal is not None:
            with open(self._journal, "a") as f:
                f.write(json.dumps(entry) + "\n")

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


def _open(path: str) -> sqlite3.Connection:
    """Connect and check the database; ``sqlite3.DatabaseError`` if it is damaged."""
    db = sqlite3.connect(path)
    try:
        db.executescript(_SCHEMA)
        (verdict,) = db.execute("PRAGMA quick_check").fetchone()
        if verdict != "ok":
            raise sqlite3.DatabaseError(f"integrity check: {verdict}")
        for table in ("results", "configs"):  # the pages quick_check does not read
            db.execute(f"SELECT * FROM {table}").fetchall()
    except sqlite3.DatabaseError:
        db.close()
        raise
    return db


def _salvage(path: Path) -> tuple[dict[str, str], list[tuple[Any, ...]]]:
    """The configs and result rows still readable in a damaged database (none if unreadable)."""
    configs: dict[str, str] = {}
    rows: list[tuple[Any, ...]] = []
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.DatabaseError:
        return configs, rows
    try:
        for key, text in db.execute("SELECT config_hash, config FROM configs"):
            configs[key] = text
    except sqlite3.DatabaseError:
        pass  # keep what came before the damage
    try:
        for found in db.execute("SELECT * FROM results"):
            if len(found) == 8:
                rows.append(tuple(found))
    except sqlite3.DatabaseError:
        pass
    finally:
        db.close()
    return configs, rows


def _read_journal(path: Path) -> tuple[dict[str, str], list[tuple[Any, ...]]]:
    """Configs and rows of the journal; a cut or garbled line is skipped."""
    configs: dict[str, str] = {}
    rows: list[tuple[Any, ...]] = []
    if not path.is_file():
        return configs, rows
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("row"), list) and len(entry["row"]) == 8:
            rows.append(tuple(entry["row"]))
        elif isinstance(entry.get("config_hash"), str) and isinstance(entry.get("config"), str):
            configs[entry["config_hash"]] = entry["config"]
    return configs, rows


@contextlib.contextmanager
def writer_lock(path: str | Path) -> Iterator[None]:
    """Hold ``PATH.lock`` while writing the store: a second scan on the same folder is refused.

    The lock (``flock``) dies with its process, so a killed scan never leaves a stale lock.
    Without ``fcntl`` (Windows) no lock is taken.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    lock = Path(f"{path}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise ValueError(
                f"another scan is writing {path} (lock {lock} held by {holder}); wait for it "
                "to finish or pass another --out"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
