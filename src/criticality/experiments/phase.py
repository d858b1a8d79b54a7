"""The order-to-chaos phase diagram of random MLPs: ``criticality experiment phase``.

Random tanh and ReLU MLPs across the weight scale ``σ_w`` (densest around the critical point,
several network seeds): every measure against ``σ_w`` with its band over seeds, the mean-field
``½ ln χ_1`` and the critical point, and a table of where each measure locates it. Each
activation's sweeps are saved under ``OUT/parts/`` as they finish; a rerun resumes there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from criticality.experiments._registry import register_experiment, render
from criticality.experiments._results import IncompleteResultsError, Results
from criticality.experiments._units import cached_unit, stamped_folder
from criticality.measures.words import CRITICAL_BAND
from criticality.numbers import fmt, fmt_bound
from criticality.phase import peak, phase_sweep, zero_crossing
from criticality.progress import progress
from criticality.reporting import Figure, Section, Table, write_results
from criticality.reporting.html import Details, Item
from criticality.reporting.scorecard import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    PAPER_CLAIMS,
    SUPPORTED,
    ScoreRow,
    combine,
)
from criticality.reporting.verdicts import Verdict, thin_evidence
from criticality.seeding import mix_seed

TITLE = "The order-to-chaos phase diagram of random MLPs"


@dataclasses.dataclass(frozen=True)
class PhaseConfig:
    """What the phase diagram sweeps.

    Attributes:
        activations: activations of the random MLPs.
        sigma_w: weight scales swept (densest around the critical σ_w ≈ 1.4 of both
            activations at ``sigma_b = 0.3``).
        seeds: the replicates: one sweep (new networks and inputs) per seed; curves show the
            mean and the 95 % interval over seeds.
        depth: MLP depth (stages).
        width: MLP width.
        sigma_b: bias scale.
        n_inputs: probe inputs per point (at the mean-field fixed point).
        measures: measures drawn (see ``PHASE_CURVES``).
        probe_seed: seed of the measures' random directions (tangents, perturbations), the
            same for every replicate.
    """

    activations: tuple[str, ...] = ("tanh", "relu")
    sigma_w: tuple[float, ...] = (0.5, 1.0, 1.2, 1.3, 1.35, 1.4, 1.45, 1.5, 1.6, 1.8, 2.2, 3.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    depth: int = 24
    width: int = 256
    sigma_b: float = 0.3
    n_inputs: int = 4
    measures: tuple[str, ...] = (
        "lyapunov", "ftle", "branching", "dynamic_range", "susceptibility",
    )  # fmt: skip
    probe_seed: int = 0

    @classmethod
    def tiny(cls) -> PhaseConfig:
        """Seconds-long version for tests."""
        return cls(sigma_w=(0.6, 1.4, 2.4), seeds=(0, 1), depth=5, width=24, n_inputs=2)

    @classmethod
    def demo(cls) -> PhaseConfig:
        """The demo's sweep: the defaults (about two minutes per activation)."""
        return cls()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the bad field."""
        from criticality.measures import get_measure
        from criticality.measures.meanfield import ACTIVATIONS

        if bad := sorted(set(self.activations) - set(ACTIVATIONS)):
            raise ValueError(f"activations {bad} have no mean-field theory; use {[*ACTIVATIONS]}")
        for name in self.measures:
            get_measure(name)  # a ValueError lists the registered measures
        for name in ("depth", "width", "n_inputs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not (min(self.sigma_w, default=1.0) > 0 and self.sigma_b >= 0):
            raise ValueError(f"sigma_w must be > 0 and sigma_b >= 0, got {list(self.sigma_w)}, "
                             f"{self.sigma_b}")  # fmt: skip


def sweeps(
    cfg: PhaseConfig, out: Path, on_point: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Each activation's sweeps (one :func:`~criticality.phase.phase_sweep` per seed), merged
    by :func:`merge_seeds`, resumed from ``out/parts``."""
    config = dataclasses.asdict(cfg)
    parts = stamped_folder(out / "parts", config)
    phase = {}
    for act in cfg.activations:

        def sweep(act: str = act) -> dict[str, Any]:
            runs = [
                phase_sweep(
                    act,
                    cfg.sigma_w,
                    depth=cfg.depth,
                    width=cfg.width,
                    sigma_b=cfg.sigma_b,
                    n_inputs=cfg.n_inputs,
                    measures=cfg.measures,
                    seed=mix_seed("phase", s),
                    probe_seed=cfg.probe_seed,
                    on_point=on_point,
                )
                for s in cfg.seeds
            ]
            return merge_seeds(runs)

        path = parts / f"phase_{act}.json"
        phase[act] = cached_unit(path, sweep, config=config, on_change="refuse", check=_sweep_check)
    return phase


def _sweep_check(sweep: Any) -> None:
    """What a finished sweep's file must hold (a ``KeyError`` or ``TypeError`` if not)."""
    if missing := [k for k in ("runs", *SWEEP_FIELDS) if k not in sweep]:
        raise KeyError(f"the sweep lacks {', '.join(missing)}")


def merge_seeds(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One sweep per seed -> the first sweep's settings, ``measured`` and ``scalars`` as the
    mean over seeds, and every seed's sweep under ``runs`` (for the bands)."""
    merged = dict(runs[0])
    merged["measured"] = {
        m: np.mean([r["measured"][m] for r in runs], axis=0).tolist() for m in runs[0]["measured"]
    }
    merged["scalars"] = {
        m: {f: np.mean([r["scalars"][m][f] for r in runs], axis=0).tolist() for f in fields}
        for m, fields in runs[0]["scalars"].items()
    }
    merged["runs"] = [{k: r[k] for k in ("measured", "scalars", "ci")} for r in runs]
    return merged


#: What one activation's sweep holds (``results.json``), each a list over σ_w unless stated.
SWEEP_FIELDS = ("activation", "depth", "width", "sigma_b", "sigma_w", "theory", "critical",
                "measured", "ci", "scalars")  # fmt: skip


@dataclasses.dataclass(frozen=True)
class PhaseResults(Results):
    """What the phase diagram found (schema ``phase/1``).

    Attributes:
        phase: per activation, its sweep merged over seeds (:func:`merge_seeds`): the
            settings (``activation``, ``depth``, ``width``, ``sigma_b``), ``sigma_w`` (n,),
            ``theory`` (½ ln χ_1, n), ``critical`` (mean-field critical σ_w), ``measured``
            (measure -> means over seeds, n), ``ci``, ``scalars`` and ``runs`` (each seed's
            ``measured``, ``scalars`` and ``ci``).
    """

    SCHEMA = "phase"
    VERSION = 1

    phase: dict[str, dict[str, Any]]

    @classmethod
    def _decode(cls, name: str, value: Any) -> Any:
        for act, sweep in value.items():
            if missing := [k for k in SWEEP_FIELDS if k not in sweep]:
                raise IncompleteResultsError(
                    f"the {act} sweep lacks {', '.join(missing)}; re-run it"
                )
        return value


def sections(data: dict[str, Any], out_dir: Path) -> list[Section]:
    """The phase section, from ``results.json`` alone."""
    return [phase_section(PhaseResults.from_dict(data).phase, Path(out_dir) / "figures")]


def scorecard(data: dict[str, Any]) -> list[ScoreRow]:
    """M5 (the paper's three metrics locate the critical point) and λ_1 against mean field."""
    return phase_scorecard(PhaseResults.from_dict(data).phase)


def headline(data: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """The golden numbers (:mod:`._golden`): per activation, the mean-field critical σ_w, the
    mean curves of λ_1 and ln σ at every σ_w (float64 sweeps: tolerance 1e-4), Δ (0.05 dB)
    and each read-off of the critical point (0.01)."""
    out: dict[str, tuple[float, float]] = {}
    for act, p in PhaseResults.from_dict(data).phase.items():
        out[f"{act}.critical_sigma_w.mean_field"] = (p["critical"], 1e-9)
        for m, tol in (("lyapunov", 1e-4), ("branching", 1e-4), ("dynamic_range", 0.05)):
            for sw, value in zip(p["sigma_w"], p["measured"].get(m, []), strict=False):
                out[f"{act}.{m}@sigma_w={sw:g}"] = (value, tol)
        for r in readoffs(p):
            if r["found"] is not None:
                out[f"{act}.critical_sigma_w.{r['measure']}"] = (r["found"], 0.01)
    return out


@register_experiment(
    "phase",
    title=TITLE,
    config=PhaseConfig,
    sections=sections,
    summary="random tanh/ReLU MLPs across σ_w: every measure against mean-field theory",
    demo_rank=10,
    scorecard=scorecard,
    headline=headline,
)
def run(cfg: PhaseConfig, out_dir: str | Path) -> Path:
    """Run (or resume) the sweeps; write ``results.json`` and ``report.html``."""
    cfg.validate()
    out = Path(out_dir)
    total = len(cfg.activations) * len(cfg.sigma_w) * len(cfg.seeds)
    with progress(total, "phase diagram", unit="point") as bar:
        phase = sweeps(cfg, out, on_point=lambda: bar.update(1))
    seeds = {"seeds": list(cfg.seeds), "probe_seed": cfg.probe_seed}
    results = PhaseResults(phase=phase).to_dict()
    write_results(out, "phase", dataclasses.asdict(cfg), results, seed=seeds)
    return render(out)


#: measure -> (label, its curve from a sweep, how its critical point is read off: "zero" crossing
#: or "peak"). Adding a measure to the phase diagram is one row.
PHASE_CURVES: dict[str, tuple[str, Callable[[dict[str, Any]], list[float]], str]] = {
    "lyapunov": ("λ_1", lambda p: p["measured"]["lyapunov"], "zero"),
    "ftle": ("FTLE", lambda p: p["measured"]["ftle"], "zero"),
    "branching": ("ln σ", lambda p: np.log(p["measured"]["branching"]).tolist(), "zero"),
    "dynamic_range": ("Δ (dB)", lambda p: p["measured"]["dynamic_range"], "peak"),
    "susceptibility": (
        "χ at gain 1",
        lambda p: p["scalars"]["susceptibility"]["chi_at_one"],
        "peak",
    ),
}


SECTION = "Phase diagram of random MLPs"
#: The paper's three metrics (poster abstract): Δ maximal, σ = 1, λ_1 = 0.
PAPER_METRICS = ("lyapunov", "branching", "dynamic_range")


def _runs(p: dict[str, Any]) -> list[dict[str, Any]]:
    return p.get("runs") or [p]


def curve_band(p: dict[str, Any], m: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over seeds of measure ``m``'s curve and its 95 % Student-t band, each ``(n,)``."""
    from criticality.stats import mean_ci

    values = np.array([PHASE_CURVES[m][1](r) for r in _runs(p)], dtype=float)  # (seeds, n)
    cis = [mean_ci(col) for col in values.T]
    lo = np.array([c.ci_low for c in cis])
    hi = np.array([c.ci_high for c in cis])
    mean = values.mean(axis=0)
    return mean, np.where(np.isnan(lo), mean, lo), np.where(np.isnan(hi), mean, hi)


def tolerance(sigma_w: list[float], critical: float) -> float:
    """How far a read-off may sit from the mean-field critical σ_w: 10 % of it, or the grid's
    spacing around it where that is coarser."""
    grid = np.asarray(sigma_w)
    i = int(np.searchsorted(grid, critical))
    gaps = np.diff(grid[max(i - 1, 0) : i + 1]) if 0 < i < len(grid) else np.array([np.inf])
    return float(max(0.1 * critical, gaps.max()))


def readoffs(p: dict[str, Any]) -> list[dict[str, Any]]:
    """Where each measure of one activation's sweep puts the critical point.

    A zero-type curve is read at its first sign change, a peak-type curve at its maximum (a
    maximum at the grid's edge is a bound: the true peak lies beyond). ``located``: within
    :func:`tolerance` of the mean-field critical σ_w; ``spread``: read-offs of each seed.
    """
    rows = []
    sw, crit = p["sigma_w"], p["critical"]
    tol = tolerance(sw, crit)
    for m in (m for m in PHASE_CURVES if m in p["measured"]):
        label, curve, rule = PHASE_CURVES[m]
        find = zero_crossing if rule == "zero" else peak
        mean, _, _ = curve_band(p, m)
        found = find(sw, mean.tolist())
        seeds = [find(sw, curve(r)) for r in _runs(p)]
        edge = rule == "peak" and found in (sw[0], sw[-1])
        located = found is not None and not edge and abs(found - crit) <= tol
        rows.append(
            {
                "measure": m,
                "curve": label,
                "rule": rule,
                "found": found,
                "edge": edge,
                "seeds": seeds,
                "located": located,
                "critical": crit,
                "tolerance": tol,
            }
        )
    return rows


def _found_text(r: dict[str, Any]) -> str:
    if r["found"] is None:
        return "never changes sign" if r["rule"] == "zero" else "no finite value"
    if r["edge"]:
        above = r["found"] >= r["critical"]
        return fmt_bound(r["found"], "above" if above else "below", "ratio")
    seeds = [s for s in r["seeds"] if s is not None]
    spread = (
        f" (seeds {fmt(min(seeds), 'ratio')}–{fmt(max(seeds), 'ratio')})" if len(seeds) > 1 else ""
    )
    return fmt(r["found"], "ratio") + spread


def phase_section(phase: dict[str, Any], figures: Path) -> Section:
    """Report section: the read-off table, one figure per activation with every measure and its
    band over seeds, and λ_1 against mean field."""
    rows = []
    for act, p in phase.items():
        for r in readoffs(p):
            rows.append(
                {
                    "activation": act,
                    "curve": r["curve"],
                    "read off at": "0 crossing" if r["rule"] == "zero" else "peak",
                    "measured critical σ_w": _found_text(r),
                    "mean field": fmt(r["critical"], "ratio"),
                    "within tolerance": "yes" if r["located"] else "no",
                }
            )
    n_seeds = len(_runs(next(iter(phase.values()))))
    devs = {act: _deviation(p) for act, p in phase.items() if "lyapunov" in p["measured"]}
    lead = (
        "Below the critical weight scale perturbations shrink stage by stage (ordered, λ_1 < 0); "
        "above it they grow (chaotic, λ_1 > 0). "
        + (
            f"Measured λ_1 stays within {', '.join(f'{fmt(d)} ({a})' for a, d in devs.items())} "
            "nats per stage of mean-field ½ ln χ₁ on average. "
            if devs
            else ""
        )
        + f"Curves: mean over {n_seeds} network seed{'s' if n_seeds > 1 else ''}, bands: 95 % "
        "interval over seeds. A read-off counts as the critical point within 10 % of the "
        "mean-field σ_w (or the grid's spacing there); a peak at the grid's edge is a bound."
    )
    located = sum(r["within tolerance"] == "yes" for r in rows)
    items: list[Item] = [_phase_figure(act, p, figures) for act, p in phase.items()]
    items.append(
        Details(
            f"Where each measure puts the critical point: {located} of {len(rows)} read-offs "
            "within tolerance of mean field",
            [Table(rows)],
        )
    )
    return Section(SECTION, items, lead=lead)


def _deviation(p: dict[str, Any]) -> float:
    mean, _, _ = curve_band(p, "lyapunov")
    return float(np.mean(np.abs(mean - np.asarray(p["theory"]))))


def _phase_figure(act: str, p: dict[str, Any], figures: Path) -> Figure:
    from criticality.reporting.plots import plot_phase_diagram, save, subplots

    curves = [m for m in PHASE_CURVES if m in p["measured"]]
    peaks = [m for m in curves if PHASE_CURVES[m][2] == "peak"]
    zeros = [m for m in curves if PHASE_CURVES[m][2] == "zero"]
    fig, axes = subplots(1 + len(peaks), (4.0 * (1 + len(peaks)), 3.4))
    bands = {m: curve_band(p, m) for m in curves}
    plot_phase_diagram(
        p["sigma_w"],
        {PHASE_CURVES[m][0]: bands[m][0] for m in zeros},
        bands={PHASE_CURVES[m][0]: bands[m][1:] for m in zeros},
        theory=p["theory"],
        critical=p["critical"],
        ax=axes[0],
        title="log-gain measures",
    )
    for ax, m in zip(axes[1:], peaks, strict=True):
        label = PHASE_CURVES[m][0]
        plot_phase_diagram(
            p["sigma_w"],
            {label: bands[m][0]},
            bands={label: bands[m][1:]},
            critical=p["critical"],
            ax=ax,
            title=label,
            ylabel=label,
        )
        ax.get_legend().remove()
    fig.suptitle(f"{act} MLP, depth {p['depth']}, width {p['width']}, σ_b = {p['sigma_b']}")
    caption = (
        f"{act}: every measure against σ_w (mean and 95 % band over seeds); black line: "
        "mean-field ½ ln χ₁; dotted: mean-field critical σ_w"
    )
    return Figure(save(fig, figures / f"phase_{act}.png"), caption)


def phase_scorecard(phase: dict[str, Any]) -> list[ScoreRow]:
    """Rows M5 and "λ_1 follows mean field" from the sweeps.

    M5 rule: *supported* when each of the paper's three metrics (λ_1 = 0, σ = 1, Δ maximal)
    puts the critical point within tolerance of mean field for every activation, and every
    seed's read-off does too; *inconclusive* when the mean curves do but a seed does not; *not
    supported* when any mean curve misses it (including a peak at the grid's edge): the claim
    is that all three agree.
    λ_1 rule: supported when the mean |λ_1 − ½ ln χ₁| is within the critical band (0.05 nats
    per stage) for every activation.
    """
    rows = []
    parts, verdicts = [], []
    for act, p in phase.items():
        found = [r for r in readoffs(p) if r["measure"] in PAPER_METRICS]
        if not found:
            continue
        for r in found:
            seeds_ok = all(
                s is not None and abs(s - r["critical"]) <= r["tolerance"] for s in r["seeds"]
            )
            verdicts.append(
                NOT_SUPPORTED if not r["located"] else SUPPORTED if seeds_ok else INCONCLUSIVE
            )
        texts = ", ".join(f"{r['curve']} {_short(r)}" for r in found)
        parts.append(f"{act}: {texts} (mean field {fmt(p['critical'], 'ratio')})")
    if parts:
        missed = [
            f"{act} {r['curve']}"
            for act, p in phase.items()
            for r in readoffs(p)
            if r["measure"] in PAPER_METRICS and not r["located"]
        ]
        why = "rule: critical σ_w of each mean curve within 10 % of mean field" + (
            f"; missed: {', '.join(missed)}" if missed else ""
        )
        rows.append(
            ScoreRow(
                PAPER_CLAIMS["M5"].statement,
                "; ".join(parts),
                _m5_verdict(verdicts, min(len(_runs(p)) for p in phase.values())),
                why,
                SECTION,
                claim="M5",
            )
        )
    devs = {act: _deviation(p) for act, p in phase.items() if "lyapunov" in p["measured"]}
    if devs:
        ok = all(d <= CRITICAL_BAND for d in devs.values())
        rows.append(
            ScoreRow(
                "Measured λ_1 follows mean-field theory (½ ln χ₁) across σ_w",
                "mean |λ_1 − ½ ln χ₁| = " + ", ".join(f"{fmt(d)} ({a})" for a, d in devs.items()),
                SUPPORTED if ok else NOT_SUPPORTED,
                f"rule: within {CRITICAL_BAND} nats per stage for every activation",
                SECTION,
            )
        )
    return rows


def _m5_verdict(verdicts: list[str], seeds: int) -> str:
    """Any mean curve that misses: not supported; else :func:`combine`, and *inconclusive*
    with fewer than three seeds (too few replicates to call it supported)."""
    if NOT_SUPPORTED in verdicts:
        return NOT_SUPPORTED
    verdict = combine(verdicts)
    if verdict == SUPPORTED and (reason := thin_evidence(0.0, 1.0, replicates=seeds)):
        return Verdict(INCONCLUSIVE, reason)
    return verdict


def _short(r: dict[str, Any]) -> str:
    if r["found"] is None:
        return "none"
    if r["edge"]:
        return (
            ("≥ " if r["found"] >= r["critical"] else "≤ ") + fmt(r["found"], "ratio") + " (edge)"
        )
    return fmt(r["found"], "ratio")
