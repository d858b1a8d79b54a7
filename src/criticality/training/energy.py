"""What a training run costs: wall time, FLOPs, FLOPs and seconds to a target accuracy, the
fraction of active units, and energy where the hardware has a counter.

Every number carries a label (:data:`LABELS`): *measured* (read from a clock or an energy
counter), *counted* (FLOPs of the matrix products and convolutions, counted from the shapes of
the operations that ran, by ``torch.utils.flop_counter``; elementwise operations, the optimizer's
update among them, are not counted) or *estimated* (a count extrapolated to steps that were not
counted, or a proxy). The PAPER's energy claim is about consumption; we report these measurable
proxies, never a claim.

:func:`criticality.training.fit` keeps an :class:`EnergyMeter` in every run and returns its
:class:`Energy` in ``FitResult.energy``.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import logging
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from criticality.measures._linalg import eval_mode
from criticality.stages import stages as split_stages
from criticality.training.callbacks import Callback, TrainState

logger = logging.getLogger(__name__)

#: Steps at the start of each call of ``fit`` whose FLOPs are counted (a method that acts less
#: often than every 8 steps, or on a schedule that 8 does not divide, is averaged over them).
FLOP_WINDOW = 8
#: A unit is active on an input when ``|h| > ACTIVE_THRESHOLD · RMS`` of its stage's outputs.
ACTIVE_THRESHOLD = 0.1

LABELS = {
    "seconds": "measured",
    "seconds_per_step": "measured",
    "flops_per_step": "counted",
    "flops": "estimated",
    "active_fraction": "measured",
    "joules": "measured",
}


@dataclasses.dataclass(frozen=True)
class Energy:
    """The cost of one call of ``fit``.

    Attributes:
        steps: optimizer steps of the call.
        seconds: wall time of the training steps (forward, loss terms, backward, optimizer,
            the method's callbacks; not the caller's callbacks such as a monitor); the
            FLOP-counted steps, slowed by the counter, are timed at the median other step.
        step_seconds: wall time of each step, shape ``(steps,)`` (as measured).
        seconds_per_step: median of ``step_seconds`` over the steps not counted.
        flops_per_step: mean FLOPs of the counted steps (``None`` if none was).
        flop_steps: steps whose FLOPs were counted.
        flops: ``flops_per_step × steps``.
        active_fraction: fraction of hidden units with ``|h| > 0.1 · RMS`` of their stage on
            the last batch after training (``None`` for a model that cannot be split).
        joules: energy read from the hardware's counter over the call (``None`` without one).
        energy_source: which counter (``"nvml:..."``, ``"rapl:..."``) or why there is none.
        labels: ``measured`` / ``counted`` / ``estimated`` for each number.
    """

    steps: int
    seconds: float
    step_seconds: np.ndarray
    seconds_per_step: float
    flops_per_step: float | None
    flop_steps: int
    flops: float | None
    active_fraction: float | None
    joules: float | None
    energy_source: str
    labels: Mapping[str, str] = dataclasses.field(default_factory=lambda: dict(LABELS))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        out = dataclasses.asdict(self)
        out["step_seconds"] = [round(float(s), 7) for s in self.step_seconds]
        return out


class FlopCount(TorchDispatchMode):
    """Adds up the FLOPs of every operation that has a formula in ``torch.utils.flop_counter``
    (matrix products, convolutions, attention; a ``(m × k)·(k × n)`` product counts
    ``2 m k n``), forward and backward alike, while it is active.

    ``torch.utils.flop_counter.FlopCounterMode`` itself also tracks modules with backward hooks
    that break ``autograd.grad`` on leaves (as the Jacobian regularizer calls it); this mode
    counts with the same formulas and only observes: every operation runs unchanged.

    Attributes:
        total: FLOPs counted so far.
    """

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(getattr(func, "_overloadpacket", None))
        if formula is not None:
            self.total += int(formula(*args, **kwargs, out_val=out))
        return out


def count_flops(fn: Callable[[], Any]) -> tuple[int, Any]:
    """FLOPs of the matrix products and convolutions ``fn()`` runs (:class:`FlopCount`), and
    its result."""
    with FlopCount() as counter:
        out = fn()
    return counter.total, out


class EnergyMeter:
    """Times each step of a ``fit`` call, counts the FLOPs of its first :data:`FLOP_WINDOW`
    steps and reads the energy counters at its start and end.

    Args:
        device: where the model trains (selects the GPU counter).
        window: steps whose FLOPs are counted (default :data:`FLOP_WINDOW`).
    """

    def __init__(self, device: torch.device, window: int | None = None) -> None:
        self.device = device
        self.window = FLOP_WINDOW if window is None else window
        self.step_seconds: list[float] = []
        self.counted: list[bool] = []
        self.flops = 0
        self.joules = 0.0
        self._counters = energy_counters(device)
        self._start: list[float | None] = []

    def begin(self) -> None:
        """Read the energy counters (at the start of a call, or of a resumed one)."""
        self._start = [c.read() for c in self._counters]

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """Time (and, in the window, count) what runs inside: one training step."""
        count = sum(self.counted) < self.window
        began = time.perf_counter()
        if count:
            with FlopCount() as counter:
                yield
            self.flops += counter.total
        else:
            yield
        self.step_seconds.append(time.perf_counter() - began)
        self.counted.append(count)

    def finish(self, model: nn.Module, x: torch.Tensor | None) -> Energy:
        """The call's :class:`Energy`; ``x`` (the last batch) gives the active fraction."""
        end = [c.read() for c in self._counters]
        joules, source = None, "none: no GPU (NVML) or readable RAPL energy counter here"
        for counter, a, b in zip(self._counters, self._start, end, strict=False):
            if a is not None and b is not None:
                joules, source = self.joules + counter.difference(a, b), counter.source
                break
        times = np.asarray(self.step_seconds, dtype=np.float64)
        plain = [t for t, c in zip(self.step_seconds, self.counted, strict=True) if not c]
        median = statistics.median(plain) if plain else float(np.median(times) if len(times) else 0)
        n_counted = sum(self.counted)
        per_step = self.flops / n_counted if n_counted else None
        return Energy(
            steps=len(times),
            seconds=float(sum(plain) + median * n_counted),
            step_seconds=times,
            seconds_per_step=float(median),
            flops_per_step=per_step,
            flop_steps=n_counted,
            flops=per_step * len(times) if per_step is not None else None,
            active_fraction=active_fraction(model, x) if x is not None else None,
            joules=joules,
            energy_source=source,
        )

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps (so a resumed call reports the whole call)."""
        end = [c.read() for c in self._counters]
        spent = 0.0
        for counter, a, b in zip(self._counters, self._start, end, strict=False):
            if a is not None and b is not None:
                spent = counter.difference(a, b)
                break
        return {
            "step_seconds": list(self.step_seconds),
            "counted": list(self.counted),
            "flops": self.flops,
            "joules": self.joules + spent,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.step_seconds = list(state["step_seconds"])
        self.counted = list(state["counted"])
        self.flops = int(state["flops"])
        self.joules = float(state["joules"])


@torch.no_grad()
def active_fraction(
    model: nn.Module, x: torch.Tensor, threshold: float = ACTIVE_THRESHOLD
) -> float | None:
    """Fraction of hidden units active on inputs ``x`` (shape ``(B, ...)``).

    A unit of stage ``l`` (every stage but the last) is active on an input when
    ``|h_l,i| > threshold · RMS(h_l)``, the RMS taken over the stage's outputs on the batch:
    a scale-free proxy for the units that would have to signal (exact zeros of a ReLU never
    count). The model runs in ``eval()`` mode; ``None`` if it cannot be split into stages or
    its stages do not run on ``x``.
    """
    try:
        stage_list = split_stages(model)
    except (TypeError, ValueError):
        return None
    if len(stage_list) < 2:
        return None
    active = total = 0
    h = x
    try:
        with eval_mode(stage_list):
            for stage in stage_list[:-1]:
                h = stage(h)
                if not h.is_floating_point():
                    continue
                rms = h.pow(2).mean().sqrt()
                active += int((h.abs() > threshold * rms).sum())
                total += h.numel()
    except (RuntimeError, TypeError, ValueError) as err:  # a proxy: never fail a training run
        logger.warning("no active fraction: the stages did not run on the batch (%s)", err)
        return None
    return active / total if total else None


def cost_to_target(
    steps: Sequence[int],
    accuracy: Sequence[float],
    target: float,
    step_seconds: Sequence[float],
    flops_per_step: float | None,
) -> dict[str, float | None]:
    """Steps, seconds and FLOPs until the accuracy first reaches ``target``.

    Args:
        steps: steps at which the accuracy was evaluated (increasing).
        accuracy: accuracy at those steps.
        target: the accuracy to reach.
        step_seconds: wall time of every step of the run (``FitResult.energy.step_seconds``).
        flops_per_step: counted FLOPs per step.

    Returns:
        ``{"steps", "seconds", "flops"}``: all ``None`` if the target was never reached.
        ``seconds`` sums the measured step times; ``flops`` is ``steps × flops_per_step``.
    """
    for s, acc in zip(steps, accuracy, strict=True):
        if acc >= target:
            seconds = float(np.sum(np.asarray(step_seconds)[:s]))
            flops = s * flops_per_step if flops_per_step is not None else None
            return {"steps": float(s), "seconds": seconds, "flops": flops}
    return {"steps": None, "seconds": None, "flops": None}


class AccuracyTrace(Callback):
    """Test accuracy every ``every`` steps (and at the start and end of a call), for the cost
    to a target accuracy. Records ``{"step", "accuracy"}``.

    Args:
        x: held-out inputs, shape ``(N, ...)``.
        y: their labels, shape ``(N,)``.
        every: steps between evaluations.
    """

    name = "accuracy"

    def __init__(self, x: torch.Tensor, y: torch.Tensor, *, every: int = 50) -> None:
        if every < 1:
            raise ValueError(f"every must be a positive number of steps, got {every}")
        self.x, self.y, self.every = x, y, every
        self.trace: list[dict[str, float]] = []

    def _record(self, state: TrainState) -> None:
        if self.trace and self.trace[-1]["step"] == state.step:
            return
        from criticality.training.robustness import accuracy

        acc = accuracy(state.model, self.x.to(state.device), self.y.to(state.device))
        self.trace.append({"step": state.step, "accuracy": acc})

    def on_fit_start(self, state: TrainState) -> None:
        if state.task_step == 0:
            self._record(state)

    def on_step_end(self, state: TrainState) -> None:
        if state.step % self.every == 0:
            self._record(state)

    def on_fit_end(self, state: TrainState) -> None:
        self._record(state)

    def records(self) -> list[dict[str, Any]]:
        return list(self.trace)

    def state_dict(self) -> dict[str, Any]:
        return {"trace": list(self.trace)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.trace = list(state["trace"])


class CodecarbonTracker(Callback):
    """Energy by ``codecarbon`` (the optional extra ``criticality[energy]``) over each ``fit``
    call: its ``OfflineEmissionsTracker``, which makes no network request.

    ``codecarbon`` reads RAPL and NVML where they can be read and otherwise *estimates* the CPU's
    power from its model's TDP and load, so its numbers are labelled estimated. Records
    ``{"step", "task", "kwh", "joules", "cpu_joules", "gpu_joules", "label"}`` per call.

    Args:
        country_iso_code: grid location for its CO₂ factor (energy does not depend on it).
        measure_power_secs: its sampling interval.
    """

    name = "codecarbon"

    def __init__(self, country_iso_code: str = "DEU", measure_power_secs: float = 1.0) -> None:
        try:
            from codecarbon import OfflineEmissionsTracker
        except ImportError as err:
            raise ImportError(
                "CodecarbonTracker needs codecarbon: pip install 'criticality[energy]'"
            ) from err
        self._make = lambda: OfflineEmissionsTracker(
            country_iso_code=country_iso_code, save_to_file=False, log_level="error",
            measure_power_secs=measure_power_secs, tracking_mode="process",
        )  # fmt: skip
        self._tracker: Any = None
        self.calls: list[dict[str, Any]] = []

    def on_fit_start(self, state: TrainState) -> None:
        self._tracker = self._make()
        self._tracker.start()

    def on_fit_end(self, state: TrainState) -> None:
        if self._tracker is None:
            return
        self._tracker.stop()
        data = self._tracker.final_emissions_data
        kwh = float(data.energy_consumed)
        self.calls.append({
            "step": state.step, "task": state.task, "kwh": kwh, "joules": kwh * 3.6e6,
            "cpu_joules": float(data.cpu_energy) * 3.6e6,
            "gpu_joules": float(data.gpu_energy) * 3.6e6,
            "label": "estimated (codecarbon; measured only where it read RAPL or NVML)",
        })  # fmt: skip
        self._tracker = None

    def records(self) -> list[dict[str, Any]]:
        return list(self.calls)

    def state_dict(self) -> dict[str, Any]:
        return {"calls": list(self.calls)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.calls = list(state["calls"])


# ---- energy counters -------------------------------------------------------------------------


class EnergyCounter:
    """A hardware energy counter: ``read()`` in joules (``None`` when it fails)."""

    source = "none"

    def read(self) -> float | None:
        return None

    def difference(self, start: float, end: float) -> float:
        """Joules between two readings."""
        return end - start


class NvmlCounter(EnergyCounter):
    """A GPU's total energy since the driver loaded (NVML, Volta and later), read through
    ``libnvidia-ml`` with ``ctypes`` (no Python package needed)."""

    def __init__(self, lib: Any, handle: ctypes.c_void_p, name: str) -> None:
        self._lib, self._handle, self.source = lib, handle, f"nvml:{name}"

    @classmethod
    def open(cls, device: torch.device) -> NvmlCounter | None:
        """The counter of CUDA ``device``, or ``None`` (no NVML, or no energy counter)."""
        try:
            lib = ctypes.CDLL("libnvidia-ml.so.1")
        except OSError:
            return None
        if lib.nvmlInit_v2() != 0:
            return None
        handle = ctypes.c_void_p()
        index = device.index if device.index is not None else torch.cuda.current_device()
        uuid = f"GPU-{torch.cuda.get_device_properties(index).uuid}".encode()
        if lib.nvmlDeviceGetHandleByUUID(ctypes.c_char_p(uuid), ctypes.byref(handle)) != 0:
            return None
        counter = cls(lib, handle, f"gpu{index}")
        return counter if counter.read() is not None else None

    def read(self) -> float | None:
        millijoules = ctypes.c_ulonglong()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        status = self._lib.nvmlDeviceGetTotalEnergyConsumption(
            self._handle, ctypes.byref(millijoules)
        )
        return millijoules.value / 1e3 if status == 0 else None


class RaplCounter(EnergyCounter):
    """The CPU packages' energy (Intel/AMD RAPL through ``/sys/class/powercap``): the whole
    package, every process on it, not only this run."""

    def __init__(self, zones: Sequence[Path]) -> None:
        self.zones = list(zones)
        self.source = "rapl:" + ",".join(z.name for z in self.zones) + " (whole CPU package)"
        self._range = [_read_int(z / "max_energy_range_uj") or 0 for z in self.zones]

    @classmethod
    def open(cls, root: Path = Path("/sys/class/powercap")) -> RaplCounter | None:
        """The package zones that can be read, or ``None``."""
        zones = sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)
        zones = [z for z in zones if _read_int(z / "energy_uj") is not None]
        return cls(zones) if zones else None

    def read(self) -> float | None:
        values = [_read_int(z / "energy_uj") for z in self.zones]
        if any(v is None for v in values):
            return None
        # one number that difference() can unwrap: each zone's reading packed in its own range
        return float(sum(v or 0 for v in values)) / 1e6

    def difference(self, start: float, end: float) -> float:
        spent = end - start
        if spent < 0:  # a counter wrapped once
            spent += sum(self._range) / 1e6
        return spent


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def energy_counters(device: torch.device) -> list[EnergyCounter]:
    """The energy counters for a run on ``device``: NVML for a CUDA device, else RAPL."""
    counters: list[EnergyCounter] = []
    if device.type == "cuda":
        nvml = NvmlCounter.open(device)
        if nvml is not None:
            counters.append(nvml)
    rapl = RaplCounter.open()
    if rapl is not None:
        counters.append(rapl)
    return counters
