"""``criticality experiment NAME``: run (or resume) one of the experiments into a folder."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
from pathlib import Path
from typing import Any

NAME = "experiment"
HELP = "run or resume an experiment (e.g. `training`) and write its report"

#: Experiment name -> module with ``Config`` (a dataclass with ``tiny()``) and ``run(cfg, out)``.
EXPERIMENTS = {
    "training": "criticality.experiments.training",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The experiment, its preset, field overrides and the output folder."""
    parser.add_argument("name", choices=sorted(EXPERIMENTS), help="which experiment")
    parser.add_argument(
        "--preset",
        default="default",
        help="'default', 'tiny' (seconds, for tests) or another classmethod "
        "of the config, e.g. 'demo'",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a config field; VALUE is JSON (lists become tuples), "
        "e.g. --set seeds=[0,1,2] --set steps=500",
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (overrides the config)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (resumable)")


def build_config(
    name: str, preset: str, overrides: list[str], device: str | None
) -> tuple[Any, Any]:
    """The experiment's config (the preset with ``FIELD=VALUE`` overrides) and its module."""
    module = importlib.import_module(EXPERIMENTS[name])
    cls = module.Config
    if preset == "default":
        cfg = cls()
    elif callable(getattr(cls, preset, None)) and not preset.startswith("_"):
        cfg = getattr(cls, preset)()
    else:
        raise ValueError(f"unknown preset {preset!r} for {name}; use default, tiny or demo")
    fields = {f.name for f in dataclasses.fields(cls)}
    changes: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or key not in fields:
            raise ValueError(
                f"--set needs FIELD=VALUE with FIELD one of: {', '.join(sorted(fields))}"
            )
        changes[key] = _parse(text)
    if device is not None:
        changes["device"] = device
    return dataclasses.replace(cfg, **changes), module


def _parse(text: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return _tuples(value)


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def run(args: argparse.Namespace) -> int:
    """Run the experiment; print where the report is."""
    cfg, module = build_config(args.name, args.preset, args.set, args.device)
    path = module.run(cfg, args.out)
    print(f"wrote {path}")
    return 0
