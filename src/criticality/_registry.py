"""The one registry behind measures, training methods and experiments: ``Registry[T]``.

Each registry maps a name to a spec (a frozen dataclass) and offers the same four things:
:meth:`Registry.add` (a second registration of a name is an error), :meth:`Registry.get` (an
unknown name is an error that lists the known ones and the closest), :meth:`Registry.names`
(sorted, filtered by a shell pattern) and membership. The public verbs (``get_measure``,
``list_methods``, ``get_experiment``, ...) are thin functions over one instance each.

>>> shapes = Registry[int]("shape")
>>> shapes.add("square", 4); shapes.add("triangle", 3)
>>> shapes.get("square"), shapes.names("s*")
(4, ['square'])
>>> try:
...     shapes.get("sqare")
... except ValueError as err:
...     print(err)
unknown shape 'sqare'; known shapes: square, triangle (did you mean square?)
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(ValueError, KeyError):
    """A name no entry of a registry has: a ``ValueError`` (bad input) and a ``KeyError`` (a
    failed lookup), so that callers catching either keep working."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Names -> entries of one kind (``"measure"``, ``"training method"``, ``"experiment"``).

    Args:
        kind: what one entry is, in the messages.
        plural: the plural of ``kind`` (default: ``kind + "s"``).
    """

    def __init__(self, kind: str, plural: str | None = None) -> None:
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> None:
        """Register ``entry`` under ``name``; a ``ValueError`` if the name is taken."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} needs a non-empty name, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry

    def get(self, name: str) -> T:
        """The entry of ``name``; an :class:`UnknownNameError` lists the known names."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            close = difflib.get_close_matches(str(name), list(self._entries), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; known {self.plural}: {known}{hint}"
            ) from None

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching the shell ``pattern`` (``"critical_*"``), sorted."""
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def values(self) -> list[T]:
        """The entries, in the order of :meth:`names`."""
        return [self._entries[n] for n in self.names()]

    def __delitem__(self, name: str) -> None:
        """Unregister ``name`` (for tests that register a throw-away entry)."""
        del self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
