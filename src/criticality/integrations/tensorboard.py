"""TensorBoard: criticality scalars and the Lyapunov spectrum as histograms.

Live, :class:`TensorBoardSink` handed to :class:`~criticality.training.CriticalityMonitor`
(``CriticalityMonitor(probe, sinks=[TensorBoardSink(DIR)])``) writes at every measurement;
after the fact,
:func:`export_run` (``criticality report OUT --tensorboard DIR``, ``criticality experiment
NAME --tensorboard DIR``) writes any finished run: one TensorBoard run per trajectory (scalars
over steps) and per measured model (scalars and histograms at step 0). Scalar names are those
of :func:`criticality.integrations._scalars.scalars`: ``criticality/lambda_1``,
``criticality/sigma``, ``criticality/ln_g/STAGE``, ... Uses ``torch.utils.tensorboard``, which
needs the ``tensorboard`` package (extra ``[tensorboard]``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from criticality.integrations._scalars import HEADLINE_NAMES, scalars, spectra
from criticality.integrations.frames import walk
from criticality.measures import Result
from criticality.report import CriticalityReport


def summary_writer(log_dir: str | Path) -> Any:
    """A ``torch.utils.tensorboard.SummaryWriter`` writing to ``log_dir``."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ModuleNotFoundError(
            "TensorBoard logging needs the tensorboard package: "
            "pip install 'criticality[tensorboard]'"
        ) from None
    return SummaryWriter(log_dir=str(log_dir))


class TensorBoardSink:
    """A :class:`~criticality.training.MeasurementSink` writing every measurement of
    a monitor to TensorBoard under ``log_dir`` (the writer opens at the first one).

    Args:
        log_dir: the TensorBoard run's folder.
        prefix: prefix of the scalar names.
    """

    def __init__(self, log_dir: str | Path, prefix: str = "criticality/") -> None:
        self.log_dir, self.prefix = Path(log_dir), prefix
        self._writer: Any = None

    def write(self, results: Mapping[str, Result], step: int) -> None:
        if self._writer is None:
            self._writer = summary_writer(self.log_dir)
        write_results(self._writer, results, step, self.prefix)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def write_results(
    writer: Any, results: Mapping[str, Result], step: int, prefix: str = "criticality/"
) -> None:
    """Scalars and spectrum histograms of one measurement at ``step``."""
    for name, value in scalars(results, prefix).items():
        writer.add_scalar(name, value, step)
    for name, values in spectra(results, prefix).items():
        if values.size > 1:
            writer.add_histogram(name, values, step)
    writer.flush()


def export_run(run: str | Path, log_dir: str | Path, prefix: str = "criticality/") -> list[Path]:
    """Write a finished run's measurements as TensorBoard runs under ``log_dir``.

    Returns:
        The folder of each TensorBoard run written (one per trajectory or measured model).
    """
    from criticality.reporting import load_results

    written = []
    for kind, source, ids, node in walk(load_results(run)["data"]):
        label = _label(source, ids, node["model"] if kind == "report" else None)
        folder = Path(log_dir) / label
        writer = summary_writer(folder)
        try:
            if kind == "report":
                write_results(writer, CriticalityReport.from_dict(node).results, 0, prefix)
            else:
                _write_trajectory(writer, node, prefix)
        finally:
            writer.close()
        written.append(folder)
    return written


def _write_trajectory(writer: Any, records: list[dict[str, Any]], prefix: str) -> None:
    for record in records:
        for name, value in record.items():
            if name in ("step", "task") or name.endswith("_ci") or isinstance(value, bool):
                continue
            if isinstance(value, (int, float)):
                writer.add_scalar(prefix + HEADLINE_NAMES.get(name, name), value, record["step"])
    writer.flush()


def _label(source: str, ids: Mapping[str, Any], model: str | None) -> str:
    """A unique folder name for one TensorBoard run: where it came from, then what varied."""
    what = [model] if model else []
    what += [f"{k}={ids[k]}" for k in ("dataset", "method", "init", "seed") if k in ids]
    text = "/".join(part for part in (source or "run", ",".join(what)) if part)
    return re.sub(r"[^\w.,=/+-]", "_", text)
