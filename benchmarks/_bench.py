"""Timing helpers shared by the benchmarks: ratios measured side by side, machine facts.

These machines are shared and noisy, so a cost is always a ratio to a reference (a plain forward
pass, a plain training step) timed right before and after it, and the median over rounds is
kept. On a GPU every timing synchronises the device first.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
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


def ratio_to(
    fn: Callable[[], Any],
    reference: Callable[[], Any],
    *,
    rounds: int = 3,
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """``time(fn) / time(reference)``, the reference timed right before and after each call.

    Returns the median ratio over ``rounds``, the smallest, and the median seconds of both.
    """
    ratios, times, refs = [], [], []
    for _ in range(rounds):
        before = seconds(reference, device)
        t = seconds(fn, device)
        after = seconds(reference, device)
        ratios.append(t / ((before + after) / 2))
        times.append(t)
        refs += [before, after]
    return {
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "seconds": statistics.median(times),
        "reference_seconds": statistics.median(refs),
    }


def machine(device: str | torch.device = "cpu") -> dict[str, Any]:
    """What the numbers were measured on (threads, versions, load, GPU name)."""
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
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info
