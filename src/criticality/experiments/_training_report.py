"""The report of the training experiment, drawn from ``results.json`` only (no recomputing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from criticality.reporting import Figure, Section, Table

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


def effect_sentences(
    group: dict[str, Any], metrics: tuple[str, ...] = ("clean", "corruption", "pgd", "distance")
) -> list[str]:
    """One sentence per contrast ``A − B``: paired differences with 95 % CIs and p-values."""
    out = []
    for contrast, comp in group["comparisons"].items():
        parts = []
        for k in metrics:
            c = comp[k]
            ci = f"[{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]"
            parts.append(
                f"{_LABELS[k]} {c['mean_diff']:+.3f} {ci} "
                f"(paired t p = {c['p_t']:.3g}, Wilcoxon p = {c['p_wilcoxon']:.3g})"
            )
        out.append(f"{contrast}, n = {comp['clean']['n']} seeds: " + "; ".join(parts) + ".")
    return out


def _contrast_rows(group: dict[str, Any]) -> list[dict[str, Any]]:
    keys = ("mean_diff", "ci_low", "ci_high", "p_t", "p_wilcoxon", "effect_dz")
    return [
        {"contrast": contrast, "metric": _LABELS[k], **{key: comp[k][key] for key in keys}}
        for contrast, comp in group["comparisons"].items()
        for k in ("clean", "noise", "corruption", "fgsm", "pgd", "distance")
    ]


def _interval(stat: dict[str, float]) -> str:
    return f"{stat['mean']:.3f} [{stat['ci_low']:.3f}, {stat['ci_high']:.3f}]"


def sections(data: dict[str, Any], out_dir: Path) -> list[Section]:
    """The report: per group a reading, tables of means and paired differences, and figures."""
    from criticality.reporting.plots import plot_metric_bars, plot_trajectories, save

    figures = Path(out_dir) / "figures"
    b = data["budget"]
    methods = [
        {"method": m, "kind": row["kind"], "what it adds": row["summary"],
         "options": ", ".join(f"{k}={v}" for k, v in row["options"].items()),
         "reference": row["reference"]}
        for m, row in data.get("methods", {}).items()
    ]  # fmt: skip
    out = [
        Section(
            "Training toward criticality: set-up",
            [
                f"Every method trains the same network from the same initialisation on the "
                f"same batches: {b['steps']} Adam steps of {b['batch_size']} inputs (lr "
                f"{b['lr']}); only the loss term or the weight decay differs. Differences are "
                "method − plain on the same seed, with 95 % Student-t intervals, the paired t "
                "test and the Wilcoxon signed-rank test; we report them whichever way they come "
                "out. λ_1 is the largest Lyapunov exponent across depth (per-unit RMS norm) on a "
                "fixed probe set; 0 is critical.",
                Table(methods, caption="The training methods (rows of the method registry)"),
            ],
        )
    ]
    for g in data["groups"]:
        tag = f"{g['dataset']}-{g['model']}-{g['init']}"
        runs = [
            r
            for r in data["runs"]
            if (r["dataset"], r["model"], r["init"]) == (g["dataset"], g["model"], g["init"])
        ]
        traj: dict[str, list[Any]] = {}
        for r in runs:
            traj.setdefault(r["method"], []).append(r["trajectory"])
        fig, _ = plot_trajectories(traj, title=f"{tag}: λ_1 during training")
        f1 = Figure(
            save(fig, figures / f"trajectory_{tag}.png"),
            "λ_1 over training: mean and range over seeds",
        )
        fig, _ = plot_metric_bars(g["summary"], title=f"{tag}: accuracy")
        f2 = Figure(
            save(fig, figures / f"accuracy_{tag}.png"),
            "Accuracy by method (95 % t intervals over seeds)",
        )
        rows = [
            {"method": m, **{_LABELS[k]: _interval(s[k]) for k in ("lambda_initial", *METRICS)}}
            for m, s in g["summary"].items()
        ]
        out.append(
            Section(
                f"Training toward criticality: {g['dataset']}, {g['model']}, {g['init']} "
                "initialisation",
                [
                    *effect_sentences(g),
                    Table(rows, caption="mean [95 % CI] over seeds"),
                    Table(_contrast_rows(g), caption="paired differences A − B over seeds"),
                    f1,
                    f2,
                ],
            )
        )
    return out
