"""``criticality experiment NAME``: run (or resume) a registered experiment into a folder.

``criticality experiment list`` lists the registry.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from criticality.cli._checks import add_fresh_argument
from criticality.cli._integrations import add_tensorboard_argument, write_tensorboard

NAME = "experiment"
HELP = "run or resume a registered experiment (`criticality experiment list`) and its report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The experiment, its preset, field overrides and the output folder."""
    parser.add_argument("name", help="a registered experiment, or `list` to list them")
    parser.add_argument(
        "--preset",
        default="full",
        choices=("tiny", "demo", "full"),
        help="tiny (seconds, for tests), demo (minutes) or full (the defaults; default)",
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
    parser.add_argument("--out", type=Path, help="output folder (resumable)")
    add_tensorboard_argument(parser)
    add_fresh_argument(parser)


def build_config(name: str, preset: str, overrides: list[str], device: str | None) -> Any:
    """The experiment's config: the preset with ``FIELD=VALUE`` overrides."""
    from criticality.experiments import get_experiment

    spec = get_experiment(name)
    cfg = spec.preset(preset)
    fields = {f.name for f in dataclasses.fields(cfg)}
    changes = parse_assignments(overrides, "--set")
    if bad := set(changes) - fields:
        raise ValueError(
            f"{name} has no field {', '.join(sorted(bad))}; its fields: {', '.join(sorted(fields))}"
        )
    if device is not None:
        if "device" not in fields:
            raise ValueError(f"{name} runs on the CPU only (its config has no device)")
        changes["device"] = device
    return dataclasses.replace(cfg, **changes)


def parse_assignments(items: list[str], flag: str) -> dict[str, Any]:
    """``["a=1", "b=[1,2]"]`` -> ``{"a": 1, "b": (1, 2)}`` (JSON values, lists as tuples; a
    value that is not JSON stays a string)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} needs KEY=VALUE, got {item!r}")
        out[key] = _parse(text)
    return out


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
    """Run the experiment (or list them); print where the report is."""
    from criticality.experiments import get_experiment, list_experiments

    if args.name == "list":
        for name in list_experiments():
            spec = get_experiment(name)
            print(f"{name:16s} {spec.summary}")
        return 0
    cfg = build_config(args.name, args.preset, args.set, args.device)
    out = args.out or Path("runs") / args.name
    path = get_experiment(args.name).run(cfg, out)
    print(f"report: {path}")
    write_tensorboard(args, out)
    return 0
