"""Report sections shared by every run that measures a model: the summary with the consensus of
the measures, the per-stage profile (table folded), figures, and the scorecard of one model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from criticality.consensus import DEGENERATE_LOG_GAIN, Consensus, consensus
from criticality.measures import get_measure
from criticality.measures.words import log_gain_in_words
from criticality.numbers import fmt, fmt_ci, kind_of
from criticality.report import CriticalityReport
from criticality.reporting.html import Details, Figure, FigureRow, Item, Section, Table
from criticality.reporting.scorecard import ScoreRow

#: Stages below this are drawn at it in the profile figures (a degenerate stage would squash
#: every other one).
PROFILE_FLOOR = -6.0


def regime_sentence(report: CriticalityReport) -> str:
    """E.g. "resnet18 is ordered: perturbations shrink by 12 % per stage (λ_1 = −0.128
    [−0.140, −0.117] nats per stage over 8 inputs; 0 is critical)."."""
    lam = report.lyapunov.lambda_max
    text = (
        f"{report.model} is {log_gain_in_words(lam.mean)} (λ_1 = "
        f"{fmt_ci(lam.mean, lam.ci_low, lam.ci_high, 'exponent')} nats per stage over {lam.n} "
        "inputs; 0 is critical)"
    )
    cons = consensus(report)
    if cons.degenerate:
        text += f", because stage {cons.degenerate[0]} annihilates perturbations"
        if cons.body_lambda is not None:
            text += f"; the stages before it have λ_1 = {fmt(cons.body_lambda, 'exponent')}"
    return text + "."


def summary_rows(report: CriticalityReport, cons: Consensus) -> list[dict[str, Any]]:
    """One row per measure: value with its interval, critical value, call and the rule."""
    calls = {c.measure: c for c in cons.calls}
    rows = []
    for name, result in report.results.items():
        est = result.headline()
        call = calls.get(name)
        crit = get_measure(name).critical_value
        rows.append(
            {
                "measure": name,
                "value [95 % CI]": call.value
                if call
                else fmt_ci(est.mean, est.ci_low, est.ci_high, kind_of(name)),
                "critical at": "maximal" if np.isnan(crit) else fmt(crit, kind_of(name)),
                "call": call.call if call else "–",
                "why": call.rule if call else result.describe(),
            }
        )
    return rows


def stage_rows(report: CriticalityReport) -> list[dict[str, Any]]:
    """The per-stage table; a degenerate stage reads "−∞ (annihilates)"."""
    rows = report.stage_table()
    for row in rows:
        for key, value in row.items():
            degenerate = isinstance(value, float) and not value > DEGENERATE_LOG_GAIN
            if degenerate and key in ("lyapunov", "ftle"):
                row[key] = "−∞ (annihilates)"
    return rows


def disagreement_items(cons: Consensus) -> list[Item]:
    """The consensus line, and why the measures disagree (nothing more when they agree)."""
    items: list[Item] = [cons.line()]
    if cons.explanations:
        items.append("Why: " + " ".join(cons.explanations))
    return items


def report_sections(
    report: CriticalityReport, figures: Path, tag: str = "", *, folded: bool = False
) -> list[Section]:
    """Summary (regime, consensus, each measure) and stages (profile figure, spectrum, the
    per-stage table folded) of one :class:`CriticalityReport`.

    Args:
        report: the measured model.
        figures: folder for the PNGs.
        tag: prefix of the figure files (several reports in one folder).
        folded: fold both sections under their one-line lead (reports of many models).
    """
    cons = consensus(report)
    lead = regime_sentence(report) if "lyapunov" in report.results else cons.line()
    summary = Section(
        f"{report.model}: summary",
        [
            *disagreement_items(cons),
            Table(
                summary_rows(report, cons),
                caption="Each measure against its critical value, and the regime it calls",
            ),
        ],
        folded=folded,
        lead=lead,
    )
    stages = Section(f"{report.model}: stages", folded=folded, lead=_stage_lead(report))
    if "lyapunov" in report.results:
        from criticality.reporting.plots import plot_spectrum, plot_stage_profile, save

        fig, _ = plot_stage_profile(report.lyapunov, label=report.model, floor=PROFILE_FLOOR)
        row = FigureRow(
            [
                Figure(
                    save(fig, figures / f"{tag}stage_profile.png"),
                    "Local exponent ln g_l of each stage with its 95 % CI; ▼: "
                    f"below {PROFILE_FLOOR:g}, drawn at {PROFILE_FLOOR:g}",
                )
            ]
        )
        if report.lyapunov.k > 1:
            fig, _ = plot_spectrum(report.lyapunov)
            caption = "Top-k Lyapunov exponents (bars: spread over inputs)"
            row.figures.append(Figure(save(fig, figures / f"{tag}spectrum.png"), caption))
        stages.items.append(row)
    rows = stage_rows(report)
    stages.items.append(Details(f"Per-stage table ({len(rows)} stages)", [Table(rows)]))
    return [summary, stages]


def report_details(report: CriticalityReport, figures: Path, tag: str = "") -> Details:
    """One model folded under its one-line regime: for reports of many models, where a section
    per model would make a long page."""
    summary, stages = report_sections(report, figures, tag)
    items: list[Item] = [*summary.items, stages.lead, *stages.items]
    return Details(summary.lead, items)


def extreme_stages(report: CriticalityReport) -> tuple[tuple[str, float], tuple[str, float]]:
    """``(name, ln g)`` of the most contracting and of the most expanding stage."""
    names, gains = report.lyapunov.stage_profile()
    lo, hi = int(np.nanargmin(gains)), int(np.nanargmax(gains))
    return (names[lo], float(gains[lo])), (names[hi], float(gains[hi]))


def _stage_lead(report: CriticalityReport) -> str:
    if "lyapunov" not in report.results:
        return f"{len(report.stage_names)} stages."
    (lo_name, lo), (hi_name, hi) = extreme_stages(report)
    return (
        f"{len(report.stage_names)} stages; most contracting: {lo_name} (ln g = "
        f"{_log_gain(lo)}); most expanding: {hi_name} (ln g = {_log_gain(hi)})."
    )


def _log_gain(value: float) -> str:
    return "−∞, annihilates" if not value > DEGENERATE_LOG_GAIN else fmt(value, "exponent")


def measure_scorecard(report: CriticalityReport, section: str | None = None) -> list[ScoreRow]:
    """The scorecard of one model: its regime with λ_1, the extreme stages, and whether the
    measures agree (verdicts here are readings, not tests of a claim)."""
    cons = consensus(report)
    summary = section or f"{report.model}: summary"
    rows: list[ScoreRow] = []
    if "lyapunov" in report.results:
        lam = report.lyapunov.lambda_max
        words = log_gain_in_words(lam.mean)
        rows.append(
            ScoreRow(
                f"Regime of {report.model}",
                "λ_1 = "
                + fmt_ci(lam.mean, lam.ci_low, lam.ci_high, "exponent")
                + " nats per stage",
                words.split(":")[0],
                words.split(":", 1)[1].strip() + f" ({lam.n} inputs; the rule: "
                "|λ_1| ≤ 0.05 is critical)",
                summary,
                label="regime",
            )
        )
        (lo_name, lo), (hi_name, hi) = extreme_stages(report)
        stages = f"{report.model}: stages"
        rows.append(
            ScoreRow(
                "Most contracting stage",
                f"{lo_name}: ln g = {_log_gain(lo)}",
                log_gain_in_words(lo).split(":")[0],
                _stage_why(lo),
                stages,
                label="stage",
            )
        )
        rows.append(
            ScoreRow(
                "Most expanding stage",
                f"{hi_name}: ln g = {_log_gain(hi)}",
                log_gain_in_words(hi).split(":")[0],
                _stage_why(hi),
                stages,
                label="stage",
            )
        )
    if len(cons.calls) > 1:
        rows.append(agreement_row([cons], summary))
    return rows


def _stage_why(log_gain: float) -> str:
    if not log_gain > DEGENERATE_LOG_GAIN:
        return "it maps every perturbation to zero (e.g. a zero-initialised head)"
    return log_gain_in_words(log_gain).split(":", 1)[1].strip()


def agreement_row(conses: Sequence[Consensus], section: str | None) -> ScoreRow:
    """ "The measures agree on each model's regime".

    Rule: *supported* when every measure that calls a regime calls the same one for every
    model; *not supported* when some model is called ordered by one measure and chaotic by
    another; *inconclusive* when they differ only in degree (critical against one side).
    """
    contra = [c for c in conses if c.contradict]
    differ = [c for c in conses if not c.agree and not c.contradict]
    agree = len(conses) - len(contra) - len(differ)
    if len(conses) == 1:
        figure = conses[0].summary()
    else:
        figure = f"{agree} of {len(conses)} models: all measures agree"
        if contra:
            figure += f"; {len(contra)} contradict"
    if contra or differ:
        first = (contra or differ)[0]
        why = (f"{first.model}: " if len(conses) > 1 else "") + first.summary()
        why += " (opposite directions)" if contra else " (critical against one side)"
        verdict = "not supported" if contra else "inconclusive"
    else:
        why = "every measure that calls a regime calls the same one"
        verdict = "supported"
    statement = "The measures agree on " + (
        f"{conses[0].model}'s regime" if len(conses) == 1 else "each model's regime"
    )
    return ScoreRow(statement, figure, verdict, why, section)
