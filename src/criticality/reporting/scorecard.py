"""The scorecard on top of every report: one row per question the run answers.

A row states a claim or a check, the measured figure with its interval, the verdict in plain
words and the rule that gave it, and links to the section with the details. Verdicts are
computed from the data by the stated rules of :mod:`criticality.reporting.verdicts`
(:func:`~criticality.reporting.verdicts.judge_interval`, :func:`combine`); nothing here knows the
answer in advance. A verdict that is inconclusive because the evidence is too thin carries its
reason, and the row's ``why`` says it.

How an experiment contributes rows (additive: no central list to edit): register a
``scorecard(data) -> list[ScoreRow]`` with :func:`criticality.experiments.register_experiment`.
A row that tests one of the paper's claims sets ``claim="M1"`` … ``"M5"``
(:data:`PAPER_CLAIMS`); any other row is one of our own checks. ``criticality report`` puts
the experiment's rows on top of its report; the demo gathers every part's rows, lists each of
the paper's claims (as "not testable here, and why" where no part tested it), then the checks.

>>> row = ScoreRow("More accurate networks sit closer to criticality", "ρ = −0.42 [−0.93, +0.40]",
...                interval_verdict(-0.93, 0.40, direction=-1), "the 95 % CI contains 0",
...                section="Statistics: trained mini-zoo", claim="M1")
>>> row.verdict, row.tone
('inconclusive', 'mixed')
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Iterable, Mapping, Sequence

from criticality.reporting.verdicts import INCONCLUSIVE as INCONCLUSIVE
from criticality.reporting.verdicts import NOT_SUPPORTED as NOT_SUPPORTED
from criticality.reporting.verdicts import NOT_TESTABLE as NOT_TESTABLE
from criticality.reporting.verdicts import SUPPORTED as SUPPORTED
from criticality.reporting.verdicts import combine as combine
from criticality.reporting.verdicts import interval_verdict as interval_verdict

#: verdict -> colour class (colour-blind-safe blue / vermillion / orange / grey; the word is
#: always written, so nothing depends on the colour).
TONES = {SUPPORTED: "yes", NOT_SUPPORTED: "no", INCONCLUSIVE: "mixed", NOT_TESTABLE: "na"}


@dataclasses.dataclass(frozen=True)
class Claim:
    """One of the paper's claims.

    Attributes:
        label: ``"M1"`` … ``"M5"``.
        statement: the claim in one sentence.
        source: where the paper states it.
        tested_by: experiments that can test it.
    """

    label: str
    statement: str
    source: str
    tested_by: tuple[str, ...]


#: The paper's claims (``shared/docs/PAPER.md``), in the order of its abstract.
PAPER_CLAIMS: dict[str, Claim] = {
    c.label: c
    for c in (
        Claim(
            "M1",
            "Better (more accurate, more recent) networks sit closer to criticality",
            "abstract claim 1: 80 ImageNet-pretrained torchvision models",
            ("zoo", "scan"),
        ),
        Claim(
            "M2",
            "Training toward criticality improves accuracy and robustness",
            "abstract claim 2; poster: MNIST",
            ("training",),
        ),
        Claim(
            "M3",
            "Loss of plasticity in continual learning is a loss of criticality, and "
            "keeping criticality prevents it",
            "abstract claim 3, part one",
            ("continual",),
        ),
        Claim(
            "M4",
            "Model collapse on generated data is a loss of criticality, and keeping "
            "criticality prevents it",
            "abstract claim 3, part two (v2)",
            ("collapse",),
        ),
        Claim(
            "M5",
            "The paper's metrics (Δ maximal, σ = 1, λ_1 = 0) mark the same critical point",
            "poster: the three criticality metrics",
            ("phase",),
        ),
    )
}


@dataclasses.dataclass(frozen=True)
class ScoreRow:
    """One row of the scorecard.

    Attributes:
        statement: the claim or check in one sentence (what a verdict is about).
        figure: the measured number(s), formatted (:mod:`criticality.numbers`),
            with the interval, e.g. ``"ρ = −0.42 [−0.93, +0.40], n = 11"``.
        verdict: ``"supported"``, ``"inconclusive"``, ``"not supported"``,
            ``"not testable here"``, or a plain word for a row that is a reading rather than a
            test (``"ordered"``, ``"agree"``).
        why: the rule that gave the verdict, and the caveat a reader needs, in a sentence.
        section: key or title of the section with the details (``None``: no section).
        claim: ``"M1"`` … ``"M5"`` when the row tests one of :data:`PAPER_CLAIMS`.
        label: short label of the row (default: the claim; our own checks are numbered C1,
            C2, ... in the order shown).
    """

    statement: str
    figure: str
    verdict: str
    why: str
    section: str | None = None
    claim: str | None = None
    label: str = ""

    def __post_init__(self) -> None:
        if self.claim is not None and self.claim not in PAPER_CLAIMS:
            raise ValueError(f"unknown claim {self.claim!r}; use one of {', '.join(PAPER_CLAIMS)}")
        reason = getattr(self.verdict, "reason", "")
        if reason and reason not in self.why:  # the rule's own reason, e.g. too few replicates
            object.__setattr__(self, "why", f"{self.why}; {self.verdict}: {reason}")

    @property
    def tone(self) -> str:
        """Colour class of the verdict: ``yes``, ``no``, ``mixed``, ``na`` or ``info``."""
        return TONES.get(self.verdict, "info")

    @property
    def shown_label(self) -> str:
        return self.label or self.claim or "C"


def gather(
    rows: Sequence[ScoreRow], parts: Iterable[str], known: Iterable[str] = ()
) -> list[ScoreRow]:
    """The demo's scorecard: every paper claim in order, then our own checks.

    A claim that no row tests gets a "not testable here" row that says why: its experiment did
    not run (naming the command), or does not exist yet.

    Args:
        rows: every part's rows.
        parts: the experiments that ran.
        known: every registered experiment.
    """
    known = set(known)
    ran = set(parts)
    out: list[ScoreRow] = []
    for label, claim in PAPER_CLAIMS.items():
        mine = [r for r in rows if r.claim == label]
        if mine:
            out += mine
            continue
        out.append(
            ScoreRow(
                claim.statement, "–", NOT_TESTABLE, _untested(claim, ran, known), None, claim=label
            )
        )
    return out + [r for r in rows if r.claim is None]


def _untested(claim: Claim, ran: set[str], known: set[str]) -> str:
    """Why no row tests ``claim``: its experiments did not run, or do not exist yet."""
    absent = [t for t in claim.tested_by if t not in ran]
    if not absent:
        return "its experiments ran but reported no figure for it"
    if any(t in known for t in absent):
        name = next(t for t in absent if t in known)
        return f"its experiment did not run here: criticality experiment {name}"
    return f"needs the {absent[0]} experiment, which this version does not have yet"


#: Characters of a scorecard cell shown before the rest folds under it (one line at 1280 px).
FOLD_AT = 48


def _folded(text: str, limit: int = FOLD_AT) -> str:
    """A cell's text, escaped; a long one shows its start and folds the whole text under it
    (``<details>``), so that every paper claim stays on the report's first screen."""
    e = html.escape
    if len(text) <= limit:
        return e(text)
    cut = text.rfind(" ", 0, limit)
    head = text[: cut if cut > limit // 2 else limit].rstrip(" ;,:(")
    return f'<details class="cell"><summary>{e(head)} …</summary>{e(text)}</details>'


def render_scorecard(rows: Sequence[ScoreRow], lookup: Mapping[str, str]) -> str:
    """The scorecard as an HTML table; ``lookup`` maps section keys and titles to anchors.

    Each row's label links to its section. Rows carry ``data-claim``, ``data-verdict`` and
    ``data-section`` attributes for tests and scripts.

    Raises:
        ValueError: a row's ``section`` is not in ``lookup``.
    """
    e = html.escape
    body = []
    checks = 0
    for row in rows:
        if row.claim is None and not row.label:  # our own checks: C1, C2, ... in order
            checks += 1
            row = dataclasses.replace(row, label=f"C{checks}")
        label, anchor = e(row.shown_label), ""
        if row.section is not None:
            if row.section not in lookup:
                raise ValueError(
                    f"scorecard row {row.statement!r} links to a missing section {row.section!r}"
                )
            anchor = lookup[row.section]
            label = f'<a href="#{anchor}" title="details: {e(row.section)}">{label}</a>'
        body.append(
            f'<tr class="claim" data-claim="{e(row.shown_label)}" data-verdict="{e(row.verdict)}"'
            f' data-section="{anchor}"><td class="label">{label}</td><td>{e(row.statement)}</td>'
            f'<td class="figure">{_folded(row.figure)}</td>'
            f'<td><span class="verdict v-{row.tone}">{e(row.verdict)}</span></td>'
            f'<td class="why">{_folded(row.why)}</td></tr>'
        )
    # the label column fits its longest label ("M1", "C12", "regime"), at about 0.7 em a letter
    longest = max((len(r.shown_label) for r in rows), default=2)
    label = f"{max(3.6, 0.7 * longest + 1.0):.1f}em"
    cols = "".join(f'<col style="width:{w}">' for w in (label, "24%", "36%", "10.6em", "auto"))
    head = "<tr><th></th><th>claim or check</th><th>measured</th><th>verdict</th><th>why</th></tr>"
    return (
        f'<div class="scroll"><table class="scorecard" id="scorecard"><colgroup>{cols}</colgroup>'
        f"{head}{''.join(body)}</table></div>"
    )


def read_scorecard(page: str) -> tuple[list[dict[str, str]], set[str]]:
    """The scorecard rows of a rendered report, and every element id of the page.

    For tests and scripts that check a report as a reader would: each row as ``{"label",
    "verdict", "section"}`` (``section``: the anchor id its label links to, ``""`` if none).

    >>> rows, ids = read_scorecard(
    ...     '<table id="scorecard"><tr class="claim" data-claim="M1" data-verdict="supported" '
    ...     'data-section="sec-a"></tr></table><section id="sec-a"></section>')
    >>> rows, sorted(ids)
    ([{'label': 'M1', 'verdict': 'supported', 'section': 'sec-a'}], ['scorecard', 'sec-a'])
    """
    from html.parser import HTMLParser

    rows: list[dict[str, str]] = []
    ids: set[str] = set()

    class _Reader(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            a = {k: v or "" for k, v in attrs}
            if "id" in a:
                ids.add(a["id"])
            if tag == "tr" and a.get("class") == "claim":
                rows.append(
                    {
                        "label": a.get("data-claim", ""),
                        "verdict": a.get("data-verdict", ""),
                        "section": a.get("data-section", ""),
                    }
                )

    _Reader().feed(page)
    return rows, ids
