"""What an experiment's config says about itself: each field's type, default and one-line doc,
and ``--set FIELD=VALUE`` overrides checked against the field's type.

A config is a frozen dataclass whose docstring documents every field in a Google-style
``Attributes:`` section (one ``name: text`` entry per field, continuation lines indented); that
section is the one place a field is explained, and ``criticality experiment NAME --help`` lists
it. A field that is itself a dataclass (a nested spec, e.g. ``vae``) is listed, and set, by a
dotted name (``vae.latent``).

Generic rules of every config, so that a bad ``--set`` is refused naming its field before any
work (never a traceback from inside torch):

* numbers must be finite (NaN and infinity refused, nested ones included) and an ``int`` field
  takes only whole numbers;
* a field named ``seeds`` (the replicates, :mod:`criticality.seeding`) must be a non-empty list
  without duplicates;
* an ``int`` field (or a list of ints) is a count or a size: a negative value is refused unless
  it is a seed (its name says ``seed``) or its doc mentions negative values;
* a list of names or numbers (``tuple[str, ...]``, ``tuple[int, ...]``, ...) must not be set
  empty unless its default is empty or its doc says what ``()`` means;
* then the config's own ``validate()``, if it has one, checks the whole config.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin

from criticality.seeding import REPLICATES


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    """One config field, as ``--help`` lists it.

    Attributes:
        name: the field's name; nested fields by their dotted name (``vae.latent``).
        type: its annotation, as written (``"tuple[int, ...]"``).
        default: its value in the config described (a preset or the defaults).
        doc: the first sentence of its entry under ``Attributes:`` (``""``: undocumented).
    """

    name: str
    type: str
    default: Any
    doc: str


def field_docs(cls: type) -> dict[str, str]:
    """Each field's entry in the ``Attributes:`` section of ``cls``'s docstring, in one line.

    >>> @dataclasses.dataclass
    ... class C:
    ...     '''Example.
    ...
    ...     Attributes:
    ...         steps: optimizer steps of every run
    ...             (the matched budget).
    ...         lr: learning rate.
    ...     '''
    ...     steps: int = 1
    ...     lr: float = 0.1
    >>> field_docs(C)
    {'steps': 'optimizer steps of every run (the matched budget).', 'lr': 'learning rate.'}
    """
    doc = cls.__doc__ or ""
    lines = doc.expandtabs().splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Attributes:")
    except StopIteration:
        return {}
    out: dict[str, str] = {}
    indent: int | None = None
    name = None
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        if indent is None:
            indent = depth
        if depth < indent:  # the section ended (a new heading, or the docstring's end)
            break
        match = re.match(r"(\w+)(?: \(.*?\))?: ?(.*)", line.strip())
        if depth == indent and match:
            name = match.group(1)
            out[name] = match.group(2).strip()
        elif name is not None:
            out[name] = f"{out[name]} {line.strip()}".strip()
    return out


def describe(cfg: Any, prefix: str = "") -> list[FieldInfo]:
    """Every field of the config ``cfg`` (nested dataclass fields flattened by dotted name)."""
    docs = field_docs(type(cfg))
    hints = _hints(type(cfg))
    out = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out += describe(value, prefix=f"{prefix}{f.name}.")
            continue
        shown = _type_name(hints.get(f.name, f.type))
        out.append(FieldInfo(prefix + f.name, shown, value, docs.get(f.name, "")))
    return out


def fields_help(cfg: Any) -> str:
    """The fields of ``cfg`` as ``--help`` shows them: name, type, default, doc."""
    import textwrap

    lines = []
    for r in describe(cfg):
        lines.append(f"  {r.name}: {r.type} = {_shown(r.default)}")
        doc = r.doc.replace("``", "")
        lines += textwrap.wrap(doc, 96, initial_indent=" " * 6, subsequent_indent=" " * 6)
    return "\n".join(lines)


def apply_overrides(
    cfg: Any,
    changes: Mapping[str, Any],
    *,
    flag: str = "--set",
    prefix: str = "",
    label: str | None = None,
) -> Any:
    """``cfg`` with ``changes`` (field name, or dotted name for a nested field, to value), each
    value checked against its field's type.

    Args:
        cfg: a config dataclass.
        changes: field name (``vae.latent`` for a nested one) -> new value.
        flag: how the user set them, for the messages.
        prefix: the dotted path of ``cfg`` inside its parent config (``"vae."``).
        label: what the messages call the config (default: its class name), e.g. the
            experiment's name.

    Raises:
        ValueError: an unknown field (the known ones listed), NaN or infinity, a non-integer for
            an integer field, an empty or duplicated ``seeds``, a negative count, an empty list
            (the generic rules above), or what the config's ``validate()`` refuses.
        TypeError: a value of the wrong type; the message names the field.
    """
    nested: dict[str, dict[str, Any]] = {}
    direct: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cfg)}
    hints = _hints(type(cfg))
    for key, value in changes.items():
        head, dot, rest = key.partition(".")
        if head not in names:
            known = ", ".join(sorted(r.name for r in describe(cfg, prefix)))
            raise ValueError(
                f"{label or type(cfg).__name__} has no field {prefix + key}; its fields: {known}"
            )
        current = getattr(cfg, head)
        if dot:
            if not dataclasses.is_dataclass(current):
                raise ValueError(f"{flag} {prefix + key}: {prefix + head} has no fields")
            nested.setdefault(head, {})[rest] = value
        elif dataclasses.is_dataclass(current) and isinstance(value, Mapping):
            nested.setdefault(head, {}).update(value)
        else:
            checked = check_value(prefix + head, value, hints.get(head, Any), flag=flag)
            _generic_rules(type(cfg), head, prefix, checked, hints.get(head, Any), flag)
            direct[head] = checked
    for head, sub in nested.items():
        direct[head] = apply_overrides(
            getattr(cfg, head), sub, flag=flag, prefix=f"{prefix}{head}."
        )
    out = dataclasses.replace(cfg, **direct)
    validate = getattr(out, "validate", None)
    if not prefix and callable(validate):
        validate()  # the config's own checks, on the whole config: refused before any work
    return out


def check_value(name: str, value: Any, annotation: Any, *, flag: str = "--set") -> Any:
    """``value`` as a value of a field ``name: annotation`` (an integral float becomes an
    ``int``, a list a tuple), or a clear error naming the field.

    >>> check_value("steps", 2.0, int), check_value("seeds", [0, 1], tuple[int, ...])
    (2, (0, 1))
    >>> check_value("steps", 2.5, int)
    Traceback (most recent call last):
    ...
    ValueError: --set steps=2.5: steps must be a whole number (int), got 2.5
    """
    where = f"{flag} {name}={_shown(value)}"
    out = _check(value, annotation, name, where)
    if name.rsplit(".", 1)[-1] == REPLICATES and isinstance(out, tuple):
        if not out:
            raise ValueError(f"{where}: seeds (the replicates) needs at least one seed")
        if len(set(out)) != len(out):
            dup = sorted({s for s in out if out.count(s) > 1})
            raise ValueError(
                f"{where}: seeds are replicates, each must appear once (repeated: "
                f"{', '.join(map(str, dup))}); a repeated seed reruns the same run"
            )
    return out


def _generic_rules(
    cls: type, head: str, prefix: str, value: Any, annotation: Any, flag: str
) -> None:
    """The rules of every config that a field's type alone does not say (module docstring)."""
    name, doc = prefix + head, field_docs(cls).get(head, "")
    where = f"{flag} {name}={_shown(value)}"
    if (bad := _non_finite(value)) is not None:
        raise ValueError(f"{where}: {name} must hold finite numbers, got {bad}")
    signed = "seed" in head or "negative" in doc or not _counts(annotation)
    if not signed and (negative := [v for v in _ints(value) if v < 0]):
        raise ValueError(
            f"{where}: {name} is a count or size and cannot be negative, got {negative[0]}"
        )
    if value == () and _names_or_numbers(annotation) and "``()``" not in doc:
        default = class_default(cls, head)
        if default != () and default is not None:
            raise ValueError(
                f"{where}: {name} needs at least one entry (its default: {_shown(default)})"
            )


def _non_finite(value: Any) -> float | None:
    """The first NaN or infinity in ``value`` (nested lists and mappings searched)."""
    if isinstance(value, float) and not math.isfinite(value):
        return value
    items = value.values() if isinstance(value, Mapping) else value
    if isinstance(value, (Mapping, list, tuple)):
        for v in items:
            if (bad := _non_finite(v)) is not None:
                return bad
    return None


def _strip_none(ann: Any) -> Any:
    if get_origin(ann) in (Union, types.UnionType):
        args = [a for a in get_args(ann) if a is not type(None)]
        return args[0] if len(args) == 1 else ann
    return ann


def _counts(ann: Any) -> bool:
    """Whether a field of type ``ann`` holds ints (``int``, ``int | None``, tuples of ints)."""
    ann = _strip_none(ann)
    if get_origin(ann) is tuple:
        args = [a for a in get_args(ann) if a is not Ellipsis]
        return bool(args) and all(a is int for a in args)
    return ann is int


def _ints(value: Any) -> list[int]:
    if isinstance(value, tuple):
        return [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
    return [value] if isinstance(value, int) and not isinstance(value, bool) else []


def _names_or_numbers(ann: Any) -> bool:
    """Whether ``ann`` is a list of any length of plain values (``tuple[str, ...]``)."""
    ann = _strip_none(ann)
    args = get_args(ann)
    return (
        get_origin(ann) is tuple
        and len(args) == 2
        and args[1] is Ellipsis
        and args[0] in (str, int, float)
    )


def class_default(cls: type, name: str) -> Any:
    """The default of field ``name`` of the dataclass ``cls`` (``None`` if it has none)."""
    field = {f.name: f for f in dataclasses.fields(cls)}[name]
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None if field.default is dataclasses.MISSING else field.default


def _check(value: Any, ann: Any, name: str, where: str) -> Any:
    origin, args = get_origin(ann), get_args(ann)
    if ann is Any or ann is object:
        return _tuples(value)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _check(value, arg, name, where)
            except (TypeError, ValueError) as err:
                errors.append(err)
        raise (
            errors[0]
            if len(errors) == 1
            else TypeError(f"{where}: {name} must be {_type_name(ann)}, got {type(value).__name__}")
        )
    if origin is Literal:
        if value not in args:
            raise ValueError(f"{where}: {name} must be one of {', '.join(map(repr, args))}")
        return value
    if ann is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{where}: {name} must be true or false, got {type(value).__name__}")
        return value
    if ann is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{where}: {name} must be an int, got {type(value).__name__}")
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            raise ValueError(f"{where}: {name} must be a whole number (int), got {value}")
        return int(value)
    if ann is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{where}: {name} must be a number (float), got {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError(f"{where}: {name} must be a finite number, got {value}")
        return float(value)
    if ann is str:
        if not isinstance(value, str):
            raise TypeError(f"{where}: {name} must be a string, got {type(value).__name__}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{where}: {name} must be a list, e.g. [1, 2], got {_shown(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_check(v, args[0], name, where) for v in value)
        if args and len(args) != len(value):
            raise ValueError(f"{where}: {name} must have {len(args)} entries, got {len(value)}")
        return tuple(
            _check(v, a, name, where)
            for v, a in zip(value, args or [Any] * len(value), strict=True)
        )
    if origin in (dict, Mapping) or ann is dict:
        if not isinstance(value, Mapping):
            raise TypeError(f"{where}: {name} must be a JSON object, got {_shown(value)}")
        return dict(value)
    if isinstance(ann, type) and dataclasses.is_dataclass(ann):
        return _record(value, ann, name, where)
    return _tuples(value)


def _record(value: Any, cls: type, name: str, where: str) -> Any:
    """``value`` as a ``cls`` (a dataclass, e.g. one entry of ``specs``): an instance, or a
    JSON object of its fields, each checked against its type."""
    if isinstance(value, cls):
        return value
    fields = {f.name: f for f in dataclasses.fields(cls)}
    needed = [n for n, f in fields.items() if f.default is dataclasses.MISSING
              and f.default_factory is dataclasses.MISSING]  # fmt: skip
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{where}: {name} takes JSON objects with the fields of {cls.__name__} "
            f"({', '.join(fields)}), got {_shown(value)}"
        )
    unknown = sorted(set(value) - set(fields))
    missing = [n for n in needed if n not in value]
    if unknown or missing:
        said = f"unknown {', '.join(unknown)}" if unknown else f"missing {', '.join(missing)}"
        raise ValueError(
            f"{where}: an entry of {name} ({cls.__name__}) has the fields "
            f"{', '.join(fields)}; {said}"
        )
    hints = _hints(cls)
    return cls(**{k: _check(v, hints.get(k, Any), f"{name}.{k}", where) for k, v in value.items()})


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def _hints(cls: type) -> dict[str, Any]:
    return _cached_hints(cls)


@functools.cache
def _cached_hints(cls: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):  # an annotation that does not resolve: checked loosely
        return {}


def _type_name(ann: Any) -> str:
    if isinstance(ann, str):
        return ann
    if isinstance(ann, type) and not get_args(ann):
        return ann.__name__
    return str(ann).replace("typing.", "")


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value)
    return str(value)
