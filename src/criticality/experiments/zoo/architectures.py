"""torchvision architectures at random initialisation: ``criticality experiment architectures``.

Each architecture is built at random initialisation, probed with Gaussian inputs and measured
with every measure side by side: spectra, per-stage profiles and a reading in words. Each
model's report is kept under ``OUT/parts/`` as it finishes
(:func:`~criticality.experiments._units.cached_unit`); a rerun resumes there, and a damaged
report is named, set aside and measured again alone.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import numpy as np

from criticality.experiments._registry import register_experiment, render
from criticality.experiments._units import cached_unit
from criticality.experiments.zoo.results import ArchitecturesResults
from criticality.experiments.zoo.scan import seed_settings, seeded
from criticality.progress import progress
from criticality.reporting import Figure, Section, Table, write_results
from criticality.reporting.html import Details, Footnote, Item
from criticality.reporting.scorecard import ScoreRow

TITLE = "torchvision architectures at random initialisation"


@dataclasses.dataclass(frozen=True)
class ArchitecturesConfig:
    """What is measured.

    Attributes:
        architectures: torchvision (or timm, built-in) model names.
        measures: measures run on each (``weight_alpha`` is left out by default for its cost:
            its power-law fits take about a minute per ResNet-18).
        image_size: input size in px (ViTs are built for it).
        n_probes: Gaussian probe inputs per architecture.
        k: Lyapunov exponents per architecture.
        init_seed: seed of the random initialisation (the one replicate).
        probe_seed: seed of the Gaussian probes and the measures' random directions.
    """

    architectures: tuple[str, ...] = ("resnet18", "mobilenet_v3_small", "vgg11", "vit_b_16")
    measures: tuple[str, ...] = (
        "lyapunov", "ftle", "branching", "dynamic_range", "susceptibility", "avalanches",
    )  # fmt: skip
    image_size: int = 112
    n_probes: int = 4
    k: int = 4
    init_seed: int = 0
    probe_seed: int = 0

    @classmethod
    def tiny(cls) -> ArchitecturesConfig:
        """Seconds-long version for tests."""
        return cls(architectures=("resnet18",), measures=("lyapunov", "ftle", "branching"),
                   image_size=32, n_probes=2, k=2)  # fmt: skip

    @classmethod
    def demo(cls) -> ArchitecturesConfig:
        """The demo's four architectures at 64 px (about a minute of one CPU thread; the
        defaults measure at 112 px, about three)."""
        return cls(image_size=64)


def measure_architecture(name: str, cfg: ArchitecturesConfig) -> dict[str, Any]:
    """Build ``name`` at random initialisation, probe and measure it; the report as a dict."""
    import torch

    from criticality.data import make_probes
    from criticality.experiments._bodies import measure_or_body
    from criticality.zoo import create_model, model_info

    info = model_info(name)
    # At random initialisation a ViT can be built for any image size (its position embedding is
    # sized to it), so every architecture runs at cfg.image_size.
    build: dict[str, Any] = {"image_size": cfg.image_size} if name.startswith("vit_") else {}
    shape = (info.input_shape[0], cfg.image_size, cfg.image_size)
    x = make_probes("gaussian", name, shape, n=cfg.n_probes, seed=cfg.probe_seed)
    options: dict[str, Any] = {
        "lyapunov": {"k": cfg.k},
        "ftle": {"n_iter": 10},
        # fewer directions and gains than the defaults: the demo's budget is minutes
        "dynamic_range": {"response": "tv", "n_dirs": 2},
        "susceptibility": {"n_dirs": 2, "n_gains": 13},
    }
    options = {m: o for m, o in options.items() if m in cfg.measures}  # per measure
    with torch.random.fork_rng():  # random-init weights depend on the seed only
        torch.manual_seed(cfg.init_seed)
        model = create_model(name, **build)
    report = measure_or_body(
        model, x, measures=cfg.measures, seed=cfg.probe_seed, name=name, **options
    )
    return report.to_dict()


def architecture_unit(name: str, cfg: ArchitecturesConfig) -> dict[str, Any]:
    """The settings that decide one architecture's report (its unit of work): a change of
    another architecture, or of the list, leaves it finished. Its seeds are keyed as
    :func:`~.scan.seed_settings` says, so the reports of runs from before the two seeds stay
    finished."""
    skip = {"architectures", "init_seed", "probe_seed"}
    same = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in skip}
    return {"architecture": name, **same, **seed_settings(cfg)}


def _check_report(report: Any) -> None:
    """A report read back loads (else its file is damaged)."""
    from criticality.report import CriticalityReport

    CriticalityReport.from_dict(report)


SECTION = "torchvision architectures at random initialisation"


def _reports(data: dict[str, Any]) -> list[Any]:
    from criticality.report import CriticalityReport

    results = ArchitecturesResults.from_dict(data)
    return [CriticalityReport.from_dict(r) for r in results.architectures.values()]


def sections(data: dict[str, Any], out_dir: Path) -> list[Section]:
    """The side-by-side section with each model folded under its regime, from ``results.json``."""
    from criticality.reporting.sections import report_details

    figures = Path(out_dir) / "figures"
    reports = _reports(data)
    if not reports:
        return []
    section = _arch_section(reports, figures)
    section.items += [report_details(r, figures, tag=f"arch{i}_") for i, r in enumerate(reports)]
    return [section]


def headline(data: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """The golden numbers (:mod:`criticality.experiments._golden`): each architecture's
    headline of every measure (float32: :data:`~.scan_report.MEASURE_TOL`)."""
    from criticality.experiments.zoo.scan_report import report_headline

    out: dict[str, tuple[float, float]] = {}
    for name, report in ArchitecturesResults.from_dict(data).architectures.items():
        out |= report_headline(report, name)
    return out


def scorecard(data: dict[str, Any]) -> list[ScoreRow]:
    """Do the measures agree on each architecture's regime?"""
    from criticality.consensus import consensus
    from criticality.reporting.sections import agreement_row

    reports = [r for r in _reports(data) if len(r.results) > 1]
    return [agreement_row([consensus(r) for r in reports], SECTION)] if reports else []


def _arch_section(reports: list[Any], figures: Path) -> Section:
    from criticality.consensus import consensus
    from criticality.reporting.plots import axes, plot_stage_profile, save
    from criticality.reporting.sections import PROFILE_FLOOR

    fig, ax = axes(None, (8.0, 3.6))
    for rep in reports:
        plot_stage_profile(rep.lyapunov, ax=ax, label=rep.model, relative=True, floor=PROFILE_FLOOR)
    ax.legend()
    conses = [consensus(r) for r in reports]
    disagree = [c for c in conses if not c.agree]
    lead = (
        f"Each architecture at random initialisation on Gaussian probes: "
        f"{sum(c.call == 'ordered' for c in conses)} of {len(conses)} called ordered by every "
        f"measure that makes a call, {len(disagree)} with measures that disagree."
    )
    items: list[Item] = [
        Table(
            [_side_by_side(r, c) for r, c in zip(reports, conses, strict=True)],
            caption="Each measure's headline value (critical: λ_1 = 0, FTLE = 0, σ = 1, "
            "g* = 1, τ_S = 1.5; Δ: larger is closer to critical) and the regime the measures call",
        ),
    ]
    explained = _explanations(conses)
    if explained:
        items.append(Details("Why the measures disagree, model by model", explained))
    items += [
        Figure(
            save(fig, figures / "architectures.png"),
            f"Per-stage local exponents against relative depth; ▼: below {PROFILE_FLOOR:g}, "
            f"drawn at {PROFILE_FLOOR:g}",
        ),
        Footnote(
            "Stem and head change the state's dimension, which the Euclidean norm counts as "
            "gain or loss; the median per-stage log-gain is robust to them."
        ),
    ]
    return Section(SECTION, items, lead=lead)


def _explanations(conses: list[Any]) -> list[Item]:
    """For each model whose measures disagree or that has a degenerate stage: its consensus
    and why; a reason already given for another model is referred to, not repeated."""
    seen: set[str] = set()
    out: list[Item] = []
    for c in conses:
        if c.agree and not c.degenerate:
            continue
        reasons = []
        for text in c.explanations:
            head, _, why = text.partition(": ")
            if text in seen or (why and why in seen):
                reasons.append(f"{head} (the reason above).")
            else:
                reasons.append(text)
                seen.update({text, why})
        out.append(c.line() + " " + " ".join(reasons))
    return out


def _side_by_side(report: Any, cons: Any) -> dict[str, Any]:
    """One table row: every measure's headline value for one model, and the consensus."""
    from criticality.numbers import fmt

    calls = {c.measure: c for c in cons.calls}
    row: dict[str, Any] = {"model": report.model, "stages": len(report.stage_names)}
    for name, result in report.results.items():
        call = calls.get(name)
        row[name] = call.short if call and call.short else result.headline().mean
    if cons.body_lambda is not None:
        lam = fmt(report.lambda_max, "exponent")
        row["lyapunov"] = (
            f"{lam} (without {cons.degenerate[0]}: {fmt(cons.body_lambda, 'exponent')})"
        )
    if "lyapunov" in report.results:
        gains = report.lyapunov.stage_profile()[1]
        row["median ln g_l"] = float(np.median(gains))
    row["measures call"] = cons.summary()
    return row


@register_experiment(
    "architectures",
    title=TITLE,
    config=ArchitecturesConfig,
    sections=sections,
    summary="torchvision architectures at random init: every measure side by side",
    demo_rank=20,
    scorecard=scorecard,
    headline=headline,
)
def run(cfg: ArchitecturesConfig, out_dir: str | Path) -> Path:
    """Run (or resume) the measurements; write ``results.json`` and ``report.html``."""
    out = Path(out_dir)
    reports = {}
    # a bar, or a line per architecture in a log (one read back from its unit counts at once)
    with progress(len(cfg.architectures), "architectures", unit="architecture") as bar:
        for name in cfg.architectures:
            reports[name] = cached_unit(
                out / "parts" / f"arch_{name}.json",
                functools.partial(measure_architecture, name, cfg),
                config=architecture_unit(name, cfg),
                check=_check_report,
            )
            bar.update(label=name)
    data = ArchitecturesResults(architectures=reports).to_dict()
    write_results(out, "architectures", dataclasses.asdict(cfg), data, seed=seeded(cfg))
    return render(out)
