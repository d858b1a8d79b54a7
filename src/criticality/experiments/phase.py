"""The order-to-chaos phase diagram of random MLPs: ``criticality experiment phase``.

Random tanh and ReLU MLPs across the weight scale ``σ_w``: every measure against ``σ_w``, with
the mean-field ``½ ln χ_1`` and the critical point, and a table of where each measure locates
it. Each activation's sweep is saved under ``OUT/parts/`` as it finishes; a rerun resumes there.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from criticality.experiments._registry import register_experiment, render
from criticality.phase import peak, phase_sweep, zero_crossing
from criticality.reporting import Figure, Section, Table, atomic_write, resume_dir, write_results

TITLE = "The order-to-chaos phase diagram of random MLPs"


@dataclasses.dataclass(frozen=True)
class PhaseConfig:
    """What the phase diagram sweeps.

    Attributes:
        activations: activations of the random MLPs.
        sigma_w: weight scales swept.
        depth: MLP depth (stages).
        width: MLP width.
        sigma_b: bias scale.
        n_inputs: probe inputs per point (at the mean-field fixed point).
        measures: measures drawn (see ``PHASE_CURVES``).
        seed: seed of networks and inputs.
    """

    activations: tuple[str, ...] = ("tanh", "relu")
    sigma_w: tuple[float, ...] = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
    depth: int = 24
    width: int = 256
    sigma_b: float = 0.3
    n_inputs: int = 6
    measures: tuple[str, ...] = (
        "lyapunov", "ftle", "branching", "dynamic_range", "susceptibility",
    )  # fmt: skip
    seed: int = 0

    @classmethod
    def tiny(cls) -> PhaseConfig:
        """Seconds-long version for tests."""
        return cls(sigma_w=(0.6, 1.4, 2.4), depth=5, width=24, n_inputs=2)

    @classmethod
    def demo(cls) -> PhaseConfig:
        """The demo's sweep: the defaults (about a minute per activation)."""
        return cls()


def sweeps(
    cfg: PhaseConfig, out: Path, on_point: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Each activation's :func:`~criticality.phase.phase_sweep`, resumed from ``out/parts``."""
    parts = resume_dir(out / "parts", dataclasses.asdict(cfg))
    phase = {}
    for act in cfg.activations:
        path = parts / f"phase_{act}.json"
        if not path.is_file():
            sweep = phase_sweep(act, cfg.sigma_w, depth=cfg.depth, width=cfg.width,
                                sigma_b=cfg.sigma_b, n_inputs=cfg.n_inputs,
                                measures=cfg.measures, seed=cfg.seed,
                                on_point=on_point)  # fmt: skip
            atomic_write(path, json.dumps(sweep))
        phase[act] = json.loads(path.read_text())
    return phase


def sections(data: dict[str, Any], out_dir: Path) -> list[Section]:
    """The phase section, from ``results.json`` alone."""
    return [phase_section(data["phase"], Path(out_dir) / "figures")]


@register_experiment(
    "phase",
    title=TITLE,
    config=PhaseConfig,
    sections=sections,
    summary="random tanh/ReLU MLPs across σ_w: every measure against mean-field theory",
    demo_rank=10,
)
def run(cfg: PhaseConfig, out_dir: str | Path) -> Path:
    """Run (or resume) the sweeps; write ``results.json`` and ``report.html``."""
    from tqdm.auto import tqdm

    out = Path(out_dir)
    total = len(cfg.activations) * len(cfg.sigma_w)
    with tqdm(total=total, desc="phase diagram", disable=not sys.stderr.isatty()) as bar:
        phase = sweeps(cfg, out, on_point=lambda: bar.update(1))
    write_results(out, "phase", dataclasses.asdict(cfg), {"phase": phase}, seed=cfg.seed)
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


def phase_section(phase: dict[str, Any], figures: Path) -> Section:
    """Report section: one figure per activation with every measure, and the read-off table."""
    section = Section("Phase diagram of random MLPs")
    rows = []
    for act, p in phase.items():
        curves = {m: PHASE_CURVES[m] for m in p["measured"] if m in PHASE_CURVES}
        section.items.append(_phase_figure(act, p, curves, figures))
        for m, (label, curve, rule) in curves.items():
            values = curve(p)
            found = (
                zero_crossing(p["sigma_w"], values)
                if rule == "zero"
                else peak(p["sigma_w"], values)
            )
            rows.append(
                {
                    "activation": act,
                    "measure": m,
                    "curve": label,
                    "read off at": "0 crossing" if rule == "zero" else "peak",
                    "measured critical σ_w": found,
                    "mean-field critical σ_w": p["critical"],
                }
            )
    section.items.insert(0, _phase_reading(rows, phase))
    section.items.append(Table(rows, caption="Where each measure locates the critical point"))
    return section


def _phase_figure(act: str, p: dict[str, Any], curves: dict[str, Any], figures: Path) -> Figure:
    from criticality.reporting.plots import plot_phase_diagram, save, subplots

    peaks = [m for m, c in curves.items() if c[2] == "peak"]
    fig, axes = subplots(1 + len(peaks), (4.2 * (1 + len(peaks)), 3.8))
    zero = {c[0]: c[1](p) for c in curves.values() if c[2] == "zero"}
    plot_phase_diagram(p["sigma_w"], zero, theory=p["theory"], critical=p["critical"],
                       ax=axes[0], title="log-gain measures")  # fmt: skip
    for ax, m in zip(axes[1:], peaks, strict=True):
        label, curve, _ = curves[m]
        ax.plot(p["sigma_w"], curve(p), marker="o", ms=3)
        ax.axvline(p["critical"], color="r", ls=":")
        ax.set_xlabel("σ_w")
        ax.set_title(label)
    fig.suptitle(f"{act} MLP, depth {p['depth']}, width {p['width']}, σ_b = {p['sigma_b']}")
    caption = f"{act}: every measure against σ_w; black: mean-field ½ ln χ₁; red: critical σ_w"
    return Figure(save(fig, figures / f"phase_{act}.png"), caption)


def _phase_reading(rows: list[dict[str, Any]], phase: dict[str, Any]) -> str:
    parts = []
    for r in rows:
        found = r["measured critical σ_w"]
        rule = "changes sign" if r["read off at"] == "0 crossing" else "peaks"
        where = f"{rule} at σ_w ≈ {found:.3f}" if found is not None else f"never {rule}"
        parts.append(f"{r['activation']}: {r['curve']} ({r['measure']}) {where} "
                     f"(mean field {r['mean-field critical σ_w']:.3f}).")  # fmt: skip
    for act, p in phase.items():
        if "lyapunov" in p["measured"]:
            dev = np.mean(np.abs(np.asarray(p["measured"]["lyapunov"]) - np.asarray(p["theory"])))
            parts.append(f"For {act}, measured λ_1 stays within {dev:.3f} nats per stage of "
                         "½ ln χ₁ on average.")  # fmt: skip
    return (
        "Below the critical weight scale perturbations shrink layer by layer (ordered, λ_1 < 0); "
        "above it they grow (chaotic, λ_1 > 0). A peak-type measure that keeps rising past the "
        "critical point, or peaks elsewhere, is reported as measured. " + " ".join(parts)
    )
