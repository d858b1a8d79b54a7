"""A measurement as an HTML fragment for Jupyter: the reading in words, the summary table and
inline SVG bar charts of the stage exponents and the spectrum (no matplotlib, no files).

It is :class:`~criticality.report.CriticalityReport`'s own view (``_repr_html_``), so it lives
beside ``report.py`` on the report's floor, not in ``integrations/`` (which sits on top).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from criticality.measures import LyapunovResult
from criticality.measures.words import CRITICAL_BAND

_COLORS = {"ordered": "#3465a4", "critical": "#2e8b57", "chaotic": "#c0392b"}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:+.3f}" if math.isfinite(value) and abs(value) < 1e4 else f"{value:.3g}"
    return html.escape(str(value))


def _color(value: float) -> str:
    if abs(value) <= CRITICAL_BAND:
        return _COLORS["critical"]
    return _COLORS["ordered"] if value < 0 else _COLORS["chaotic"]


def bar_chart(values: Sequence[float], labels: Sequence[str], title: str) -> str:
    """An inline SVG of signed bars around 0 (blue ordered, green critical, red chaotic).

    Args:
        values: one value per bar, shape ``(n,)``.
        labels: one label per bar (shown on hover).
        title: the chart's caption.
    """
    width, height, pad = 640, 180, 40
    finite = [v for v in values if math.isfinite(v)] or [0.0]
    top, bottom = max(max(finite), CRITICAL_BAND), min(min(finite), -CRITICAL_BAND)
    scale = (height - 2 * pad) / (top - bottom)
    zero = pad + top * scale
    step = (width - 2 * pad) / max(len(values), 1)
    bars = []
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        v = value if math.isfinite(value) else 0.0
        y, h = (zero - v * scale, v * scale) if v >= 0 else (zero, -v * scale)
        bars.append(
            f'<rect x="{pad + i * step + step * 0.1:.1f}" y="{y:.1f}" width="{step * 0.8:.1f}" '
            f'height="{max(h, 0.5):.1f}" fill="{_color(v)}"><title>{html.escape(label)}: '
            f"{value:+.4f}</title></rect>"
        )
    axis = (
        f'<line x1="{pad}" x2="{width - pad}" y1="{zero:.1f}" y2="{zero:.1f}" stroke="#444"/>'
        f'<text x="2" y="{pad - 8}" font-size="11">{top:+.2f}</text>'
        f'<text x="2" y="{height - 6}" font-size="11">{bottom:+.2f}</text>'
    )
    if labels:  # name the first and the last bar; every bar names itself on hover
        axis += (
            f'<text x="{pad}" y="{height - 6}" font-size="11" fill="#555">'
            f"{html.escape(labels[0])}</text>"
            f'<text x="{width - pad}" y="{height - 6}" font-size="11" fill="#555" '
            f'text-anchor="end">{html.escape(labels[-1])}</text>'
        )
    return (
        f'<figure style="margin:0.5em 0"><svg viewBox="0 0 {width} {height}" '
        f'style="max-width:100%;height:auto" role="img" aria-label="{html.escape(title)}">'
        f"{axis}{''.join(bars)}</svg><figcaption>{html.escape(title)}</figcaption></figure>"
    )


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_fmt(row.get(c, ''))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f'<div style="overflow-x:auto"><table><tr>{head}</tr>{body}</table></div>'


def report_html(report: Any) -> str:
    """The HTML fragment of a :class:`~criticality.CriticalityReport` (``_repr_html_``)."""
    rows = [
        {**r, "95 % CI": f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"}
        for r in report.summary_table()
    ]
    parts = [
        f"<h3>{html.escape(report.model)}: how close to criticality</h3>",
        f"<p>{html.escape(report.interpretation())}</p>",
        table(rows, ["measure", "value", "95 % CI", "critical_value", "verdict"]),
    ]
    lyap = report.results.get("lyapunov")
    if isinstance(lyap, LyapunovResult):
        gains = [e.mean for e in lyap.stage_log_gain]
        parts.append(
            bar_chart(
                gains, lyap.stage_names, "Local exponent ln g_l of each stage (nats; 0 is critical)"
            )
        )
        if lyap.k > 1:
            labels = [f"λ_{i + 1}" for i in range(lyap.k)]
            parts.append(
                bar_chart(
                    [float(v) for v in lyap.exponents],
                    labels,
                    f"Top-{lyap.k} Lyapunov exponents (nats per stage)",
                )
            )
    parts.append(
        f"<details><summary>{len(report.stage_names)} stages</summary>"
        f"{table(report.stage_table(), list(report.stage_table()[0]))}</details>"
    )
    return f'<div class="criticality-report">{"".join(parts)}</div>'
