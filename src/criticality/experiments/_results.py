"""Typed results of an experiment: a frozen dataclass with ``to_dict``/``from_dict`` and a schema.

The ``data`` object of an experiment's ``results.json`` is its results' :meth:`Results.to_dict`:
the fields, plus ``"schema": "NAME/VERSION"`` (e.g. ``"training/2"``). :meth:`Results.from_dict`
reads it back, checking the schema: a file of the current version loads; a file written before
schemas were recorded (no ``"schema"`` key) is read as version 1, the layout of every file
written until then, when it has every field; any other version is refused with a message that
names both schemas and says what to do. Reports read the typed results, not display strings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

R = TypeVar("R", bound="Results")


class SchemaError(ValueError):
    """Results of a schema this version cannot read (too new, another experiment's, damaged)."""


class IncompleteResultsError(SchemaError):
    """Results of the right schema that lack a field (a file cut or edited by hand)."""


@dataclasses.dataclass(frozen=True)
class Results:
    """Base of every experiment's typed results (subclasses are frozen dataclasses).

    Subclasses set :attr:`SCHEMA` (the experiment's name) and :attr:`VERSION`; a field whose
    value has its own ``from_dict`` is rebuilt by :meth:`_decode` (override it for nested
    records).
    """

    SCHEMA: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1

    @classmethod
    def schema(cls) -> str:
        """``"NAME/VERSION"``, as written in ``results.json``."""
        return f"{cls.SCHEMA}/{cls.VERSION}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: each field (records through their own ``to_dict``) and ``"schema"``."""
        out: dict[str, Any] = {"schema": self.schema()}
        for f in dataclasses.fields(self):
            out[f.name] = _plain(getattr(self, f.name))
        return out

    @classmethod
    def from_dict(cls: type[R], data: Mapping[str, Any]) -> R:
        """The results in ``data`` (``results.json``'s ``data``), after the schema check.

        Raises:
            SchemaError: ``data`` is of another schema or version, or lacks a field; the
                message names the schema found and the one expected.
        """
        if not isinstance(data, Mapping):
            raise SchemaError(f"{cls.schema()} results must be a JSON object, got {type(data)}")
        found = data.get("schema", f"{cls.SCHEMA}/1")  # before schemas were written: version 1
        name, _, version = str(found).partition("/")
        if name != cls.SCHEMA or not version.isdigit():
            raise SchemaError(
                f"these are {found!r} results, not {cls.schema()}: render them with the "
                "experiment that wrote them"
            )
        if int(version) != cls.VERSION:
            data = cls.upgrade(dict(data), int(version))
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [n for n in names if n not in data]
        if missing:
            raise IncompleteResultsError(
                f"{found} results lack {', '.join(missing)} (schema {cls.schema()} has "
                f"{', '.join(names)}): the file is cut or from another version; re-run the "
                "experiment to write it again"
            )
        return cls(**{n: cls._decode(n, data[n]) for n in names})

    @classmethod
    def upgrade(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        """``data`` of an older ``version`` in the current layout; by default refused."""
        newer = version > cls.VERSION
        raise SchemaError(
            f"results of schema {cls.SCHEMA}/{version} cannot be read by this version of "
            f"criticality, which reads {cls.schema()}: "
            + ("upgrade criticality" if newer else "re-run the experiment to write them again")
        )

    @classmethod
    def _decode(cls, name: str, value: Any) -> Any:
        return value


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value
