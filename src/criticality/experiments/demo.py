"""The demonstration behind ``make demo``: a phase diagram and real architectures.

1. The order-to-chaos phase diagram of random tanh and ReLU MLPs: ``λ_1`` and the FTLE against
   ``σ_w``, with the mean-field prediction ``½ ln χ_1`` and the critical point.
2. The Lyapunov spectrum and per-stage profile of a few torchvision architectures at random
   initialisation, on Gaussian probe inputs, with every measure side by side.
3. The zoo analysis offline (:mod:`.zoo_demo`): 80 architectures at random init, pretrained
   EfficientNet-Lite against random init, a trained mini-zoo on MNIST and Fashion-MNIST.
4. Training toward criticality (:mod:`.training`): the regularizer against plain training, the
   Jacobian regularizer and weight decay, on MNIST over 5 seeds.

Each part is saved under ``OUT/parts/`` as it finishes; an interrupted run resumes there.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from criticality.experiments import training, zoo_demo
from criticality.experiments.phase import phase_section, phase_sweep
from criticality.experiments.training import TrainingConfig
from criticality.reporting import (
    Figure,
    Section,
    Table,
    atomic_write,
    load_results,
    render,
    write_results,
)

log = logging.getLogger(__name__)

TITLE = "criticality demo: order, chaos and the critical point in deep networks"


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """What the demo runs.

    Attributes:
        activations: activations of the random MLPs in the phase diagram.
        sigma_w: weight scales swept.
        depth: MLP depth (stages).
        width: MLP width.
        sigma_b: bias scale.
        n_inputs: probe inputs per point.
        phase_measures: measures drawn in the phase diagram.
        architectures: torchvision models measured at random initialisation.
        arch_measures: measures run on them (``weight_alpha`` is left out for its cost: its
            power-law fits take about a minute per ResNet-18).
        image_size: input size of the architectures (ViTs are built for it).
        n_probes: probe inputs per architecture.
        k: Lyapunov exponents per architecture.
        zoo_part: the offline zoo analysis (:mod:`.zoo_demo`): ``"bounded"``, ``"tiny"`` or
            ``"off"``.
        training_part: the training comparison (:mod:`.training`): ``"demo"`` (its bounded
            preset), ``"tiny"`` or ``"off"``.
        seed: seed of everything.
    """

    activations: tuple[str, ...] = ("tanh", "relu")
    sigma_w: tuple[float, ...] = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
    depth: int = 24
    width: int = 256
    sigma_b: float = 0.3
    n_inputs: int = 6
    phase_measures: tuple[str, ...] = (
        "lyapunov", "ftle", "branching", "dynamic_range", "susceptibility",
    )  # fmt: skip
    architectures: tuple[str, ...] = ("resnet18", "mobilenet_v3_small", "vgg11", "vit_b_16")
    arch_measures: tuple[str, ...] = (
        "lyapunov", "ftle", "branching", "dynamic_range", "susceptibility", "avalanches",
    )  # fmt: skip
    image_size: int = 112
    n_probes: int = 4
    k: int = 4
    zoo_part: str = "bounded"
    training_part: str = "demo"
    seed: int = 0

    @classmethod
    def tiny(cls) -> DemoConfig:
        """Seconds-long version for tests."""
        return cls(sigma_w=(0.6, 1.4, 2.4), depth=5, width=24, n_inputs=2,
                   architectures=("resnet18",), arch_measures=("lyapunov", "ftle", "branching"),
                   image_size=32, n_probes=2, k=2, zoo_part="tiny",
                   training_part="tiny")  # fmt: skip


_PART_CHOICES = {"zoo_part": ("bounded", "tiny", "off"), "training_part": ("demo", "tiny", "off")}


def run(cfg: DemoConfig, out_dir: str | Path) -> Path:
    """Run (or resume) the demo and write ``OUT/report.html``."""
    for part, value in (("zoo_part", cfg.zoo_part), ("training_part", cfg.training_part)):
        if value not in _PART_CHOICES[part]:
            raise ValueError(f"{part} must be one of {_PART_CHOICES[part]}, got {value!r}")
    out = Path(out_dir)
    config = dataclasses.asdict(cfg)
    parts = out / "parts"
    _check_resume(parts, config)
    n_extra = (cfg.zoo_part != "off") + (cfg.training_part != "off")
    bar = tqdm(total=len(cfg.activations) * len(cfg.sigma_w) + len(cfg.architectures) + n_extra,
               desc="demo: phase diagram", disable=not sys.stderr.isatty())  # fmt: skip
    phase = {}
    for act in cfg.activations:
        phase[act] = _part(parts / f"phase_{act}.json", lambda a=act: phase_sweep(
            a, cfg.sigma_w, depth=cfg.depth, width=cfg.width, sigma_b=cfg.sigma_b,
            n_inputs=cfg.n_inputs, measures=cfg.phase_measures, seed=cfg.seed,
            on_point=lambda: bar.update(1)))  # fmt: skip
        bar.n = (cfg.activations.index(act) + 1) * len(cfg.sigma_w)
    archs = {}
    bar.set_description("demo: architectures")
    for name in cfg.architectures:
        archs[name] = _part(parts / f"arch_{name}.json", lambda n=name: _measure_arch(n, cfg))
        bar.update(1)
    data: dict[str, Any] = {"phase": phase, "architectures": archs}
    if cfg.zoo_part != "off":
        bar.set_description("demo: zoo analysis (a few minutes)")
        data["zoo"] = zoo_demo.demo_part(cfg.zoo_part == "tiny", out / "zoo")
        bar.update(1)
    if cfg.training_part != "off":
        bar.set_description("demo: training comparison (a few minutes)")
        tcfg = TrainingConfig.tiny() if cfg.training_part == "tiny" else TrainingConfig.demo()
        training.run(tcfg, out / "training")
        data["training"] = load_results(out / "training")["data"]
        bar.update(1)
    bar.close()
    write_results(out, "demo", config, data, seed=cfg.seed)
    return render(out)


def _check_resume(parts: Path, config: dict[str, Any]) -> None:
    """Keep finished parts only if they were made with the same config."""
    stamp = parts / "config.json"
    text = json.dumps(config, sort_keys=True)
    if stamp.is_file() and stamp.read_text() != text:
        log.warning("config changed: discarding the finished parts in %s", parts)
        for f in parts.glob("*.json"):
            f.unlink()
    parts.mkdir(parents=True, exist_ok=True)
    atomic_write(stamp, text)


def _part(path: Path, compute: Any) -> Any:
    if path.is_file():
        return json.loads(path.read_text())
    value = compute()
    atomic_write(path, json.dumps(value))
    return value


def _measure_arch(name: str, cfg: DemoConfig) -> dict[str, Any]:
    from criticality import measure
    from criticality._probes import make_probes
    from criticality.zoo import create_model, model_info

    info = model_info(name)
    # At random initialisation a ViT can be built for any image size (its position embedding is
    # sized to it), so every architecture runs at cfg.image_size.
    build: dict[str, Any] = {"image_size": cfg.image_size} if name.startswith("vit_") else {}
    shape = (info.input_shape[0], cfg.image_size, cfg.image_size)
    x = make_probes("gaussian", info, n=cfg.n_probes, seed=cfg.seed, input_shape=shape)
    options: dict[str, Any] = {
        "lyapunov": {"k": cfg.k},
        "ftle": {"n_iter": 10},
        # fewer directions and gains than the defaults: the demo's budget is minutes
        "dynamic_range": {"response": "tv", "n_dirs": 2},
        "susceptibility": {"n_dirs": 2, "n_gains": 13},
    }
    options = {m: o for m, o in options.items() if m in cfg.arch_measures}  # per measure
    model = create_model(name, **build)
    report = measure(model, x, measures=cfg.arch_measures, seed=cfg.seed, name=name, **options)
    return report.to_dict()


# ---- rendering (from results.json only) -------------------------------------------------------


def sections(data: dict[str, Any], out_dir: Path) -> list[Section]:
    from criticality.report import CriticalityReport
    from criticality.reporting._measure import report_sections

    figures = out_dir / "figures"
    out = [phase_section(data["phase"], figures)]
    reports = [CriticalityReport.from_dict(r) for r in data["architectures"].values()]
    if reports:
        out.append(_arch_section(reports, figures))
        for i, rep in enumerate(reports):
            out += report_sections(rep, figures, tag=f"arch{i}_")
    if "zoo" in data:
        out += zoo_demo.demo_sections(data["zoo"], out_dir)
    if "training" in data:
        for section in training.sections(data["training"], out_dir):
            section.title = f"Training toward criticality: {section.title}"
            out.append(section)
    return out


def _arch_section(reports: list[Any], figures: Path) -> Section:
    from criticality.reporting.plots import axes, plot_stage_profile, save

    fig, ax = axes(None, (8.0, 4.0))
    for rep in reports:
        plot_stage_profile(rep.lyapunov, ax=ax, label=rep.model, relative=True, floor=-6.0)
    ax.legend(fontsize=8)
    rows = [_side_by_side(r) for r in reports]
    items: list[str | Table | Figure] = [
        "Random-initialisation profiles on Gaussian probe inputs (every architecture at the "
        "demo's image size; ViT-B/16 is built for it): how each architecture's "
        "stages treat perturbations before any training. Stem and head change the state's "
        "dimension, which the Euclidean norm counts as gain or loss; the median per-stage "
        "log-gain is robust to them. A zero-initialised classifier (torchvision's ViT) "
        "annihilates every perturbation: its head stage has ln g = -inf, reported at the "
        "floating-point floor, and that one stage dominates λ_1.",
        Table(
            rows,
            caption="Each measure's headline value, side by side (critical values: λ_1 = "
            "0, FTLE = 0, branching σ = 1, susceptibility peak gain = 1, avalanche τ_S = 1.5; "
            "dynamic range Δ: larger is closer to critical)",
        ),
        Figure(
            save(fig, figures / "architectures.png"),
            "Per-stage local exponents against relative depth; ▼: below -6, drawn at -6",
        ),
    ]
    items += [r.interpretation() for r in reports]
    return Section("torchvision architectures at random initialisation", items)


def _side_by_side(report: Any) -> dict[str, Any]:
    """One table row: every measure's headline value for one model."""
    row: dict[str, Any] = {"model": report.model, "stages": len(report.stage_names)}
    row.update({name: r.headline().mean for name, r in report.results.items()})
    if "lyapunov" in report.results:
        row["median ln g_l"] = float(np.median(report.lyapunov.stage_profile()[1]))
        row["verdict"] = report.lyapunov.describe()
    return row
