"""The training experiment's cost: per method, FLOPs and seconds per step, active units, and
the FLOPs and seconds to reach a target accuracy; its report section. Summaries are computed
from the run records; the section renders from ``results.json`` only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from criticality.numbers import fmt, fmt_ci
from criticality.reporting import Figure, Section, Table
from criticality.reporting.html import Details, FigureRow
from criticality.stats import mean_ci
from criticality.training.energy import LABELS

#: Without a configured target: this fraction of the control's mean final accuracy.
TARGET_FRACTION = 0.95


def run_energy(result_energy: dict[str, Any], trace: list[dict[str, Any]]) -> dict[str, Any]:
    """What one run's record keeps of its cost: the energy summary (without per-step times)
    and the accuracy trace with the cumulative measured seconds and the counted FLOPs
    (``step × flops_per_step``) at each of its steps."""
    times = np.cumsum([0.0, *result_energy["step_seconds"]])
    per_step = result_energy["flops_per_step"]
    return {
        **{k: v for k, v in result_energy.items() if k != "step_seconds"},
        "trace": [
            {
                **t,
                "seconds": float(times[min(t["step"], len(times) - 1)]),
                "flops": t["step"] * per_step if per_step is not None else None,
            }
            for t in trace
        ],
    }


def energy_summary(
    records: list[dict[str, Any]], baseline: str, target: float | None = None
) -> list[dict[str, Any]]:
    """Per (dataset, model, init): each method's cost over seeds, its cost relative to
    ``baseline`` on the same seed, and the cost to reach ``target`` accuracy (default
    :data:`TARGET_FRACTION` of the baseline's mean final accuracy)."""
    out = []
    for key in dict.fromkeys((r["dataset"], r["model"], r["init"]) for r in records):
        rows = [
            r for r in records if (r["dataset"], r["model"], r["init"]) == key and "energy" in r
        ]
        if not rows:
            continue
        by: dict[str, dict[int, dict[str, Any]]] = {}
        for r in rows:
            by.setdefault(r["method"], {})[r["seed"]] = r
        goal = target
        if goal is None and baseline in by:
            finals = [r["energy"]["trace"][-1]["accuracy"] for r in by[baseline].values()]
            goal = float(np.floor(TARGET_FRACTION * np.mean(finals) * 100) / 100)
        methods = {m: _method_cost(runs, by.get(baseline, {}), goal) for m, runs in by.items()}
        out.append({"dataset": key[0], "model": key[1], "init": key[2], "target": goal,
                    "baseline": baseline, "methods": methods})  # fmt: skip
    return out


def _method_cost(
    runs: dict[int, dict[str, Any]], base: dict[int, dict[str, Any]], goal: float | None
) -> dict[str, Any]:
    def stat(values: list[float | None]) -> dict[str, Any]:
        return mean_ci([v for v in values if v is not None]).to_dict()

    seeds = sorted(runs)
    paired = [s for s in seeds if s in base]
    costs = {s: _to_target(runs[s], goal) for s in seeds}
    base_costs = {s: _to_target(base[s], goal) for s in paired}
    both = [s for s in paired if costs[s]["flops"] and base_costs[s]["flops"]]

    def ratio(key: str) -> list[float | None]:
        return [float(costs[s][key] or 0) / float(base_costs[s][key] or 1) for s in both]

    e = {s: runs[s]["energy"] for s in seeds}
    return {
        "flops_per_step": stat([e[s]["flops_per_step"] for s in seeds]),
        "seconds_per_step": stat([e[s]["seconds_per_step"] for s in seeds]),
        "flops_ratio": stat(
            [e[s]["flops_per_step"] / base[s]["energy"]["flops_per_step"] for s in paired]
        ),
        "time_ratio": stat(
            [e[s]["seconds_per_step"] / base[s]["energy"]["seconds_per_step"] for s in paired]
        ),
        "active_fraction": stat([e[s]["active_fraction"] for s in seeds]),
        "final_accuracy": stat([e[s]["trace"][-1]["accuracy"] for s in seeds]),
        "reached": sum(costs[s]["flops"] is not None for s in seeds),
        "seeds": len(seeds),
        "flops_to_target": stat([costs[s]["flops"] for s in seeds]),
        "seconds_to_target": stat([costs[s]["seconds"] for s in seeds]),
        "flops_to_target_ratio": stat(ratio("flops")),
        "seconds_to_target_ratio": stat(ratio("seconds")),
        "joules": stat([e[s]["joules"] for s in seeds]),
        "energy_source": e[seeds[0]]["energy_source"],
        "trace": _mean_trace([e[s]["trace"] for s in seeds]),
    }


def _to_target(run: dict[str, Any], goal: float | None) -> dict[str, float | None]:
    if goal is None:
        return {"steps": None, "seconds": None, "flops": None}
    for t in run["energy"]["trace"]:  # the first evaluation at or above the target
        if t["accuracy"] >= goal:
            return {"steps": t["step"], "seconds": t["seconds"], "flops": t["flops"]}
    return {"steps": None, "seconds": None, "flops": None}


def _mean_trace(traces: list[list[dict[str, Any]]]) -> list[dict[str, float]]:
    n = min(len(t) for t in traces)
    return [
        {"step": traces[0][i]["step"],
         "flops": float(np.mean([t[i]["flops"] or 0.0 for t in traces])),
         "accuracy": float(np.mean([t[i]["accuracy"] for t in traces]))}
        for i in range(n)
    ]  # fmt: skip


def _fmt(stat: dict[str, Any], scale: float = 1.0) -> str:
    if stat["n"] == 0 or stat["mean"] != stat["mean"]:
        return "–"
    mean = stat["mean"] / scale
    if stat["n"] < 2:
        return fmt(mean)
    return fmt_ci(mean, stat["ci_low"] / scale, stat["ci_high"] / scale)


def compute_sentence(group: dict[str, Any], method: str) -> str:
    """Does ``method`` reach the group's target accuracy with less compute than the baseline?"""
    row, base = group["methods"][method], group["baseline"]
    ratio = row["flops_to_target_ratio"]
    reach = f"{row['reached']} of {row['seeds']} seeds reached {group['target']:.2f}"
    if ratio["n"] < 2:
        return f"{method}: {reach}; too few paired seeds to compare its compute with {base}."
    if ratio["ci_high"] < 1:
        verdict = "less compute than"
    elif ratio["ci_low"] > 1:
        verdict = "more compute than"
    else:
        verdict = "no detectable difference in compute from"
    return (
        f"{method}: {reach}; FLOPs to target / {base}'s on the same seed "
        f"{_fmt(ratio)} (n = {ratio['n']}), seconds {_fmt(row['seconds_to_target_ratio'])}: "
        f"{verdict} {base}. Per step it costs {_fmt(row['flops_ratio'])}× the FLOPs and "
        f"{_fmt(row['time_ratio'])}× the time of a {base} step."
    )


def compute_lead(group: dict[str, Any]) -> str:
    """The group's answer in one line: each method's FLOPs to the target against the
    baseline's on the same seed (the sentences of :func:`compute_sentence` say the rest)."""
    base, parts = group["baseline"], []
    for method, row in group["methods"].items():
        ratio = row["flops_to_target_ratio"]
        if method == base:
            continue
        if ratio["n"] < 2:
            parts.append(f"{method}: too few seeds reached it ({row['reached']} of {row['seeds']})")
            continue
        side = (
            "less compute" if ratio["ci_high"] < 1
            else "more compute" if ratio["ci_low"] > 1
            else "no detectable difference"
        )  # fmt: skip
        parts.append(f"{method} {_fmt(ratio)}× ({side})")
    return (
        f"Target accuracy {group['target']}; FLOPs to reach it against {base}'s on the same "
        "seed: " + "; ".join(parts) + "."
    )


def energy_sections(data: dict[str, Any], out_dir: Path) -> list[Section]:
    """One section per group: the cost table, the answer in words, accuracy against FLOPs."""
    from criticality.reporting.plots import axes, save

    out = []
    for g in data.get("energy", []):
        tag = f"{g['dataset']}-{g['model']}-{g['init']}"
        fig, ax = axes()
        for method, row in g["methods"].items():
            trace = row["trace"]
            ax.plot([t["flops"] for t in trace], [t["accuracy"] for t in trace], marker=".",
                    label=method)  # fmt: skip
        if g["target"] is not None:
            ax.axhline(g["target"], color="grey", lw=0.8, ls="--", label="target")
        ax.set(xlabel="training FLOPs (counted per step × steps)", ylabel="test accuracy",
               title=f"{tag}: accuracy against compute (mean over seeds)")  # fmt: skip
        ax.legend(fontsize=8)
        figure = Figure(save(fig, Path(out_dir) / "figures" / f"compute_{tag}.png"),
                        "Accuracy against training FLOPs per method")  # fmt: skip
        rows = [
            {"method": m, "MFLOPs / step": _fmt(r["flops_per_step"], 1e6),
             "× baseline FLOPs": _fmt(r["flops_ratio"]),
             "ms / step": _fmt(r["seconds_per_step"], 1e-3),
             "× baseline time": _fmt(r["time_ratio"]), "active units": _fmt(r["active_fraction"]),
             "reached": f"{r['reached']}/{r['seeds']}",
             "GFLOPs to target": _fmt(r["flops_to_target"], 1e9),
             "s to target": _fmt(r["seconds_to_target"]), "energy (J)": _fmt(r["joules"])}
            for m, r in g["methods"].items()
        ]  # fmt: skip
        sentences = [compute_sentence(g, m) for m in g["methods"] if m != g["baseline"]]
        source = next(iter(g["methods"].values()))["energy_source"]
        how = (
            "FLOPs are counted per step (matrix products and convolutions of the forward and "
            "backward passes, the method's loss terms and callbacks; elementwise operations not "
            "counted) over the first steps and extrapolated. Times are measured run after run, "
            "so on a shared machine their ratios carry its load changes "
            "(benchmarks/homeostatic_cost.py interleaves the methods for a fair ratio). Energy: "
            f"{source}. Labels: " + ", ".join(f"{k} {v}" for k, v in LABELS.items()) + "."
        )
        out.append(
            Section(
                f"Compute and energy: {g['dataset']}, {g['model']}, {g['init']} initialisation",
                [
                    " ".join(sentences),
                    Table(rows, caption="mean [95 % CI] over seeds; ratios paired by seed"),
                    FigureRow([figure]),
                    Details("How compute, time and energy are counted", [how]),
                ],
                lead=compute_lead(g),
                folded=g["init"] != "default",  # the initialisation study: one line each
            )
        )
    return out
