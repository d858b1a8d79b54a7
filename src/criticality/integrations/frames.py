"""Tidy pandas DataFrames of any run's results, and their CSV or Parquet export.

A run's ``results.json`` (DESIGN §5) holds its data in an experiment's own layout; two kinds of
node recur in all of them and are found wherever they sit:

* a **report** (a :class:`~criticality.CriticalityReport` as a dict): one row per model ×
  measure in ``"measures"`` and one per model × stage × measure in ``"stages"``;
* a **trajectory** (a list of records with a ``"step"``, as
  :class:`~criticality.training.CriticalityMonitor` writes them): one row per run × step ×
  measure in ``"trajectories"``.

Every row names its ``source`` (the path to the node in ``data``, e.g. ``runs/3/trajectory``)
and carries the text, integer and boolean fields of the dicts that enclose the node (a training
run's ``method``, ``seed`` and ``dataset``; a scan row's ``model`` and ``weights``), so that
frames of one run group by what varied.

Example:
    >>> frames = results_frames("runs/training")            # doctest: +SKIP
    >>> frames["trajectories"].groupby(["method", "step"])["value"].mean()  # doctest: +SKIP
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from criticality.report import CriticalityReport
from criticality.reporting import load_results

if TYPE_CHECKING:
    import pandas as pd

TABLES = ("measures", "stages", "trajectories")
Format = Literal["csv", "parquet"]
_REPORT_KEYS = {"schema_version", "model", "stage_names", "results"}
#: Where each experiment keeps the reports and trajectories its tables come from: a
#: ``results.json`` whose data lack one of these would give part of the rows without a word.
NEEDS: dict[str, tuple[str, ...]] = {
    "measure": ("report",),
    "training": ("runs",),
    "continual": ("runs",),
    "scan": ("rows",),
    "zoo-train": ("rows",),
    "architectures": ("architectures",),
    "zoo": ("a", "b", "c"),
    "demo": ("parts",),
}


def walk(
    data: Any, path: tuple[str, ...] = (), ids: Mapping[str, Any] | None = None
) -> Iterator[tuple[str, str, dict[str, Any], Any]]:
    """Yield ``(kind, source, ids, node)`` for every report and trajectory inside ``data``.

    ``kind`` is ``"report"`` or ``"trajectory"``; ``source`` the node's path joined by ``/``;
    ``ids`` the text, integer and boolean fields of the enclosing dicts (the nearest wins).
    """
    ids = dict(ids or {})
    if isinstance(data, dict):
        if data.keys() >= _REPORT_KEYS:
            yield "report", "/".join(path), ids, data
            return
        ids.update({k: v for k, v in data.items() if isinstance(v, (str, int, bool))})
        for key, value in data.items():
            yield from walk(value, (*path, str(key)), ids)
    elif isinstance(data, list):
        if data and all(isinstance(r, dict) and "step" in r for r in data):
            yield "trajectory", "/".join(path), ids, data
            return
        for i, value in enumerate(data):
            yield from walk(value, (*path, str(i)), ids)


def report_rows(report: CriticalityReport) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One row per measure and one per stage × measure of ``report`` (tidy)."""
    measures = [
        {
            "model": report.model,
            "measure": row["measure"],
            "value": row["value"],
            "ci_low": row["ci_low"],
            "ci_high": row["ci_high"],
            "critical_value": row["critical_value"],
            "verdict": row["verdict"],
        }
        for row in report.summary_table()
    ]
    stages = []
    for row in report.stage_table():
        fixed = {"model": report.model, "stage": row["stage"], "regime": row.get("regime")}
        stages += [
            {**fixed, "measure": name, "value": value}
            for name, value in row.items()
            if name not in ("stage", "regime")
        ]
    return measures, stages


def trajectory_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per step × measure of a monitor's records."""
    rows = []
    for record in records:
        for name, value in record.items():
            if name in ("step", "task") or name.endswith("_ci") or not _number(value):
                continue
            ci = record.get(f"{name}_ci") or [None, None]
            rows.append(
                {
                    "step": record["step"],
                    "task": record.get("task", 0),
                    "measure": name,
                    "value": float(value),
                    "ci_low": ci[0],
                    "ci_high": ci[1],
                }
            )
    return rows


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def results_frames(run: str | Path | Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """The tidy tables of a run: ``"measures"``, ``"stages"`` and ``"trajectories"``.

    Args:
        run: a run's output folder (holding ``results.json``), or the ``data`` of one.

    Returns:
        Table name -> DataFrame (empty, with its columns, where the run has no such node).
    """
    import pandas as pd

    if isinstance(run, (str, Path)):
        results = load_results(run)
        data = results["data"]
        check_complete(data, str(results["kind"]), Path(run) / "results.json")
    else:
        data = run
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    for kind, source, ids, node in walk(data):
        head = {"source": source, **ids}
        if kind == "report":
            measures, stages = report_rows(CriticalityReport.from_dict(node))
            rows["measures"] += [{**head, **r} for r in measures]
            rows["stages"] += [{**head, **r} for r in stages]
        else:
            rows["trajectories"] += [{**head, **r} for r in trajectory_rows(node)]
    columns = {
        "measures": ["source", "model", "measure", "value", "ci_low", "ci_high"],
        "stages": ["source", "model", "stage", "measure", "value"],
        "trajectories": ["source", "step", "task", "measure", "value"],
    }
    return {
        name: pd.DataFrame(table) if table else pd.DataFrame(columns=columns[name])
        for name, table in rows.items()
    }


def check_complete(data: Mapping[str, Any], kind: str, path: str | Path) -> None:
    """Refuse the data of a ``kind`` run that lack a node its tables come from (:data:`NEEDS`).

    Raises:
        ValueError: naming ``path`` and the missing key, as ``criticality report`` would.
    """
    for key in NEEDS.get(kind, ()):
        if not isinstance(data.get(key), (dict, list)):
            what = "lack" if key not in data else "hold no list or object under"
            raise ValueError(
                f"{path} is incomplete: its data {what} {key!r}, where a {kind} run keeps its "
                f"results; re-run the experiment into {Path(path).parent} to write it again"
            )


def check_export(run: str | Path, fmt: str, dest: str | Path | None = None) -> Path:
    """Check, before any work, that :func:`write_frames` can write ``fmt`` tables to ``dest``:
    a known format, pyarrow for Parquet, and a folder that exists (or can be made) and is
    writable. A command that re-renders a report first calls this, so that a bad place fails
    at once and not after the rendering.

    Returns:
        The folder the tables go to (created).

    Raises:
        ValueError: an unknown format, or a folder that cannot be made or written.
        ModuleNotFoundError: Parquet without pyarrow.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be 'csv' or 'parquet', got {fmt!r}")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ModuleNotFoundError(
                "Parquet export needs pyarrow: pip install 'criticality[parquet]'"
            ) from None
    folder = Path(dest) if dest is not None else Path(run) / "tables"
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} is a file, not a folder: pass another place for the tables")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test.")
    except OSError as err:
        raise ValueError(
            f"the tables cannot be written to {folder} ({err.strerror}); pass a folder you can "
            "write"
        ) from None
    os.close(fd)
    os.unlink(probe)
    return folder


def write_frames(
    run: str | Path, fmt: Format = "csv", dest: str | Path | None = None
) -> list[Path]:
    """Write the run's non-empty tables as ``DEST/<table>.csv`` or ``.parquet``.

    Args:
        run: the run's output folder.
        fmt: ``"csv"`` or ``"parquet"`` (Parquet needs ``pyarrow``: extra ``[parquet]``).
        dest: the folder to write to (default ``RUN/tables``).

    Returns:
        The files written.
    """
    folder = check_export(run, fmt, dest)
    written = []
    for name, frame in results_frames(run).items():
        if frame.empty:
            continue
        path = folder / f"{name}.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        written.append(path)
    return written
