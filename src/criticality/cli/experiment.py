"""``criticality experiment NAME``: run (or resume) a registered experiment into a folder.

``criticality experiment list`` lists the registry.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from criticality.cli._checks import add_fresh_argument
from criticality.cli._integrations import add_tensorboard_argument, write_tensorboard

NAME = "experiment"
HELP = "run or resume a registered experiment (`criticality experiment list`) and its report"


class _HelpWithFields(argparse.Action):
    """``-h/--help``: the usual help and, after ``NAME``, every field of that experiment's config
    (type, default of the chosen preset, one-line doc): what ``--set`` accepts."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, *_: Any
    ) -> None:
        text = parser.format_help()
        name = getattr(namespace, "name", None)
        if name and name != "list":
            from criticality.experiments import get_experiment
            from criticality.experiments._config import fields_help

            spec = get_experiment(name)
            preset = getattr(namespace, "preset", "full")
            text += (
                f"\n{name}: {spec.summary}\n\nfields of {spec.config.__name__} (--set "
                f"FIELD=VALUE; defaults of the {preset} preset; a nested field as "
                f"PART.FIELD):\n{fields_help(spec.preset(preset))}\n"
            )
        parser._print_message(text, sys.stdout)
        parser.exit()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The experiment, its preset, field overrides and the output folder."""
    parser.conflict_handler = parser._optionals.conflict_handler = "resolve"  # our -h/--help
    parser.add_argument(
        "-h", "--help", action=_HelpWithFields, help="show this help and, after NAME, its fields"
    )
    parser.add_argument("name", help="a registered experiment, or `list` to list them")
    parser.add_argument(
        "--preset",
        default="full",
        help="tiny (seconds, for tests), demo (minutes), full (the defaults; default), or a "
        "preset the experiment names (continual: dohare-small)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a config field (`criticality experiment NAME --help` lists them); VALUE "
        "is JSON (lists become tuples), checked against the field's type, e.g. --set "
        "seeds=[0,1,2] --set steps=500 --set vae.latent=8",
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (overrides the config)")
    parser.add_argument("--out", type=Path, help="output folder (resumable)")
    add_tensorboard_argument(parser)
    add_fresh_argument(parser)


def build_config(name: str, preset: str, overrides: list[str], device: str | None) -> Any:
    """The experiment's config: the preset with ``FIELD=VALUE`` overrides."""
    from criticality.experiments import get_experiment
    from criticality.experiments._config import apply_overrides

    spec = get_experiment(name)
    cfg = spec.preset(preset)
    fields = {f.name for f in dataclasses.fields(cfg)}
    changes = parse_assignments(overrides, "--set")
    if device is not None:
        if "device" not in fields:
            raise ValueError(f"{name} runs on the CPU only (its config has no device)")
        changes["device"] = device
    return apply_overrides(cfg, changes, label=name)


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
