"""A finished run in Jupyter: its report inline, its tables as DataFrames.

``CriticalityReport`` objects render themselves (``_repr_html_``: the reading in words, the
summary table and the stage and spectrum charts). A run's output folder (``criticality
experiment``, ``criticality demo``, ``criticality.experiments.render``) opens with
:func:`load_run`; the returned :class:`Run` shows its whole ``report.html`` in the notebook.

Example:
    >>> run = load_run("runs/demo")                 # doctest: +SKIP
    >>> run                                          # the report, inline  # doctest: +SKIP
    >>> run.frames()["measures"].query("measure == 'lyapunov'")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from criticality.integrations.frames import results_frames
from criticality.reporting import load_results

if TYPE_CHECKING:
    import pandas as pd


@dataclasses.dataclass(frozen=True)
class Run:
    """A finished run's output folder.

    Attributes:
        path: the folder (holding ``results.json``).
        kind: the experiment that wrote it, e.g. ``"training"``.
        results: ``results.json`` as a dict (``data``, ``seed``, ``versions``, ...).
    """

    path: Path
    kind: str
    results: dict[str, Any]

    def frames(self) -> dict[str, pd.DataFrame]:
        """Tidy tables (see :func:`criticality.integrations.frames.results_frames`)."""
        return results_frames(self.results["data"])

    def report_path(self) -> Path:
        """``report.html``, rendered from ``results.json`` if it is missing."""
        path = self.path / "report.html"
        if not path.is_file():
            from criticality.experiments import render

            render(self.path)
        return path

    def _repr_html_(self) -> str:
        # The report is a whole page with its own styles: an iframe keeps them apart from the
        # notebook's.
        page = html.escape(self.report_path().read_text(), quote=True)
        return (
            f'<iframe srcdoc="{page}" title="{html.escape(self.kind)} report" '
            'style="width:100%;height:640px;border:1px solid #ccc"></iframe>'
        )


def load_run(path: str | Path) -> Run:
    """Open the output folder of a finished run."""
    results = load_results(path)
    return Run(Path(path), str(results["kind"]), results)
