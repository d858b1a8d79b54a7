"""Report sections shared by every run that measures a model: summary, per-stage table, figures."""

from __future__ import annotations

from pathlib import Path

from criticality.report import CriticalityReport
from criticality.reporting.html import Figure, Section, Table
from criticality.reporting.plots import plot_spectrum, plot_stage_profile, save


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
