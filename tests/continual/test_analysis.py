"""The analysis on synthetic runs whose answers are known by construction."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from criticality import stats
from criticality.continual.analysis import (
    analyse,
    curves,
    half_change_task,
    lagged_rho,
    mixed_model,
    run_correlations,
    series,
    tail_comparisons,
    tail_mean,
)
from criticality.experiments.continual.report import verdict


def make_run(method, seed, lam, acc):
    tasks = [
        {"task": t, "online_accuracy": float(a), "start": {"lambda_1": float(x), "dead": 0.1}}
        for t, (x, a) in enumerate(zip(lam, acc, strict=True))
    ]
    return {"method": method, "seed": seed, "tasks": tasks}


def test_series_reads_rows_snapshots_and_derived_keys():
    run = make_run("plain", 0, [-0.5, 0.2], [0.9, 0.8])
    run["tasks"][1]["start"]["sigma"] = math.e
    assert series(run, "online_accuracy").tolist() == [0.9, 0.8]
    assert series(run, "start.abs_lambda_1").tolist() == [0.5, 0.2]
    assert np.isnan(series(run, "start.log_sigma")[0]) and series(run, "start.log_sigma")[1] == 1
    assert np.isnan(series(run, "end.lambda_1")).all()


def test_curves_mean_and_t_interval_over_seeds():
    runs = [make_run("plain", s, [0.0, 0.0], [0.5 + 0.1 * s, 0.9]) for s in range(3)]
    c = curves(runs, "online_accuracy")["plain"]
    assert c["mean"] == pytest.approx([0.6, 0.9])
    half = 4.302652729911275 * 0.1 / math.sqrt(3)  # t_{0.975, 2} · s / √n
    assert c["ci_low"][0] == pytest.approx(0.6 - half) and c["n"] == [3, 3]


def test_lagged_rho_finds_the_lead():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(size=60))
    y = np.concatenate([[0.0, 0.0], x[:-2]])  # y follows x two tasks later
    assert lagged_rho(x, y, 2) == pytest.approx(1.0)
    assert abs(lagged_rho(x, y, -2)) < 0.5
    assert lagged_rho(y, x, -2) == pytest.approx(1.0)


def test_lagged_rho_skips_tasks_without_a_measurement():
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.normal(size=40))
    y = np.concatenate([[0.0], x[:-1]])
    sparse = x.copy()
    sparse[1::2] = np.nan  # criticality measured every second task
    assert np.isfinite(lagged_rho(sparse, y, 0))
    both = np.isfinite(sparse)
    assert lagged_rho(sparse, y, 0) == pytest.approx(lagged_rho(x[both], y[both], 0))


def test_a_sparse_measure_is_compared_at_the_ends_of_its_own_measurements():
    # 17 tasks, λ_1 measured at tasks 0 and 10 only (measure_every=10): the ends are those two
    lam = [math.nan] * 17
    lam[0], lam[10] = -0.05, -0.25
    run = make_run("plain", 0, lam, [0.9] * 17)
    assert tail_mean(run, "start.lambda_1", head=True) == pytest.approx(-0.05)
    assert tail_mean(run, "start.lambda_1") == pytest.approx(-0.25)
    # 100 tasks measured every 10th and at the last: 11 measurements, the ends are 2 each
    dense = [math.nan] * 100
    for t in [*range(0, 100, 10), 99]:
        dense[t] = float(t)
    run = make_run("plain", 0, dense, [0.9] * 100)
    assert tail_mean(run, "start.lambda_1", head=True) == pytest.approx(5.0)
    assert tail_mean(run, "start.lambda_1") == pytest.approx(94.5)
    # every task measured: the first and last 10 % of tasks, as before
    run = make_run("plain", 0, list(range(20)), [0.9] * 20)
    assert tail_mean(run, "start.lambda_1", head=True) == pytest.approx(0.5)
    assert tail_mean(run, "start.lambda_1") == pytest.approx(18.5)


def test_a_measure_taken_once_has_no_ends():
    lam = [math.nan] * 5
    lam[0] = 0.3
    run = make_run("plain", 0, lam, [0.9] * 5)
    assert math.isnan(tail_mean(run, "start.lambda_1"))
    assert math.isnan(tail_mean(run, "start.lambda_1", head=True))


def test_half_change_task_of_steps():
    y = np.array([1.0] * 10 + [0.0] * 10)
    assert half_change_task(y) == 10.0  # smoothed over 2 tasks, half-way at the step
    assert math.isnan(half_change_task(np.ones(10)))


def synthetic(n_seeds=5, n_tasks=100, rescue_lam=0.05):
    """Plain drifts away from criticality and accuracy follows 10 tasks later; 'critical'
    holds λ_1 near 0 and keeps its accuracy; 'measure_only' repeats plain exactly."""
    runs = []
    rng = np.random.default_rng(1)
    for s in range(n_seeds):
        lam = -np.linspace(0, 1, n_tasks) - rng.uniform(0, 0.02, n_tasks)
        acc = (
            0.9
            - 0.3 * np.abs(np.concatenate([[0.0] * 10, lam[:-10]]))
            + rng.normal(0, 0.005, n_tasks)
        )
        runs.append(make_run("plain", s, lam, acc))
        runs.append(make_run("measure_only", s, lam, acc))
        runs.append(make_run("critical_global", s, rng.normal(0, rescue_lam, n_tasks),
                             0.9 + rng.normal(0, 0.005, n_tasks)))  # fmt: skip
    return runs


def test_correlations_and_tail_comparisons_on_the_synthetic_claim():
    runs = synthetic()
    corr = run_correlations(runs, "start.abs_lambda_1", "online_accuracy")["plain"]
    assert corr["mean_rho"]["mean"] < -0.9 and corr["mixed"]["slope"] < 0
    tail = tail_comparisons(runs, ("online_accuracy", "start.abs_lambda_1"), "plain")
    assert tail["critical_global"]["online_accuracy"]["mean_diff"] > 0.2
    assert tail["critical_global"]["start.abs_lambda_1"]["ci_high"] < 0
    assert tail["measure_only"]["online_accuracy"]["mean_diff"] == 0.0


def test_verdict_reads_a_supported_claim():
    a = analyse(synthetic(), kind="classification")
    assert a["lead_lag"]["plain"]["lead"]["mean"] > 0
    text = verdict(a)
    assert "plasticity was lost" in text and "moved away from criticality" in text
    assert "preceded the loss" in text and "measure_only trained exactly as plain" in text
    assert "Not supported: nothing." in text


def test_verdict_says_when_the_data_do_not_support_the_claim():
    runs = []
    rng = np.random.default_rng(2)
    for s in range(5):
        acc = np.linspace(0.9, 0.7, 30) + rng.normal(0, 0.005, 30)  # plasticity lost ...
        lam = rng.normal(0, 0.01, 30)  # ... while λ_1 stays at criticality
        runs.append(make_run("plain", s, lam, acc))
    text = verdict(analyse(runs, kind="classification"))
    assert "plasticity was lost" in text and "no significant change" in text
    assert "Not supported: plain training loses criticality" in text


def test_mixed_model_on_a_badly_scaled_predictor_is_the_rescaled_fit():
    # x = 1e6 + 1e-4 t: statsmodels' REML on the raw design fails (singular matrix); the fit
    # on standardised values, mapped back, is the fit on t with the slope divided by 1e-4
    rng = np.random.default_rng(0)
    t = np.tile(np.arange(10.0), 3)
    groups = np.repeat(["a", "b", "c"], 10).tolist()
    y = 2.0 * t + np.repeat([0.0, 1.0, -1.0], 10) + 0.1 * rng.standard_normal(30)
    x = 1e6 + 1e-4 * t
    got = mixed_model(y, x, groups)
    ref = stats.mixed_effects(y, t, groups)
    assert got.slope == pytest.approx(ref.slope / 1e-4, rel=1e-5)
    assert got.ci_low == pytest.approx(ref.ci_low / 1e-4, rel=1e-5)
    assert got.p_value == pytest.approx(ref.p_value, abs=1e-12)
    assert got.intercept + got.slope * x[5] == pytest.approx(
        ref.intercept + ref.slope * t[5], abs=1e-3
    )
    assert got.residual_var == pytest.approx(ref.residual_var, rel=1e-4)


def test_a_failing_mixed_model_falls_back_to_the_within_seed_slope(monkeypatch):
    import criticality.continual.analysis as analysis

    def singular(*_args, **_kwargs):
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(analysis, "mixed_effects", singular)
    # two seeds, y = 3 x + (0 | 10) + noise of known residuals: the shared slope is 3 exactly
    # when the residuals are orthogonal to x within each seed
    x = np.array([0.0, 1.0, 2.0, 3.0] * 2)
    e = np.array([1.0, -1.0, -1.0, 1.0] * 2) * 0.1
    y = 3 * x + np.repeat([0.0, 10.0], 4) + e
    got = mixed_model(y, x, ["a"] * 4 + ["b"] * 4)
    assert got.slope == pytest.approx(3.0, abs=1e-12)
    # residual variance 8 · 0.01 / (8 − 3) and se² = s² / Σ (x − x̄_seed)² = s² / 10
    assert got.residual_var == pytest.approx(0.08 / 5)
    assert got.slope_se == pytest.approx(math.sqrt(0.08 / 5 / 10))
    assert "within-seed OLS" in got.note and "Singular matrix" in got.note
    assert got.n == 8 and got.n_groups == 2
    nothing = mixed_model([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], ["a", "a", "b"])
    assert math.isnan(nothing.slope) and "Singular matrix" in nothing.note


def test_verdict_says_when_the_order_cannot_be_measured():
    a = analyse(synthetic(n_tasks=100), kind="classification")
    a["lead_lag"]["plain"]["lead"] = {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    text = verdict(a)
    assert "could not be measured" in text and "nan" not in text.split("Supported here")[0]
    # an order that could not be measured is not called against the claim: it is not tested
    assert "the loss of criticality comes first" not in text.split("Not tested")[0]
    assert text.endswith(
        "Not tested (λ_1 measured at too few tasks): the loss of criticality comes first."
    )


def test_the_verdict_reads_every_method_of_the_criticality_kind() -> None:
    """A method named by kind (not by a ``critical`` prefix) that fails to rescue is reported."""
    a = {
        "baseline": "plain",
        "performance": "online_accuracy",
        "higher_is_better": True,
        "fraction": 0.1,
        "drift": {
            "online_accuracy": {"plain": _drift(0.7, 0.6, -0.1)},
            "start.abs_lambda_1": {"plain": _drift(0.1, 0.3, 0.2)},
            "start.lambda_1": {"plain": _drift(0.1, 0.3, 0.2)},
        },
        "correlation": {"abs_lambda_1": {"plain": {"mean_rho": _stat(-0.5, -0.7, -0.3),
                                                    "mixed": {"slope": -0.1, "p_value": 0.01}}}},
        "lead_lag": {"plain": {"lead": _stat(math.nan, math.nan, math.nan)}},
        "tail": {"homeostatic": {"online_accuracy": _diff(-0.2, -0.25, -0.15),
                                 "start.abs_lambda_1": _diff(-0.2, -0.3, -0.1)}},
        "max_difference_from_baseline": {"homeostatic": 0.2},
    }  # fmt: skip
    assert "homeostatic rescues plasticity" not in verdict(a)  # not named critical*: unread
    text = verdict(a, criticality=["homeostatic"])
    assert "Not supported:" in text and "homeostatic rescues plasticity" in text.split("Not")[1]


def _stat(mean: float, low: float, high: float) -> dict[str, float]:
    return {"mean": mean, "ci_low": low, "ci_high": high, "n": 5}


def _drift(first: float, last: float, change: float) -> dict[str, Any]:
    return {"first": _stat(first, first, first), "last": _stat(last, last, last),
            "change": {"mean_diff": change, "ci_low": change - 0.01,
                       "ci_high": change + 0.01}}  # fmt: skip


def _diff(mean: float, low: float, high: float) -> dict[str, float]:
    return {"mean_diff": mean, "ci_low": low, "ci_high": high}


def _synthetic(seeds: int, tasks: int, measure_every: int, sweep: bool) -> list[dict[str, Any]]:
    """Runs shaped as the experiment writes them: λ_1 only on the measured tasks (every
    ``measure_every``-th and the last), plasticity metrics every task."""
    rng = np.random.default_rng(seeds * 100 + tasks * 10 + measure_every)
    labels = ["plain", "continual_backprop", "critical_global"]
    if sweep:
        labels.append("continual_backprop[replacement_rate=0.001]")
    runs = []
    for label in labels:
        for s in range(seeds):
            rows = []
            for t in range(tasks):
                due = t % measure_every == 0 or t == tasks - 1
                snap: dict[str, Any] = {"dead": float(rng.uniform()), "effective_rank": 5.0}
                if due:
                    snap |= {"lambda_1": float(rng.normal()), "sigma": 1.0}
                rows.append({"task": t, "online_accuracy": float(rng.uniform(0.1, 0.9)),
                             "test_accuracy": 0.5, "start": snap, "end": dict(snap)})  # fmt: skip
            runs.append({"method": label, "seed": s, "tasks": rows})
    return runs


_GRID = [
    pytest.param(seeds, tasks, sweep, marks=[pytest.mark.slow] if tasks == 24 and seeds < 3 else [])
    for seeds in (1, 2, 3)
    for tasks in (1, 3, 24)  # 24 tasks, every 6th measured: the lead-lag crash of issue 24
    for sweep in (False, True)
]


@pytest.mark.parametrize(("seeds", "tasks", "sweep"), _GRID)
def test_the_analysis_never_raises_on_a_valid_grid(seeds: int, tasks: int, sweep: bool) -> None:
    """Every valid setting's records go through the analysis, the verdict and the scorecard:
    nothing may fail after the training (a sweep label, λ_1 measured every 6th task)."""
    from criticality.experiments.continual.report import criticality_methods, scorecard

    for every in range(1, 8):
        a = analyse(_synthetic(seeds, tasks, every, sweep), kind="classification", chance=0.1)
        names = criticality_methods(list(a["tail"]))
        assert names == ["critical_global"]
        text = verdict(a, names)
        if seeds < 3:  # too few replicates: never a verdict
            assert text.startswith(f"Inconclusive: {seeds} distinct seed")
        if tasks < 10:  # too few tasks: never a verdict
            assert text.startswith("Inconclusive") and f"only {tasks} task" in text
        assert all(len(r["rho"]) == 11 for r in a["lead_lag"].values())
        rows = scorecard({"analysis": a})
        assert all(r.verdict == "inconclusive" for r in rows) or seeds >= 3


def test_lagged_rho_with_fewer_changes_than_the_lag_is_nan():
    x, y = np.arange(5.0), np.arange(5.0) ** 2  # 4 changes
    assert math.isnan(lagged_rho(x, y, 4)) and math.isnan(lagged_rho(x, y, -5))
    x6 = np.full(24, np.nan)
    x6[::6] = np.arange(4.0)  # λ_1 every 6th task: 4 values, 3 changes
    assert math.isnan(lagged_rho(x6, np.arange(24.0), 5))


def test_a_verdict_needs_three_seeds_a_wide_interval_and_learners_off_chance():
    rng = np.random.default_rng(0)

    def runs(n, acc0):
        out = []
        for s in range(n):
            acc = np.linspace(acc0, acc0 - 0.2, 30) + rng.normal(0, 0.01, 30)
            out.append(make_run("plain", s, -np.linspace(0, 1, 30) + rng.normal(0, 0.01, 30), acc))
        return out

    assert "Supported here" in verdict(analyse(runs(4, 0.9), kind="classification", chance=0.1))
    short = [{**r, "tasks": r["tasks"][:5]} for r in runs(4, 0.9)]
    assert "only 5 tasks finished" in verdict(analyse(short, kind="classification"))
    two = verdict(analyse(runs(2, 0.9), kind="classification", chance=0.1))
    assert two.startswith("Inconclusive: 2 distinct seeds of plain (at least 3 needed)")
    chance = verdict(analyse(runs(4, 0.27), kind="classification", chance=0.25))
    assert chance.startswith("Inconclusive: plain never left chance")
    same = [
        make_run("plain", s, np.linspace(0, -1, 30), np.linspace(0.9, 0.7, 30)) for s in range(4)
    ]
    assert "an interval of zero width" in verdict(analyse(same, kind="classification"))
