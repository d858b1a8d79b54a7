"""The report of the continual-learning experiment, drawn from ``results.json`` alone: the
verdict in words (the library's :mod:`criticality.continual.analysis` computes the numbers), the
figures, the tables and the scorecard rows."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from criticality.experiments.continual import reference
from criticality.experiments.continual.results import ContinualResults
from criticality.numbers import Kind, fmt, fmt_ci
from criticality.reporting import Figure, Section, Table
from criticality.reporting.html import Details, side_by_side, tables
from criticality.reporting.scorecard import INCONCLUSIVE, ScoreRow, combine, interval_verdict
from criticality.reporting.verdicts import MIN_REPLICATES, Verdict, left_chance
from criticality.reporting.verdicts import thin_evidence as reporting_thin

TITLE = "Continual learning: is loss of plasticity a loss of criticality?"

_LABELS = {
    "online_accuracy": "online accuracy",
    "online_error": "online error (MSE)",
    "test_accuracy": "test accuracy (current task)",
    "test_error": "test error (current task)",
    "start.lambda_1": "λ_1 at task start (mean over probes)",
    "start.lambda_1_median": "λ_1 at task start (median over probes)",
    "start.abs_lambda_1": "|λ_1| at task start",
    "end.lambda_1": "λ_1 at task end",
    "start.sigma": "branching ratio σ at task start",
    "start.dead_percent": "dead units at task start, % of all hidden units (Dohare et al.)",
    "start.effective_rank_percent": "effective rank at task start, % of width (Dohare et al.)",
    "start.dead": "dead units at task start (fraction)",
    "start.effective_rank": "effective rank at task start (mean over layers)",
    "end.dead": "dead units at task end, fixed probe (fraction)",
    "end.dormant": "dormant units (< 1 % active)",
    "end.tau_dormant": "τ-dormant units (ReDo, τ = 0.1)",
    "end.effective_rank": "effective rank at task end, fixed probe (mean over layers)",
    "end.rank99": "99 % rank (mean over layers)",
    "end.weight_magnitude": "mean |w|",
}


#: The predictors of the correlation table, in words.
_PREDICTORS = {
    "lambda_1": "λ_1 (mean over probes)",
    "abs_lambda_1": "|λ_1| (distance to criticality)",
    "abs_lambda_1_median": "|median λ_1|",
    "dead": "dead units (first examples of the task)",
    "effective_rank": "effective rank (first examples of the task)",
    "weight_magnitude": "mean |w|",
    "grad_norm_sq": "E‖∇ℓ‖² on a memorisation task (Cheng 2026, our reading)",
}


def _band(ax: Any, curve: Mapping[str, Any], label: str) -> None:
    x = np.asarray(curve["task"])
    mean = np.asarray(curve["mean"], dtype=float)
    keep = np.isfinite(mean)
    (line,) = ax.plot(x[keep], mean[keep], lw=1.2, label=label)
    lo, hi = np.asarray(curve["ci_low"], float), np.asarray(curve["ci_high"], float)
    ok = keep & np.isfinite(lo) & np.isfinite(hi)
    ax.fill_between(x[ok], lo[ok], hi[ok], alpha=0.2, color=line.get_color(), lw=0)


_CRITICAL = {"start.lambda_1": 0.0, "start.lambda_1_median": 0.0, "end.lambda_1": 0.0,
             "start.sigma": 1.0}  # fmt: skip


def _curves_figure(analysis: Mapping[str, Any], keys: list[str], path: Path, title: str) -> Path:
    from criticality.reporting.plots import save, subplots

    fig, axes = subplots(len(keys), (4.6 * len(keys), 3.6))
    for ax, key in zip(axes, keys, strict=True):
        for method, curve in analysis["curves"][key].items():
            _band(ax, curve, method)
        if key in _CRITICAL:
            ax.axhline(_CRITICAL[key], color="k", lw=0.8, ls="--")
        ax.set_xlabel("task")
        ax.set_title(_LABELS.get(key, key), fontsize=10)
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    return save(fig, path)


def _stage_figure(data: ContinualResults, path: Path) -> Path | None:
    """Per-stage ``ln g_l`` at task start against task, mean over seeds, for a few methods."""
    from criticality.reporting.plots import save, subplots

    runs = data.runs
    base = data.analysis["baseline"]
    others = ("critical_stagewise", "critical_global", "continual_backprop")
    present = [m for m in others if any(r["method"] == m for r in runs)]
    wanted = [base, *present[:2]]
    fig, axes = subplots(len(wanted), (4.6 * len(wanted), 3.6))
    drawn = False
    for ax, method in zip(axes, wanted, strict=True):
        profiles = []
        for run in (r for r in runs if r["method"] == method):
            rows = [
                (row["task"], (row.get("start") or {}).get("stage_log_gain"))
                for row in run["tasks"]
            ]
            profiles.append({t: g for t, g in rows if g})
        tasks = sorted(set().union(*profiles)) if profiles else []
        if not tasks:
            continue
        gains = np.array(
            [
                [np.mean([p[t][stage] for p in profiles if t in p]) for t in tasks]
                for stage in range(len(profiles[0][tasks[0]]))
            ]
        )
        for stage, row in enumerate(gains):
            ax.plot(tasks, row, lw=1.1, label=f"stage {stage}")
        ax.axhline(0.0, color="k", lw=0.8, ls="--")
        ax.set_title(f"{method}: ln g_l at task start", fontsize=10)
        ax.set_xlabel("task")
        drawn = True
    if not drawn:
        return None
    axes[0].legend(fontsize=7)
    return save(fig, path)


def _scatter_figure(data: ContinualResults, path: Path) -> Path:
    """Online performance against λ_1 at task start, every task of every run."""
    from criticality.reporting.plots import axes as new_axes
    from criticality.reporting.plots import save

    perf = data.analysis["performance"]
    fig, ax = new_axes(figsize=(6.0, 4.2))
    for method in dict.fromkeys(r["method"] for r in data.runs):
        xs, ys = [], []
        for run in (r for r in data.runs if r["method"] == method):
            for row in run["tasks"]:
                lam = (row.get("start") or {}).get("lambda_1")
                if lam is not None and math.isfinite(row[perf]):
                    xs.append(lam)
                    ys.append(row[perf])
        ax.scatter(xs, ys, s=6, alpha=0.5, label=method)
    ax.axvline(0.0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("λ_1 at task start (nats per stage)")
    ax.set_ylabel(_LABELS[perf])
    ax.legend(fontsize=7, markerscale=2)
    ax.set_title("every task of every run")
    return save(fig, path)


def _lead_figure(analysis: Mapping[str, Any], path: Path) -> Path:
    from criticality.reporting.plots import axes as new_axes
    from criticality.reporting.plots import save

    fig, ax = new_axes(figsize=(6.0, 3.8))
    for method, res in analysis["lead_lag"].items():
        mean = [r["mean"] for r in res["rho"]]
        ax.plot(res["lags"], mean, marker="o", ms=3, label=method)
    ax.axhline(0.0, color="k", lw=0.8)
    ax.axvline(0.0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("lag k (tasks; k > 0: |λ_1| changes before performance)")
    ax.set_ylabel("mean Spearman ρ(Δ|λ_1|_t, Δperf_{t+k})")
    ax.legend(fontsize=7)
    return save(fig, path)


def _fmt(stat: Mapping[str, Any], kind: Kind = "diff") -> str:
    lo, hi = stat.get("ci_low", math.nan), stat.get("ci_high", math.nan)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return fmt(stat["mean"], kind)
    return fmt_ci(stat["mean"], lo, hi, kind)


def _ci(stat: Mapping[str, Any], key: str = "mean", kind: Kind = "diff") -> str:
    lo, hi = stat["ci_low"], stat["ci_high"]
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return fmt(stat[key], kind)
    return fmt_ci(stat[key], lo, hi, kind)


def _sign(stat: Mapping[str, Any]) -> int:
    """+1 / −1 when the 95 % interval excludes 0 above / below; 0 otherwise."""
    lo, hi = stat["ci_low"], stat["ci_high"]
    if math.isfinite(lo) and lo > 0:
        return 1
    if math.isfinite(hi) and hi < 0:
        return -1
    return 0


#: Fewest finished tasks for a verdict (the first and last 10 % must be different tasks).
MIN_TASKS = 10


def thin_evidence(a: Mapping[str, Any]) -> list[str]:
    """Why the analysis' numbers cannot carry a verdict (empty when they can), by the shared
    rule of :mod:`criticality.reporting.verdicts` (fewer than ``MIN_REPLICATES`` distinct
    seeds of the baseline, an interval of zero width where the verdict reads one, a baseline
    whose online accuracy never left chance by ``CHANCE_MARGIN`` on any task) and this
    experiment's own condition: fewer than :data:`MIN_TASKS` finished tasks."""
    b, perf = a["baseline"], a["performance"]
    why = []
    seeds = a.get("seeds", {}).get(b)
    drift = a.get("drift", {}).get(perf, {}).get(b, {})
    n = len(seeds) if seeds is not None else drift.get("first", {}).get("n")
    if n is not None and n < MIN_REPLICATES:
        why.append(f"{n} distinct seed{'s' if n != 1 else ''} of {b} (at least {MIN_REPLICATES} "
                   "needed)")  # fmt: skip
    stats_read = [drift.get("change")]
    corr = a.get("correlation", {}).get("abs_lambda_1", {}).get(b)
    if corr is not None:
        stats_read.append(corr["mean_rho"])
    for stat in stats_read:
        if stat is None:
            continue
        lo, hi = stat.get("ci_low", math.nan), stat.get("ci_high", math.nan)
        if math.isfinite(lo) and math.isfinite(hi) and reporting_thin(lo, hi):
            why.append("an interval of zero width (the seeds' values are identical)")
            break
    done = a.get("tasks_finished", {}).get(b)
    if done is not None and done < MIN_TASKS:
        why.append(
            f"only {done} task{'s' if done != 1 else ''} finished (at least {MIN_TASKS} needed "
            "for distinct first and last 10 %)"
        )
    if not _learned(a):
        curve = a["curves"]["online_accuracy"][b]
        best = float(np.nanmax(np.asarray(curve["mean"], float)))
        why.append(
            f"{b} never left chance (best task's online accuracy {fmt(best, 'fraction')}, "
            f"chance {fmt(a['chance'], 'fraction')})"
        )
    return why


def _learned(a: Mapping[str, Any]) -> bool:
    """Whether the baseline's best task's mean online accuracy left chance (``True`` when
    unknown: a regression stream, or results without the chance level)."""
    chance = a.get("chance")
    curve = a.get("curves", {}).get("online_accuracy", {}).get(a["baseline"])
    if chance is None or curve is None or not len(curve["mean"]):
        return True
    means = np.asarray(curve["mean"], float)
    best = float(np.nanmax(means)) if np.isfinite(means).any() else math.nan
    return math.isfinite(best) and left_chance(best, chance)


def verdict(a: Mapping[str, Any], criticality: Sequence[str] | None = None) -> str:
    """One paragraph that reads :func:`analyse`'s numbers against the paper's claim: (1)
    plain training loses plasticity, (2) it loses criticality with it, (3) the two move
    together within runs, (4) the loss of criticality comes first, and (5) methods that keep
    plasticity keep criticality, in particular the methods that steer toward criticality
    (``criticality``: their names, the method registry's kind; default: names starting with
    ``critical``).
    """
    b, perf, higher = a["baseline"], a["performance"], a["higher_is_better"]
    name = perf.replace("_", " ")
    pct = round(100 * a["fraction"])
    if b not in a["drift"][perf]:
        return f"No run of the baseline {b!r}: nothing to compare against."
    worse = -1 if higher else 1  # the sign of a loss of performance
    supported: list[str] = []
    against: list[str] = []
    untested: list[str] = []
    d = a["drift"][perf][b]
    lost = _sign(d["change"]) == worse
    text = [
        f"Under {b}, {name} went from {fmt(d['first']['mean'], 'fraction')} (first {pct} % of "
        f"tasks) to {fmt(d['last']['mean'], 'fraction')} (last {pct} %), a change of "
        f"{_ci(d['change'], 'mean_diff')}: "
        + ("plasticity was lost." if lost else "no significant loss of plasticity here.")
    ]
    (supported if lost else against).append("plain training loses plasticity")
    dist = a["drift"]["start.abs_lambda_1"][b]
    lam_last = a["drift"]["start.lambda_1"][b]["last"]["mean"]
    away = _sign(dist["change"])
    if not math.isfinite(lam_last):
        side = "not measured in the last tasks"
    else:
        side = "ordered side" if lam_last < 0 else "chaotic side"
    text.append(
        f"Its distance to criticality |λ_1| went from {fmt(dist['first']['mean'])} to "
        f"{fmt(dist['last']['mean'])} ({_ci(dist['change'], 'mean_diff', 'exponent')}), ending "
        f"at λ_1 = {fmt(lam_last, 'exponent')} ({side}): "
        + {
            1: "it moved away from criticality.",
            -1: "it moved toward criticality.",
            0: "no significant change.",
        }[away]
    )
    _call(
        "plain training loses criticality",
        away == 1,
        _finite(dist["change"]),
        supported,
        against,
        untested,
    )
    corr = a["correlation"]["abs_lambda_1"][b]
    rho = corr["mean_rho"]
    expected = worse  # farther from criticality, worse performance
    text.append(
        f"Within runs, |λ_1| and {name} correlated across tasks with mean Spearman ρ = "
        f"{_ci(rho, kind='corr')} over {rho['n']} seeds with a defined ρ (mixed model slope "
        f"{fmt(corr['mixed']['slope'], 'diff')}, p = {fmt(corr['mixed']['p_value'], 'p')})."
    )
    extra = []
    for key, label in (
        ("abs_lambda_1_median", "|median λ_1|"),
        ("dead", "the dead-unit fraction at task start"),
        ("effective_rank", "the effective rank at task start"),
    ):
        if b in a["correlation"].get(key, {}) and math.isfinite(
            a["correlation"][key][b]["mean_rho"]["mean"]
        ):
            extra.append(f"{label}: ρ = {_ci(a['correlation'][key][b]['mean_rho'], kind='corr')}")
    if extra:
        text.append("For comparison, " + "; ".join(extra) + ".")
    together = _sign(rho) == expected
    _call(
        "distance to criticality and performance move together within runs",
        together,
        math.isfinite(rho["mean"]),
        supported,
        against,
        untested,
    )
    lead = a["lead_lag"][b]["lead"]
    order = _sign(lead)
    if math.isfinite(lead["mean"]):
        text.append(
            f"|λ_1| made half of its change {_ci(lead, kind='points')} tasks before {name} did "
            "(positive: "
            "criticality moved first): "
            + {
                1: "the drift of λ_1 preceded the loss.",
                -1: "the drift of λ_1 followed it.",
                0: "no clear order.",
            }[order]
        )
    else:
        text.append("Which moved first could not be measured (too few measured tasks).")
    _call(
        "the loss of criticality comes first",
        order == 1,
        math.isfinite(lead["mean"]),
        supported,
        against,
        untested,
    )
    rescue = []
    consistent = inconsistent = 0
    for method, comp in a["tail"].items():
        dp, dd = comp[perf], comp["start.abs_lambda_1"]
        better = _sign({"ci_low": dp["ci_low"], "ci_high": dp["ci_high"]}) == -worse
        closer = _sign({"ci_low": dd["ci_low"], "ci_high": dd["ci_high"]}) == -1
        rescue.append(
            f"{method} {fmt(dp['mean_diff'], 'diff')} (|λ_1| {fmt(dd['mean_diff'], 'exponent')})"
        )
        if better:
            consistent += closer
            inconsistent += not closer
        steers = method in criticality if criticality is not None else method.startswith("critical")
        if steers:
            (supported if better else against).append(f"{method} rescues plasticity")
    if rescue:
        text.append(
            f"Over the last {pct} % of tasks, against {b} (paired by seed): "
            + "; ".join(rescue)
            + "."
        )
        text.append(
            f"Of the methods with significantly better {name}, {consistent} also kept |λ_1| "
            f"significantly smaller and {inconsistent} did not."
        )
    same = [m for m, v in a["max_difference_from_baseline"].items() if v == 0.0]
    if same:
        text.append(f"{', '.join(same)} trained exactly as {b} did: measuring changes nothing.")
    thin = thin_evidence(a)
    if thin:
        return (
            "Inconclusive: "
            + "; ".join(thin)
            + ", so no part of the claim is called. "
            + " ".join(text)
        )
    text.append(
        "Supported here: " + ("; ".join(supported) or "none of the claim's parts") + ". "
        "Not supported: " + ("; ".join(against) or "nothing") + "."
    )
    if untested:
        text.append(f"Not tested (λ_1 measured at too few tasks): {'; '.join(untested)}.")
    return " ".join(text)


def _finite(stat: Mapping[str, Any]) -> bool:
    """Whether a statistic's interval could be computed."""
    return math.isfinite(stat.get("ci_low", math.nan)) and math.isfinite(
        stat.get("ci_high", math.nan)
    )


def _call(
    part: str, holds: bool, measured: bool, supported: list[str], against: list[str],
    untested: list[str],
) -> None:  # fmt: skip
    """File one part of the claim: supported, not supported, or not tested (no number)."""
    (untested if not measured else supported if holds else against).append(part)


CLAIM = (
    "The claim tested (Vock & Meisel 2025, claim 3): the loss of plasticity in continual learning "
    "is a loss of critical dynamics, and keeping a network near criticality prevents it. Their "
    "protocol is not public; this experiment uses the set-ups of Dohare et al. (Nature 2024) and "
    "reads the run against each part of the claim: does plain training lose plasticity, does it "
    "move away from criticality (|λ_1| grows), do the two move together within runs, does "
    "criticality move first, and do the methods that keep plasticity (the criticality "
    "regularizer among them) keep λ_1 near 0? Where the data do not support a part, the "
    "paragraph below says so."
)


def _compute_minutes(data: ContinualResults) -> float:
    return float(sum(row.compute_minutes for row in data.throughput))


def _reference_table(runs: Sequence[Mapping[str, Any]], fraction: float) -> Table:
    """Dohare et al.'s permuted-MNIST findings beside this run's numbers."""
    rows = [
        {
            "their finding": r["claim"],
            "where": r["source"],
            "this run": fmt_ci(r["value"], r["ci_low"], r["ci_high"], "diff"),
            "read as": r["measured"],
            "seeds": str(r["n"]),  # a count, not a measured number
            "call": r["call"],
        }
        for r in reference.compare(runs, fraction)
    ]
    return Table(
        rows,
        caption="Against Dohare et al. (Nature 2024; ED = Extended Data): their permuted-MNIST "
        "findings (plotted over 800 tasks, 30 runs, no table published) and this run's "
        "numbers (95 % interval over seeds; dead units and effective rank in % at task "
        "start, weights mean |w|). "
        "A finding agrees when the interval lies on its side of 0, disagrees when it lies on "
        "the other, and cannot be told otherwise (also with fewer than three seeds).",
    )


def _setup(data: ContinualResults) -> str:
    s = data.stream
    n_runs = len(data.runs)
    return (
        f"Stream {s['name']} ({', '.join(f'{k} {v}' for k, v in s.items() if k != 'name')}); "
        f"{n_runs} runs ({len(data.arms)} methods × seeds); this invocation took "
        f"{data.seconds / 60:.1f} min, the units' recorded training and measuring time is "
        f"{_compute_minutes(data):.1f} min (every session of a resumed run). Online "
        "performance is the prediction on each example before its update, averaged over the "
        "task; λ_1, σ and the per-stage ln g_l are measured on a fixed probe batch (the same "
        "images seen through each task's permutation) at the start of each task. The plasticity "
        "metrics are taken at each task's start on the first examples of the task about to be "
        "learned (Dohare et al.'s protocol and units) and at its end on the fixed probe (ours). "
        "Intervals are 95 % Student-t intervals over seeds."
    )


def sections(data: dict[str, Any], out_dir: Path) -> list[Section]:
    """The report: the verdict, the curves, the statistics and the cost."""
    figures = Path(out_dir) / "figures"
    results = ContinualResults.from_dict(data)  # refuses another schema, naming it
    a = results.analysis
    perf, test = a["performance"], "test_accuracy" if a["higher_is_better"] else "test_error"
    # the verdict is read again from the stored analysis, so a re-render takes today's wording
    partial = (
        f"Partial run: {results.tasks_finished} of {results.tasks_planned} tasks finished in "
        "every unit; everything below reads those tasks only. "
        if results.partial
        else ""
    )
    main = Section(
        "Continual learning: loss of plasticity and criticality",
        lead=partial + verdict(a, criticality_methods(list(a["tail"]))),
    )
    main.items.append(Details("The claim tested and what ran", [CLAIM, _setup(results)]))
    main.items.append(
        Figure(
            _curves_figure(
                a, [perf, test], figures / "continual_performance.png", "performance against task"
            ),
            "Online performance (each example predicted before its update) and test performance on "
            "the current task; mean and 95 % interval over seeds.",
        )
    )
    main.items.append(
        Figure(
            _curves_figure(
                a,
                ["start.lambda_1", "start.lambda_1_median", "start.sigma"],
                figures / "continual_criticality.png",
                "criticality against task",
            ),
            "λ_1 (0 = critical, < 0 ordered, > 0 chaotic; the mean over probe inputs counts an "
            "input whose perturbation dies on dead units with a very negative log-gain, the "
            "median does not) and the branching ratio σ (1 = critical) of the network each task "
            "meets, on the fixed probe batch.",
        )
    )
    keys = ["start.dead_percent", "start.effective_rank_percent", "end.dead",
            "end.effective_rank", "end.weight_magnitude"]  # fmt: skip
    keys = [k for k in keys if k in a["curves"]]  # results written before the start metrics
    n_first = results.plasticity_examples
    main.items.append(
        Figure(
            _curves_figure(a, keys, figures / "continual_plasticity.png", "plasticity metrics"),
            "Dohare et al.'s plasticity metrics as they measure them: at the start of each task, "
            f"on the first {n_first if n_first else 'few'} examples of the task about to be "
            "learned, "
            "in their units (dead units as % of all hidden units, effective rank as % of the "
            "width); beside them ours, at the end of each task on the fixed probe batch.",
        )
    )
    if reference.applies(results.stream, results.runs):
        main.items.append(_reference_table(results.runs, a["fraction"]))
    stage = _stage_figure(results, figures / "continual_stages.png")
    if stage is not None:
        main.items.append(Figure(stage, "Per-stage log-gain ln g_l at task start (0 = critical)."))
    main.items.append(
        Figure(
            _scatter_figure(results, figures / "continual_scatter.png"),
            "Online performance against λ_1 at task start.",
        )
    )
    stats = Section(
        "Continual learning: statistics",
        lead=f"Each method against {a['baseline']} over the last {round(100 * a['fraction'])} % "
        "of tasks (paired by seed), each measure's within-run correlation with "
        f"{_LABELS[perf]}, and whether |λ_1| moves before performance does.",
    )
    tail = [
        {
            "method": m,
            "measure": _LABELS.get(k, k),
            "difference": c["mean_diff"],
            "ci_low": c["ci_low"],
            "ci_high": c["ci_high"],
            "p (t)": c["p_t"],
            "p (Wilcoxon)": c["p_wilcoxon"],
            "seeds": c["n"],
        }
        for m, comp in a["tail"].items()
        for k, c in comp.items()
    ]
    stats.items.append(
        Table(
            tail,
            caption=f"Each method minus {a['baseline']} over the last "
            f"{round(100 * a['fraction'])} % of tasks, paired by seed",
        )
    )
    corr = [
        {
            "method": m,
            "x": x,
            "mean ρ over runs": _fmt(c["mean_rho"], "corr"),
            "mixed slope": c["mixed"]["slope"],
            "p (mixed)": c["mixed"]["p_value"],
            "note": c["mixed"]["note"],
        }
        for x, per in a["correlation"].items()
        for m, c in per.items()
    ]
    stats.items.append(
        Table(
            corr,
            caption=f"Within-run Spearman ρ of x (at task start) with "
            f"{_LABELS[perf]} across tasks; mixed model perf ~ x + (1 | seed)",
        )
    )
    predictors = [
        {"predictor (at task start)": _PREDICTORS.get(x, x)}
        | {m: _fmt(c["mean_rho"], "corr") for m, c in per.items()}
        for x, per in a["correlation"].items()
    ]
    stats.items.append(
        Table(
            predictors,
            caption=f"Which predictor of plasticity is best? Each measure at the start of a task "
            f"against that task's {_LABELS[perf]}: mean within-run Spearman ρ over seeds with its "
            "95 % t-interval, per method (larger |ρ|: the better predictor within runs)",
        )
    )
    lead = [
        {
            "method": m,
            "lead of |λ_1| (tasks)": _fmt(r["lead"], "points"),
            "ρ at lag +1": r["rho"][len(r["lags"]) // 2 + 1]["mean"]
            if len(r["lags"]) > 1
            else math.nan,
        }
        for m, r in a["lead_lag"].items()
    ]
    stats.items.append(
        Table(
            lead,
            caption="Does |λ_1| move first? Half-change lead (positive: "
            "|λ_1| made half its change before performance did) and the "
            "lagged correlation of the task-to-task changes",
        )
    )
    stats.items.append(
        Figure(
            _lead_figure(a, figures / "continual_leadlag.png"),
            "Cross-correlation of task-to-task changes at lags −K..K.",
        )
    )
    if results.class_incremental:
        rows = [
            {
                "method": m,
                "forgetting": _fmt(v["forgetting"]),
                "backward transfer": _fmt(v["backward_transfer"]),
            }
            for m, v in results.class_incremental.items()
        ]
        stats.items.append(
            Table(
                rows,
                caption="Class-incremental: forgetting and backward "
                "transfer (accuracy matrix over tasks)",
            )
        )
    compute = _compute_minutes(results)
    setup = Section(
        "Continual learning: methods and cost",
        lead=f"{len(results.arms)} methods, their settings and sources; "
        f"{fmt(compute, 'plain')} min of recorded compute in all.",
    )
    setup.items.append(
        Table(
            [
                {
                    "method": r["label"],
                    "options": str(r["options"] or "defaults"),
                    "what": r["summary"],
                    "source": r["reference"],
                }
                for r in results.arms
            ],
            caption="The methods (rows of the training-method registry) and their settings",
        )
    )
    setup.items.append(
        Table(
            [
                {
                    "method": r.method,
                    "members per unit": r.members,
                    "learner-steps/s": r.learner_steps_per_s,
                    "measuring share": r.measuring_share,
                    "compute (min)": r.compute_minutes,
                }
                for r in results.throughput
            ],
            caption="Training speed (all seeds of an "
            "ensemble unit count) and the share of time spent measuring",
        )
    )
    main.items = side_by_side(main.items)
    stats.items = [
        Details("The paired comparisons, correlations and lead-lag tables", tables(stats.items)),
        *(i for i in stats.items if not isinstance(i, Table)),
    ]
    setup.items = [Details("The methods, their settings and their cost", tables(setup.items))]
    return [main, stats, setup]


#: An accuracy difference smaller than this (half a percentage point) counts as no effect.
ACCURACY_MARGIN = 0.005


def base_method(label: str) -> str:
    """The registry name of an arm's label: ``"continual_backprop[replacement_rate=1e-06]"``
    (a sweep arm) gives ``"continual_backprop"``."""
    return label.split("[", 1)[0]


def criticality_methods(methods: list[str]) -> list[str]:
    """Those of ``methods`` (arm labels, sweep arms included) whose registry kind is
    ``criticality`` (the verdict and the M3 row read the same ones). A label whose method is not
    in the registry (a results file from another version) is left out."""
    from criticality.training.methods import get_method

    found = []
    for m in methods:
        try:
            if get_method(base_method(m)).kind == "criticality":
                found.append(m)
        except (KeyError, ValueError):
            continue
    return found


def scorecard(data: dict[str, Any]) -> list[ScoreRow]:
    """M3 in two rows: (a) within the baseline's runs, performance falls as |λ_1| at task start
    grows; (b) every criticality method ends the stream better than the baseline.

    Rules: (a) the 95 % interval of the mean within-run Spearman ρ of |λ_1| against
    performance (over seeds) lies on the claimed side of 0 (negative for accuracy, positive for
    an error); (b) each criticality method minus the baseline over the last tasks, paired by
    seed, by :func:`~criticality.reporting.scorecard.interval_verdict` (margin ±0.5 percentage
    points for accuracy), combined over methods.
    """
    a = data["analysis"]
    base, perf, better = a["baseline"], a["performance"], a["higher_is_better"]
    name = _LABELS.get(perf, perf)
    section = "Continual learning: loss of plasticity and criticality"
    rows: list[ScoreRow] = []
    thin = thin_evidence(a)
    caveat = f"; inconclusive here: {'; '.join(thin)}" if thin else ""
    corr = a["correlation"].get("abs_lambda_1", {}).get(base)
    if corr is None or not math.isfinite(corr["mean_rho"]["mean"]):
        few = "λ_1 was measured at too few tasks for a within-run correlation"
        rows.append(
            ScoreRow(
                "Loss of plasticity goes with a loss of criticality (continual learning)",
                f"ρ(|λ_1|, {name}) not defined within {base} runs",
                Verdict(INCONCLUSIVE, "; ".join([*thin, few])),
                "rule: mean within-run Spearman ρ over seeds, its CI on the claimed side of 0",
                section,
                claim="M3",
            )
        )
    else:
        r, side = corr["mean_rho"], "below" if better else "above"
        n_seeds = len(a.get("seeds", {}).get(base, [])) or r["n"]
        rows.append(
            ScoreRow(
                "Loss of plasticity goes with a loss of criticality (continual learning)",
                f"ρ(|λ_1|, {name}) = {fmt_ci(r['mean'], r['ci_low'], r['ci_high'], 'corr')}"
                f" within {base} runs, n = {n_seeds} distinct seeds",
                Verdict(INCONCLUSIVE, "; ".join(thin))
                if thin
                else interval_verdict(
                    r["ci_low"],
                    r["ci_high"],
                    direction=-1 if better else 1,
                    replicates=a.get("seeds", {}).get(base, n_seeds),
                    learned=_learned(a),
                ),
                f"rule: mean within-run Spearman ρ over seeds, its CI {side} 0; a correlation,"
                " not an order in time (see the lead-lag table)" + caveat,
                section,
                claim="M3",
            )
        )
    figures, verdicts = [], []
    for m in criticality_methods(list(a["tail"])):
        c = a["tail"][m].get(perf)
        if c is None or c["n"] < 2 or not math.isfinite(c["ci_low"]):
            continue
        scale, unit = (100, " pp") if better else (1, "")
        kind: Kind = "points" if better else "diff"
        diff = fmt_ci(scale * c["mean_diff"], scale * c["ci_low"], scale * c["ci_high"], kind)
        figures.append(f"{m}: {diff}{unit}")
        verdicts.append(
            interval_verdict(
                c["ci_low"],
                c["ci_high"],
                direction=1 if better else -1,
                margin=ACCURACY_MARGIN if better else 0.0,
                replicates=c["n"],
                learned=_learned(a),
            )
        )
    if figures:
        rows.append(
            ScoreRow(
                "Keeping criticality prevents the loss of plasticity",
                f"{name}, method − {base}, last {round(100 * a['fraction'])} % of tasks: "
                + "; ".join(figures),
                Verdict(INCONCLUSIVE, "; ".join(thin)) if thin else combine(verdicts),
                "rule: CI of method − baseline (paired by seed) on the better side of 0; the other"
                " side or within ±0.5 pp: not supported; every criticality method must agree"
                + caveat,
                section,
                claim="M3",
            )
        )
    return rows
