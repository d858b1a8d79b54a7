"""Map a function over jobs, here or on a Ray cluster: the one fan-out of every experiment.

``executor="local"`` runs the jobs one after another in this process; ``executor="ray"`` sends
each as a Ray task (``ray.init(address=...)``, or a local instance started and shut down here)
and yields results as they finish. Ray is imported only then; ``import criticality`` never
imports it. Either way, a job whose function raises, or whose Ray task dies (its worker killed,
e.g. out of memory), is handed to ``on_error``, so that both executors report a failed job the
same way. Every finished job counts one unit of a :mod:`criticality.progress` (a bar on a
terminal, a log line per unit otherwise), so every experiment that fans out here shows its
progress.

Example:
    >>> list(map_jobs(lambda n: n * n, [1, 2, 3]))
    [(1, 1), (2, 4), (3, 9)]
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from criticality.progress import progress

log = logging.getLogger(__name__)

J = TypeVar("J")
R = TypeVar("R")
EXECUTORS = ("local", "ray")


def map_jobs(
    fn: Callable[[J], R],
    jobs: Sequence[J],
    *,
    executor: str = "local",
    address: str | None = None,
    gpus: float = 0,
    on_error: Callable[[J, BaseException], R] | None = None,
    desc: str | None = None,
    done: int = 0,
    unit: str = "unit",
) -> Iterator[tuple[J, R]]:
    """Yield ``(job, fn(job))`` for every job, as each finishes, counting each as progress.

    Args:
        fn: the work of one job; must be picklable for Ray (a module-level function).
        jobs: the jobs (picklable for Ray).
        executor: ``"local"`` (in order, in this process) or ``"ray"`` (as they finish).
        address: a running Ray cluster's address (``"auto"``, ``"ray://host:10001"``);
            ``None`` starts a local instance, shut down again at the end.
        gpus: GPUs each Ray task asks for.
        on_error: ``(job, error) -> result`` for a job that failed; ``None`` re-raises.
        desc: what the progress says is being done (default: the function's name).
        done: units of the same work finished before (a resumed run): the progress counts
            ``done + len(jobs)`` units.
        unit: the word for one job in the progress (``"unit"``, ``"model"``, ``"run"``).
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    what = desc or getattr(fn, "__name__", "jobs").strip("_").replace("_", " ")
    if not jobs:
        if done:  # a resumed run with nothing left still says where it stands
            with progress(done, what, unit=unit, initial=done, shy=True):
                pass
        return iter(())
    if executor == "ray":
        results = _ray(fn, jobs, address, gpus, on_error)
    else:
        results = _local(fn, jobs, on_error)
    return _counted(results, len(jobs) + done, what, unit, done)


def _counted(
    results: Iterator[tuple[J, R]], total: int, desc: str, unit: str, done: int
) -> Iterator[tuple[J, R]]:
    with progress(total, desc, unit=unit, initial=done, shy=True) as bar:
        for job, result in results:
            bar.update(label=_label(job))
            yield job, result


def _label(job: Any) -> str:
    """A short name of a job for its progress line: its ``key`` or itself when short."""
    text = str(getattr(job, "key", job))
    return text if len(text) <= 60 else ""


def _local(
    fn: Callable[[J], R], jobs: Sequence[J], on_error: Callable[[J, BaseException], R] | None
) -> Iterator[tuple[J, R]]:
    for job in jobs:
        try:
            result = fn(job)
        except Exception as err:  # the job's failure is its result; the others go on
            if on_error is None:
                raise
            result = on_error(job, err)
        yield job, result


def _ray(
    fn: Callable[[J], R],
    jobs: Sequence[J],
    address: str | None,
    gpus: float,
    on_error: Callable[[J, BaseException], R] | None,
) -> Iterator[tuple[J, R]]:
    try:
        import ray
    except ImportError:
        raise ValueError(
            "the ray executor needs Ray: pip install 'criticality[ray]' (or use --executor local)"
        ) from None
    started = not ray.is_initialized()
    if started:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # Ray's own start-up notices
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)  # fmt: skip
    task = ray.remote(num_gpus=gpus, max_retries=0)(fn)
    pending = {task.remote(job): job for job in jobs}
    try:
        while pending:
            finished, _ = ray.wait(list(pending), num_returns=1)
            for ref in finished:
                job = pending.pop(ref)
                yield job, _get(ray, ref, job, on_error)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def _get(ray: Any, ref: Any, job: J, on_error: Callable[[J, BaseException], R] | None) -> R:
    try:
        result: R = ray.get(ref)
        return result
    except Exception as err:  # the function raised, the worker died or Ray lost the task
        if on_error is None:
            raise
        cause = getattr(err, "cause", None)  # Ray wraps the function's own error: unwrap it
        log.warning("ray task failed: %s", err)
        return on_error(job, cause if isinstance(cause, BaseException) else err)
