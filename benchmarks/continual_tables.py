"""The tables docs/continual.md shows for a finished continual run, from its ``results.json``
alone: per method the first and last 10 % of tasks (online performance, dead units, effective
rank, λ_1 at task start), each method minus the baseline over the last tasks, paired by seed,
and (permuted MNIST) Dohare et al.'s findings beside the run's numbers.

    python benchmarks/continual_tables.py runs/continual_all
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from criticality.experiments.continual import reference
from criticality.numbers import Kind, fmt, fmt_ci


def edge_mean(a: dict[str, Any], key: str, method: str, last: bool) -> float:
    """The mean over the first (or last) 10 % of tasks of one curve of the analysis."""
    if key in a["drift"]:
        return float(a["drift"][key][method]["last" if last else "first"]["mean"])
    curve = a["curves"][key][method]
    n = max(curve["task"]) + 1
    keep = [v for t, v in zip(curve["task"], curve["mean"], strict=True)
            if (t >= (1 - a["fraction"]) * n if last else t < a["fraction"] * n)]  # fmt: skip
    return sum(keep) / len(keep)


def span(a: dict[str, Any], key: str, method: str, kind: Kind) -> str:
    """``first → last`` of one curve of one method."""
    first, last = edge_mean(a, key, method, False), edge_mean(a, key, method, True)
    return f"{fmt(first, kind)} → {fmt(last, kind)}"


def diff(c: dict[str, Any], kind: Kind) -> str:
    """A paired difference with its interval."""
    return fmt_ci(c["mean_diff"], c["ci_low"], c["ci_high"], kind)


def main(out: str) -> None:
    data = json.loads((Path(out) / "results.json").read_text())["data"]
    a = data["analysis"]
    perf = a["performance"]
    print("| method | online acc. first | last | dead units (task end) | effective rank "
          "| λ_1 (task start) |\n|---|---|---|---|---|---|")  # fmt: skip
    for m in a["drift"][perf]:
        print(f"| {m} | {fmt(edge_mean(a, perf, m, False), 'fraction')} | "
              f"{fmt(edge_mean(a, perf, m, True), 'fraction')} | "
              f"{span(a, 'end.dead', m, 'fraction')} | {span(a, 'end.effective_rank', m, 'plain')} "
              f"| {span(a, 'start.lambda_1', m, 'exponent')} |")  # fmt: skip
    print(f"\n| method − {a['baseline']}, last {round(100 * a['fraction'])} % | {perf} "
          "| paired t p | |λ_1| | dead units |\n|---|---|---|---|---|")  # fmt: skip
    for m, comp in a["tail"].items():
        print(f"| {m} | {diff(comp[perf], 'diff')} | {fmt(comp[perf]['p_t'], 'p')} | "
              f"{diff(comp['start.abs_lambda_1'], 'exponent')} | "
              f"{diff(comp['end.dead'], 'diff')} |")  # fmt: skip
    if reference.applies(data["stream"], data["runs"]):
        print("\n| their finding | where | this run | read as | call |\n|---|---|---|---|---|")
        for r in reference.compare(data["runs"], a["fraction"]):
            value = fmt_ci(r["value"], r["ci_low"], r["ci_high"], "diff")
            print(f"| {r['claim']} | {r['source']} | {value} | {r['measured']} | {r['call']} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/continual_all")
