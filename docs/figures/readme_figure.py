"""Regenerate the README's picture: the order-to-chaos phase diagram of random MLPs.

A real run of the phase experiment at the demo's network settings (depth 24, width 256,
σ_b = 0.3, 3 seeds), limited to the log-gain measures (λ_1, FTLE, ln σ), drawn against the
mean-field ½ ln χ_1 and its critical point for tanh and ReLU side by side::

    python docs/figures/readme_figure.py            # about a minute on one core
    python docs/figures/readme_figure.py --out runs/readme-figure  # where the run resumes

The run resumes from its output folder (runs/readme-figure by default, not committed); the PNG
is committed beside this script.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch

from criticality.experiments.phase import PHASE_CURVES, PhaseConfig, curve_band, run
from criticality.reporting.plots import plot_phase_diagram, subplots

HERE = Path(__file__).resolve().parent
CONFIG = dataclasses.replace(PhaseConfig.demo(), measures=("lyapunov", "ftle", "branching"))


def draw(phase: dict, png: Path) -> None:
    """Both activations' λ_1, FTLE and ln σ against σ_w, with the mean-field overlay."""
    fig, axes = subplots(2, (9.0, 3.3))
    for ax, (act, p) in zip(axes, phase.items(), strict=True):
        bands = {m: curve_band(p, m) for m in CONFIG.measures}
        plot_phase_diagram(
            p["sigma_w"],
            {PHASE_CURVES[m][0]: bands[m][0] for m in CONFIG.measures},
            bands={PHASE_CURVES[m][0]: bands[m][1:] for m in CONFIG.measures},
            theory=p["theory"],
            critical=p["critical"],
            ax=ax,
            title=f"random {act} MLPs (depth {p['depth']}, width {p['width']})",
        )
    axes[1].get_legend().remove()
    fig.savefig(png, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/readme-figure"))
    parser.add_argument("--png", type=Path, default=HERE / "phase_diagram.png")
    args = parser.parse_args()
    torch.set_num_threads(1)
    run(CONFIG, args.out)
    phase = json.loads((args.out / "results.json").read_text())["data"]["phase"]
    draw(phase, args.png)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
