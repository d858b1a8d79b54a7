"""The statistics behind the claim "loss of plasticity is a loss of criticality" (PAPER claim 3).

Input: one record per run (a method trained on a stream with one seed), holding one row per
task::

    {"method": "plain", "seed": 0, "tasks": [
        {"task": 0, "online_accuracy": 0.91, "online_error": 0.25, "test_accuracy": 0.9,
         "start": {"lambda_1": -0.02, "sigma": 0.98, "dead": 0.0, ...},
         "end": {...}},
        ...]}

Keys are read with :func:`series`: ``"online_accuracy"`` from the row, ``"start.lambda_1"``
from the snapshot taken before the task was learned (the plasticity metrics there on the task's
first examples, as Dohare et al. measure them), ``"end.dead"`` after (on the fixed probe).
Everything here is a plain function of these records and returns JSON-ready dicts:

* :func:`curves`: mean and 95 % t-interval over seeds of a key against task number;
* :func:`run_correlations`: within each run, Spearman's ρ of ``λ_1`` (and ``|λ_1|``) with the
  online performance across tasks, summarised per method over seeds, and a mixed model
  ``performance ~ x + (1 | seed)`` per method;
* :func:`lead_lag`: does the drift of ``λ_1`` precede the loss of performance? Cross-correlation
  of the task-to-task changes at lags ``−K..K``, and the task at which each series has made
  half of its overall change;
* :func:`tail_comparisons`: each method against the baseline over the last 10 % of tasks,
  paired by seed.

The reading of these numbers in words (the verdict) is the experiment's:
:mod:`criticality.experiments.continual.report`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from criticality import stats
from criticality.stats import mixed_effects, spearman

Run = Mapping[str, Any]


def mean_ci(values: Sequence[float]) -> dict[str, Any]:
    """:func:`criticality.stats.mean_ci` as a dict (``mean``, ``ci_low``, ``ci_high``, ``n``)."""
    return stats.mean_ci(values).to_dict()


def paired_comparison(treatment: Sequence[float], control: Sequence[float]) -> dict[str, Any]:
    """:func:`criticality.stats.paired_comparison` as a dict (``mean_diff``, interval, p)."""
    return stats.paired_comparison(treatment, control).to_dict()


def series(run: Run, key: str) -> np.ndarray:
    """One value per task of ``run``, shape ``(T,)``; NaN where the task has no such value.

    ``key`` is a row key (``"online_accuracy"``) or ``"start.NAME"`` / ``"end.NAME"`` for a
    snapshot value; a last part ``"abs_NAME"`` gives ``|NAME|`` (``"start.abs_lambda_1"`` is the
    distance to criticality) and ``"log_NAME"`` gives ``ln NAME`` (``"start.log_sigma"``).
    """
    *path, last = key.split(".")
    transform = None
    for prefix in ("abs_", "log_"):
        if last.startswith(prefix):
            transform, last = prefix, last.removeprefix(prefix)
    out = []
    for row in run["tasks"]:
        value: Any = row
        for part in (*path, last):
            value = value.get(part) if isinstance(value, Mapping) else None
        out.append(float(value) if isinstance(value, (int, float)) else math.nan)
    arr = np.asarray(out, dtype=np.float64)
    if transform == "abs_":
        return np.abs(arr)
    if transform == "log_":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(arr)
    return arr


def by_method(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """Runs grouped by method, each group sorted by seed, in the order methods first appear."""
    out: dict[str, list[Run]] = {}
    for run in runs:
        out.setdefault(run["method"], []).append(run)
    return {m: sorted(rs, key=lambda r: r["seed"]) for m, rs in out.items()}


def curves(runs: Sequence[Run], key: str) -> dict[str, dict[str, Any]]:
    """Per method: ``task``, ``mean``, ``ci_low``, ``ci_high`` and ``n`` (seeds) of ``key``.

    The interval is the 95 % Student-t interval over seeds at each task (NaN with one seed).
    """
    out = {}
    for method, group in by_method(runs).items():
        rows_ = [series(r, key) for r in group]
        width = max(v.size for v in rows_)  # a partial run's units may differ in finished tasks
        values = np.full((len(rows_), width), np.nan)
        for i, v in enumerate(rows_):
            values[i, : v.size] = v  # (seeds, T)
        rows = [mean_ci(col[np.isfinite(col)].tolist()) for col in values.T]
        out[method] = {
            "task": list(range(values.shape[1])),
            **{k: [float(r[k]) for r in rows] for k in ("mean", "ci_low", "ci_high", "n")},
        }
    return out


def run_correlations(runs: Sequence[Run], x_key: str, y_key: str) -> dict[str, Any]:
    """Within-run Spearman ``ρ(x, y)`` across tasks, per method: every run's ρ, their mean
    with a t-interval over runs, and the mixed model ``y ~ x + (1 | seed)``."""
    out = {}
    for method, group in by_method(runs).items():
        per_run = []
        for run in group:
            res = spearman(series(run, x_key), series(run, y_key), n_boot=200)
            per_run.append(
                {"seed": run["seed"], "rho": res.rho, "p_value": res.p_value, "n": res.n}
            )
        rhos = [r["rho"] for r in per_run if math.isfinite(r["rho"])]
        xs, ys, groups = _pooled(group, x_key, y_key)
        model = mixed_model(ys, xs, groups)
        out[method] = {
            "runs": per_run,
            "mean_rho": mean_ci(rhos),
            "mixed": {
                k: getattr(model, k)
                for k in ("slope", "ci_low", "ci_high", "p_value", "n", "n_groups", "note")
            },
        }
    return out


def mixed_model(
    y: Sequence[float], x: Sequence[float], groups: Sequence[str]
) -> stats.MixedEffectsResult:
    """:func:`criticality.stats.mixed_effects` of ``y ~ x + (1 | group)`` fitted on standardised
    ``x`` and ``y`` (``λ_1`` averaged over inputs can reach −87 nats when a perturbation dies, so
    the raw design can be numerically singular), its slope and intercept returned in the original
    units. A fit that still fails gives NaN with the reason in ``note``."""
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(xs) & np.isfinite(ys)
    mx, sx = (float(xs[keep].mean()), float(xs[keep].std())) if keep.any() else (0.0, 0.0)
    my, sy = (float(ys[keep].mean()), float(ys[keep].std())) if keep.any() else (0.0, 0.0)
    sx, sy = sx if sx > 0 else 1.0, sy if sy > 0 else 1.0
    try:
        z = mixed_effects((ys - my) / sy, (xs - mx) / sx, groups)
    except (np.linalg.LinAlgError, ValueError) as err:
        return _within_seed_slope(xs[keep], ys[keep], np.asarray(groups, object)[keep], err)
    b = sy / sx
    slope = z.slope * b
    return dataclasses.replace(
        z, slope=slope, slope_se=z.slope_se * b, ci_low=z.ci_low * b, ci_high=z.ci_high * b,
        intercept=my + sy * z.intercept - slope * mx, group_var=z.group_var * sy**2,
        residual_var=z.residual_var * sy**2,
    )  # fmt: skip


def _within_seed_slope(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, err: Exception
) -> stats.MixedEffectsResult:
    """The fallback when REML fails: ordinary least squares of ``y ~ x + seed`` (one intercept
    per seed, the slope shared), with a Student-t interval; the note says so."""
    import scipy.stats as sps

    labels = sorted(set(groups.tolist()))
    nan = math.nan
    dof = x.size - 1 - len(labels)
    if dof < 1 or np.ptp(x) == 0:
        why = f"the mixed model failed: {err}"
        return stats.MixedEffectsResult(nan, nan, nan, nan, nan, nan, nan, nan, int(x.size),
                                        len(labels), False, why)  # fmt: skip
    design = np.column_stack([x] + [(groups == g).astype(float) for g in labels])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    scale = float(resid @ resid) / dof
    se = math.sqrt(scale * float(np.linalg.pinv(design.T @ design)[0, 0]))
    half = float(sps.t.ppf(0.975, dof)) * se
    p = float(2 * sps.t.sf(abs(coef[0] / se), dof)) if se > 0 else nan
    return stats.MixedEffectsResult(
        float(coef[0]), se, p, float(coef[0] - half), float(coef[0] + half),
        float(np.mean(coef[1:])), float(np.var(coef[1:])), scale, int(x.size), len(labels), False,
        f"the mixed model failed ({err}); the slope is the within-seed OLS fit y ~ x + seed",
    )  # fmt: skip


def _pooled(
    group: Sequence[Run], x_key: str, y_key: str
) -> tuple[list[float], list[float], list[str]]:
    xs, ys, groups = [], [], []
    for run in group:
        x, y = series(run, x_key), series(run, y_key)
        keep = np.isfinite(x) & np.isfinite(y)
        xs += x[keep].tolist()
        ys += y[keep].tolist()
        groups += [str(run["seed"])] * int(keep.sum())
    return xs, ys, groups


def lagged_rho(x: np.ndarray, y: np.ndarray, lag: int) -> float:
    """Spearman ``ρ(Δx_t, Δy_{t+lag})`` of the task-to-task changes (``lag > 0``: ``x`` leads).

    Changes, not levels: two series that both trend correlate at every lag. Tasks where either
    value is missing (criticality measured every few tasks) are left out first, so a lag
    counts measured tasks.
    """
    n = min(x.size, y.size)  # series of one run have one value per task; guard anyway
    x, y = np.asarray(x[:n], float), np.asarray(y[:n], float)
    keep = np.isfinite(x) & np.isfinite(y)
    dx, dy = np.diff(x[keep]), np.diff(y[keep])
    if abs(lag) >= dx.size:  # too few measured tasks for this lag
        return math.nan
    if lag >= 0:
        a, b = dx[: dx.size - lag], dy[lag:]
    else:
        a, b = dx[-lag:], dy[: dy.size + lag]
    return spearman(a, b, n_boot=1).rho if a.size >= 3 else math.nan


def half_change_task(y: np.ndarray, fraction: float = 0.1) -> float:
    """The first task at which ``y`` (a trailing mean over ``fraction`` of the tasks) has made
    half of its change from the mean of the first to the mean of the last ``fraction`` of tasks;
    NaN when there is no change or too few finite values.

    A rough timing: a series that lags another by ``k`` tasks comes out less than ``k`` tasks
    later, since its last tasks have not yet made the whole change.
    """
    keep = np.isfinite(y)
    if keep.sum() < 4:
        return math.nan
    idx, v = np.nonzero(keep)[0], y[keep]
    k = max(1, round(fraction * v.size))
    start, end = v[:k].mean(), v[-k:].mean()
    if end == start:
        return math.nan
    csum = np.concatenate([[0.0], np.cumsum(v)])
    lo = np.maximum(np.arange(v.size) + 1 - k, 0)
    smooth = (csum[1:] - csum[lo]) / (np.arange(v.size) + 1 - lo)  # trailing mean of ≤ k values
    crossed = (smooth - start) / (end - start) >= 0.5
    return float(idx[np.argmax(crossed)]) if crossed.any() else math.nan


def lead_lag(runs: Sequence[Run], x_key: str, y_key: str, max_lag: int = 5) -> dict[str, Any]:
    """Per method: the mean over runs of :func:`lagged_rho` at lags ``−max_lag..max_lag`` and
    the lead ``half_change_task(y) − half_change_task(x)`` (> 0: ``x`` changed first), each
    with a t-interval over runs."""
    out = {}
    lags = list(range(-max_lag, max_lag + 1))
    for method, group in by_method(runs).items():
        rho = np.array(
            [[lagged_rho(series(r, x_key), series(r, y_key), k) for k in lags] for r in group]
        )
        leads = [
            half_change_task(series(r, y_key)) - half_change_task(series(r, x_key)) for r in group
        ]
        finite = [v for v in leads if math.isfinite(v)]
        out[method] = {
            "lags": lags,
            "rho": [mean_ci(col[np.isfinite(col)].tolist()) for col in rho.T],
            "lead": mean_ci(finite),
            "leads": leads,
        }
    return out


def tail_mean(run: Run, key: str, fraction: float = 0.1, head: bool = False) -> float:
    """Mean of ``key`` over the last (or with ``head`` the first) ``fraction`` of the tasks
    where it was measured.

    A quantity measured every task is read over the last ``fraction`` of tasks; one measured
    every ``n``-th task (λ_1 with ``measure_every``) over the last ``fraction`` of its
    measurements (at least one), so that a sparse curve is compared at its own ends rather
    than read as missing. NaN when it was measured at fewer than two tasks (its two ends would
    be one measurement).
    """
    y = series(run, key)
    y = y[np.isfinite(y)]
    if y.size < 2:
        return math.nan
    k = max(1, math.ceil(fraction * y.size))
    return float((y[:k] if head else y[-k:]).mean())


def tail_comparisons(
    runs: Sequence[Run], keys: Sequence[str], baseline: str, fraction: float = 0.1
) -> dict[str, dict[str, Any]]:
    """Each method minus ``baseline`` over the last ``fraction`` of tasks, paired by seed:
    ``{method: {key: paired comparison}}`` (mean difference, t-interval, paired t and Wilcoxon
    p)."""
    groups = by_method(runs)
    if baseline not in groups:
        return {}
    base = {r["seed"]: r for r in groups[baseline]}
    out = {}
    for method, group in groups.items():
        if method == baseline:
            continue
        pairs = [(r, base[r["seed"]]) for r in group if r["seed"] in base]
        out[method] = {
            key: paired_comparison(
                [tail_mean(a, key, fraction) for a, _ in pairs],
                [tail_mean(b, key, fraction) for _, b in pairs],
            )
            for key in keys
        }
    return out


def drift(runs: Sequence[Run], key: str, fraction: float = 0.1) -> dict[str, Any]:
    """Per method: last minus first ``fraction`` of tasks of ``key``, paired within runs."""
    out = {}
    for method, group in by_method(runs).items():
        first = [tail_mean(r, key, fraction, head=True) for r in group]
        last = [tail_mean(r, key, fraction) for r in group]
        out[method] = {
            "first": mean_ci(first),
            "last": mean_ci(last),
            "change": paired_comparison(last, first),
        }
    return out


def performance_key(kind: str) -> tuple[str, bool]:
    """The online performance of a stream kind and whether higher is better."""
    return ("online_accuracy", True) if kind == "classification" else ("online_error", False)


def analyse(
    runs: Sequence[Run],
    *,
    kind: str,
    baseline: str = "plain",
    fraction: float = 0.1,
    max_lag: int = 5,
    chance: float | None = None,
) -> dict[str, Any]:
    """Every number the experiment's verdict reads, as one JSON-ready dict.

    ``λ_1`` is the value measured at the start of each task (the network the task meets), so
    that a correlation with the task's online performance reads as a prediction.

    Args:
        runs: one record per (method, seed).
        kind: ``"classification"`` or ``"regression"``.
        baseline: the control's method label.
        fraction: share of the first / last tasks compared.
        max_lag: largest lag of :func:`lead_lag`.
        chance: the accuracy of guessing (``1 / classes``); with it, :func:`evidence` can tell
            learners that never left chance.
    """
    perf, higher = performance_key(kind)
    test = "test_accuracy" if kind == "classification" else "test_error"
    lam, dist = "start.lambda_1", "start.abs_lambda_1"
    keys = (
        perf,
        "start.lambda_1_median",
        test,
        lam,
        dist,
        "end.lambda_1",
        "start.sigma",
        "start.dead_percent",
        "start.effective_rank_percent",
        "start.dead",
        "start.effective_rank",
        "start.grad_norm_sq",
        "end.dead",
        "end.dormant",
        "end.tau_dormant",
        "end.effective_rank",
        "end.rank99",
        "end.weight_magnitude",
    )
    base_runs = {r["seed"]: r for r in runs if r["method"] == baseline}
    identical: dict[str, list[float]] = {}
    for run in runs:
        if run["method"] != baseline and run["seed"] in base_runs:
            diff = np.abs(series(run, perf) - series(base_runs[run["seed"]], perf))
            identical.setdefault(run["method"], []).append(float(np.nanmax(diff)))
    seeds = {m: sorted({r["seed"] for r in group}) for m, group in by_method(runs).items()}
    tasks = {m: min(len(r["tasks"]) for r in group) for m, group in by_method(runs).items()}
    return {
        "kind": kind,
        "seeds": seeds,
        "tasks_finished": tasks,
        "chance": chance,
        "performance": perf,
        "higher_is_better": higher,
        "baseline": baseline,
        "fraction": fraction,
        "curves": {key: curves(runs, key) for key in keys},
        "drift": {key: drift(runs, key, fraction) for key in (perf, lam, dist)},
        "correlation": {
            "lambda_1": run_correlations(runs, lam, perf),
            "abs_lambda_1": run_correlations(runs, dist, perf),
            "abs_lambda_1_median": run_correlations(runs, "start.abs_lambda_1_median", perf),
            "dead": run_correlations(runs, "start.dead", perf),
            "effective_rank": run_correlations(runs, "start.effective_rank", perf),
            "weight_magnitude": run_correlations(runs, "start.weight_magnitude", perf),
            "grad_norm_sq": run_correlations(runs, "start.grad_norm_sq", perf),
        },
        "lead_lag": lead_lag(runs, dist, perf, max_lag),
        "tail": tail_comparisons(
            runs,
            (
                perf,
                test,
                lam,
                dist,
                "start.dead_percent",
                "start.effective_rank_percent",
                "end.dead",
                "end.effective_rank",
                "end.weight_magnitude",
            ),
            baseline,
            fraction,
        ),
        "max_difference_from_baseline": {m: max(v) for m, v in identical.items()},
    }
