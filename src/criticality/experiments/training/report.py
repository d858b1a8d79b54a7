"""The report of the training experiment, drawn from ``results.json`` only (no recomputing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from criticality.numbers import Kind, fmt, fmt_ci
from criticality.reporting import Figure, Section, Table
from criticality.reporting.html import Details, FigureRow, Item
from criticality.reporting.scorecard import ScoreRow
from criticality.reporting.verdicts import combine, interval_verdict, left_chance

METRICS = ("clean", "noise", "corruption", "fgsm", "pgd", "lambda_final", "distance")

_LABELS = {
    "clean": "clean accuracy",
    "noise": "accuracy under noise",
    "corruption": "accuracy under corruptions",
    "fgsm": "accuracy under FGSM",
    "pgd": "accuracy under PGD",
    "lambda_final": "final λ_1",
    "distance": "final |λ_1|",
    "lambda_initial": "initial λ_1",
}
_KIND: dict[str, Kind] = {
    "lambda_final": "exponent",
    "distance": "exponent",
    "lambda_initial": "exponent",
}
#: A difference in accuracy smaller than this (half a percentage point) counts as no effect.
ACCURACY_MARGIN = 0.005
#: Chance accuracy of the ten-class datasets (MNIST, Fashion-MNIST).
CHANCE = 0.1
SETUP = "Training toward criticality: set-up"


def effect_sentences(
    group: dict[str, Any], metrics: tuple[str, ...] = ("clean", "corruption", "pgd", "distance")
) -> list[str]:
    """One sentence per contrast ``A − B``: paired differences with 95 % CIs and p-values."""
    out = []
    for contrast, comp in group["comparisons"].items():
        parts = []
        for k in metrics:
            c = comp[k]
            parts.append(
                f"{_LABELS[k]} {_cell(comp, k)} "
                f"(paired t p = {fmt(c['p_t'], 'p')}, Wilcoxon p = {fmt(c['p_wilcoxon'], 'p')})"
            )
        out.append(f"{contrast}, n = {comp['clean']['n']} seeds: " + "; ".join(parts) + ".")
    return out


def _group_lead(group: dict[str, Any]) -> str:
    """The group's finding in one line: each method against the control (the contrasts whose
    right-hand side is the control, the first contrast's)."""
    contrasts = list(group["comparisons"].items())
    if not contrasts:
        return ""
    control = contrasts[0][0].partition(" − ")[2]
    parts = [
        f"{name.partition(' − ')[0]}: clean {_cell(comp, 'clean')}, under PGD "
        f"{_cell(comp, 'pgd')}, final |λ_1| {_cell(comp, 'distance')}"
        for name, comp in contrasts
        if name.partition(" − ")[2] == control
    ]
    n = contrasts[0][1]["clean"]["n"]
    return f"Against {control}, paired over {n} seeds: " + "; ".join(parts) + "."


def _diff(c: dict[str, Any], kind: Kind = "diff") -> str:
    return fmt_ci(c["mean_diff"], c["ci_low"], c["ci_high"], kind)


def _cell(comp: dict[str, Any], k: str) -> str:
    """A paired difference: accuracies in percentage points, λ in nats per stage."""
    return _diff(comp[k], "exponent") if k in _KIND else _pp(comp[k])


def _contrast_rows(group: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "contrast": contrast,
            "metric": _LABELS[k],
            "difference [95 % CI]": _cell(comp, k),
            "paired t p": comp[k]["p_t"],
            "Wilcoxon p": comp[k]["p_wilcoxon"],
            "d_z": comp[k]["effect_dz"],
        }
        for contrast, comp in group["comparisons"].items()
        for k in ("clean", "noise", "corruption", "fgsm", "pgd", "distance")
    ]


def _compact_rows(group: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per contrast: the differences that answer the question, with 95 % CIs."""
    return [
        {"contrast": contrast, "n": comp["clean"]["n"]}
        | {_LABELS[k]: _cell(comp, k) for k in ("clean", "corruption", "pgd", "distance")}
        for contrast, comp in group["comparisons"].items()
    ]


def _interval(stat: dict[str, float], kind: Kind = "fraction") -> str:
    return fmt_ci(stat["mean"], stat["ci_low"], stat["ci_high"], kind)


def group_title(g: dict[str, Any]) -> str:
    """The section title of one (dataset, model, initialisation) group."""
    return f"Training toward criticality: {g['dataset']}, {g['model']}, {g['init']} initialisation"


def sections(data: dict[str, Any], out_dir: Path) -> list[Section]:
    """The report: per group the paired differences, two figures, and the full tables folded."""
    from criticality.experiments.training.results import TrainingResults
    from criticality.reporting.plots import plot_metric_bars, plot_trajectories, save

    res = TrainingResults.from_dict(data)
    figures = Path(out_dir) / "figures"
    b = res.budget
    methods = [
        {
            "method": m,
            "kind": row["kind"],
            "what it adds": row["summary"],
            "options": ", ".join(f"{k}={v}" for k, v in row["options"].items()),
            "reference": row["reference"],
        }
        for m, row in res.methods.items()
    ]
    lead = (
        f"Every method trains the same network from the same initialisation on the same "
        f"batches: {b['steps']} Adam steps of {b['batch_size']} inputs (lr {b['lr']}); only the "
        "loss term or the weight decay differs. Differences are method − plain on the same seed "
        "with 95 % Student-t intervals; we report them whichever way they come out."
    )
    details: list[Item] = [
        "The paired t test and the Wilcoxon signed-rank test are in the folded tables of each "
        "group. λ_1 is the largest Lyapunov exponent across depth (per-unit RMS norm) on a fixed "
        "probe set; 0 is critical.",
        Table(methods, caption="The training methods (rows of the method registry)"),
    ]
    out = [Section(SETUP, [Details("Methods and statistics", details)], lead=lead)]
    for g in res.groups:
        tag = f"{g['dataset']}-{g['model']}-{g['init']}"
        traj: dict[str, list[Any]] = {}
        for r in res.runs_of(g["dataset"], g["model"], g["init"]):
            traj.setdefault(r.method, []).append(r.trajectory)
        fig, _ = plot_trajectories(traj, title=f"{tag}: λ_1 during training")
        f1 = Figure(
            save(fig, figures / f"trajectory_{tag}.png"),
            "λ_1 over training: mean and 95 % interval over seeds",
        )
        fig, _ = plot_metric_bars(g["summary"], title=f"{tag}: accuracy")
        f2 = Figure(
            save(fig, figures / f"accuracy_{tag}.png"),
            "Accuracy by method (95 % t intervals over seeds)",
        )
        rows = [
            {"method": m}
            | {
                _LABELS[k]: _interval(s[k], _KIND.get(k, "fraction"))
                for k in ("lambda_initial", *METRICS)
            }
            for m, s in g["summary"].items()
        ]
        folded = Details(
            "Means per method and every paired test",
            [
                Table(rows, caption="mean [95 % CI] over seeds"),
                Table(
                    _contrast_rows(g),
                    caption="paired differences A − B over seeds (accuracy in percentage points)",
                ),
            ],
        )
        items: list[Item] = [
            FigureRow([f1, f2]),
            Table(
                _compact_rows(g),
                caption="Paired differences A − B [95 % CI] over seeds (accuracy in "
                "percentage points)",
            ),
            folded,
        ]
        out.append(Section(group_title(g), items, lead=_group_lead(g)))
    from criticality.experiments.training.energy import energy_sections

    return out + energy_sections(data, out_dir)


def _is_criticality(method: str, data: dict[str, Any]) -> bool:
    """A method that steers toward criticality (its registry kind, recorded in the results)."""
    kind = data.get("methods", {}).get(method, {}).get("kind")
    return kind == "criticality" if kind else method.startswith("critical")


def _criticality_contrasts(
    group: dict[str, Any], baseline: str, data: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Contrasts ``m − baseline`` for the criticality methods of a group."""
    out = {}
    for contrast, comp in group["comparisons"].items():
        a, _, b = contrast.partition(" − ")
        if b == baseline and _is_criticality(a, data):
            out[a] = comp
    return out


def scorecard(data: dict[str, Any]) -> list[ScoreRow]:
    """M2 (clean accuracy, accuracy under corruptions, under PGD: one row each) on the main
    groups, and whether the criticality methods bring ordered and chaotic starts closer to
    λ_1 = 0 than plain training does.

    Rules: each criticality method's paired difference from ``plain`` by
    :func:`~criticality.reporting.verdicts.judge_interval` with a margin of ±0.5
    percentage points (inconclusive with fewer than three seeds, or when either network stayed
    at chance), combined over methods and groups with
    :func:`~criticality.reporting.verdicts.combine`.
    """
    main = [g for g in data["groups"] if g["init"] == "default"] or data["groups"][:1]
    rows: list[ScoreRow] = []
    for metrics, statement in (
        (("clean",), "Training toward criticality improves clean accuracy"),
        (("corruption",), "Training toward criticality improves accuracy under corruptions"),
        (("pgd",), "Training toward criticality improves accuracy under attack (PGD)"),
    ):
        figures, verdicts, link, behind = [], [], None, []
        for g in main:
            where = f"{g['dataset']} {g['model']} " if len(main) > 1 else ""
            behind += _behind_baselines(g, metrics[0], data)
            for method, comp in _criticality_contrasts(g, "plain", data).items():
                if comp["clean"]["n"] < 2:
                    continue  # a paired interval needs two seeds
                parts = [f"{_short(k)} {_pp(comp[k])}" for k in metrics]
                verdicts += [
                    interval_verdict(
                        comp[k]["ci_low"],
                        comp[k]["ci_high"],
                        margin=ACCURACY_MARGIN,
                        replicates=comp[k]["n"],
                        learned=_learned(g, method),
                    )
                    for k in metrics
                ]
                figures.append(f"{where}{method}: " + ", ".join(parts))
                link = link or group_title(g)
        if figures:
            rows.append(
                ScoreRow(
                    statement,
                    "; ".join(figures),
                    combine(verdicts),
                    (
                        "rule: CI of method − plain above 0; below 0 or within ±0.5 pp: not "
                        "supported; every method must agree"
                        if not rows
                        else "rule as above"
                    )
                    + (f"; behind {', '.join(behind)}" if behind else ""),
                    link,
                    claim="M2",
                )
            )
    return (rows or _reading_rows(data)) + _init_rows(data)


def _learned(group: dict[str, Any], method: str) -> bool:
    """Whether both ``method`` and ``plain`` left chance (10 classes) in ``group``."""
    summary = group["summary"]
    return all(
        left_chance(summary[m]["clean"]["mean"], CHANCE) for m in (method, "plain") if m in summary
    )


def _reading_rows(data: dict[str, Any]) -> list[ScoreRow]:
    """Without a contrast (one method, e.g. ``criticality train``): each method's final regime
    and accuracy, as readings."""
    from criticality.measures.words import log_gain_in_words

    rows = []
    for g in data["groups"]:
        for method, s in g["summary"].items():
            lam, acc = s["lambda_final"], s["clean"]
            words = log_gain_in_words(lam["mean"])
            rows.append(
                ScoreRow(
                    f"Regime after training ({method}, {g['dataset']}, {g['model']})",
                    f"λ_1 = {_interval(lam, 'exponent')}; clean accuracy {_interval(acc)}",
                    words.split(":")[0],
                    words.split(":", 1)[1].strip() + f" ({lam['n']} seed(s))",
                    group_title(g),
                )
            )
    return rows


def _behind_baselines(group: dict[str, Any], metric: str, data: dict[str, Any]) -> list[str]:
    """Baselines other than plain that a criticality method trails on ``metric`` (95 % CI of
    the difference below 0), e.g. ``"jacobian (−19.4 pp)"``: a caveat on a gain over plain."""
    gaps: dict[str, list[float]] = {}
    for contrast, comp in group["comparisons"].items():
        a, _, b = contrast.partition(" − ")
        if _is_criticality(a, data) and b != "plain" and comp[metric]["ci_high"] < 0:
            gaps.setdefault(b, []).append(100 * comp[metric]["mean_diff"])
    return [
        f"{b} ({fmt(max(d), 'points')} pp)"
        if len(d) == 1
        else f"{b} ({fmt(max(d), 'points')} to {fmt(min(d), 'points')} pp)"
        for b, d in gaps.items()
    ]


def _pp(c: dict[str, Any]) -> str:
    """An accuracy difference (fractions) in percentage points, with its interval."""
    return fmt_ci(100 * c["mean_diff"], 100 * c["ci_low"], 100 * c["ci_high"], "points") + " pp"


def _short(metric: str) -> str:
    return {"clean": "clean", "corruption": "corruptions", "pgd": "PGD"}[metric]


def _init_rows(data: dict[str, Any]) -> list[ScoreRow]:
    """ "The criticality methods bring ordered and chaotic starts closer to λ_1 = 0 than plain
    training": paired difference of the final |λ_1| (rule: its 95 % CI lies below 0)."""
    groups = [g for g in data["groups"] if g["init"] != "default"]
    figures, verdicts, link = [], [], None
    for g in groups:
        for method, comp in _criticality_contrasts(g, "plain", data).items():
            d = comp["distance"]
            final = g["summary"][method]["lambda_final"]["mean"]
            figures.append(
                f"{g['init']}, {method}: λ_1 → {fmt(final, 'exponent')}, "
                f"Δ|λ_1| {_diff(d, 'exponent')}"
            )
            verdicts.append(
                interval_verdict(
                    d["ci_low"],
                    d["ci_high"],
                    direction=-1,
                    replicates=d["n"],
                    learned=_learned(g, method),
                )
            )
            link = link or group_title(g)
    if not figures:
        return []
    return [
        ScoreRow(
            "From ordered and chaotic starts, criticality methods end closer to λ_1 = 0 than plain",
            "; ".join(figures),
            combine(verdicts),
            "rule: CI of the final |λ_1|, method − plain, below 0",
            link,
        )
    ]
