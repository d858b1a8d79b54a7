"""A griffe extension for the API reference: Sphinx roles in docstrings become cross-references.

The docstrings name other objects the Sphinx way (:func:`criticality.stages`,
:class:`~.report.CriticalityReport`, relative ``.name`` paths). mkdocstrings reads Markdown, so
each role that names an object of this package becomes an autorefs link
(``[`stages`][criticality.stages]``); one that names no object here stays a code span. A link
whose target is not on any page of the site is a warning, which ``mkdocs build --strict`` turns
into a failed build: a broken cross-reference cannot reach the site.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(func|class|meth|mod|attr|data|obj|exc|const):`(~?)([^`<>]+)`")
#: Google style names the section "Examples"; "Example:" alone would be read as prose.
EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.M)


def _lookup(pkg: griffe.Module, path: str) -> Any:
    """The object at ``path`` in ``pkg`` (aliases followed), or ``None``."""
    if path == pkg.path:
        return pkg
    if not path.startswith(pkg.path + "."):
        return None
    try:
        obj = pkg[path[len(pkg.path) + 1 :]]
        return obj.final_target if obj.is_alias else obj
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _exists(pkg: griffe.Module, path: str) -> bool:
    return _lookup(pkg, path) is not None


def _resolve(target: str, obj: griffe.Object, pkg: griffe.Module) -> str | None:
    """The full path of the object a role names, or ``None`` if it is no object of ``pkg``."""
    module = obj if obj.is_module else obj.module
    if target.startswith("."):
        dots = len(target) - len(target.lstrip("."))
        rest = target.lstrip(".")
        base: griffe.Object | None = obj if obj.is_class else module
        candidates = []
        while base is not None:
            candidates.append(f"{base.path}.{rest}")
            base = base.parent
        if dots > 1:
            candidates = candidates[dots - 1 :]
    else:
        candidates = [target, f"{module.path}.{target}", f"{pkg.path}.{target}"]
    return next((c for c in candidates if _exists(pkg, c)), None)


def _public(path: str) -> bool:
    return not any(part.startswith("_") for part in path.split("."))


def _convert(text: str, obj: griffe.Object, pkg: griffe.Module) -> str:
    def link(match: re.Match[str]) -> str:
        role, short, target = match.group(1), match.group(2) == "~", match.group(3).strip()
        label = target.lstrip(".").rsplit(".", 1)[-1] if short else target.lstrip(".")
        path = _resolve(target, obj, pkg)
        if path is None or not _public(path):  # torch, numpy, private helpers: no page
            return f"`{label}`"
        if role != "mod" and getattr(_lookup(pkg, path), "is_module", False):
            # a function re-exported over its own module's name (``fit``, ``ftle``): static
            # analysis sees the module; link the function inside it, documented with it
            inner = f"{path}.{path.rsplit('.', 1)[-1]}"
            if not _exists(pkg, inner):
                return f"`{label}`"
            path = inner
        return f"[`{label}`][{path}]"

    return ROLE.sub(link, EXAMPLE.sub(r"\1Examples:", text))


def _walk(obj: griffe.Object) -> Any:
    yield obj
    for member in obj.members.values():
        if not member.is_alias and member.parent is obj:
            yield from _walk(member)  # type: ignore[arg-type]


def _reexports(module: griffe.Module) -> Any:
    """The explicit re-exports of a package's ``__init__`` (``from .x import name as name``)."""
    if module.is_init_module:
        for name, member in module.members.items():
            target = getattr(member, "target_path", "")
            if member.is_alias and not name.startswith("_") and target.endswith("." + name):
                yield member


class SphinxRoles(griffe.Extension):
    """Document every package's explicit re-exports where the package is documented, and
    rewrite the Sphinx roles of every docstring (see the module)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        objects = list(_walk(pkg))
        for obj in objects:
            if obj.is_module:
                for alias in _reexports(obj):  # type: ignore[arg-type]
                    alias.public = True
        for obj in objects:
            if obj.docstring is not None:
                obj.docstring.value = _convert(obj.docstring.value, obj, pkg)
