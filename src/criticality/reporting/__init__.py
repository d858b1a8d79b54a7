"""Run outputs (DESIGN §5): ``config.json``, ``results.json``, ``figures/*.png``, ``report.html``.

Every run writes its results as JSON with :func:`write_results`; the experiment registry
(:func:`criticality.experiments.render`) turns them into figures and a self-contained HTML report
without recomputing anything, so ``criticality report OUT`` can re-render a finished run.
:func:`resume_dir` is the one rule by which a rerun keeps or discards finished units of work.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from criticality._meta import SCHEMA_VERSION as SCHEMA_VERSION
from criticality._meta import atomic_write as atomic_write
from criticality._meta import timestamp, versions
from criticality.reporting.html import Figure as Figure
from criticality.reporting.html import Section as Section
from criticality.reporting.html import Table as Table
from criticality.reporting.html import render_html as render_html

log = logging.getLogger(__name__)


def write_results(
    out_dir: str | Path, kind: str, config: dict[str, Any], data: dict[str, Any], *, seed: int,
    device: str = "cpu",
) -> Path:  # fmt: skip
    """Write ``config.json`` and ``results.json`` (with schema version, seed, versions, device)."""
    out = Path(out_dir)
    atomic_write(out / "config.json", json.dumps(config, indent=1, default=str))
    results = {
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "seed": seed,
        "device": device,
        "versions": versions(),
        "created": timestamp(),
        "data": data,
    }
    path = out / "results.json"
    atomic_write(path, json.dumps(results, indent=1, default=_json_default))
    return path


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def load_results(out_dir: str | Path) -> dict[str, Any]:
    """Read ``OUT/results.json``; a clear error if the folder holds no finished run."""
    path = Path(out_dir) / "results.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: pass the output folder of a finished run "
            "(one written by `criticality measure`, `criticality demo`, ...)"
        )
    results: dict[str, Any] = json.loads(path.read_text())
    if results.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(
            f"{path} has schema version {results.get('schema_version')}, "
            f"this criticality reads {SCHEMA_VERSION}; re-run to update it"
        )
    return results


def resume_dir(directory: str | Path, config: dict[str, Any]) -> Path:
    """The folder of a run's finished units of work, kept only if made with the same ``config``.

    Every resumable run (the demo's parts, an experiment's runs, tasks or generations) keeps its
    finished units in one folder stamped with the configuration that made them. A rerun with the
    same configuration finds them and skips that work; a rerun with another configuration
    discards them (with a warning) and starts the folder afresh.

    Returns:
        ``directory``, existing and stamped with ``config``.
    """
    folder = Path(directory)
    stamp, text = folder / "config.json", json.dumps(config, sort_keys=True, default=str)
    if stamp.is_file() and stamp.read_text() != text:
        log.warning("config changed: discarding the finished work in %s", folder)
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(stamp, text)
    return folder
