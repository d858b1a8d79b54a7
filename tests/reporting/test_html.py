"""The HTML page: scorecard on top linking to sections, contents, folded details, footnotes,
formatted cells."""

from __future__ import annotations

import pytest

from criticality.reporting.html import Details, Footnote, Section, Table, render_html
from criticality.reporting.scorecard import (
    NOT_TESTABLE,
    PAPER_CLAIMS,
    ScoreRow,
    combine,
    gather,
    interval_verdict,
    read_scorecard,
)


def page(rows: list[ScoreRow] | None = None) -> str:
    sections = [
        Section("Phase diagram", ["text"], lead="The finding."),
        Section("Zoo", [Details("Not measured (59 architectures)", [Table([{"model": "a"}])])]),
        Section("Zoo", ["a second section with the same title gets its own anchor"]),
        Section("Per model", ["folded body"], folded=True, lead="one line"),
    ]
    rows = (
        rows
        if rows is not None
        else [
            ScoreRow("claim one", "ρ = −0.42", "inconclusive", "rule", "Zoo", claim="M1"),
            ScoreRow("our check", "0.01", "supported", "rule", "Phase diagram"),
            ScoreRow("another check", "–", NOT_TESTABLE, "why not", None),
        ]
    )
    return render_html("T", sections, scorecard=rows, intro="What this run found.")


def test_scorecard_rows_link_to_sections_that_exist() -> None:
    text = page()
    rows, ids = read_scorecard(text)
    assert [r["label"] for r in rows] == ["M1", "C1", "C2"]  # checks numbered in order
    assert [r["verdict"] for r in rows] == ["inconclusive", "supported", NOT_TESTABLE]
    assert rows[0]["section"] == "sec-zoo" and rows[1]["section"] == "sec-phase-diagram"
    assert {r["section"] for r in rows if r["section"]} <= ids
    assert {"sec-zoo", "sec-zoo-2", "sec-per-model", "scorecard"} <= ids
    assert (
        text.index('id="scorecard"')
        < text.index('class="toc"')
        < text.index('id="sec-phase-diagram"')
    )


def test_a_link_to_a_missing_section_is_an_error() -> None:
    with pytest.raises(ValueError, match="links to a missing section 'Nowhere'"):
        page([ScoreRow("claim", "1", "supported", "rule", "Nowhere")])


def test_details_fold_and_footnotes_are_numbered_once() -> None:
    note = "MixedLM did not converge; do not read the slope"
    sections = [
        Section(
            "S",
            [
                Table(
                    [
                        {"model": "a", "p": 2e-23, "rho": 0.5, "note": Footnote(note)},
                        {"model": "b", "p": 0.3, "rho": -0.25, "note": Footnote(note)},
                        {"model": "c", "p": 0.04, "rho": 0.0, "note": Footnote("another")},
                    ]
                ),
            ],
        )
    ]
    text = render_html("T", sections)
    assert text.count('href="#note-1"') == 2 and text.count('href="#note-2"') == 1
    assert text.count(note) == 3  # twice as the markers' titles, once in the notes list
    assert '<li id="note-1">' in text and "<h2>Notes</h2>" in text
    assert "<td>&lt;0.001</td>" in text and "<td>+0.50</td>" in text and "<td>−0.25</td>" in text
    assert "e-23" not in text


def test_folded_sections_show_their_lead() -> None:
    text = page()
    summary = '<details class="fold"><summary>one line <span class="more">details</span>'
    assert text.index(summary) < text.index("folded body")
    assert "<summary>Not measured (59 architectures)</summary>" in text


def test_verdict_rules() -> None:
    assert interval_verdict(0.1, 0.3) == "supported"
    assert interval_verdict(-0.3, -0.1, direction=-1) == "supported"
    assert interval_verdict(0.1, 0.3, direction=-1) == "not supported"
    assert interval_verdict(-0.1, 0.3) == "inconclusive"
    assert interval_verdict(-0.004, 0.004, margin=0.005) == "not supported"
    assert combine(["supported", "supported"]) == "supported"
    assert combine(["supported", "not supported"]) == "inconclusive"
    assert combine([NOT_TESTABLE]) == NOT_TESTABLE
    assert combine(["not testable here", "not supported"]) == "not supported"


def test_gather_lists_every_paper_claim_and_says_why_one_is_missing() -> None:
    rows = [
        ScoreRow("check", "1", "supported", "r"),
        ScoreRow("zoo", "ρ", "inconclusive", "r", claim="M1"),
        ScoreRow("training", "d", "supported", "r", claim="M2"),
    ]
    out = gather(rows, ["zoo", "training", "phase"], known=["zoo", "training", "phase", "collapse"])
    assert [r.claim for r in out] == ["M1", "M2", "M3", "M4", "M5", None]
    by = {r.claim: r for r in out}
    assert by["M3"].verdict == NOT_TESTABLE and "does not have yet" in by["M3"].why
    assert "did not run here: criticality experiment collapse" in by["M4"].why
    assert "reported no figure" in by["M5"].why
    assert by["M4"].statement == PAPER_CLAIMS["M4"].statement
    with pytest.raises(ValueError, match="unknown claim 'M9'"):
        ScoreRow("x", "1", "supported", "r", claim="M9")


def test_side_by_side_pairs_consecutive_figures_only() -> None:
    from pathlib import Path

    from criticality.reporting.html import Figure, FigureRow, side_by_side, tables

    a, b, c, d = (Figure(Path(f"{n}.png"), n) for n in "abcd")
    t = Table([{"x": 1}])
    out = side_by_side(["text", a, b, c, t, d])
    assert out == ["text", FigureRow([a, b]), c, t, d]
    assert tables(out) == [t]


def test_condense_keeps_the_headline_to_its_first_figure_and_folds_the_rest() -> None:
    from pathlib import Path

    from criticality.reporting.html import Figure, FigureRow, condense

    a, b, c = (Figure(Path(f"{n}.png"), n) for n in "abc")
    t = Table([{"x": 1}])
    parts = [
        Section("Set-up", ["What ran, in words.", Details("settings", ["…"])]),
        Section("Main", [t, FigureRow([a, b]), c, t], lead="The finding."),
        Section("Second", [t, c], lead="Its finding."),
        Section("Empty", ["only a paragraph"]),
    ]
    setup, main, second, empty = condense(parts)
    # the first section with a figure stays open up to that figure; the rest is one fold
    assert not main.folded and main.lead == "The finding."
    assert main.items[:2] == [t, FigureRow([a, b])]
    assert main.items[2] == Details("1 more figure and the tables", [c, t])
    # after the first figure a lone fold or a footnote stays as it is
    note = Footnote("a caveat")
    assert condense([Section("Only", [t, a, note])])[0].items == [t, a, note]
    assert condense([Section("Fold", [a, Details("x", [t])])])[0].items == [a, Details("x", [t])]
    # the others fold under their lead, or their first paragraph when they have none
    assert setup.folded and setup.lead == "What ran, in words."
    assert setup.items == [Details("settings", ["…"])]
    assert second.folded and second.items == [t, c] and second.lead == "Its finding."
    assert not empty.folded and empty.lead == "only a paragraph" and empty.items == []
    # a section marked as the headline wins over the first with a figure
    marked = condense([parts[1], Section("Verdict", ["words"], headline=True)])
    assert marked[0].folded and not marked[1].folded
    # titles and keys are kept, so the page's anchors (and the scorecard's links) do not move
    assert [s.title for s in condense(parts)] == [s.title for s in parts]


def test_the_label_column_fits_the_longest_label() -> None:
    def width(label: str) -> str:
        text = page([ScoreRow("s", "1", "ordered", "r", "Zoo", label=label)])
        return text.split('<col style="width:', 1)[1].split('"', 1)[0]

    assert width("M1") == "3.6em"  # the paper's claims and our checks: the narrow column
    assert width("regime") == "5.2em"  # a single model's rows are labelled in words
