"""Statistics and report sections of the trained zoo (``zoo-train``), from stored rows only.

A *point* is one stored row: a network × dataset × seed measured at one step of training.
The statistics work on *networks*: each network's accuracy and measures averaged over its seeds
at a step, so that ``n`` counts architectures (the unit the paper's claim is about), not runs.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from criticality.experiments.zoo.results import TrainPoint, ZooTrainResults
from criticality.experiments.zoo.scan_report import (
    DISTANCE,
    analyse,
    groups_table,
    metrics,
    mixed_table,
    rho_text,
    spearman_table,
    wilcoxon_verdict,
)
from criticality.numbers import Kind, fmt, fmt_ci
from criticality.reporting import Section, Table
from criticality.reporting.html import Details, Item
from criticality.reporting.scorecard import ScoreRow
from criticality.stats import (
    detectable_correlation,
    mann_whitney,
    mixed_effects,
    spearman,
    wilcoxon,
)

TITLE = "The trained zoo: real architectures trained here, against distance to criticality"
PROBES = ("test", "gaussian", "augmented")
#: Final accuracy (%) above which a network counts as having left chance (10 classes: 10 %).
ABOVE_CHANCE = 20.0

Record = dict[str, Any]


def points(rows: Sequence[dict[str, Any]]) -> list[Record]:
    """One flat record per ``ok`` row: the training metadata and :func:`metrics` of its report
    (plus the distance ``|λ_1|`` on each probe set)."""
    from criticality.report import CriticalityReport

    out = []
    for row in rows:
        if row["status"] != "ok" or not row.get("report"):
            continue
        rep = CriticalityReport.from_dict(row["report"])
        z = dict(rep.metadata["zoo_train"])
        z.setdefault("start", "default")
        if "depth" not in z:
            z["depth"] = _depth(z["net"], z.get("stem", "imagenet"))
        m = metrics(rep)
        for p in PROBES:
            m[f"|λ_1| {p} probes"] = abs(float(z["lambda_1"][p]))
        out.append({**z, "model": z["net"], "metrics": m, "report": row["report"]})
    return out


@functools.cache
def _depth(net: str, stem: str) -> int:
    """Convolution and linear layers of ``net`` (rows written before ``depth`` was stored)."""
    from criticality.zoo import small_image_net

    return weight_layers(small_image_net(net, seed=0))


def weight_layers(model: torch.nn.Module) -> int:
    """Depth as the number of convolution and linear layers (the partial correlation's
    covariate)."""
    kinds = (torch.nn.Linear, torch.nn.modules.conv._ConvNd)
    return sum(isinstance(m, kinds) for m in model.modules())


def by_network(
    pts: Sequence[Record], dataset: str, step: int, start: str = "default"
) -> list[Record]:
    """Records of :mod:`.scan_report`'s form, one per network: the mean over seeds at
    ``step`` of accuracy and of every measure (networks of the ``start`` initialisation)."""
    groups: dict[str, list[Record]] = defaultdict(list)
    for p in pts:
        if p["dataset"] == dataset and p["step"] == step and p["start"] == start:
            groups[p["net"]].append(p)
    out = []
    for net, ps in sorted(groups.items()):
        keys = set.intersection(*(set(p["metrics"]) for p in ps))
        first = min(ps, key=lambda p: p["seed"])
        out.append({
            "model": net, "weights": "pretrained" if step else "random",
            "family": first["family"], "year": first["year"], "kind": first["kind"],
            "batchnorm": "batch" in first["norm"], "norm": first["norm"], "skip": first["skip"],
            "attention": first["attention"], "depthwise": first["depthwise"],
            "params": first["params"], "depth": first["depth"], "n_seeds": len(ps),
            "accuracy": float(np.mean([p["accuracy"] for p in ps])),
            "metrics": {k: float(np.mean([p["metrics"][k] for p in ps])) for k in sorted(keys)},
            "report": first["report"],
        })  # fmt: skip
    return out


def _col(recs: Sequence[Record], key: str) -> np.ndarray:
    return np.array([r["metrics"].get(key, math.nan) for r in recs], dtype=float)


def _acc(recs: Sequence[Record]) -> np.ndarray:
    return np.array([r["accuracy"] for r in recs], dtype=float)


def _d(result: Any) -> dict[str, Any]:
    return dataclasses.asdict(result)


def analyse_dataset(pts: Sequence[Record], dataset: str, *, seed: int = 0) -> dict[str, Any]:
    """Every statistic of one dataset (plain dicts, JSON-ready)."""
    arms = [p for p in pts if p["dataset"] == dataset]
    pts = [p for p in arms if p["start"] == "default"]
    steps = sorted({p["step"] for p in pts})
    final, first = steps[-1], steps[0]
    nets = by_network(pts, dataset, final)
    init = {r["model"]: r for r in by_network(pts, dataset, first)}
    out: dict[str, Any] = {"dataset": dataset, "steps": steps, "final_step": final}
    out["examples"] = max(p["examples"] for p in pts if p["dataset"] == dataset)
    out["n_runs"] = sum(p["dataset"] == dataset and p["step"] == final for p in pts)
    out["nets"] = [{"model": r["model"], "family": r["family"], "year": r["year"],
                    "params": r["params"], "seeds": r["n_seeds"], "accuracy": r["accuracy"],
                    DISTANCE: r["metrics"].get(DISTANCE),
                    "init " + DISTANCE: init.get(r["model"], {}).get("metrics", {}).get(DISTANCE)}
                   for r in nets]  # fmt: skip
    base = analyse(nets, seed=seed)
    out["spearman"] = base["spearman"]
    out["mixed"] = base.get("mixed", [])
    n = len(nets)
    acc = _acc(nets)
    head = spearman(_col(nets, DISTANCE), acc, seed=seed)
    out["headline"] = {"x": DISTANCE, "y": "accuracy", **_d(head)}
    out["power"] = {
        "n": n,
        "detectable_rho": detectable_correlation(n),
        "detectable_rho_runs": detectable_correlation(out["n_runs"]),
        "n_runs": out["n_runs"],
    }
    learned = [r for r in nets if r["accuracy"] >= ABOVE_CHANCE]
    above = spearman(_col(learned, DISTANCE), _acc(learned), seed=seed)
    out["above_chance"] = {"x": DISTANCE, "y": f"accuracy (≥ {ABOVE_CHANCE:g} %)", **_d(above)}
    runs = [p for p in pts if p["dataset"] == dataset and p["step"] == final]
    out["per_run"] = {
        "x": DISTANCE,
        "y": "accuracy (every seed)",
        **_d(
            spearman(
                [p["metrics"][DISTANCE] for p in runs], [p["accuracy"] for p in runs], seed=seed
            )
        ),
    }
    out["probes"] = [
        {"x": f"|λ_1| {p} probes", "y": "accuracy",
         **_d(spearman(_col(nets, f"|λ_1| {p} probes"), acc, seed=seed))}
        for p in PROBES
    ]  # fmt: skip
    years = [float(r["year"]) for r in nets]
    out["year"] = [
        {"x": "year", "y": "accuracy", **_d(spearman(years, acc, seed=seed))},
        {"x": "year", "y": DISTANCE, **_d(spearman(years, _col(nets, DISTANCE), seed=seed))},
    ]
    with_init = [r for r in nets if r["model"] in init]
    init_d = np.array([init[r["model"]]["metrics"].get(DISTANCE, math.nan) for r in with_init])
    pred = spearman(init_d, _acc(with_init), seed=seed)
    mixed_init = mixed_effects(_acc(with_init), init_d, [r["family"] for r in with_init])
    out["init_predictor"] = {
        "spearman": {"x": "init " + DISTANCE, "y": "final accuracy", **_d(pred)},
        "mixed": {"model": f"final accuracy ~ init {DISTANCE} + (1 | family)", **_d(mixed_init)},
    }
    out["traits"] = _traits(nets)
    out["training"] = _training(pts, dataset, steps, seed)
    out["m1"] = _m1(nets, init, seed)
    out["intervention"] = _intervention(arms, dataset, final, seed)
    return out


def _m1(nets: Sequence[Record], init: dict[str, Record], seed: int) -> dict[str, Any]:
    """The three M1 questions under the family-aware rule (:mod:`.m1`)."""
    from criticality.experiments.zoo.m1 import m1_test

    fam = [r["family"] for r in nets]
    acc = _acc(nets)
    params = [float(r["params"]) for r in nets]
    depth = [float(r["depth"]) for r in nets]
    d = _col(nets, DISTANCE)
    d0 = np.array([init.get(r["model"], {}).get("metrics", {}).get(DISTANCE, math.nan)
                   for r in nets])  # fmt: skip
    years = np.array([float(r["year"]) for r in nets])

    def test(x: np.ndarray, y: np.ndarray, x_name: str, y_name: str) -> dict[str, Any]:
        return m1_test(x, y, fam, acc, params, depth, x_name=x_name, y_name=y_name,
                       seed=seed).to_dict()  # fmt: skip

    return {
        "accuracy": test(d, acc, DISTANCE, "accuracy"),
        "init": test(d0, acc, "init " + DISTANCE, "final accuracy"),
        "year": test(years, d, "year", DISTANCE),
    }


def _mean_finite(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _intervention(arms: Sequence[Record], dataset: str, final: int, seed: int) -> Any:
    """Critical start − default start, paired by network and seed at the final step (each
    network's pairs averaged over its seeds), with family-resampled intervals; ``None`` when
    no pair exists."""
    from criticality.experiments.zoo.m1 import intervention

    at = {(p["net"], p["seed"], p["start"]): p for p in arms if p["step"] == final}
    early = sorted({p["step"] for p in arms if 0 < p["step"] < final})
    first = early[0] if early else None
    at_first = {(p["net"], p["seed"], p["start"]): p for p in arms if p["step"] == first}
    pairs = [(net, s) for (net, s, st) in at if st == "critical" and (net, s, "default") in at]
    if not pairs:
        return None
    per_net: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    fam_of = {}
    for net, s in pairs:
        c, d = at[(net, s, "critical")], at[(net, s, "default")]
        fam_of[net] = d["family"]
        e_c, e_d = at_first.get((net, s, "critical")), at_first.get((net, s, "default"))
        early_diff = e_c["accuracy"] - e_d["accuracy"] if e_c and e_d else math.nan
        init_c = next((p for p in arms if (p["net"], p["seed"], p["start"], p["step"]) ==
                       (net, s, "critical", 0)), None)  # fmt: skip
        init_d = next((p for p in arms if (p["net"], p["seed"], p["start"], p["step"]) ==
                       (net, s, "default", 0)), None)  # fmt: skip
        moved = (init_c["metrics"][DISTANCE] - init_d["metrics"][DISTANCE]
                 if init_c and init_d else math.nan)  # fmt: skip
        per_net[net].append((c["accuracy"] - d["accuracy"], early_diff, moved))
    nets = sorted(per_net)
    fams = [fam_of[n] for n in nets]
    cols = np.array([[_mean_finite(col) for col in zip(*per_net[n], strict=True)]
                     for n in nets])  # fmt: skip  # (nets, 3)
    out = {
        "final": intervention("final accuracy", cols[:, 0], fams, len(pairs), seed=seed).to_dict(),
        "start_distance": intervention(
            f"{DISTANCE} at the start", cols[:, 2], fams, len(pairs), seed=seed
        ).to_dict(),
        "nets": [
            {
                "model": n,
                "family": fam_of[n],
                "seeds": str(len(per_net[n])),
                "Δ final accuracy": float(cols[i, 0]),
                "Δ early accuracy": float(cols[i, 1]),
                f"Δ {DISTANCE} at the start": float(cols[i, 2]),
            }
            for i, n in enumerate(nets)
        ],
    }
    if first is not None:
        out["early"] = intervention(f"accuracy at step {first}", cols[:, 1], fams, len(pairs),
                                    seed=seed).to_dict()  # fmt: skip
    return out


_TRAITS: dict[str, tuple[Any, Any]] = {
    "skip connections vs none": (lambda r: r["skip"] != "none", lambda r: r["skip"] == "none"),
    "BatchNorm vs none": (lambda r: "batch" in r["norm"], lambda r: "batch" not in r["norm"]),
    "LayerNorm vs none": (lambda r: "layer" in r["norm"], lambda r: "layer" not in r["norm"]),
    "attention vs none": (lambda r: r["attention"], lambda r: not r["attention"]),
    "depthwise/grouped convolutions vs none": (lambda r: r["depthwise"],
                                                lambda r: not r["depthwise"]),
}  # fmt: skip


def _traits(nets: Sequence[Record]) -> list[dict[str, Any]]:
    rows = []
    for label, (in_a, in_b) in _TRAITS.items():
        a = [r["metrics"][DISTANCE] for r in nets if in_a(r)]
        b = [r["metrics"][DISTANCE] for r in nets if in_b(r)]
        rows.append({"comparison": f"{DISTANCE}: {label}", **_d(mann_whitney(a, b))})
    return rows


def _training(pts: Sequence[Record], dataset: str, steps: list[int], seed: int) -> list[Any]:
    """Per measured step: median distance and accuracy, Wilcoxon of the distance against
    initialisation (same networks), and Spearman of accuracy against distance."""
    init = {r["model"]: r for r in by_network(pts, dataset, steps[0])}
    rows = []
    for step in steps:
        nets = [r for r in by_network(pts, dataset, step) if r["model"] in init]
        d = _col(nets, DISTANCE)
        d0 = np.array([init[r["model"]]["metrics"][DISTANCE] for r in nets])
        ex = next(p["examples"] for p in pts if p["dataset"] == dataset and p["step"] == step)
        row: dict[str, Any] = {"step": step, "examples": ex, "n": len(nets),
                               "median accuracy": float(np.median(_acc(nets))),
                               "median " + DISTANCE: float(np.median(d))}  # fmt: skip
        if step != steps[0]:
            row["wilcoxon"] = _d(wilcoxon(d, d0))
            row["spearman"] = _d(spearman(d, _acc(nets), seed=seed))
        rows.append(row)
    return rows


def analyse_all(data: ZooTrainResults | Mapping[str, Any]) -> dict[str, Any]:
    """Statistics per dataset of the results' rows (typed, or ``results.json``'s ``data``)."""
    results = data if isinstance(data, ZooTrainResults) else ZooTrainResults.from_dict(data)
    pts = points(results.rows)
    return {ds: analyse_dataset(pts, ds) for ds in dict.fromkeys(p["dataset"] for p in pts)}


# ---- rendering --------------------------------------------------------------------------------


def _p(value: float) -> str:
    """``"p = 0.042"``, or ``"p < 0.001"``."""
    text = fmt(value, "p")
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def verdict_text(stats: dict[str, Any]) -> str:
    """The zoo's answer to claim 1 in words: n, ρ with CI and p, the mixed-model slope, the
    verdict, the initialisation-only predictor and the power."""
    from criticality.experiments.zoo.m1 import M1Test, m1_sentence

    h = stats["headline"]
    if math.isnan(h["rho"]):
        return f"Too few networks for a rank correlation (n = {h['n']})."
    m1 = M1Test.from_dict(stats["m1"]["accuracy"])
    verdict = m1.verdict
    mixed = stats["mixed"][0] if stats["mixed"] else None
    slope = (
        f"the mixed model with a family intercept gives a slope of "
        f"{fmt_ci(mixed['slope'], mixed['ci_low'], mixed['ci_high'], 'diff')} accuracy points "
        f"per unit of {DISTANCE} ({_p(mixed['p_value'])}, {mixed['n_groups']} "
        f"families{'' if mixed['converged'] else '; did not converge'})"
        if mixed is not None and not math.isnan(mixed["slope"])
        else "the mixed model could not be fitted"
    )
    pw = stats["power"]
    ac = stats["above_chance"]
    n_chance = h["n"] - ac["n"]
    chance = ""
    if n_chance:
        chance = (
            f" {n_chance} of the {h['n']} networks end below {ABOVE_CHANCE:g} % (chance is "
            "10 %): at this budget the ranking is largely which architectures start to learn."
        )
        if not math.isnan(ac["rho"]):
            rho = fmt_ci(ac["rho"], ac["ci_low"], ac["ci_high"], "corr")
            chance += f" Among the {ac['n']} that do, ρ = {rho}, {_p(ac['p_value'])}."
    says = {
        "supported": "supports",
        "not supported": "contradicts",
        "inconclusive": "neither supports nor refutes",
    }.get(verdict, "cannot test")
    init = M1Test.from_dict(stats["m1"]["init"])
    return (
        f"{h['n']} architectures trained on {stats['dataset']} ({stats['examples']:,} examples "
        f"each; accuracy and measures averaged over seeds, {stats['n_runs']} runs). "
        f"{m1_sentence(m1)} So this trained zoo {says} the paper's first claim (more accurate "
        f"networks sit closer to criticality) under the family-aware rule (docs/report.md). "
        f"Beside it: {slope}; resampling networks instead of families, ρ = "
        f"{fmt_ci(h['rho'], h['ci_low'], h['ci_high'], 'corr')}. Before training, {DISTANCE} "
        f"at initialisation against final accuracy: ρ = "
        f"{fmt_ci(init.headline.rho, init.headline.ci_low, init.headline.ci_high, 'corr')} "
        f"(families resampled; {init.verdict}). With n = {pw['n']} networks a test that "
        f"ignored families would detect |ρ| ≥ {fmt(pw['detectable_rho'], 'corr')}.{chance}"
    )


def _dataset_sections(stats: dict[str, Any], figure: Path) -> list[Section]:
    from criticality.experiments.zoo.scan_report import _scatter

    ds = stats["dataset"]
    recs = [{"family": n["family"], "accuracy": n["accuracy"], "metrics": {DISTANCE: n[DISTANCE]}}
            for n in stats["nets"] if n[DISTANCE] is not None]  # fmt: skip
    from criticality.experiments.zoo.m1 import M1Test, m1_rows, m1_sentence

    items: list[Item] = [_scatter(recs, "accuracy", figure)] if recs else []
    for key, caption in (("accuracy", "M1: final accuracy against final"),
                         ("init", "M1: final accuracy against initial"),
                         ("year", "M1: the family's year against final")):  # fmt: skip
        test = M1Test.from_dict(stats["m1"][key])
        items.append(Table(m1_rows(test), caption=f"{caption} {DISTANCE}; "
                           f"{m1_sentence(test)}"))  # fmt: skip
    head = [stats["headline"], stats["per_run"], stats["above_chance"], *stats["probes"]]
    caption = (
        "The headline, per run, among the networks that left chance, and with each probe set "
        "(the instrument check: the same networks measured on real test images, Gaussian "
        "images and augmented test images)"
    )
    items.append(Details("The headline correlation per run and per probe set",
                         [Table(spearman_table(head), caption=caption)]))  # fmt: skip
    raw: list[Item] = [
        Table(spearman_table(stats["spearman"]), caption="Spearman: accuracy against each measure"),
        Table(mixed_table(stats["mixed"]), caption="Linear mixed-effects model (REML)"),
        Table(spearman_table(stats["year"]), caption="Publication year of the family"),
        Table(spearman_table([stats["init_predictor"]["spearman"]]),
              caption="Initialisation only: distance before training against final accuracy"),
        Table(mixed_table([stats["init_predictor"]["mixed"]]),
              caption="Initialisation only, mixed model"),
        Table(groups_table(stats["traits"]), caption="Mann–Whitney U: design traits "
              "(effect: rank-biserial, > 0: first larger)"),
    ]  # fmt: skip
    items.append(Details("Every statistic", raw))
    kinds: dict[str, Kind] = {DISTANCE: "exponent", "init " + DISTANCE: "exponent"}
    items.append(Details(f"The {len(stats['nets'])} networks", [Table(stats["nets"], kinds=kinds)]))
    train_rows = []
    for r in stats["training"]:
        w, s = r.get("wilcoxon"), r.get("spearman")
        train_rows.append({
            "step": r["step"], "examples": r["examples"], "networks": r["n"],
            "median accuracy": r["median accuracy"],
            "median " + DISTANCE: r["median " + DISTANCE],
            "Δ vs init (median)": w["median_diff"] if w else None,
            "Wilcoxon p": w["p_value"] if w else None,
            "ρ (accuracy, distance)": s["rho"] if s else None,
        })  # fmt: skip
    last = stats["training"][-1].get("wilcoxon")
    moved = ""
    if last is not None and not math.isnan(last["p_value"]):
        direction = "closer to" if last["median_diff"] < 0 else "further from"
        moved = (
            f"At the end of training the median network sits {direction} criticality than at "
            f"initialisation (median Δ{DISTANCE} = {fmt(last['median_diff'], 'diff')}, Wilcoxon "
            f"{_p(last['p_value'])}, n = {last['n']}: {wilcoxon_verdict(last)})."
        )
    progress = Section(
        f"{ds}: progress toward criticality along training",
        [Table(train_rows)],
        lead=moved or "Only one measured step.",
    )
    out = [Section(f"{ds}: accuracy against distance to criticality", items,
                   lead=verdict_text(stats)), progress]  # fmt: skip
    if stats.get("intervention"):
        out.append(_intervention_section(ds, stats["intervention"]))
    return out


def _intervention_section(ds: str, iv: dict[str, Any]) -> Section:
    from criticality.experiments.zoo.m1 import Intervention, diff_text

    final = Intervention.from_dict(iv["final"])
    moved = Intervention.from_dict(iv["start_distance"])
    d, m = final.diff, moved.diff
    lead = (
        f"Started from its self-organised critical point (the homeostatic rule without any "
        f"gradient before training) and trained with the same recipe, a network ends "
        f"{diff_text(d.mean, d.ci_low, d.ci_high)} accuracy points against its default "
        f"initialisation (mean over {d.n} networks in {d.n_clusters} families, {final.n_pairs} "
        f"network × seed pairs; 95 % interval resampling families): {final.verdict}. The start "
        f"moved {DISTANCE} by {diff_text(m.mean, m.ci_low, m.ci_high)} (the manipulation "
        "check: negative means closer to criticality)."
    )
    items: list[Item] = []
    if iv.get("early"):
        e = Intervention.from_dict(iv["early"]).diff
        items.append(f"Early in training ({iv['early']['metric']}): "
                     f"{diff_text(e.mean, e.ci_low, e.ci_high)} points.")  # fmt: skip
    items.append(Details(f"The {len(iv['nets'])} pairs", [Table(iv["nets"])]))
    return Section(f"{ds}: the intervention arm (critical start against default)", items, lead=lead)


def sections(data: dict[str, Any], out_dir: Path) -> list[Section]:
    """The report: the bounded run of this configuration, then the stored full run if any."""
    out: list[Section] = []
    results = ZooTrainResults.from_dict(data)
    parts = [("this run", results)]
    if results.full is not None:
        parts.insert(0, ("the full run", results.full))
    for label, part in parts:
        rows = part.rows
        ok = sum(r["status"] == "ok" for r in rows)
        failed = [{"model": r["model"], "weights": r["weights"], "reason": r["reason"]}
                  for r in rows if r["status"] != "ok"]  # fmt: skip
        what: list[Item] = [
            f"Settings: {part.settings} (store key {part.config_hash}"
            + (f", {part.path}" if part.path else "")
            + "). Every network is a torchvision builder's, adapted to 1-channel 32 px inputs "
            "and 10 classes by its stem convolution and its head only; its body (every stage "
            "before the head) is measured.",
        ]
        if failed:
            what.append(Details(f"Failed jobs ({len(failed)})", [Table(failed)]))
        out.append(Section(f"What ran: {label}", what,
                           lead=f"{progress_text(part)} {ok} measured points, {len(failed)} "
                           "failed jobs."))  # fmt: skip
        tag = label.replace(" ", "_")
        for ds, stats in analyse_all(part).items():
            figure = Path(out_dir) / "figures" / f"zoo_train_{tag}_{ds}_accuracy.png"
            for sec in _dataset_sections(stats, figure):
                sec.title = f"{sec.title} ({label})"
                out.append(sec)
    return out


def progress_text(part: ZooTrainResults) -> str:
    """How much of the planned study finished: jobs (network × dataset × seed × start) with
    their final point stored, and networks with every planned seed of the default start."""
    plan = part.planned
    points = [(r["model"], TrainPoint.parse(r["weights"])) for r in part.rows
              if r["status"] == "ok"]  # fmt: skip
    final = max((p.step for _, p in points if p.step is not None), default=None)
    done = {(model, p.job) for model, p in points if p.step == final}
    if not plan:
        return f"{len(done)} jobs finished."
    total = len(plan["nets"]) * len(plan["datasets"]) * len(plan["seeds"]) * len(plan["starts"])
    full = sum(
        all((n, TrainPoint(ds, s).job) in done for ds in plan["datasets"] for s in plan["seeds"])
        for n in plan["nets"]
    )
    return (
        f"{len(done)} of {total} planned jobs finished (network × dataset × seed × start); "
        f"{full} of {len(plan['nets'])} networks have every seed of the default start."
    )


def headline(data: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """The golden numbers (:mod:`criticality.experiments._golden`) of this run's points: each
    network's test accuracy (in %, to :func:`~.scan_report.accuracy_tol` of its test images),
    every measure's headline and ``λ_1`` on the other probe sets (float32:
    :data:`~.scan_report.MEASURE_TOL`)."""
    from criticality.experiments.zoo.scan_report import MEASURE_TOL, accuracy_tol, report_headline

    out: dict[str, tuple[float, float]] = {}
    for r in ZooTrainResults.from_dict(data).rows:
        if r["status"] != "ok" or not r.get("report"):
            continue
        tag = f"{r['model']}.{r['weights']}"
        z = r["report"]["metadata"]["zoo_train"]
        out[f"{tag}.accuracy"] = (z["accuracy"], accuracy_tol(int(z["n_test"])))
        out |= report_headline(r["report"], tag)
        for probes in PROBES[1:]:
            out[f"{tag}.lambda_1.{probes} probes"] = (z["lambda_1"][probes], MEASURE_TOL)
    return out


def scorecard(data: dict[str, Any]) -> list[ScoreRow]:
    """M1 on the trained zoo (the full run when stored, else this run), and training against
    initialisation."""
    results = ZooTrainResults.from_dict(data)
    part = results.full or results
    rows = []
    from criticality.experiments.zoo.m1 import M1Test

    for ds, stats in analyse_all(part).items():
        label = "the full run" if results.full is not None else "this run"
        section = f"{ds}: accuracy against distance to criticality ({label})"
        for key, statement in (
            ("accuracy", "More accurate networks sit closer to criticality"),
            ("init", "Networks closer to criticality at initialisation end more accurate"),
            ("year", "Newer architecture families sit closer to criticality after training"),
        ):
            t = M1Test.from_dict(stats["m1"][key])
            h, lr = t.headline, t.learned
            figure = f"{ds}: {rho_text(dataclasses.asdict(h))}, {h.n_clusters} families"
            if not math.isnan(lr.rho):
                figure += (f"; ≥ {t.floor:g} % only: "
                           f"{fmt_ci(lr.rho, lr.ci_low, lr.ci_high, 'corr')}")  # fmt: skip
            rows.append(ScoreRow(
                statement, figure, t.verdict,
                f"family-aware rule (docs/report.md): {t.reason}; architectures trained here "
                "with one recipe, not the paper's ImageNet models",
                section, claim="M1",
            ))  # fmt: skip
        iv = stats.get("intervention")
        if iv:
            from criticality.experiments.zoo.m1 import Intervention, diff_text

            f = Intervention.from_dict(iv["final"])
            rows.append(ScoreRow(
                "Starting at the self-organised critical point improves final accuracy",
                f"{ds}: Δ = {diff_text(f.diff.mean, f.diff.ci_low, f.diff.ci_high)} points, "
                f"{f.diff.n} networks, {f.diff.n_clusters} families",
                f.verdict,
                "rule: the family-resampled interval of the paired difference (critical start − "
                "default) above 0 supported, below 0 not supported",
                f"{ds}: the intervention arm (critical start against default) ({label})",
            ))  # fmt: skip
        last = stats["training"][-1].get("wilcoxon")
        if last is not None:
            rows.append(ScoreRow(
                "Training moves networks closer to criticality",
                f"{ds}: median Δ = {fmt(last['median_diff'], 'diff')}, p = "
                f"{fmt(last['p_value'], 'p')}, n = {last['n']}",
                wilcoxon_verdict(last),
                "rule: Wilcoxon p < 0.05 and median |λ_1| after − before < 0",
                f"{ds}: progress toward criticality along training ({label})",
            ))  # fmt: skip
    return rows
