"""Statistics and report sections of a zoo scan (and of the demo's zoo parts).

Everything here reads stored rows only (``results.json``): no model is built or measured.
A *record* is one measured model as a flat dict: ``model``, ``weights`` (``"random"`` or
``"pretrained"``, which includes weights from files), ``family``, ``year``,
``kind``, ``batchnorm``, ``accuracy`` (``None`` if unknown) and ``metrics`` (name -> value).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from criticality.reporting import Figure, Section, Table
from criticality.stats import mann_whitney, mixed_effects, spearman, wilcoxon

TITLE = "criticality zoo scan: distance to criticality against accuracy and year"

DISTANCE = "distance |λ_1|"


def records(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flat records of the ``ok`` rows of a scan (see the module docstring)."""
    from criticality.report import CriticalityReport

    out = []
    for row in rows:
        if row["status"] != "ok" or not row.get("report"):
            continue
        rep = CriticalityReport.from_dict(row["report"])
        meta = row.get("meta") or {}
        out.append({
            "model": row["model"],
            "weights": "random" if row["weights"] == "random" else "pretrained",
            "family": meta.get("family") or row["model"], "year": meta.get("year") or None,
            "kind": meta.get("kind", ""), "batchnorm": "batch" in str(meta.get("norm", "")),
            "accuracy": meta.get("top1"), "metrics": metrics(rep), "report": row["report"],
        })  # fmt: skip
    return out


def metrics(report: Any) -> dict[str, float]:
    """The numbers compared with accuracy: ``|λ_1|`` and each measure's distance from critical."""
    from criticality.measures import get_measure

    out: dict[str, float] = {}
    if "lyapunov" in report.results:
        out[DISTANCE] = float(report.distance)
        out["λ_1"] = float(report.lambda_max)
        gains = report.lyapunov.stage_profile()[1]
        out["median |ln g_l|"] = float(np.median(np.abs(gains[np.isfinite(gains)])))
    for name, result in report.results.items():
        if name == "lyapunov":
            continue
        value = float(result.headline().mean)
        crit = get_measure(name).critical_value
        out[f"|{name} − {crit:g}|"] = abs(value - crit)
    return out


def analyse(recs: Sequence[dict[str, Any]], *, seed: int = 0) -> dict[str, Any]:
    """All statistics of one set of records, as plain dicts (tables of the report)."""
    with_acc = [r for r in recs if r["accuracy"] is not None]
    names = sorted({m for r in recs for m in r["metrics"]}, key=lambda m: m != DISTANCE)
    acc = np.array([r["accuracy"] for r in with_acc], dtype=float)
    out: dict[str, Any] = {"n": len(recs), "n_with_accuracy": len(with_acc)}
    out["spearman"] = [
        {"x": m, "y": "accuracy", **_row(spearman(_col(with_acc, m), acc, seed=seed))}
        for m in names
    ]
    dated = [r for r in recs if r["year"]]
    if dated and DISTANCE in names:
        res = spearman([r["year"] for r in dated], _col(dated, DISTANCE), seed=seed)
        out["year"] = [{"x": "year", "y": DISTANCE, **_row(res)}]
    if with_acc and DISTANCE in names:
        fam = [r["family"] for r in with_acc]
        row = _row(mixed_effects(acc, _col(with_acc, DISTANCE), fam))
        if row["n_groups"] == row["n"]:
            row["note"] = (
                "one model per family: the family effect is not identifiable; " + (row["note"])
            )
        if not row["converged"]:
            row["note"] = "did not converge, do not read the slope; " + row["note"]
        out["mixed"] = [{"model": f"accuracy ~ {DISTANCE} + (1 | family)", **row}]
    if DISTANCE in names:
        out["groups"] = _groups(recs)
    return out


def _groups(recs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    splits = {
        "BatchNorm vs none": (lambda r: r["batchnorm"], lambda r: not r["batchnorm"]),
        "CNN vs transformer": (lambda r: r["kind"] == "conv", lambda r: r["kind"] == "transformer"),
    }
    for label, (in_a, in_b) in splits.items():
        a = [r["metrics"][DISTANCE] for r in recs if in_a(r)]
        b = [r["metrics"][DISTANCE] for r in recs if in_b(r)]
        rows.append({"comparison": f"{DISTANCE}: {label}", **_row(mann_whitney(a, b))})
    return rows


def paired(recs: Sequence[dict[str, Any]], metric: str = DISTANCE) -> dict[str, Any] | None:
    """Wilcoxon of ``metric`` for models measured both pretrained and at random init."""
    pre = {r["model"]: r["metrics"].get(metric) for r in recs if r["weights"] != "random"}
    rnd = {r["model"]: r["metrics"].get(metric) for r in recs if r["weights"] == "random"}
    both = sorted(set(pre) & set(rnd))
    if not both:
        return None
    x, y = [pre[m] for m in both], [rnd[m] for m in both]
    table = [
        {"model": m, "pretrained": a, "random init": b} for m, a, b in zip(both, x, y, strict=True)
    ]
    return {"metric": metric, "pairs": table, "test": _row(wilcoxon(x, y))}


def _col(recs: Sequence[dict[str, Any]], metric: str) -> np.ndarray:
    return np.array([r["metrics"].get(metric, math.nan) for r in recs], dtype=float)


def _row(result: Any) -> dict[str, Any]:
    return dataclasses.asdict(result)


# ---- report sections --------------------------------------------------------------------------


def sections(data: dict[str, Any], out_dir: Path) -> list[Section]:
    """The scan report: what ran, what failed, the statistics and the figures."""
    rows = data["rows"]
    recs = records(rows)
    figures = out_dir / "figures"
    ok = sum(r["status"] == "ok" for r in rows)
    head = Section("What was scanned", [
        f"{len(rows)} model × weights rows under measurement settings {data['settings']} "
        f"(store key {data['config_hash']}): {ok} measured, {len(rows) - ok} failed or skipped. "
        "Distance to criticality is |λ_1|, the top Lyapunov exponent across depth (nats per "
        "stage); 0 is critical.",
        Table([{k: r[k] for k in ("model", "weights", "status", "reason", "seconds")}
               for r in rows], caption="Every model, with its time and any failure reason"),
    ])  # fmt: skip
    out = [head]
    for weights in dict.fromkeys(r["weights"] for r in recs):
        subset = [r for r in recs if r["weights"] == weights]
        what = (
            "random initialisation: the accuracy column is that of the architecture's "
            "pretrained weights, so this asks whether an untrained architecture's "
            "criticality predicts how well it trains"
            if weights == "random"
            else "pretrained weights: criticality of the trained networks themselves"
        )
        out += analysis_sections(subset, figures, tag=f"{weights}_", what=what)
    pair = paired(recs)
    if pair is not None:
        out.append(paired_section(pair))
    return out


def analysis_sections(
    recs: Sequence[dict[str, Any]], figures: Path, *, tag: str, what: str, seed: int = 0
) -> list[Section]:
    """Statistics, scatter plots and extreme profiles of one set of records."""
    if not recs:
        return [Section(f"Statistics ({what.split(':')[0]})", ["No model was measured."])]
    stats = analyse(recs, seed=seed)
    title = what.split(":")[0]
    items: list[str | Table | Figure] = [
        f"Models: {what}. {stats['n']} models, {stats['n_with_accuracy']} with a known accuracy.",
        reading(stats),
        Table(stats["spearman"], caption="Spearman: accuracy against each measure (bootstrap CI)"),
    ]
    if DISTANCE in recs[0]["metrics"]:
        if stats["n_with_accuracy"]:
            items.append(_scatter(recs, "accuracy", figures / f"{tag}accuracy.png"))
        if stats.get("year"):
            items += [Table(stats["year"], caption="Spearman: publication year against distance"),
                      _scatter(recs, "year", figures / f"{tag}year.png")]  # fmt: skip
        if stats.get("mixed"):
            items.append(Table(stats["mixed"], caption="Linear mixed-effects model (REML)"))
        caption = "Mann–Whitney U between groups (effect: rank-biserial, > 0: first larger)"
        items.append(Table(stats["groups"], caption=caption))
        items.append(_extremes(recs, figures / f"{tag}extremes.png"))
    return [Section(f"Statistics: {title}", items)]


def reading(stats: dict[str, Any]) -> str:
    """The main result in words, with what it does not show."""
    main = next((s for s in stats["spearman"] if s["x"] == DISTANCE), None)
    if main is None or math.isnan(main["rho"]):
        return "Too few models with an accuracy for a rank correlation."
    sign = "closer to criticality" if main["rho"] < 0 else "further from criticality"
    inside = main["ci_low"] <= 0 <= main["ci_high"]
    text = (f"Across {main['n']} models, more accurate ones tend to sit {sign} (Spearman ρ = "
            f"{main['rho']:+.2f}, 95 % CI [{main['ci_low']:+.2f}, {main['ci_high']:+.2f}], "
            f"p = {main['p_value']:.2g}). ")  # fmt: skip
    if inside:
        text += "The bootstrap interval contains 0: the evidence for a relation is weak. "
    elif main["p_value"] < 0.05:
        text += "The interval excludes 0 and p < 0.05. "
    else:
        text += "The interval excludes 0 but p ≥ 0.05: a tentative relation. "
    return text + ("A rank correlation across architectures is not a causal effect: families "
                   "differ in many ways at once (size, training recipe, normalisation), which "
                   "the mixed-effects model only partly absorbs.")  # fmt: skip


def paired_section(pair: dict[str, Any], *, after: str = "pretrained") -> Section:
    """The Wilcoxon test of ``after`` (pretrained, trained) against random initialisation."""
    test = pair["test"]
    closer = "closer to" if test["median_diff"] < 0 else "further from"
    text = (f"Wilcoxon signed-rank test of {pair['metric']} for the same architectures "
            f"{after} and at random initialisation ({test['n']} pairs): median difference "
            f"({after} − random) {test['median_diff']:+.3f}, so {after} networks sit {closer} "
            f"criticality in the median pair; p = {test['p_value']:.3g}. "
            f"{test['note']}")  # fmt: skip
    rows = [{"model": r["model"], after: r["pretrained"], "random init": r["random init"]}
            for r in pair["pairs"]]  # fmt: skip
    return Section(f"{after.capitalize()} against random initialisation", [
        text, Table(rows), Table([test], caption="Wilcoxon signed-rank")])  # fmt: skip


def _scatter(recs: Sequence[dict[str, Any]], x_key: str, path: Path) -> Figure:
    from criticality.reporting.plots import axes, save

    fig, ax = axes(None, (8.0, 5.0))
    families = sorted({r["family"] for r in recs})
    colours = {f: f"C{i % 10}" for i, f in enumerate(families)}
    markers = {f: "os^Dv"[(i // 10) % 5] for i, f in enumerate(families)}
    for fam in families:
        pts = [r for r in recs if r["family"] == fam and r[x_key] is not None]
        if pts:
            ax.scatter([r[x_key] for r in pts], [r["metrics"][DISTANCE] for r in pts],
                       c=colours[fam], marker=markers[fam], label=fam, s=22)  # fmt: skip
        for r in pts:
            ax.annotate(r["model"], (r[x_key], r["metrics"][DISTANCE]), fontsize=5, alpha=0.7)
    ax.set_xlabel("top-1 accuracy (%)" if x_key == "accuracy" else x_key)
    ax.set_ylabel(f"{DISTANCE} (0 = critical)")
    ax.legend(fontsize=6, ncol=2, loc="best")
    return Figure(save(fig, path), f"{DISTANCE} against {x_key}, coloured by family")


def _extremes(recs: Sequence[dict[str, Any]], path: Path) -> Figure:
    from criticality.report import CriticalityReport
    from criticality.reporting.plots import axes, plot_stage_profile, save

    ordered = sorted(recs, key=lambda r: r["metrics"][DISTANCE])
    picks = ordered[:2] + [r for r in ordered[-2:] if r not in ordered[:2]]
    fig, ax = axes(None, (8.0, 4.0))
    for r in picks:
        rep = CriticalityReport.from_dict(r["report"])
        plot_stage_profile(rep.lyapunov, ax=ax, label=f"{r['model']} (|λ_1| = {rep.distance:.2f})")
    ax.set_xticks([])
    ax.legend(fontsize=7)
    return Figure(save(fig, path), "Per-stage profiles of the most and least critical models")
