"""Run outputs (DESIGN §5): ``config.json``, ``results.json``, ``figures/*.png``, ``report.html``.

Every run writes its results as JSON with :func:`write_results`; the experiment registry
(:func:`criticality.experiments.render`) turns them into figures and a self-contained HTML report
without recomputing anything, so ``criticality report OUT`` can re-render a finished run.
:func:`resume_dir` is the one rule by which a rerun keeps or discards finished units of work.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from criticality._meta import SCHEMA_VERSION as SCHEMA_VERSION
from criticality._meta import atomic_write as atomic_write
from criticality._meta import timestamp, versions
from criticality.reporting import _folders
from criticality.reporting._folders import FolderTakenError as FolderTakenError
from criticality.reporting._folders import owned_folder as owned_folder
from criticality.reporting.html import Figure as Figure
from criticality.reporting.html import Section as Section
from criticality.reporting.html import Table as Table
from criticality.reporting.html import render_html as render_html

log = logging.getLogger(__name__)


def write_results(
    out_dir: str | Path, kind: str, config: dict[str, Any], data: dict[str, Any],
    *, seed: int | Mapping[str, Any], device: str = "cpu",
) -> Path:  # fmt: skip
    """Write ``config.json`` and ``results.json`` (with schema version, seed, versions, device).

    The folder must be this experiment's (:mod:`criticality.reporting._folders`): a folder
    holding a user's files or another experiment's run is refused before anything is written.

    Args:
        seed: what the run seeded, by the names of :mod:`criticality.seeding`, e.g.
            ``{"seeds": [0, 1, 2], "probe_seed": 0}`` (the report's footer says it in words); a
            bare ``int`` is the one seed of a run without replicates.
    """
    out = Path(out_dir)
    if not _folders.claimed(out):
        _folders.hold(out)
        try:
            _folders.claim(out, kind, config, fresh=fresh_requested())
        except BaseException:
            _folders.release(out)
            raise
    atomic_write(out / "config.json", json.dumps(config, indent=1, default=str))
    results = {
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "seed": dict(seed) if isinstance(seed, Mapping) else seed,
        "device": device,
        "versions": versions(),
        "created": timestamp(),
        "data": data,
    }
    path = out / "results.json"
    atomic_write(path, json.dumps(results, indent=1, default=_json_default))
    if not _folders.claimed(out):
        _folders.release_under(out)  # the run is over: its folders are free for the next one
    return path


#: What each seed of :mod:`criticality.seeding` seeded, for the report's footer.
SEED_WORDS = {
    "seeds": "replicates (each run's initialisation, data order and training draws)",
    "probe_seed": "probe inputs, data subsets and the measures' random directions",
    "init_seed": "the networks' random initialisation (one replicate)",
}


def seed_text(seed: Any) -> str:
    """What a run seeded, in words, from ``results.json``'s ``seed``.

    >>> seed_text({"seeds": [0, 1], "probe_seed": 3})
    "seeds 0, 1: replicates (each run's initialisation, data order and training draws); \
probe_seed 3: probe inputs, data subsets and the measures' random directions"
    >>> seed_text(0)
    'seed 0'
    """
    if not isinstance(seed, Mapping):
        return f"seed {seed}"
    parts = []
    for key, value in seed.items():
        shown = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        words = SEED_WORDS.get(key)
        parts.append(f"{key} {shown}" + (f": {words}" if words else ""))
    return "; ".join(parts)


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def load_results(out_dir: str | Path) -> dict[str, Any]:
    """Read ``OUT/results.json``; a clear error if the folder holds no finished run."""
    path = Path(out_dir) / "results.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: pass the output folder of a finished run "
            "(one written by `criticality measure`, `criticality demo`, ...)"
        )
    try:
        results = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(
            f"{path} is damaged (truncated or not JSON: {err}); re-run the experiment into "
            "this folder to write it again"
        ) from None
    if not isinstance(results, dict) or not isinstance(results.get("data"), dict):
        raise ValueError(f"{path} holds no run's results (no 'data' object); re-run to write it")
    for key in ("kind", "seed"):
        if key not in results:
            raise ValueError(f"{path} lacks the key {key!r}; re-run to write it again")
    if results.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(
            f"{path} has schema version {results.get('schema_version')}, "
            f"this criticality reads {SCHEMA_VERSION}; re-run to update it"
        )
    out: dict[str, Any] = results
    return out


#: Set by :func:`fresh_start` (the CLI's ``--fresh``): discard finished work instead of resuming.
_FRESH: contextvars.ContextVar[bool] = contextvars.ContextVar("criticality_fresh", default=False)


class ConfigMismatchError(ValueError):
    """A folder holds finished work made with another configuration than the one requested."""


@contextlib.contextmanager
def fresh_start(enabled: bool = True) -> Iterator[None]:
    """Within the block, :func:`resume_dir` (and every resumable run) discards finished work
    instead of resuming it: what ``--fresh`` does on the command line."""
    token = _FRESH.set(enabled)
    try:
        yield
    finally:
        _FRESH.reset(token)


def fresh_requested() -> bool:
    """Whether the caller asked to start afresh (:func:`fresh_start`, ``--fresh``)."""
    return _FRESH.get()


def resume_dir(
    directory: str | Path,
    config: dict[str, Any],
    *,
    fresh: bool | None = None,
    on_change: Literal["refuse", "redo"] = "redo",
) -> Path:
    """The folder of a run's finished units of work, kept only if made with the same ``config``.

    Every resumable run (the demo's parts, an experiment's runs, tasks or generations) keeps its
    finished units in one folder stamped with the configuration that made them. A rerun with the
    same configuration finds them and skips that work. What a rerun with another configuration
    does is the caller's choice, and is never silent:

    * ``on_change="refuse"`` (a folder stamped with a whole run's configuration): raise
      :class:`ConfigMismatchError` naming the settings that differ, so that finished work is
      neither lost nor mixed with other settings; ``fresh=True`` (``--fresh``,
      :func:`fresh_start`) sets it aside (``NAME.replaced-N``), or the user picks another
      folder.
    * ``on_change="redo"`` (a folder per unit of work, stamped with what decides that unit
      alone): move this unit aside (``NAME.replaced-N`` beside it, so that a mistyped setting
      never destroys hours of work) with a warning naming what changed, and compute it again;
      units whose stamp is unchanged are kept.

    Args:
        directory: the folder.
        config: the JSON-serialisable configuration that makes the units.
        fresh: set aside what the folder holds (default: :func:`fresh_requested`).
        on_change: ``"refuse"`` or ``"redo"``, see above.

    Returns:
        ``directory``, existing and stamped with ``config``.

    Raises:
        ConfigMismatchError: ``on_change="refuse"`` and the folder holds work of another
            configuration (and not ``fresh``).
    """
    if on_change not in ("refuse", "redo"):
        raise ValueError(f"on_change must be 'refuse' or 'redo', got {on_change!r}")
    folder = Path(directory)
    stamp, text = folder / "config.json", json.dumps(config, sort_keys=True, default=str)
    fresh = fresh_requested() if fresh is None else fresh
    _folders.hold(folder)  # one writer: a second run on these units is refused
    changed = stamp.is_file() and stamp.read_bytes() != text.encode()
    if fresh and any(p.name != _folders.LOCK for p in folder.iterdir()):
        kept = _folders.set_aside_folder(folder)
        log.warning("starting afresh: the finished work in %s is kept in %s", folder, kept)
    elif changed and on_change == "refuse" and _folders.damaged_stamp(stamp):
        _folders.release(folder)
        raise ConfigMismatchError(
            f"{stamp} is damaged: it no longer says which settings made the finished work in "
            f"{folder}. If that work was made with the settings you ask for now, delete {stamp} "
            "and rerun to keep it; otherwise rerun with --fresh (which sets it aside)"
        )
    elif changed and on_change == "refuse":
        _folders.release(folder)
        raise ConfigMismatchError(
            f"{folder} holds finished work made with other settings "
            f"({config_difference(stamp, config)}); rerun with --fresh to set it aside "
            "(fresh=True in Python), pass another --out, or repeat the original settings "
            "to resume"
        )
    elif changed:
        difference = config_difference(stamp, config)
        kept = _folders.set_aside_folder(folder)
        log.warning("settings changed (%s): computing %s again; the earlier work is kept in %s",
                    difference, folder, kept)  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(stamp, text)
    return folder


def config_difference(stamp: Path, config: dict[str, Any], limit: int = 4) -> str:
    """The settings that differ between the stamp file and ``config``, in words."""
    try:
        stored = json.loads(stamp.read_text())
    except (ValueError, OSError):
        return f"{stamp} is unreadable"
    if not isinstance(stored, dict):
        return f"{stamp} holds no configuration"
    new = json.loads(json.dumps(config, default=str))
    keys = sorted(set(stored) | set(new))
    unset = "<unset>"
    diffs = [
        f"{k}: {json.dumps(stored.get(k, unset))} there, {json.dumps(new.get(k, unset))} now"
        for k in keys
        if stored.get(k, unset) != new.get(k, unset)
    ]
    more = f", and {len(diffs) - limit} more" if len(diffs) > limit else ""
    return "; ".join(diffs[:limit]) + more
