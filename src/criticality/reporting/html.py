"""A self-contained HTML report: sections of text, tables and embedded PNG figures."""

from __future__ import annotations

import base64
import dataclasses
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; } h2 { margin-top: 2em; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; } figure img { max-width: 100%; }
figcaption { font-size: 0.9em; color: #555; }
.note { background: #fff8e0; border-left: 4px solid #e0b000; padding: 0.5em 1em; }
.scroll { overflow-x: auto; } p { overflow-wrap: anywhere; }
@media print { body { max-width: none; margin: 0; } .scroll { overflow: visible; }
               figure, tr { break-inside: avoid; } h2 { break-after: avoid; } }
"""


@dataclasses.dataclass
class Table:
    """Rows of dicts with the same keys; ``columns`` picks and orders them."""

    rows: Sequence[dict[str, Any]]
    columns: Sequence[str] | None = None
    caption: str = ""


@dataclasses.dataclass
class Figure:
    """A PNG file embedded as base64, with a caption."""

    path: Path
    caption: str = ""


@dataclasses.dataclass
class Section:
    """A titled part of the report: paragraphs (plain text), tables and figures, in order."""

    title: str
    items: list[str | Table | Figure] = dataclasses.field(default_factory=list)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:+.4g}" if abs(value) < 1e4 else f"{value:.3e}"
    return html.escape(str(value))


def _table(table: Table) -> str:
    columns = list(table.columns or (table.rows[0].keys() if table.rows else []))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(row.get(c, ''))}</td>" for c in columns) + "</tr>"
        for row in table.rows
    )
    caption = f"<caption>{html.escape(table.caption)}</caption>" if table.caption else ""
    return f'<div class="scroll"><table>{caption}<tr>{head}</tr>{body}</table></div>'


def _figure(fig: Figure) -> str:
    data = base64.b64encode(Path(fig.path).read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(fig.caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(fig.caption)}</figcaption></figure>"
    )


def render_html(title: str, sections: Sequence[Section], *, footer: str = "") -> str:
    """The whole report as one HTML string with every image embedded (readable offline)."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        for item in section.items:
            if isinstance(item, Table):
                parts.append(_table(item))
            elif isinstance(item, Figure):
                parts.append(_figure(item))
            else:
                parts.append(f"<p>{html.escape(item)}</p>")
    if footer:
        parts.append(f'<p class="note">{html.escape(footer)}</p>')
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )
