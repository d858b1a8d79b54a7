"""Output folders belong to the run: an ownership marker, and one writer at a time.

A run writes its results only into a folder that is new, empty, or marked as this experiment's
own: the marker ``OUT/.criticality-run.json`` names the experiment and the hash of its config.
Any other folder (a user's files, another experiment's finished run after a typo in ``--out``)
is refused with one line naming what is there; ``--fresh`` moves that content aside into
``OUT.replaced-N`` beside it (nothing is deleted). A run from before markers existed (its
``results.json`` names the same experiment) is adopted.

A folder is written by one process at a time: :func:`hold` takes an exclusive ``flock`` on
``FOLDER/.criticality.lock`` (it dies with its process, so a killed run leaves no stale lock)
and refuses a second writer with the holder's process id. Locks are re-entrant within a process.

:func:`owned_folder` does both for a whole run (lock, then claim) and is what a runner wraps
around ``run(cfg, out)``. Without it, :func:`criticality.reporting.resume_dir` locks each folder
of finished units as it opens it, and :func:`criticality.reporting.write_results` claims the
output folder before it writes: content older than this process that is not the experiment's
own is refused there, before any of the user's files could be overwritten.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from criticality._files import set_aside
from criticality._meta import atomic_write, timestamp
from criticality.store import config_hash

log = logging.getLogger(__name__)

MARKER = ".criticality-run.json"
LOCK = ".criticality.lock"
#: Files of criticality's own bookkeeping, never "content" of a folder.
_OURS = frozenset({MARKER, LOCK})
#: When this module was first imported (minus a second of clock slack): in a command-line run,
#: its start. Content older than this was in the folder before the run.
_STARTED = time.time() - 1.0
#: Folders claimed by an active :func:`owned_folder` in this context.
_CLAIMED: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "criticality_claimed", default=frozenset()
)
#: The output folder whose results are being rendered (set by ``load_results``).
_RENDER_ROOT: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "criticality_render_root", default=None
)
#: Locks held by this process: resolved folder -> (file descriptor, depth).
_HELD: dict[str, list[int]] = {}


class FolderTakenError(ValueError):
    """The output folder holds something that is not this experiment's run."""


def _key(folder: Path) -> str:
    return str(folder.resolve())


def hold(folder: str | Path) -> None:
    """Take the writer's lock of ``folder`` (created if missing) for this process.

    Re-entrant: a process holding it already just counts one more. Released by :func:`release`
    or when the process ends.

    Raises:
        ValueError: another process holds it (its process id named).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = _key(folder)
    if key in _HELD:
        _HELD[key][1] += 1
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        return
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 100).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise ValueError(
            f"another run is writing {folder} ({holder} holds {folder / LOCK}); wait for it to "
            "finish or pass another --out"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()}".encode())
    _HELD[key] = [fd, 1]


def release(folder: str | Path, *, all_levels: bool = False) -> None:
    """Give back one level (or, with ``all_levels``, every level) of :func:`hold` on ``folder``."""
    key = _key(Path(folder))
    entry = _HELD.get(key)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] <= 0 or all_levels:
        del _HELD[key]
        os.close(entry[0])  # closing the descriptor drops the flock


def release_under(folder: str | Path) -> None:
    """Give back every lock this process holds on ``folder`` and the folders below it."""
    root = _key(Path(folder))
    for key in [k for k in _HELD if k == root or k.startswith(root + os.sep)]:
        release(key, all_levels=True)


def held(folder: str | Path) -> bool:
    """Whether this process holds the lock of ``folder``."""
    return _key(Path(folder)) in _HELD


def claim(
    out: str | Path, experiment: str, config: Mapping[str, Any], *, fresh: bool = False
) -> Path:
    """Make ``out`` this experiment's folder, or refuse it.

    ``out`` may be new, empty, marked as ``experiment``'s (:data:`MARKER`), a run of
    ``experiment`` from before markers existed, or hold only what this process wrote. Anything
    else is refused; with ``fresh`` it is moved aside into ``OUT.replaced-N`` instead.

    Returns:
        ``out``, marked with ``experiment`` and the hash of ``config``.

    Raises:
        FolderTakenError: the folder holds something else (named), and not ``fresh``.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    owner = _owner(folder)
    if owner != experiment:
        foreign = _foreign(folder) if owner is None else sorted(_content(folder))
        if foreign and fresh:
            aside = _move_aside(folder, foreign)
            log.warning("--fresh: moved what %s held (%s) to %s", folder, _listing(foreign), aside)
        elif foreign:
            what = f"a run of {owner!r}" if owner else _listing(foreign)
            raise FolderTakenError(
                f"--out {folder} holds {what}, not a {experiment} run; pass another --out, or "
                f"--fresh to move its content aside to {folder.name}.replaced-N"
            )
    marker = {"experiment": experiment, "config_hash": config_hash(dict(config)),
              "updated": timestamp()}  # fmt: skip
    atomic_write(folder / MARKER, json.dumps(marker, indent=1))
    return folder


def _owner(folder: Path) -> str | None:
    """The experiment the folder's marker (or, for an old run, its ``results.json``) names."""
    for name, field in ((MARKER, "experiment"), ("results.json", "kind")):
        path = folder / name
        if not path.is_file():
            continue
        try:
            value = json.loads(path.read_text()).get(field)
        except (ValueError, UnicodeDecodeError, AttributeError, OSError):
            if name == MARKER:
                raise FolderTakenError(
                    f"{path} is damaged; if {folder} is this experiment's folder, delete that "
                    "file and rerun (the run resumes), else pass another --out or --fresh"
                ) from None
            continue
        if isinstance(value, str):
            return value
    return None


def _content(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name not in _OURS]


#: Files only criticality writes: a folder holding one (at most :data:`_DEPTH` levels down)
#: is the unfinished work of a run (its units, parts, checkpoints), not a user's.
_BOOKKEEPING = frozenset({MARKER, LOCK, "last.pt", "previous.pt"})
_DEPTH = 5
#: The scan's store and its journal and lock (:mod:`criticality.store`).
_STORE = re.compile(r".+\.sqlite(\.lock|\.rows\.jsonl|\.damaged-.+)?")


def _foreign(folder: Path) -> list[str]:
    """Entries that were there before this process began and are no run's unfinished work."""
    return sorted(
        name
        for name in _content(folder)
        if (folder / name).lstat().st_mtime < _STARTED and not _run_work(folder / name)
    )


def _run_work(path: Path, depth: int = 0) -> bool:
    """Whether ``path`` is what a run of criticality left before it wrote its results: a folder
    of units, parts or checkpoints (bookkeeping files inside), or the scan's store."""
    if not path.is_dir() or path.is_symlink():
        return depth == 0 and _STORE.fullmatch(path.name) is not None
    if depth >= _DEPTH:
        return False
    try:
        entries = list(path.iterdir())
    except OSError:
        return False
    if any(p.name in _BOOKKEEPING for p in entries):
        return True
    return any(_run_work(p, depth + 1) for p in entries if p.is_dir())


def _listing(names: list[str], limit: int = 3) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _move_aside(folder: Path, names: list[str]) -> Path:
    """Move ``names`` of ``folder`` into a new ``FOLDER.replaced-N`` beside it."""
    n = 1
    while (target := folder.with_name(f"{folder.name}.replaced-{n}")).exists():
        n += 1
    target.mkdir()
    for name in names:
        os.replace(folder / name, target / name)
    return target


def claimed(out: str | Path) -> bool:
    """Whether an active :func:`owned_folder` has claimed ``out`` already."""
    return _key(Path(out)) in _CLAIMED.get()


@contextlib.contextmanager
def owned_folder(
    out: str | Path, experiment: str, config: Mapping[str, Any], *, fresh: bool = False
) -> Iterator[Path]:
    """Hold ``out``'s lock and claim it (:func:`claim`) for the whole block: what a runner wraps
    around an experiment's ``run(cfg, out)``, so that a taken folder is refused before any work
    and a second writer is refused while this one runs.

    When the block ends (finished or failed), the locks this process took on ``out`` and the
    folders of units below it are given back, so that another process (a second terminal next
    to a notebook) may resume there; an enclosing block's own hold is kept."""
    folder = Path(out)
    outermost = not held(folder)
    hold(folder)
    try:
        claim(folder, experiment, config, fresh=fresh)
        token = _CLAIMED.set(_CLAIMED.get() | {_key(folder)})
        try:
            yield folder
        finally:
            _CLAIMED.reset(token)
    finally:
        if outermost:
            release_under(folder)
        else:
            release(folder)


def set_aside_folder(folder: Path, label: str = "replaced") -> Path:
    """Move a folder of finished units aside (``NAME.LABEL-N``), giving back its lock first."""
    locked = held(folder)
    if locked:
        release(folder, all_levels=True)
    target = set_aside(folder, label)
    if locked:
        hold(folder)
    return target


@contextlib.contextmanager
def rendering(out: str | Path) -> Iterator[Path]:
    """Within the block, figures drawn from ``out``'s data must stay inside ``out``
    (:func:`confined`, used by :func:`criticality.reporting.plots.save`): what a renderer wraps
    around drawing a run's report."""
    token = _RENDER_ROOT.set(Path(out).resolve())
    try:
        yield Path(out)
    finally:
        _RENDER_ROOT.reset(token)


def render_root() -> Path | None:
    """The folder being rendered (:func:`rendering`), or ``None``."""
    return _RENDER_ROOT.get()


def confined(path: Path) -> Path:
    """``path``, if it lies inside the folder being rendered (or nothing is being rendered).

    Raises:
        ValueError: it resolves outside that folder (a ``../`` or an absolute path that came
            from the data).
    """
    root = _RENDER_ROOT.get()
    if root is not None and not path.resolve().is_relative_to(root):
        raise ValueError(
            f"refusing to write {path}: it lies outside the output folder {root} (a name in "
            f"{root / 'results.json'} holds a path); re-run the experiment to write that file "
            "again"
        )
    return path


_UNSAFE = re.compile(r"[^A-Za-z0-9._+=-]")


def safe_name(name: str, limit: int = 120) -> str:
    """``name`` as one plain file name: no folder separators, no ``..``, no leading dot, only
    letters, digits and ``._+=-``; a changed name gets a short hash of the original so that two
    names never map to one file.

    Example:
        >>> safe_name("trajectory_mnist_mlp.png")
        'trajectory_mnist_mlp.png'
        >>> safe_name("../../evil.png")
        'evil-adffe8.png'
    """
    safe = re.sub(r"\.{2,}", ".", _UNSAFE.sub("_", name)).strip("._") or "figure"
    if safe == name and len(safe) <= limit:
        return safe
    stem, dot, suffix = safe.rpartition(".") if "." in safe else (safe, "", "")
    digest = hashlib.sha1(name.encode()).hexdigest()[:6]
    return f"{stem[:limit]}-{digest}{dot}{suffix}"


def damaged_stamp(stamp: Path) -> bool:
    """Whether a folder's settings stamp (``config.json``) exists but holds no settings."""
    try:
        return not isinstance(json.loads(stamp.read_text()), dict)
    except (ValueError, UnicodeDecodeError):
        return True
    except OSError:
        return False
