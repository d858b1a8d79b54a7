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


def seconds(fn: Callable[[], Any], device: str | torch.device = "cpu") -> float:
    """Wall time of one call of ``fn``."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


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
        "load_average_1min": os.getloadavg()[0],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info
