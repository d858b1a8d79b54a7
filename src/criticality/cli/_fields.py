"""Options of the short commands (``train``, ``measure``, ``scan``) taken from an experiment's
config, so that a command and ``criticality experiment NAME`` cannot drift apart: the default is
the config field's default, the help its doc (the ``Attributes:`` entry)."""

from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any

from criticality.experiments._config import field_docs


def field_default(cls: type, name: str) -> Any:
    """The default of field ``name`` of the config dataclass ``cls``."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            raise ValueError(f"{cls.__name__}.{name} has no default")
    raise ValueError(f"{cls.__name__} has no field {name!r}")


def add_field(
    parser: argparse.ArgumentParser, cls: type, name: str, *flags: str, **kwargs: Any
) -> None:
    """An option for config field ``name``: its default and doc from ``cls`` (``dest`` is the
    field's name). A tuple field is given comma-separated (its default shown that way).

    Args:
        parser: the command's parser.
        cls: the config dataclass.
        name: the field.
        flags: the option's flags (default ``--field-name``).
        kwargs: more of ``add_argument``'s arguments (``type``, ``choices``, ``action``).
    """
    default = field_default(cls, name)
    if isinstance(default, tuple):
        default = ",".join(map(str, default))
    doc = field_docs(cls).get(name, "").replace("``", "")
    kwargs.setdefault("help", doc)
    if kwargs.get("action") not in ("store_true", "store_false"):
        kwargs["help"] += " (default: %(default)s)"
    parser.add_argument(
        *(flags or (f"--{name.replace('_', '-')}",)), dest=name, default=default, **kwargs
    )


def finite_float(text: str) -> float:
    """``type=`` of a float option: a finite number (argparse's ``float`` takes "nan", "inf").

    >>> finite_float("0.5")
    0.5
    """
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def split(text: str) -> tuple[str, ...]:
    """A comma-separated option as a tuple (``"a, b"`` -> ``("a", "b")``)."""
    return tuple(part.strip() for part in text.split(",") if part.strip())
