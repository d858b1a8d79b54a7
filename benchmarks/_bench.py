"""Timing helpers shared by the benchmarks: ratios measured side by side, machine facts.

These machines are shared and noisy, so a cost is always a ratio to a reference (a plain forward
pass, a plain training step) timed right before and after it, and the median over rounds is
kept. On a GPU every timing synchronises the device first.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch


def sync(device: str | torch.device) -> None:
    """Wait for the device's queued work (no-op on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def clock(device: str | torch.device = "cpu") -> Callable[[], float]:
    """The clock timings use: the process's CPU time on a CPU running one torch thread (the
    work done, which other jobs on a shared machine barely change), wall time otherwise."""
    if torch.device(device).type == "cpu" and torch.get_num_threads() == 1:
        return time.process_time
    return time.perf_counter


def seconds(fn: Callable[[], Any], device: str | torch.device = "cpu") -> float:
    """Time of one call of ``fn`` by :func:`clock`."""
    now = clock(device)
    sync(device)
    start = now()
    fn()
    sync(device)
    return now() - start


def median_interval(values: Sequence[float], seed: int = 0) -> tuple[float, float]:
    """Bootstrap 95 % interval of the median of ``values`` (2,000 resamples)."""
    import numpy as np

    r = np.asarray(values, dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(r), size=(2000, len(r)))
    meds = np.median(r[idx], axis=1)
    return float(np.quantile(meds, 0.025)), float(np.quantile(meds, 0.975))


def loaded(info: dict[str, Any]) -> bool:
    """Whether a benchmark ran on a loaded machine: its 1-minute load average above the cores.

    Figures taken so are not evidence for a speed target: the result and the docs mark them."""
    cpus = info.get("cpus") or os.cpu_count() or 1
    return float(info.get("load_average_1min", 0.0)) > cpus


def ratio_to(
    fn: Callable[[], Any],
    reference: Callable[[], Any],
    *,
    rounds: int = 3,
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """``time(fn) / time(reference)``, the reference timed right before and after each call.

    Returns the median ratio over ``rounds``, the smallest, the median seconds of both (by
    :func:`clock`), and the median wall and CPU seconds of ``fn`` beside them, so that a reader
    can see how far the machine's load stretched the wall time.
    """
    ratios, times, refs, walls, cpus = [], [], [], [], []
    for _ in range(rounds):
        before = seconds(reference, device)
        wall, cpu = time.perf_counter(), time.process_time()
        t = seconds(fn, device)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        after = seconds(reference, device)
        ratios.append(t / ((before + after) / 2))
        times.append(t)
        refs += [before, after]
    return {
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "seconds": statistics.median(times),
        "reference_seconds": statistics.median(refs),
        "wall_seconds": statistics.median(walls),
        "cpu_seconds": statistics.median(cpus),
    }


def machine(device: str | torch.device = "cpu") -> dict[str, Any]:
    """What the numbers were measured on (threads, versions, load, GPU name).

    ``loaded`` is true when the 1-minute load average exceeds the core count; the benchmark
    then says so on stderr, and ``performance_doc.py`` marks its rows.
    """
    info: dict[str, Any] = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "clock": "process CPU time" if clock(device) is time.process_time else "wall time",
        "load_average_1min": os.getloadavg()[0],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    info["loaded"] = loaded(info)
    if info["loaded"]:
        print(
            f"warning: load average {info['load_average_1min']:.1f} on {info['cpus']} cores: "
            "this run's figures are marked 'loaded' and are no evidence for a speed target",
            file=sys.stderr,
        )
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info
