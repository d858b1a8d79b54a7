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

from criticality.numbers import fmt, fmt_ci
from criticality.reporting import Figure, Section, Table
from criticality.reporting.html import Details, FigureRow, Footnote, Item
from criticality.reporting.paired import paired_section as paired_section
from criticality.reporting.paired import paired_title as paired_title
from criticality.reporting.scorecard import ScoreRow
from criticality.reporting.verdicts import rho_text as rho_text
from criticality.reporting.verdicts import spearman_verdict as spearman_verdict
from criticality.reporting.verdicts import wilcoxon_verdict as wilcoxon_verdict
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


def ftle_sentence(rows: Sequence[dict[str, Any]]) -> str:
    """Which measured models' FTLE stopped before it converged, in one sentence ("" if none):
    power iteration approaches s_max from below, so their FTLE is a lower bound."""
    late = [
        f"{r['model']} ({r['weights']})" if r["weights"] != "random" else r["model"]
        for r in rows
        if r["status"] == "ok"
        and ((r.get("report") or {}).get("results", {}).get("ftle") or {}).get("converged") is False
    ]
    if not late:
        return ""
    return (
        f"The FTLE of {len(late)} model{'s' if len(late) > 1 else ''} stopped before it "
        f"converged ({', '.join(late)}): each is a lower bound; more ftle_iter steps tighten it."
    )


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
    names = sorted({m for r in recs for m in r["metrics"]}, key=lambda m: (m != DISTANCE, m))
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


def notes(text: str) -> Footnote | str:
    """A statistics note (solver warnings, small-sample caveats) as a numbered footnote."""
    return Footnote(text) if text else ""


def spearman_table(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Spearman rows for display: ρ with its bootstrap CI, p, n, the note as a footnote."""
    return [
        {
            "x": r["x"],
            "y": r["y"],
            "ρ [95 % CI]": fmt_ci(r["rho"], r["ci_low"], r["ci_high"], "corr"),
            "p": r["p_value"],
            "n": r["n"],
            "note": notes(r.get("note", "")),
        }
        for r in rows
    ]


def mixed_table(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mixed-model rows for display; a solver that did not converge says so in the table."""
    return [
        {
            "model": r["model"],
            "slope [95 % CI]": fmt_ci(r["slope"], r["ci_low"], r["ci_high"], "diff"),
            "p": r["p_value"],
            "n": r["n"],
            "families": r["n_groups"],
            "converged": "yes" if r["converged"] else "no: do not read the slope",
            "note": notes(r.get("note", "")),
        }
        for r in rows
    ]


def groups_table(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mann–Whitney rows for display."""
    return [
        {
            "comparison": r["comparison"],
            "median (first)": r["median_a"],
            "median (second)": r["median_b"],
            "n": f"{r['n_a']} vs {r['n_b']}",
            "effect": r["effect"],
            "p": r["p_value"],
            "note": notes(r.get("note", "")),
        }
        for r in rows
    ]


def sections(data: dict[str, Any], out_dir: Path) -> list[Section]:
    """The scan report: what ran, what failed, the statistics and the figures."""
    from criticality.experiments.zoo.results import ScanResults

    results = ScanResults.from_dict(data)
    rows = results.rows
    recs = records(rows)
    figures = out_dir / "figures"
    ok = sum(r["status"] == "ok" for r in rows)
    table = Table(
        [{k: r[k] for k in ("model", "weights", "status", "reason", "seconds")} for r in rows]
    )
    head = Section(
        SCANNED,
        [
            f"Measurement settings: {settings_text(results.settings)} (store key "
            f"{results.config_hash}). Distance "
            "to criticality is |λ_1|, the top Lyapunov exponent across depth (nats per stage); 0 "
            "is critical.",
            Details(
                f"Every model, with its time and any failure reason ({len(rows)} rows)", [table]
            ),
        ],
        lead=f"{len(rows)} model × weights rows: {ok} measured, {len(rows) - ok} failed or "
        f"skipped. {ftle_sentence(rows)}".strip(),
    )
    out = [head]
    for weights in dict.fromkeys(r["weights"] for r in recs):
        subset = [r for r in recs if r["weights"] == weights]
        out += analysis_sections(subset, figures, tag=f"{weights}_", what=_what(weights))
    pair = paired(recs)
    if pair is not None:
        out.append(paired_section(pair))
    return out


SCANNED = "What was scanned"


def settings_text(settings: dict[str, Any]) -> str:
    """Measurement settings in words, e.g. ``"measures lyapunov; n probes 2; k 2"``."""

    def value(v: Any) -> str:
        return ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)

    return "; ".join(f"{k.replace('_', ' ')} {value(v)}" for k, v in settings.items())


def _what(weights: str) -> str:
    if weights == "random":
        return (
            "random initialisation: the accuracy column is that of the architecture's "
            "pretrained weights, so this asks whether an untrained architecture's "
            "criticality predicts how well it trains"
        )
    return "pretrained weights: criticality of the trained networks themselves"


def stats_title(what: str) -> str:
    """The section title of :func:`analysis_sections` for the description ``what``."""
    return f"Statistics: {what.split(':')[0]}"


def analysis_sections(
    recs: Sequence[dict[str, Any]], figures: Path, *, tag: str, what: str, seed: int = 0
) -> list[Section]:
    """Statistics, scatter plots and extreme profiles of one set of records.

    The finding (n, ρ with its CI and p) leads; the figures follow; the raw tables (Spearman
    for every measure, publication year, mixed model, Mann–Whitney) and the extreme profiles
    are folded.
    """
    title = stats_title(what)
    if not recs:
        return [Section(title, ["No model was measured."])]
    stats = analyse(recs, seed=seed)
    lead = (
        f"Models: {what}. {stats['n']} models, {stats['n_with_accuracy']} with a known "
        f"accuracy. " + reading(stats)
    )
    items: list[Item] = []
    raw: list[Item] = [
        Table(
            spearman_table(stats["spearman"]),
            caption="Spearman: accuracy against each measure (bootstrap CI)",
        ),
    ]
    if DISTANCE in recs[0]["metrics"]:
        row = FigureRow([])
        if stats["n_with_accuracy"]:
            row.figures.append(_scatter(recs, "accuracy", figures / f"{tag}accuracy.png"))
        if stats.get("year"):
            raw.append(
                Table(
                    spearman_table(stats["year"]),
                    caption="Spearman: publication year against distance",
                )
            )
            row.figures.append(_scatter(recs, "year", figures / f"{tag}year.png"))
        if row.figures:
            items.append(row)
        if stats.get("mixed"):
            raw.append(
                Table(mixed_table(stats["mixed"]), caption="Linear mixed-effects model (REML)")
            )
        caption = "Mann–Whitney U between groups (effect: rank-biserial, > 0: first larger)"
        raw.append(Table(groups_table(stats["groups"]), caption=caption))
        raw.append(_extremes(recs, figures / f"{tag}extremes.png"))
    items.append(Details("Statistics tables and the most and least critical profiles", raw))
    degenerate = degenerate_models(recs)
    if degenerate:
        items.insert(0, Footnote(
            f"{', '.join(degenerate)}: one stage annihilates perturbations (a zero-initialised "
            "classifier head: ln g at the floating-point floor), so |λ_1| measures that stage, "
            "not the body. Measure the body alone with `measure(criticality.stages(model)[:-1], "
            "x)`."))  # fmt: skip
    return [Section(title, items, lead=lead)]


def degenerate_models(recs: Sequence[dict[str, Any]]) -> list[str]:
    """Models of ``recs`` with a stage whose ``ln g`` is at the floating-point floor."""
    from criticality.consensus import consensus
    from criticality.report import CriticalityReport

    reports = [(r["model"], CriticalityReport.from_dict(r["report"])) for r in recs]
    return [m for m, rep in reports if "lyapunov" in rep.results and consensus(rep).degenerate]


def reading(stats: dict[str, Any]) -> str:
    """The main result in words, with what it does not show."""
    main = next((s for s in stats["spearman"] if s["x"] == DISTANCE), None)
    if main is None or math.isnan(main["rho"]):
        return "Too few models with an accuracy for a rank correlation."
    sign = "closer to criticality" if main["rho"] < 0 else "further from criticality"
    inside = main["ci_low"] <= 0 <= main["ci_high"]
    text = (
        f"More accurate ones tend to sit {sign} (Spearman ρ = "
        f"{fmt_ci(main['rho'], main['ci_low'], main['ci_high'], 'corr')}, "
        f"p = {fmt(main['p_value'], 'p')}). "
    )
    if inside:
        text += "The interval contains 0: the evidence for a relation is weak. "
    elif main["p_value"] < 0.05:
        text += "The interval excludes 0 and p < 0.05. "
    else:
        text += "The interval excludes 0 but p ≥ 0.05: a tentative relation. "
    return text + (
        "A rank correlation across architectures is not a causal effect: families "
        "differ in many ways at once (size, training recipe, normalisation)."
    )


#: Absolute tolerance of a float32 measure's headline in a golden file (as ``measure``'s).
MEASURE_TOL = 1e-3


def accuracy_tol(n_test: int) -> float:
    """Absolute tolerance of a test accuracy in % in a golden file: four of the ``n_test`` test
    images (as ``training``'s; a float32 drift of the weights moves only images near the
    decision boundary)."""
    return 400.0 / n_test


def report_headline(report: dict[str, Any], prefix: str) -> dict[str, tuple[float, float]]:
    """``{PREFIX.MEASURE: (headline mean, MEASURE_TOL)}`` of one report dict."""
    from criticality.report import CriticalityReport

    rep = CriticalityReport.from_dict(report)
    return {f"{prefix}.{m}": (r.headline().mean, MEASURE_TOL) for m, r in rep.results.items()}


def scan_headline(data: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """The golden numbers (:mod:`criticality.experiments._golden`): each measured row's
    headline of every measure (float32: :data:`MEASURE_TOL`), and the count of measured rows
    (exact)."""
    from criticality.experiments.zoo.results import ScanResults

    rows = ScanResults.from_dict(data).rows
    ok = [r for r in rows if r["status"] == "ok" and r.get("report")]
    out: dict[str, tuple[float, float]] = {"measured rows": (len(ok), 0.0)}
    for r in ok:
        out |= report_headline(r["report"], f"{r['model']}.{r['weights']}")
    return out


def scan_scorecard(data: dict[str, Any]) -> list[ScoreRow]:
    """M1 on the scanned models (pretrained when there are, else at random initialisation, with
    that caveat), the publication-year trend, and pretrained against random initialisation."""
    from criticality.experiments.zoo.results import ScanResults

    recs = records(ScanResults.from_dict(data).rows)
    rows: list[ScoreRow] = []
    pretrained = [r for r in recs if r["weights"] != "random"]
    subset, weights = (pretrained, "pretrained") if pretrained else (recs, "random")
    if not subset:
        return rows
    stats = analyse(subset)
    title = stats_title(_what(weights))
    main = next((s for s in stats["spearman"] if s["x"] == DISTANCE), None)
    caveat = "" if weights != "random" else "; at random init, not the paper's trained nets"
    if main is not None:
        rows.append(
            ScoreRow(
                "More accurate networks sit closer to criticality",
                rho_text(main),
                spearman_verdict(main),
                "rule: the 95 % CI of ρ(accuracy, |λ_1|) lies below 0" + caveat,
                title,
                claim="M1",
            )
        )
    if stats.get("year"):
        year = stats["year"][0]
        rows.append(
            ScoreRow(
                "Newer architectures sit closer to criticality",
                rho_text(year),
                spearman_verdict(year),
                "rule: the 95 % CI of ρ(year, |λ_1|) lies below 0" + caveat,
                title,
                claim="M1",
            )
        )
    pair = paired(recs)
    if pair is not None:
        t = pair["test"]
        rows.append(
            ScoreRow(
                "Pretrained networks sit closer to criticality than at random init",
                f"median Δ|λ_1| = {fmt(t['median_diff'], 'diff')}, p = "
                f"{fmt(t['p_value'], 'p')}, n = {t['n']}",
                wilcoxon_verdict(t),
                "rule: Wilcoxon p < 0.05 and median |λ_1| pretrained − random < 0",
                paired_title(),
            )
        )
    return rows


def _scatter(recs: Sequence[dict[str, Any]], x_key: str, path: Path) -> Figure:
    """|λ_1| against ``x_key``; each point labelled with its family (colour and marker too)."""
    from criticality.reporting.plots import MARKERS, PALETTE, axes, save

    fig, ax = axes(None, (6.0, 4.4))
    families = sorted({r["family"] for r in recs})
    for i, fam in enumerate(families):
        pts = [r for r in recs if r["family"] == fam and r[x_key] is not None]
        if not pts:
            continue
        xs, ys = [r[x_key] for r in pts], [r["metrics"][DISTANCE] for r in pts]
        ax.scatter(
            xs,
            ys,
            color=PALETTE[i % len(PALETTE)],
            marker=MARKERS[i % len(MARKERS)],
            s=30,
            edgecolors="k",
            linewidths=0.3,
        )
        for x, y in zip(xs, ys, strict=True):
            ax.annotate(fam, (x, y), xytext=(3, 2), textcoords="offset points", fontsize=8)
    ax.set_xlabel("top-1 accuracy (%)" if x_key == "accuracy" else "publication year")
    if x_key == "year":
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"{DISTANCE} (0 = critical)")
    return Figure(save(fig, path), f"{DISTANCE} against {x_key}, each point labelled by family")


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
