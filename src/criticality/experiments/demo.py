"""The demonstration behind ``make demo``: every registered experiment's demo preset, in order.

The parts are the experiments registered with a ``demo_rank`` (``criticality experiment list``):
today the phase diagram of random MLPs, torchvision architectures at random initialisation, the
zoo analysis offline and training toward criticality. Each part runs into ``OUT/<name>/`` and
resumes there on its own (finished units of work are kept while its config is unchanged). The
demo's report puts every part's sections together.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from criticality.experiments._registry import (
    PRESETS,
    demo_parts,
    get_experiment,
    list_experiments,
    register_experiment,
    render,
)
from criticality.progress import progress
from criticality.reporting import Section, load_results, write_results
from criticality.reporting.html import condense
from criticality.reporting.scorecard import ScoreRow, gather
from criticality.seeding import PROBE_SEED

log = logging.getLogger(__name__)

TITLE = "criticality demo: order, chaos and the critical point in deep networks"


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """What the demo runs.

    Attributes:
        parts: experiments to run (``()``: every one registered with a ``demo_rank``).
        preset: the preset each part runs (``"demo"``; ``"tiny"`` for tests).
        probe_seed: the ``probe_seed`` of every part that has one (probe inputs, data subsets,
            the measures' random directions); each part's replicates are its own ``seeds``.
    """

    parts: tuple[str, ...] = ()
    preset: str = "demo"
    probe_seed: int = 0

    @classmethod
    def tiny(cls) -> DemoConfig:
        """Every part at its tiny preset: seconds, for tests."""
        return cls(preset="tiny")

    @classmethod
    def demo(cls) -> DemoConfig:
        """Every part at its demo preset (the defaults)."""
        return cls()


def part_configs(cfg: DemoConfig) -> dict[str, Any]:
    """Each part's config: its preset, with the demo's ``probe_seed`` where the part has one
    (a part whose config still calls it ``seed`` gets it there)."""
    if cfg.preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {cfg.preset!r}")
    configs = {}
    for name in cfg.parts or demo_parts():
        if name == "demo":
            raise ValueError("the demo cannot contain itself")
        part = get_experiment(name).preset(cfg.preset)
        field = _probe_field(part)
        if field is not None:
            part = dataclasses.replace(part, **{field: cfg.probe_seed})
        configs[name] = part
    return configs


def _probe_field(part: Any) -> str | None:
    """The field of ``part``'s config that seeds its probes: ``probe_seed`` (or an older
    ``seed``); ``None``: it has none."""
    names = {f.name for f in dataclasses.fields(part)}
    return next((n for n in (PROBE_SEED, "seed") if n in names), None)


def seeded(cfg: DemoConfig, configs: dict[str, Any]) -> dict[str, Any]:
    """What the demo's seed set, and each part's replicates: the report footer's words."""
    probed = {n: _probe_field(c) for n, c in configs.items()}
    out: dict[str, Any] = {PROBE_SEED: cfg.probe_seed}
    out["set in"] = [n + ("" if f == PROBE_SEED else f" (as {f})") for n, f in probed.items() if f]
    for name, part in configs.items():
        if hasattr(part, "seeds"):
            out[f"{name} seeds"] = list(part.seeds)
    return out


def sections(data: dict[str, Any], out_dir: Path) -> list[Section]:
    """Every part's sections, in order, from ``results.json`` alone; each part shows its
    headline section and folds the others under their leads (each part's own report, in
    ``OUT/<part>/report.html``, shows them all open)."""
    out: list[Section] = []
    for name, part in data["parts"].items():
        out += condense(get_experiment(name).sections(part, Path(out_dir) / name))
    return out


def scorecard(data: dict[str, Any]) -> list[ScoreRow]:
    """Every part's rows: each of the paper's claims M1–M5 in order (not testable here, with
    the reason, where no part tests it), then our own checks."""
    rows = []
    for name, part in data["parts"].items():
        spec = get_experiment(name)
        rows += spec.scorecard(part) if spec.scorecard else []
    return gather(rows, data["parts"], list_experiments())


@register_experiment(
    "demo",
    title=TITLE,
    config=DemoConfig,
    sections=sections,
    summary="make demo: every experiment's demo preset (phase, architectures, zoo, training, ...)",
    scorecard=scorecard,
)
def run(cfg: DemoConfig, out_dir: str | Path) -> Path:
    """Run (or resume) every part and write ``OUT/report.html``."""
    out = Path(out_dir)
    configs = part_configs(cfg)
    data: dict[str, Any] = {"parts": {}}
    with progress(len(configs), "demo", unit="part") as bar:
        for name in configs:
            bar.begin(name)
            get_experiment(name).run(configs[name], out / name)  # resumes its finished units
            data["parts"][name] = load_results(out / name)["data"]
            bar.update(label=name)
    config = {"demo": dataclasses.asdict(cfg),
              "parts": {n: dataclasses.asdict(c) for n, c in configs.items()}}  # fmt: skip
    write_results(out, "demo", config, data, seed=seeded(cfg, configs))
    return render(out)
