"""Run outputs (DESIGN §5): ``config.json``, ``results.json``, ``figures/*.png``, ``report.html``.

Every run writes its results as JSON with :func:`write_results`; :func:`render` turns them into
figures and a self-contained HTML report without recomputing anything, so
``criticality report OUT`` can re-render a finished run. Each kind of run names the module that
renders it in ``RENDERERS`` (one line per kind); that module defines
``sections(results, out_dir) -> list[Section]`` and ``TITLE``.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from criticality.reporting.html import Figure as Figure
from criticality.reporting.html import Section as Section
from criticality.reporting.html import Table as Table
from criticality.reporting.html import render_html

SCHEMA_VERSION = 1

RENDERERS: dict[str, str] = {
    "measure": "criticality.reporting._measure",
    "demo": "criticality.experiments.demo",
    "scan": "criticality.experiments.scan",
    "training": "criticality.experiments.training",
}


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so no half-written file remains."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results(
    out_dir: str | Path, kind: str, config: dict[str, Any], data: dict[str, Any], *, seed: int,
    device: str = "cpu",
) -> Path:  # fmt: skip
    """Write ``config.json`` and ``results.json`` (with schema version, seed, versions, device)."""
    import torch

    from criticality import __version__

    out = Path(out_dir)
    atomic_write(out / "config.json", json.dumps(config, indent=1, default=str))
    results = {
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "seed": seed,
        "device": device,
        "versions": {
            "criticality": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
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


def render(out_dir: str | Path) -> Path:
    """Draw the figures and write ``OUT/report.html`` from ``OUT/results.json``."""
    out = Path(out_dir)
    results = load_results(out)
    kind = results["kind"]
    if kind not in RENDERERS:
        raise ValueError(f"no renderer for runs of kind {kind!r}; known: {', '.join(RENDERERS)}")
    module = importlib.import_module(RENDERERS[kind])
    sections = module.sections(results["data"], out)
    versions = ", ".join(f"{k} {v}" for k, v in results["versions"].items())
    footer = (
        f"Seed {results['seed']}, device {results['device']}, {versions}; "
        f"created {results['created']}. Re-render with `criticality report {out}`."
    )
    path = out / "report.html"
    atomic_write(path, render_html(module.TITLE, sections, footer=footer))
    return path
