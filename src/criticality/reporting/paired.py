"""The paired section shared by the zoo experiments: the same architectures trained (or
pretrained) and at random initialisation, compared by a Wilcoxon signed-rank test."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from criticality.numbers import fmt
from criticality.reporting.html import Details, Footnote, Item, Section, Table


def paired_title(after: str = "pretrained") -> str:
    """The section title of :func:`paired_section`.

    >>> paired_title("trained")
    'Trained against random initialisation'
    """
    return f"{after.capitalize()} against random initialisation"


def paired_section(pair: Mapping[str, Any], *, after: str = "pretrained") -> Section:
    """The Wilcoxon test of ``after`` (pretrained, trained) against random initialisation.

    Args:
        pair: ``{"metric", "pairs": [{"model", "pretrained", "random init"}], "test": {"n",
            "median_diff", "p_value", "note"}}``.
        after: what the networks are after training (the column's name).
    """
    test = pair["test"]
    closer = "closer to" if test["median_diff"] < 0 else "further from"
    lead = (
        f"Wilcoxon signed-rank test of {pair['metric']} for the same architectures "
        f"{after} and at random initialisation ({test['n']} pairs): median difference "
        f"({after} − random) {fmt(test['median_diff'], 'diff')}, so {after} networks sit "
        f"{closer} criticality in the median pair; p = {fmt(test['p_value'], 'p')}."
    )
    rows = [
        {"model": r["model"], after: r["pretrained"], "random init": r["random init"]}
        for r in pair["pairs"]
    ]
    items: list[Item] = [
        Details(
            f"The {len(rows)} pairs",
            [Table(rows, kinds={after: "exponent", "random init": "exponent"})],
        )
    ]
    if test.get("note"):
        items.insert(0, Footnote(test["note"]))
    return Section(paired_title(after), items, lead=lead)
