"""The comparison with Dohare et al.'s findings, on synthetic runs whose calls are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from criticality.experiments.continual.reference import (
    CBP,
    FINDINGS,
    PLAIN,
    applies,
    call,
    compare,
)


def run(method: str, seed: int, acc, dead, weight, rank) -> dict:
    tasks = [
        {
            "task": t,
            "online_accuracy": float(a),
            "start": {"dead_percent": float(d), "effective_rank_percent": float(r)},
            "end": {"weight_magnitude": float(w)},
        }
        for t, (a, d, w, r) in enumerate(zip(acc, dead, weight, rank, strict=True))
    ]
    return {"method": method, "seed": seed, "tasks": tasks}


def reference_like(n_tasks: int = 20) -> list[dict]:
    """Plain loses plasticity as Dohare et al. report; CBP keeps it (seed noise added)."""
    t = np.arange(n_tasks)
    runs = []
    for s in range(3):
        noise = np.random.default_rng(s).normal(0, 1e-4, (8, n_tasks))  # seeds differ: width
        runs.append(run(PLAIN, s, 0.93 - 0.002 * t + noise[0], 1 + t + noise[1],
                        0.06 + 0.001 * t + noise[2], 60 - t + noise[3]))  # fmt: skip
        runs.append(run(CBP, s, 0.93 + noise[6], 0.1 + noise[4], 0.05 + noise[7],
                        65 + noise[5]))  # fmt: skip
    return runs


def test_a_run_that_behaves_as_the_reference_agrees_with_every_finding():
    rows = compare(reference_like())
    assert len(rows) == len(FINDINGS)
    assert {r["call"] for r in rows} == {"agrees"}
    first = rows[0]  # plain's online accuracy: last 2 minus first 2 of 20 tasks = −0.036
    assert first["value"] == pytest.approx(-0.002 * 18, abs=1e-3) and first["n"] == 3


def test_a_run_where_plain_keeps_its_plasticity_disagrees():
    runs = reference_like()
    for r in runs:
        if r["method"] == PLAIN:
            for k, row in enumerate(r["tasks"]):
                row["online_accuracy"] += 0.004 * k  # now rising by 0.002 per task
    rows = {(r["claim"], r["source"]): r["call"] for r in compare(runs)}
    assert rows[(FINDINGS[0].claim, FINDINGS[0].source)] == "disagrees"


def test_the_call_rule_at_its_edges():
    falls, rises, flat = FINDINGS[0], FINDINGS[1], FINDINGS[4]
    assert falls.sign == "-" and rises.sign == "+" and flat.sign == "0"
    assert call(falls, -0.2, -0.1) == "agrees"
    assert call(falls, 0.1, 0.2) == "disagrees"
    assert call(falls, -0.1, 0.1) == "cannot tell"
    assert call(rises, 0.0, 0.1) == "cannot tell"  # touching 0 is not on its side
    assert call(flat, -0.004, 0.02) == "agrees"  # a fall bounded by half a point
    assert call(flat, -0.02, -0.006) == "disagrees"
    assert call(flat, -0.02, 0.01) == "cannot tell"
    assert call(falls, math.nan, math.nan) == "cannot tell"
    assert call(falls, -0.2, -0.1, replicates=2) == "cannot tell"  # the shared rule: 3 seeds
    assert call(falls, -0.1, -0.1) == "cannot tell"  # an interval of zero width


def test_only_the_findings_of_arms_that_ran_and_only_on_permuted_mnist():
    plain_only = [r for r in reference_like() if r["method"] == PLAIN]
    rows = compare(plain_only)
    assert len(rows) == 4 and all(r["claim"].startswith("backprop") for r in rows)
    assert applies({"name": "permuted_mnist"}, plain_only)
    assert not applies({"name": "slowly_changing_regression"}, plain_only)
    assert not applies(
        {"name": "permuted_mnist"}, [r for r in reference_like() if r["method"] == CBP]
    )
