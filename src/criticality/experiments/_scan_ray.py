"""The Ray executor of the scan: one task per model, rows returned to the driver.

Ray is imported here only, when a scan asks for ``executor="ray"``; ``import criticality`` never
imports it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

from criticality.store import Row

if TYPE_CHECKING:
    from criticality.experiments.scan import Job

log = logging.getLogger(__name__)


def ray_rows(jobs: list[Job], address: str | None, device: str) -> Iterator[Row]:
    """Run ``jobs`` as Ray tasks and yield their rows as they finish.

    Args:
        jobs: the models to measure.
        address: a running cluster's address (``"auto"``, ``"ray://host:10001"``); ``None``
            starts a local instance, shut down again at the end.
        device: ``"cuda"`` asks one GPU per task.

    A task that dies (its worker killed, e.g. out of memory) becomes a ``failed`` row.
    """
    try:
        import ray
    except ImportError:
        raise ValueError(
            "the ray executor needs Ray: pip install 'criticality[ray]' (or use --executor local)"
        ) from None
    from criticality.experiments.scan import run_job

    started = not ray.is_initialized()
    if started:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # Ray's own start-up notices
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)  # fmt: skip
    gpus = 1 if device.startswith("cuda") else 0
    task = ray.remote(num_gpus=gpus, max_retries=0)(run_job)
    pending = {task.remote(job): job for job in jobs}
    try:
        while pending:
            finished, _ = ray.wait(list(pending), num_returns=1)
            for ref in finished:
                job = pending.pop(ref)
                yield _get(ray, ref, job)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def _get(ray: object, ref: object, job: Job) -> Row:
    try:
        row: Row = ray.get(ref)  # type: ignore[attr-defined]
        return row
    except Exception as err:  # the worker died or Ray lost the task: record it, go on
        reason = f"ray task failed: {type(err).__name__}: {str(err).strip().splitlines()[0][:300]}"
        return Row(job.model, job.weights, job.key, "failed", reason, "{}", 0.0)
