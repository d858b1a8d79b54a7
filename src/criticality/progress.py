"""Progress of long work: a bar on a terminal, one log line per finished unit otherwise.

On a terminal (``sys.stderr`` is a TTY) a :mod:`tqdm` bar shows unit *i* of *m* with the elapsed
time and an estimate of what is left. When stderr goes to a file (``make demo > log 2>&1``, a
cluster job), every finished unit is one line on the logger ``criticality.progress`` instead,
e.g. ``phase: unit 3 of 12 done (tanh), 12 s elapsed, about 36 s left``, which the command line
shows at level INFO (:func:`criticality.cli.main.main`). A library user sees nothing unless
they configure that logger.

:func:`criticality.executor.map_jobs` reports each finished job this way, so every experiment
that fans out through it shows unit progress with no code of its own; where an experiment
draws its own tqdm bar around ``map_jobs``, that one draws no second bar on a terminal (in a
log it writes its lines).

Example:
    >>> with progress(3, "squares") as bar:
    ...     for n in range(3):
    ...         bar.update(label=f"n = {n}")
    >>> bar.done
    3
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("criticality.progress")

_OPEN: list[Progress] = []  # progresses now open, innermost last


#: Set inside :func:`log_lines`: log lines even on a terminal.
_LINES_ONLY = False


@contextlib.contextmanager
def log_lines(enabled: bool = True) -> Iterator[None]:
    """Inside the block, write one log line per finished unit even on a terminal: for
    processes that share a terminal (the demo's parts side by side), whose bars would overwrite
    each other. ``enabled=False``: no change."""
    global _LINES_ONLY
    before = _LINES_ONLY
    _LINES_ONLY = before or enabled
    try:
        yield
    finally:
        _LINES_ONLY = before


def on_terminal() -> bool:
    """Whether stderr is a terminal (draw a bar) rather than a file or pipe (write lines)."""
    if _LINES_ONLY:
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced by an object without it, or closed
        return False


def duration(seconds: float) -> str:
    """A duration in words: ``"42 s"``, ``"3 min 5 s"``, ``"2 h 10 min"``.

    >>> duration(42.4), duration(185), duration(7800)
    ('42 s', '3 min 5 s', '2 h 10 min')
    """
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _foreign_bar() -> bool:
    """Whether a tqdm bar that is not one of ours is drawn (an experiment's own)."""
    from tqdm import tqdm

    ours = {id(p._bar) for p in _OPEN if p._bar is not None}
    return any(id(b) not in ours for b in list(getattr(tqdm, "_instances", ())))


class Progress:
    """Unit *i* of *m* with elapsed time and an estimate of what is left.

    Attributes:
        total: units of the whole work (those already finished in an earlier run included).
        desc: what is being done, e.g. ``"training runs"``.
        unit: the word for one unit (``"unit"``, ``"part"``, ``"model"``).
        done: units finished so far (``initial`` included).

    Args:
        shy: draw no bar on a terminal while another tqdm bar (not a :class:`Progress`) is
            drawn: the caller's own bar counts the same units.
    """

    def __init__(
        self, total: int, desc: str, *, unit: str = "unit", initial: int = 0, shy: bool = False
    ) -> None:
        if total < 0 or initial < 0 or initial > total:
            raise ValueError(f"progress needs 0 <= initial <= total, got {initial} of {total}")
        self.total, self.desc, self.unit = total, desc, unit
        self.done = self._initial = initial
        self._start = time.monotonic()
        self._bar: Any = None
        if on_terminal() and not (shy and _foreign_bar()):
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit)
        elif initial and not on_terminal():
            log.info("%s: %d of %d %ss already done", desc, initial, total, unit)

    def update(self, n: int = 1, *, label: str = "") -> None:
        """Count ``n`` more finished units; ``label`` names the last one (in the log line)."""
        self.done += n
        if self._bar is not None:
            if label:
                self._bar.set_postfix_str(label, refresh=False)
            self._bar.update(n)
        elif not on_terminal():
            log.info(self.line(label))

    def begin(self, label: str) -> None:
        """Say which unit starts now (for units long enough to be worth it: the demo's parts)."""
        if self._bar is not None:
            self._bar.set_description(f"{self.desc}: {label}")
        elif not on_terminal():
            log.info("%s: %s %d of %d: %s", self.desc, self.unit, self.done + 1, self.total, label)

    def line(self, label: str = "") -> str:
        """The log line of the latest finished unit."""
        elapsed = time.monotonic() - self._start
        text = f"{self.desc}: {self.unit} {self.done} of {self.total} done"
        if label:
            text += f" ({label})"
        text += f", {duration(elapsed)} elapsed"
        fresh = self.done - self._initial
        if fresh > 0 and self.done < self.total:
            left = elapsed / fresh * (self.total - self.done)
            text += f", about {duration(left)} left"
        return text

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@contextlib.contextmanager
def progress(
    total: int, desc: str, *, unit: str = "unit", initial: int = 0, shy: bool = False
) -> Iterator[Progress]:
    """A :class:`Progress` open for the ``with`` block (its bar closed at the end); nested
    ones stack on a terminal (the demo's parts above a part's units)."""
    bar = Progress(total, desc, unit=unit, initial=initial, shy=shy)
    _OPEN.append(bar)
    try:
        yield bar
    finally:
        _OPEN.remove(bar)
        bar.close()
