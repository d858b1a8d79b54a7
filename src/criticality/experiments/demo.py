"""The demonstration behind ``make demo``: every registered experiment's demo preset, in order.

The parts are the experiments registered with a ``demo_rank`` (``criticality experiment list``):
today the phase diagram of random MLPs, torchvision architectures at random initialisation, the
zoo analysis offline and training toward criticality. Each part runs into ``OUT/<name>/`` and
is resumable on its own; a part already finished with the same config is not run again. The
demo's report puts every part's sections together.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

from criticality.experiments._registry import (
    PRESETS,
    demo_parts,
    get_experiment,
    register_experiment,
    render,
)
from criticality.reporting import Section, load_results, write_results

log = logging.getLogger(__name__)

TITLE = "criticality demo: order, chaos and the critical point in deep networks"


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """What the demo runs.

    Attributes:
        parts: experiments to run (``()``: every one registered with a ``demo_rank``).
        preset: the preset each part runs (``"demo"``; ``"tiny"`` for tests).
        seed: seed of every part.
    """

    parts: tuple[str, ...] = ()
    preset: str = "demo"
    seed: int = 0

    @classmethod
    def tiny(cls) -> DemoConfig:
        """Every part at its tiny preset: seconds, for tests."""
        return cls(preset="tiny")

    @classmethod
    def demo(cls) -> DemoConfig:
        """Every part at its demo preset (the defaults)."""
        return cls()


def part_configs(cfg: DemoConfig) -> dict[str, Any]:
    """Each part's config: its preset, with the demo's seed."""
    if cfg.preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {cfg.preset!r}")
    configs = {}
    for name in cfg.parts or demo_parts():
        if name == "demo":
            raise ValueError("the demo cannot contain itself")
        part = get_experiment(name).preset(cfg.preset)
        if any(f.name == "seed" for f in dataclasses.fields(part)):
            part = dataclasses.replace(part, seed=cfg.seed)
        configs[name] = part
    return configs


def sections(data: dict[str, Any], out_dir: Path) -> list[Section]:
    """Every part's sections, in order, from ``results.json`` alone."""
    out: list[Section] = []
    for name, part in data["parts"].items():
        out += get_experiment(name).sections(part, Path(out_dir) / name)
    return out


@register_experiment(
    "demo",
    title=TITLE,
    config=DemoConfig,
    sections=sections,
    summary="make demo: every experiment's demo preset (phase, architectures, zoo, training, ...)",
)
def run(cfg: DemoConfig, out_dir: str | Path) -> Path:
    """Run (or resume) every part and write ``OUT/report.html``."""
    from tqdm.auto import tqdm

    out = Path(out_dir)
    configs = part_configs(cfg)
    data: dict[str, Any] = {"parts": {}}
    bar = tqdm(list(configs), desc="demo", unit="part", disable=not sys.stderr.isatty())
    for name in bar:
        bar.set_description(f"demo: {name}")
        part_out = out / name
        if not _finished(part_out, configs[name]):
            get_experiment(name).run(configs[name], part_out)
        data["parts"][name] = load_results(part_out)["data"]
    config = {"demo": dataclasses.asdict(cfg),
              "parts": {n: dataclasses.asdict(c) for n, c in configs.items()}}  # fmt: skip
    write_results(out, "demo", config, data, seed=cfg.seed)
    return render(out)


def _finished(part_out: Path, cfg: Any) -> bool:
    """Whether ``part_out`` holds results made with ``cfg`` (then the part is not run again)."""
    config, results = part_out / "config.json", part_out / "results.json"
    if not (config.is_file() and results.is_file()):
        return False
    wanted = json.loads(json.dumps(dataclasses.asdict(cfg), default=str))
    return bool(json.loads(config.read_text()) == wanted)
