"""The continual experiment against Dohare et al.'s own findings on permuted MNIST.

Dohare et al. (*Loss of plasticity in deep continual learning*, Nature 632, 2024) plot their
permuted-MNIST results (Extended Data Figs. 3 and 4: 3 × 100 ReLU network, batch size 1, 60,000
examples per task, 30 runs) but publish no table of the plotted values, so a run is compared
with them finding by finding: each of their statements about those figures, the number this
run measured for it (with its 95 % interval over seeds), and whether the two agree, by the
project's interval rule: a finding agrees when the run's interval lies on the stated side of
zero, disagrees when it lies on the other side, and cannot be told otherwise (an interval
across zero, fewer than three seeds, or an interval of zero width).

Everything is read from the runs' per-task rows, so a partial run is compared over the tasks it
finished: their figures span 800 tasks, and a slow change they show may not yet be visible.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from criticality.continual.analysis import Run, by_method, drift, tail_comparisons
from criticality.reporting.verdicts import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, judge_interval

#: The control and the method whose findings are compared.
PLAIN, CBP = "plain", "continual_backprop"

Sign = Literal["+", "-", "0"]

_NAMES = {PLAIN: "backprop", CBP: "continual backprop"}
_CALLS = {SUPPORTED: "agrees", NOT_SUPPORTED: "disagrees", INCONCLUSIVE: "cannot tell"}


@dataclasses.dataclass(frozen=True)
class Finding:
    """One statement of the reference about its permuted-MNIST figures.

    Attributes:
        claim: the statement, in words.
        source: where in the reference it is made.
        key: the per-task quantity it is about (a key of
            :func:`~criticality.continual.analysis.series`).
        method: the arm whose change over tasks is read, or ``"cbp-plain"`` for continual
            backprop minus plain over the last tasks (paired by seed).
        sign: the side of zero the statement puts the change on; ``"0"``: no fall beyond
            ``margin`` (agrees when the interval's lower end is above ``−margin``).
        margin: for ``"0"``, the largest fall still read as none.
    """

    claim: str
    source: str
    key: str
    method: str
    sign: Sign
    margin: float = 0.0


_ED3 = "ED Fig. 3c"
_ED4 = "ED Fig. 4a"

FINDINGS: tuple[Finding, ...] = (
    Finding("backprop's online accuracy falls over the tasks", "ED Fig. 3b",
            "online_accuracy", PLAIN, "-"),
    Finding("backprop's dead units increase", f"{_ED3}, left", "start.dead_percent", PLAIN, "+"),
    Finding("backprop's mean weight magnitude increases", f"{_ED3}, centre",
            "end.weight_magnitude", PLAIN, "+"),
    Finding("backprop's effective rank decreases", f"{_ED3}, right",
            "start.effective_rank_percent", PLAIN, "-"),
    Finding("continual backprop shows no loss of plasticity (its online accuracy falls by "
            "less than half a point)", _ED4, "online_accuracy", CBP, "0", 0.005),
    Finding("continual backprop does better than backprop (online accuracy, last tasks)", _ED4,
            "online_accuracy", "cbp-plain", "+"),
    Finding("continual backprop has fewer dead units than backprop", f"{_ED4}, centre left",
            "start.dead_percent", "cbp-plain", "-"),
    Finding("continual backprop keeps smaller weights than backprop", f"{_ED4}, centre right",
            "end.weight_magnitude", "cbp-plain", "-"),
    Finding("continual backprop keeps a higher effective rank than backprop", f"{_ED4}, right",
            "start.effective_rank_percent", "cbp-plain", "+"),
)  # fmt: skip


def applies(stream: Mapping[str, Any], runs: Sequence[Run]) -> bool:
    """Whether the comparison applies: a permuted-MNIST stream with a plain arm."""
    return stream.get("name") == "permuted_mnist" and PLAIN in by_method(runs)


def compare(runs: Sequence[Run], fraction: float = 0.1) -> list[dict[str, Any]]:
    """One row per finding whose arms ran: the statement, its source, the measured change
    (``value``, ``ci_low``, ``ci_high``, ``n`` seeds), what it is (``measured``) and the call:
    ``"agrees"``, ``"disagrees"`` or ``"cannot tell"``."""
    groups = by_method(runs)
    out = []
    for f in FINDINGS:
        arms = (CBP, PLAIN) if f.method == "cbp-plain" else (f.method,)
        if any(arm not in groups for arm in arms):
            continue
        if f.method == "cbp-plain":
            pair = [r for r in runs if r["method"] in arms]
            stat = tail_comparisons(pair, [f.key], PLAIN, fraction)[CBP][f.key]
            measured = f"continual backprop − backprop, last {round(100 * fraction)} % of tasks"
        else:
            stat = drift(groups[f.method], f.key, fraction)[f.method]["change"]
            measured = f"{_NAMES[f.method]}: last − first {round(100 * fraction)} % of tasks"
        lo, hi, value = stat["ci_low"], stat["ci_high"], stat["mean_diff"]
        out.append(
            {
                "claim": f.claim,
                "source": f.source,
                "quantity": f.key,
                "measured": measured,
                "value": value,
                "ci_low": lo,
                "ci_high": hi,
                "n": int(stat["n"]),
                "call": call(f, lo, hi, int(stat["n"])),
            }
        )
    return out


def call(finding: Finding, lo: float, hi: float, replicates: int | None = None) -> str:
    """Whether an interval ``[lo, hi]`` agrees with the finding, by the project's interval rule
    (:func:`~criticality.reporting.verdicts.judge_interval`: supported, not supported or
    inconclusive, read as agrees, disagrees or cannot tell; fewer than three ``replicates`` or
    an interval of zero width cannot tell). A ``"0"`` finding, no fall beyond ``margin``, is
    the claim that the change plus ``margin`` is positive."""
    if finding.sign == "0":
        lo, hi = lo + finding.margin, hi + finding.margin
    direction: Literal[1, -1] = -1 if finding.sign == "-" else 1
    return _CALLS[judge_interval(lo, hi, direction=direction, replicates=replicates)]
