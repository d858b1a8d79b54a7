"""A self-contained HTML report: a scorecard on top, a table of contents, sections of text, tables
and embedded PNG figures, long details folded, warnings as numbered footnotes.

The building blocks (every experiment's ``sections()`` returns them):

* :class:`Section` — a titled part with an anchor (``#sec-<slug>``); ``folded=True`` puts its
  body inside a ``<details>`` under a one-line ``lead``.
* :class:`Table` — rows of dicts; numbers go through :mod:`criticality.numbers`
  (``kinds`` names each column's quantity; known column names need none).
* :class:`Figure` — a PNG embedded as base64; :class:`FigureRow` puts figures side by side.
* :class:`Details` — items folded under a summary line (long tables, raw statistics).
* :class:`Footnote` — a warning or caveat: a table cell or paragraph item that shows a
  numbered marker; the text is listed once under "Notes" at the end (identical texts share a
  number).
* :class:`~criticality.reporting.scorecard.ScoreRow` rows, passed as ``scorecard=`` to
  :func:`render_html`, become the scorecard on top, each row linking to its section.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

from criticality.numbers import Kind, fmt, kind_of

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 1.2em auto; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.5em; margin: 0.2em 0 0.4em; border-bottom: 2px solid #444; }
h2 { font-size: 1.2em; margin: 1.3em 0 0.5em; border-bottom: 1px solid #bbb; }
h2 a.self { color: #bbb; text-decoration: none; margin-left: 0.3em; font-size: 0.8em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; vertical-align: top; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
td.text { text-align: left; }
caption { text-align: left; font-size: 0.9em; color: #555; padding-bottom: 0.2em; }
figure { margin: 0.6em 0; } figure img { max-width: 100%; max-height: 440px; height: auto; }
figcaption { font-size: 0.9em; color: #555; }
details { margin: 0.5em 0; } details > summary { cursor: pointer; color: #0b4f8a; }
details[open] > summary { margin-bottom: 0.3em; }
details.fold > summary { color: inherit; } details.fold > summary > .more { color: #0b4f8a; }
.note { background: #fff8e0; border-left: 4px solid #e0b000; padding: 0.4em 1em; }
.footer { color: #555; font-size: 0.85em; }
sup.fn a { text-decoration: none; }
nav.toc { font-size: 0.85em; color: #444; margin: 0.6em 0; }
nav.toc a { color: #0b4f8a; text-decoration: none; }
table.scorecard { width: 100%; min-width: 760px; font-size: 0.84em; table-layout: fixed;
                  line-height: 1.3; }
table.scorecard td, table.scorecard th { text-align: left; padding: 0.25em 0.4em; }
table.scorecard td.figure { font-variant-numeric: tabular-nums; }
table.scorecard td.label { white-space: nowrap; font-weight: 600; }
table.scorecard td.why { color: #444; font-size: 0.95em; }
.verdict { display: inline-block; padding: 0 0.4em; border-radius: 0.3em; white-space: nowrap;
           font-weight: 600; font-size: 0.95em; }
.v-yes { background: #d6e9f5; color: #00456e; } .v-no { background: #f8dccb; color: #8a3300; }
.v-mixed { background: #fbecc4; color: #6b4a00; } .v-na { background: #e8e8e8; color: #444; }
.v-info { background: #eef; color: #223; }
.scroll { overflow-x: auto; }
.figrow { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.figrow figure { flex: 0 1 calc(50% - 0.5em); min-width: 280px; }
p { overflow-wrap: anywhere; }
@media (max-width: 640px) {  /* a phone: each scorecard row becomes a card */
  table.scorecard { min-width: 0; table-layout: auto; }
  table.scorecard colgroup, table.scorecard tr:first-child { display: none; }
  table.scorecard tr { display: block; border-bottom: 2px solid #ccc; padding: 0.3em 0; }
  table.scorecard td { display: block; border: none; padding: 0.1em 0.4em; } }
@media print { body { max-width: none; margin: 0; } .scroll { overflow: visible; }
               figure, tr { break-inside: avoid; } h2 { break-after: avoid; } }
"""
#: Printing (or saving as PDF) opens every folded detail, so the printout is complete.
_SCRIPT = (
    "window.addEventListener('beforeprint', () => "
    "document.querySelectorAll('details').forEach(d => { d.open = true; }));"
)


@dataclasses.dataclass
class Table:
    """Rows of dicts with the same keys.

    Attributes:
        rows: the rows; a cell may be a number, text, ``None`` or a :class:`Footnote`.
        columns: the columns shown, in order (default: the first row's keys).
        caption: shown above the table.
        kinds: column -> number kind (:mod:`criticality.numbers`); columns not named
            here get the kind of their name (``"p"``, ``"rho"``, ...) or ``"plain"``.
    """

    rows: Sequence[dict[str, Any]]
    columns: Sequence[str] | None = None
    caption: str = ""
    kinds: dict[str, Kind] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Figure:
    """A PNG file embedded as base64, with a caption."""

    path: Path
    caption: str = ""


@dataclasses.dataclass
class FigureRow:
    """Figures side by side (each scaled to its share of the width)."""

    figures: list[Figure]


@dataclasses.dataclass(frozen=True)
class Footnote:
    """A warning or caveat shown as a numbered marker; its text is listed under "Notes"."""

    text: str


@dataclasses.dataclass
class Details:
    """Items folded under a one-line summary (``<details>``): long tables, raw statistics."""

    summary: str
    items: list[Item] = dataclasses.field(default_factory=list)


Item = Union[str, Table, Figure, FigureRow, Details, Footnote]  # noqa: UP007 (a runtime alias)


@dataclasses.dataclass
class Section:
    """A titled part of the report: paragraphs (plain text), tables and figures, in order.

    Attributes:
        title: the heading (and, slugged, the anchor ``#sec-<slug>`` unless ``key`` is given).
        items: the body.
        key: anchor name when the title is not a stable one (scorecard rows may name either).
        folded: show only ``lead`` and fold the body into a ``<details>``.
        lead: one line shown above the body, or as the folded body's summary (the finding, in
            words).
        headline: the section that stays open when a report of many parts folds each part's
            others (:func:`condense`).
    """

    title: str
    items: list[Item] = dataclasses.field(default_factory=list)
    key: str = ""
    folded: bool = False
    lead: str = ""
    headline: bool = False


def tables(items: Sequence[Item]) -> list[Item]:
    """The tables among ``items`` (to fold them under one :class:`Details`)."""
    return [i for i in items if isinstance(i, Table)]


def side_by_side(items: Sequence[Item]) -> list[Item]:
    """``items`` with consecutive figures set in pairs (:class:`FigureRow`), so that a section
    of several figures reads in about one screen at 1280 px."""
    out: list[Item] = []
    for item in items:
        if isinstance(item, Figure) and out and isinstance(out[-1], Figure):
            out[-1] = FigureRow([out[-1], item])
        else:
            out.append(item)
    return out


def condense(sections: Sequence[Section]) -> list[Section]:
    """One part of a report of many parts: its headline section (the one marked ``headline``,
    else the first with a figure) open up to its first figure, with the rest of it folded, and
    every other section folded under its lead, or under its first paragraph when it has no
    lead. Headings stay, so links to the sections land."""
    marked = [s for s in sections if s.headline]
    figured = [s for s in sections if any(isinstance(i, (Figure, FigureRow)) for i in s.items)]
    keep = (marked or figured)[0] if marked or figured else None
    out = []
    for section in sections:
        if section is keep:
            out.append(dataclasses.replace(section, items=_first_figure(section.items)))
            continue
        if section.folded:
            out.append(section)
            continue
        items, lead = list(section.items), section.lead
        if not lead and items and isinstance(items[0], str):
            lead, items = items[0], items[1:]
        out.append(dataclasses.replace(section, items=items, lead=lead, folded=bool(items)))
    return out


def _first_figure(items: Sequence[Item]) -> list[Item]:
    """``items`` up to the first figure, the figures and tables after it folded under one
    :class:`Details` (short paragraphs and footnote markers after it alone stay)."""
    first = next((n for n, i in enumerate(items) if isinstance(i, (Figure, FigureRow))), None)
    if first is None:
        return list(items)
    rest = list(items[first + 1 :])
    n = sum(len(i.figures) if isinstance(i, FigureRow) else isinstance(i, Figure) for i in rest)
    tabled = any(isinstance(i, (Table, Details)) for i in rest)
    if not n and (not tabled or (len(rest) == 1 and isinstance(rest[0], Details))):
        return list(items)
    more = f"{n} more figure{'s' if n != 1 else ''}" if n else "More"
    if tabled:
        more += " and the tables" if n else ": the tables"
    return [*items[: first + 1], Details(more, rest)]


def slug(text: str) -> str:
    """An anchor-safe name: lowercase letters, digits and hyphens."""
    text = re.sub(r"[^0-9a-z]+", "-", text.lower()).strip("-")
    return text or "section"


class _Renderer:
    """Renders items, numbering footnotes in order of appearance."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def footnote(self, note: Footnote) -> str:
        if note.text not in self.notes:
            self.notes.append(note.text)
        n = self.notes.index(note.text) + 1
        return (
            f'<sup class="fn"><a href="#note-{n}" title="{html.escape(note.text)}">[{n}]</a></sup>'
        )

    def cell(self, value: Any, kind: Kind) -> str:
        if isinstance(value, Footnote):
            return self.footnote(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return html.escape(fmt(value, kind))
        return html.escape(str(value)) if value is not None else "–"

    def table(self, table: Table) -> str:
        columns = list(table.columns or (table.rows[0].keys() if table.rows else []))
        kinds = {c: table.kinds.get(c, kind_of(c)) for c in columns}
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join(
            "<tr>"
            + "".join(
                f"<td{self._align(row.get(c))}>{self.cell(row.get(c), kinds[c])}</td>"
                for c in columns
            )
            + "</tr>"
            for row in table.rows
        )
        caption = f"<caption>{html.escape(table.caption)}</caption>" if table.caption else ""
        return f'<div class="scroll"><table>{caption}<tr>{head}</tr>{body}</table></div>'

    @staticmethod
    def _align(value: Any) -> str:
        is_text = isinstance(value, str) and len(value) > 24
        return ' class="text"' if is_text else ""

    def item(self, item: Item) -> str:
        if isinstance(item, Table):
            return self.table(item)
        if isinstance(item, Figure):
            return _figure(item)
        if isinstance(item, FigureRow):
            return '<div class="figrow">' + "".join(_figure(f) for f in item.figures) + "</div>"
        if isinstance(item, Details):
            body = "\n".join(self.item(i) for i in item.items)
            return f"<details><summary>{html.escape(item.summary)}</summary>{body}</details>"
        if isinstance(item, Footnote):
            return f"<p>{self.footnote(item)} {html.escape(_first_sentence(item.text))}</p>"
        return f"<p>{html.escape(item)}</p>"


def _first_sentence(text: str) -> str:
    head = text.split(". ")[0]
    return head if head.endswith(".") else head + "."


def _figure(fig: Figure) -> str:
    data = base64.b64encode(Path(fig.path).read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(fig.caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(fig.caption)}</figcaption></figure>"
    )


def anchors(sections: Sequence[Section]) -> tuple[list[str], dict[str, str]]:
    """Each section's anchor id (unique), and a map from every key and title to its anchor
    (the first section with that key or title)."""
    ids: list[str] = []
    lookup: dict[str, str] = {}
    for section in sections:
        base = "sec-" + slug(section.key or section.title)
        anchor, n = base, 2
        while anchor in ids:
            anchor, n = f"{base}-{n}", n + 1
        ids.append(anchor)
        for name in (section.key, section.title):
            if name:
                lookup.setdefault(name, anchor)
    return ids, lookup


def render_html(
    title: str,
    sections: Sequence[Section],
    *,
    footer: str = "",
    scorecard: Sequence[Any] = (),
    intro: str = "",
) -> str:
    """The whole report as one HTML string with every image embedded (readable offline).

    Args:
        title: the page title.
        sections: the body, in order.
        footer: run metadata, shown last.
        scorecard: :class:`~criticality.reporting.scorecard.ScoreRow` rows shown first; each
            row's ``section`` must be the key or title of one of ``sections``.
        intro: one sentence under the title (what the scorecard answers).

    Raises:
        ValueError: a scorecard row links to a section that is not in ``sections``.
    """
    from criticality.reporting.scorecard import render_scorecard

    r = _Renderer()
    ids, lookup = anchors(sections)
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if intro:
        parts.append(f"<p>{html.escape(intro)}</p>")
    if scorecard:
        parts.append(render_scorecard(scorecard, lookup))
    if len(sections) > 1:
        links = " · ".join(
            f'<a href="#{a}">{html.escape(s.title)}</a>' for s, a in zip(sections, ids, strict=True)
        )
        parts.append(f'<nav class="toc"><b>Contents:</b> {links}</nav>')
    for section, anchor in zip(sections, ids, strict=True):
        parts.append(
            f'<section id="{anchor}"><h2>{html.escape(section.title)}'
            f'<a class="self" href="#{anchor}">¶</a></h2>'
        )
        body = "\n".join(r.item(item) for item in section.items)
        if section.folded:
            lead = html.escape(section.lead) + " " if section.lead else ""
            summary = f'{lead}<span class="more">details</span>'
            body = f'<details class="fold"><summary>{summary}</summary>{body}</details>'
        elif section.lead:
            body = f"<p>{html.escape(section.lead)}</p>{body}"
        parts.append(body + "</section>")
    if r.notes:
        notes = "".join(
            f'<li id="note-{i}">{html.escape(t)}</li>' for i, t in enumerate(r.notes, 1)
        )
        parts.append(f'<section id="notes"><h2>Notes</h2><ol>{notes}</ol></section>')
    if footer:
        parts.append(f'<p class="footer">{html.escape(footer)}</p>')
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}<script>{_SCRIPT}</script></body></html>"
    )
