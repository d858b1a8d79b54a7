"""One model's criticality report: ``criticality measure`` (also ``criticality experiment
measure``).

The model is built (optionally with pretrained or local weights), probed and measured with the
chosen measures; the report has the summary, the per-stage table and the figures.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from criticality.experiments._registry import register_experiment, render
from criticality.experiments._results import Results
from criticality.report import CriticalityReport
from criticality.reporting import Section, Table, write_results
from criticality.reporting.html import Details
from criticality.reporting.scorecard import ScoreRow

log = logging.getLogger(__name__)

DTYPES = ("float32", "float64")


@dataclasses.dataclass(frozen=True)
class MeasureConfig:
    """What to measure.

    Attributes:
        model: a zoo name (``criticality list models``).
        pretrained: load pretrained weights.
        weights: a local state-dict file to load instead.
        inputs: probe source (``gaussian``, ``photos``, ``sklearn``, a ``.pt``/``.npy`` file,
            an image folder).
        n_probes: number of probe inputs.
        image_size: override of the model's input size in px (image models).
        measures: measure names, or ``("all",)``.
        k: Lyapunov exponents.
        norm: tangent norm of the Lyapunov spectrum (``"l2"`` or ``"rms"``).
        dtype: ``"float32"`` or ``"float64"``.
        device: ``"cpu"`` or ``"cuda"``.
        probe_seed: seed of the probe inputs and the measures' random directions (a
            measurement has no replicates).
    """

    model: str = "resnet18"
    pretrained: bool = False
    weights: str | None = None
    inputs: str = "gaussian"
    n_probes: int = 8
    image_size: int | None = None
    measures: tuple[str, ...] = ("lyapunov", "ftle")
    k: int = 4
    norm: str = "l2"
    dtype: str = "float32"
    device: str = "cpu"
    probe_seed: int = 0

    @classmethod
    def tiny(cls) -> MeasureConfig:
        """A random MLP, seconds."""
        return cls(model="mlp", n_probes=2, k=2)

    @classmethod
    def demo(cls) -> MeasureConfig:
        """ResNet-18 at random initialisation on Gaussian probes."""
        return cls()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the bad field."""
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.norm not in ("l2", "rms"):
            raise ValueError(f"norm must be 'l2' or 'rms', got {self.norm!r}")
        for name in ("n_probes", "k", "image_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")


def measure_model(cfg: MeasureConfig) -> Any:
    """Build, probe and measure ``cfg.model``; the :class:`~criticality.CriticalityReport`."""
    import torch

    from criticality import measure
    from criticality.data import make_probes
    from criticality.zoo import create_model, model_info

    cfg.validate()
    info = model_info(cfg.model)
    shape = info.input_shape
    if cfg.image_size is not None:
        if len(shape) != 3:
            raise ValueError(f"--image-size applies to image models; {cfg.model} takes {shape}")
        shape = (shape[0], cfg.image_size, cfg.image_size)
    dtype = getattr(torch, cfg.dtype)
    model = create_model(cfg.model, pretrained=cfg.pretrained, weights=cfg.weights)
    model = model.to(device=cfg.device, dtype=dtype)
    x = make_probes(cfg.inputs, cfg.model, shape, n=cfg.n_probes, seed=cfg.probe_seed)
    names: Any = "all" if tuple(cfg.measures) == ("all",) else list(cfg.measures)
    options: dict[str, Any] = {"lyapunov": {"k": cfg.k, "norm": cfg.norm}}
    options = {k: v for k, v in options.items() if names == "all" or k in names}
    log.info("measuring %s on %d probe inputs %s", cfg.model, x.shape[0], tuple(x.shape[1:]))
    return measure(
        model,
        x.to(cfg.device, dtype),
        measures=names,
        seed=cfg.probe_seed,
        name=cfg.model,
        progress=True,
        **options,
    )


@dataclasses.dataclass(frozen=True)
class MeasureResults(Results):
    """One measured model (schema ``measure/1``).

    Attributes:
        report: every measure's result and the per-stage profile.
        command: the command line that made it (``""``: called from Python).
    """

    SCHEMA = "measure"
    VERSION = 1

    report: CriticalityReport
    command: str

    @classmethod
    def _decode(cls, name: str, value: Any) -> Any:
        return CriticalityReport.from_dict(value) if name == "report" else value


def sections(data: dict[str, Any], out_dir: Path) -> list[Section]:
    """Summary, per-stage table, figures and the run's metadata, from ``results.json``."""
    from criticality.reporting.sections import report_sections

    res = MeasureResults.from_dict({"command": "", **data})
    report = res.report
    meta = [{"key": k, "value": str(v)} for k, v in report.metadata.items()]
    command = res.command
    run = Section(
        "Run",
        [Details("Run metadata", [Table(meta)])],
        lead=f"Command: {command}" if command else "",
    )
    return [*report_sections(report, Path(out_dir) / "figures"), run]


def scorecard(data: dict[str, Any]) -> list[ScoreRow]:
    """The model's regime with λ_1, its extreme stages, and whether the measures agree."""
    from criticality.reporting.sections import measure_scorecard

    return measure_scorecard(MeasureResults.from_dict({"command": "", **data}).report)


def headline(data: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """The golden numbers (:mod:`._golden`): each measure's headline mean (float32: 1e-3)."""
    report = MeasureResults.from_dict({"command": "", **data}).report
    return {name: (r.headline().mean, 1e-3) for name, r in report.results.items()}


@register_experiment(
    "measure",
    title="Criticality report",
    config=MeasureConfig,
    sections=sections,
    summary="one model: every measure, per-stage profile, spectrum (criticality measure)",
    scorecard=scorecard,
    headline=headline,
)
def run(cfg: MeasureConfig, out_dir: str | Path, *, command: str = "") -> Path:
    """Measure and write ``results.json`` and ``report.html``."""
    report = measure_model(cfg)
    data = MeasureResults(report=report, command=command).to_dict()
    write_results(
        out_dir,
        "measure",
        dataclasses.asdict(cfg),
        data,
        seed={"probe_seed": cfg.probe_seed},
        device=cfg.device,
    )
    return render(out_dir)
