"""The one way to keep a unit of work: load it when finished, else compute and write it.

An experiment is many units (a training run, a sweep, one model of a zoo, a generation); an
interrupted experiment started again skips the finished ones. :func:`cached_unit` is the whole
rule, so that no experiment writes it out by hand:

* the unit's file holds its value *and* the configuration that made it; a rerun with the same
  configuration reads it back, one with another configuration either moves it aside and
  computes it again (``on_change="redo"``, the default: a unit depends only on what its config
  says) or refuses with the differing settings named (``on_change="refuse"``); never a mix;
* a damaged file (cut short, random bytes, another schema, a value the caller's ``check``
  rejects) is named in a warning, moved aside (``NAME.damaged-N``) and the unit computed again;
* the file is written atomically, so a kill never leaves half a unit, and its folder is held
  by one process at a time (:func:`criticality.reporting._folders.hold`, given back when the run
  writes its results);
* ``*.json`` units are JSON; any other name (``*.pt``) holds tensors and plain containers, read
  back only with ``torch.load(weights_only=True)`` (:func:`criticality._files.load_tensors`), so
  a crafted file in a shared output folder runs nothing.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "unit.json"
    >>> cached_unit(path, lambda: {"accuracy": 0.9}, config={"steps": 10})
    {'accuracy': 0.9}
    >>> cached_unit(path, lambda: 1 / 0, config={"steps": 10})  # finished: not computed again
    {'accuracy': 0.9}
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from criticality._files import DamagedFileError as DamagedFileError
from criticality._files import load_tensors as load_tensors
from criticality._files import read_json, set_aside
from criticality._files import save_tensors as save_tensors
from criticality._meta import atomic_write
from criticality.reporting import ConfigMismatchError, _folders, fresh_requested

log = logging.getLogger(__name__)

#: Version of the unit file's envelope (``{"unit": UNIT_SCHEMA, "config": ..., "value": ...}``).
UNIT_SCHEMA = 1


def cached_unit(
    path: str | Path,
    compute: Callable[[], Any],
    *,
    config: Mapping[str, Any],
    on_change: Literal["redo", "refuse"] = "redo",
    check: Callable[[Any], object] | None = None,
    fresh: bool | None = None,
) -> Any:
    """The value of the unit kept in ``path``: read back if finished with ``config``, else
    ``compute()``-d and written.

    Args:
        path: the unit's file; ``*.json`` for JSON values, any other suffix (``*.pt``) for
            tensors and plain containers of them.
        compute: makes the value (called only when the unit is not finished).
        config: the JSON-serialisable settings that decide this unit's value.
        on_change: what a finished unit made with another ``config`` becomes: ``"redo"``
            (moved aside to ``NAME.replaced-N`` with a warning, computed again) or
            ``"refuse"`` (:class:`~criticality.reporting.ConfigMismatchError`).
        check: called with a value read back; raising ``ValueError``, ``KeyError``,
            ``TypeError`` or ``IndexError`` marks the file damaged (the schema of the value).
        fresh: compute again even if finished, the old file moved aside (default:
            :func:`criticality.reporting.fresh_requested`, the CLI's ``--fresh``).

    Returns:
        The value; a JSON unit's as read back from its file, so that a first run and a
        resumed one see the same types (lists, not tuples).

    Raises:
        ConfigMismatchError: ``on_change="refuse"`` and the unit was made with another config.
    """
    found, value = finished_unit(path, config=config, on_change=on_change, check=check, fresh=fresh)
    return value if found else write_unit(path, config, compute())


def finished_unit(
    path: str | Path,
    *,
    config: Mapping[str, Any],
    on_change: Literal["redo", "refuse"] = "redo",
    check: Callable[[Any], object] | None = None,
    fresh: bool | None = None,
) -> tuple[bool, Any]:
    """The reading half of :func:`cached_unit`: ``(True, value)`` for a unit finished with
    ``config``, else ``(False, None)`` (missing, damaged and set aside, made with other settings
    and set aside, or ``fresh``), for a run that computes its missing units elsewhere (an
    executor) and writes each with :func:`write_unit`. Arguments as :func:`cached_unit`'s.

    Raises:
        ConfigMismatchError: ``on_change="refuse"`` and the unit was made with another config.
    """
    if on_change not in ("redo", "refuse"):
        raise ValueError(f"on_change must be 'redo' or 'refuse', got {on_change!r}")
    path = Path(path)
    stamp = _canonical(config)
    fresh = fresh_requested() if fresh is None else fresh
    _folders.hold(path.parent)  # one writer per folder of units, until the run's results
    if not path.exists():
        return False, None
    if fresh:
        log.warning("starting afresh: %s moved to %s", path, set_aside(path, "replaced").name)
        return False, None
    try:
        stored, value = _read(path)
        if check is not None:
            _checked(path, check, value)
    except DamagedFileError as err:
        aside = set_aside(path, "damaged")
        log.warning("%s; moved it to %s and computing the unit again", err, aside.name)
        return False, None
    if stored == stamp:
        return True, value
    difference = describe_difference(stored, stamp)
    if on_change == "refuse":
        raise ConfigMismatchError(
            f"{path} was made with other settings ({difference}); rerun with --fresh "
            "to set it aside, pass another --out, or repeat the original settings"
        )
    aside = set_aside(path, "replaced")
    log.warning("settings changed (%s): computing %s again; the earlier unit is kept "
                "as %s", difference, path, aside.name)  # fmt: skip
    return False, None


def write_unit(path: str | Path, config: Mapping[str, Any], value: Any) -> Any:
    """Write a finished unit (``value`` made with ``config``) atomically; the value as it will
    be read back (:func:`cached_unit`'s writing half)."""
    path = Path(path)
    _folders.hold(path.parent)
    return _write(path, _canonical(config), value)


def stamped_folder(
    folder: str | Path, config: Mapping[str, Any], *, unvouched: Sequence[Path] = ()
) -> Path:
    """``folder``, stamped (``folder/config.json``) with the settings of a whole run whose units
    it keeps; other settings are refused.

    The stamp refuses a rerun with other settings before any work, naming what differs
    (:class:`~criticality.reporting.ConfigMismatchError`: ``--fresh``, another ``--out`` or the
    original settings). Each unit in the folder carries its settings too (:func:`cached_unit`,
    checked on its own), so a damaged or deleted stamp is named, set aside and written again
    without losing a unit; only the folders in ``unvouched`` (partial work that nothing else
    vouches for, such as the checkpoints of unfinished runs) are set aside with it.

    A folder of an older version (a stamp holding the bare settings, units their bare values)
    is adopted when its stamp equals ``config`` (its units wrapped with their settings), and
    refused like any other when it does not.

    Returns:
        ``folder``, held by this process.
    """
    folder = Path(folder)
    stamp = folder / "config.json"
    _folders.hold(folder)  # one writer: a second run on these units is refused
    if fresh_requested():
        _start_afresh(folder, unvouched)
    _adopt_legacy(folder, _canonical(config))

    def first_stamp() -> None:
        for partial in (Path(p) for p in unvouched):
            if partial.is_dir() and any(partial.iterdir()):
                aside = _folders.set_aside_folder(partial, "unstamped")
                log.warning("%s holds no readable settings: %s, the work nothing else vouches "
                            "for, is set aside to %s", stamp, partial, aside.name)  # fmt: skip

    cached_unit(stamp, first_stamp, config=config, on_change="refuse")
    return folder


def _start_afresh(folder: Path, unvouched: Sequence[Path]) -> None:
    """``--fresh``: the folder's units and the partial work beside it moved aside whole
    (``NAME.replaced-N``), never deleted."""
    for path in (folder, *(Path(p) for p in unvouched)):
        if path.is_dir() and any(p.name != _folders.LOCK for p in path.iterdir()):
            kept = _folders.set_aside_folder(path)
            log.warning("starting afresh: the work in %s is kept in %s", path, kept.name)


def _adopt_legacy(folder: Path, stamp: dict[str, Any]) -> None:
    """Wrap the units of a folder stamped by an older version (bare settings) with ``stamp``."""
    try:
        old = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return
    if not isinstance(old, dict) or "unit" in old or fresh_requested():
        return
    if old != stamp:
        raise ConfigMismatchError(
            f"{folder} holds finished work made with other settings "
            f"({describe_difference(old, stamp)}); rerun with --fresh to set it aside, pass "
            "another --out, or repeat the original settings to resume"
        )
    for path in sorted(folder.glob("*.json")):
        try:
            value = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            continue  # damaged: cached_unit names it and computes it again
        if path.name != "config.json" and not (isinstance(value, dict) and "unit" in value):
            _write(path, stamp, value)
    _write(folder / "config.json", stamp, None)
    log.info("adopted the finished units of %s (written by an older version)", folder)


def _canonical(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` as JSON reads it back (tuples become lists, keys strings)."""
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping of settings, got {type(config).__name__}")
    value: dict[str, Any] = json.loads(json.dumps(dict(config), sort_keys=True, default=str))
    return value


def _read(path: Path) -> tuple[Any, Any]:
    """The stored config and value; :class:`DamagedFileError` unless a whole unit file."""
    if path.suffix == ".json":
        envelope = read_json(path)
    else:
        envelope = load_tensors(path)
        if isinstance(envelope, dict) and isinstance(envelope.get("config"), str):
            envelope = {**envelope, "config": _json_or_none(envelope["config"])}
    if (
        not isinstance(envelope, dict)
        or envelope.get("unit") != UNIT_SCHEMA
        or not isinstance(envelope.get("config"), dict)
        or "value" not in envelope
    ):
        raise DamagedFileError(path, f"not a unit file of schema {UNIT_SCHEMA}")
    return envelope["config"], envelope["value"]


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _checked(path: Path, check: Callable[[Any], object], value: Any) -> None:
    try:
        check(value)
    except (ValueError, KeyError, TypeError, IndexError) as err:
        raise DamagedFileError(path, f"its value fails the unit's check: {err!r}") from None


def _write(path: Path, stamp: dict[str, Any], value: Any) -> Any:
    if path.suffix == ".json":
        text = json.dumps({"unit": UNIT_SCHEMA, "config": stamp, "value": value})
        atomic_write(path, text)
        return json.loads(text)["value"]
    save_tensors(path, {"unit": UNIT_SCHEMA, "config": json.dumps(stamp), "value": value})
    return value


def describe_difference(stored: Any, new: Mapping[str, Any], limit: int = 4) -> str:
    """The settings that differ between two configurations, in words."""
    if not isinstance(stored, dict):
        return "the stored settings are unreadable"
    unset = "<unset>"
    diffs = [
        f"{k}: {json.dumps(stored.get(k, unset))} there, {json.dumps(new.get(k, unset))} now"
        for k in sorted(set(stored) | set(new))
        if stored.get(k, unset) != new.get(k, unset)
    ]
    more = f", and {len(diffs) - limit} more" if len(diffs) > limit else ""
    return "; ".join(diffs[:limit]) + more
