"""Report sections for a ``criticality measure`` run: summary, per-stage table, figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from criticality.report import CriticalityReport
from criticality.reporting.html import Figure, Section, Table
from criticality.reporting.plots import plot_spectrum, plot_stage_profile, save

TITLE = "Criticality report"


def report_sections(report: CriticalityReport, figures: Path, tag: str = "") -> list[Section]:
    """Summary, per-stage and figures for one :class:`CriticalityReport`."""
    summary = Section(
        f"{report.model}: summary",
        [
            report.interpretation(),
            Table(report.summary_table(), caption="Each measure against its critical value"),
        ],
    )
    stages = Section(f"{report.model}: stages", [Table(report.stage_table())])
    if "lyapunov" in report.results:
        fig, _ = plot_stage_profile(report.lyapunov, label=report.model)
        stages.items.append(Figure(save(fig, figures / f"{tag}stage_profile.png"),
                                   "Local exponent ln g_l of each stage with 95 % CI"))  # fmt: skip
        if report.lyapunov.k > 1:
            fig, _ = plot_spectrum(report.lyapunov)
            caption = "Top-k Lyapunov exponents (bars: spread over inputs)"
            stages.items.append(Figure(save(fig, figures / f"{tag}spectrum.png"), caption))
    return [summary, stages]


def sections(data: dict[str, Any], out_dir: Path) -> list[Section]:
    report = CriticalityReport.from_dict(data["report"])
    meta = [{"key": k, "value": str(v)} for k, v in report.metadata.items()]
    run = Section("Run", [Table(meta), f"Configuration: {data.get('command', '')}"])
    return [*report_sections(report, out_dir / "figures"), run]
