"""Cost of the per-stage non-finite checks: a measure's time with them over its time without.

In one process, for ``lyapunov`` k = 1 and k = 8 and ``ftle`` (Lanczos, fixed steps) on
``mlp(20, 256)`` and ResNet-18 at a small size, each round times the measure with the checks and
without them (the checks replaced by no-ops: ``prepared._check_output`` and the FTLE's check of
each replayed pass, ``prepared.check_replay``), the order alternating
between rounds. The ratio of each round's pair is kept; the result is their median and a
bootstrap 95% interval of that median, beside the load average and the process CPU time (the
clock on one thread, see ``_bench.py``). A loaded machine moves that ratio by several percent
either way (``lyapunov`` k = 8 runs its stages inside ``torch.func.vmap``, where no check
applies: its ratio shows the noise), so each row also times the checks themselves around each
of their calls: their share of the measure's time and the ratio ``1 / (1 - share)`` it implies.
Target (issue 25): ≤ 1.05 on every measure.

Each timing repeats the call until it lasts ``--min-seconds``. Run:
``OMP_NUM_THREADS=1 python benchmarks/nonfinite_cost.py [--rounds 9] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from _bench import machine, median_interval, seconds

from criticality import create_model
from criticality.measures import ftle, lyapunov_spectrum
from criticality.measures import prepared as prepared_module
from criticality.zoo import mlp

RESULTS = Path(__file__).parent / "results"
MODELS: dict[str, tuple[Callable[[], torch.nn.Module], tuple[int, ...], int]] = {
    # name -> (builder, probe shape, probes)
    "mlp(20, 256)": (lambda: mlp(depth=20, width=256, seed=0), (256,), 8),
    "resnet18@64px": (lambda: create_model("resnet18"), (3, 64, 64), 2),
}


def measures(model: torch.nn.Module, x: torch.Tensor) -> dict[str, Callable[[], Any]]:
    return {
        "lyapunov_k1": lambda: lyapunov_spectrum(model, x, k=1),
        "lyapunov_k8": lambda: lyapunov_spectrum(model, x, k=8),
        "ftle_lanczos_20": lambda: ftle(model, x, n_iter=20, tol=0.0),
    }


@contextmanager
def checks_off() -> Iterator[None]:
    """The per-stage checks replaced by a no-op (everything else as it is)."""
    originals = prepared_module._check_output, prepared_module.check_replay
    prepared_module._check_output = lambda *args, **kwargs: None
    prepared_module.check_replay = lambda *args, **kwargs: None
    try:
        yield
    finally:
        prepared_module._check_output, prepared_module.check_replay = originals


def check_share(fn: Callable[[], Any], rounds: int) -> dict[str, float]:
    """Share of ``fn``'s time spent in the checks themselves (``_check_output``, the reads
    of ``_FiniteWatch`` and ``check_replay``), timed around each of their calls by ``perf_counter``:
    less noisy than the on/off ratio on a loaded machine. Median over ``rounds`` calls, and the
    ratio it implies, ``1 / (1 - share)``."""
    spent = [0.0]

    def timed(original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start

        return wrapper

    watch = getattr(prepared_module, "_FiniteWatch", None)
    originals = (prepared_module._check_output, watch and watch.read, prepared_module.check_replay)
    prepared_module._check_output = timed(originals[0])
    prepared_module.check_replay = timed(originals[2])
    if watch is not None:
        watch.read = timed(originals[1])
    shares = []
    try:
        for _ in range(rounds):
            spent[0] = 0.0
            start = time.perf_counter()
            fn()
            shares.append(spent[0] / (time.perf_counter() - start))
    finally:
        prepared_module._check_output, prepared_module.check_replay = originals[0], originals[2]
        if watch is not None:
            watch.read = originals[1]
    share = statistics.median(shares)
    return {"check_share": share, "implied_ratio": 1.0 / (1.0 - share)}


def ratio_rounds(fn: Callable[[], Any], rounds: int, calls: int) -> dict[str, Any]:
    """Per round, ``calls`` calls with the checks and ``calls`` without, the order alternating."""

    def many() -> None:
        for _ in range(calls):
            fn()

    ratios, on_s, off_s = [], [], []
    for r in range(rounds):
        if r % 2 == 0:
            on = seconds(many)
            with checks_off():
                off = seconds(many)
        else:
            with checks_off():
                off = seconds(many)
            on = seconds(many)
        ratios.append(on / off)
        on_s.append(on)
        off_s.append(off)
    low, high = median_interval(ratios)
    return {
        "ratio": statistics.median(ratios),
        "interval_95": [low, high],
        "ratios": ratios,
        "calls_per_timing": calls,
        "seconds_on": statistics.median(on_s) / calls,
        "seconds_off": statistics.median(off_s) / calls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--min-seconds", type=float, default=0.25, help="per timing")
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--out", type=Path, default=RESULTS / "nonfinite_cost.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    info = machine("cpu")
    wall, cpu = time.perf_counter(), time.process_time()
    rows = []
    for name in args.models:
        build, shape, n = MODELS[name]
        torch.manual_seed(0)  # the same random ResNet-18 in every run
        model = build().eval()
        x = torch.randn(n, *shape, generator=torch.Generator().manual_seed(0))
        for key, fn in measures(model, x).items():
            fn()  # warm-up
            calls = max(1, math.ceil(args.min_seconds / seconds(fn)))
            row = {"model": name, "measure": key, "probes": n}
            row.update(ratio_rounds(fn, args.rounds, calls))
            row.update(check_share(fn, args.rounds))
            lo, hi = row["interval_95"]
            print(
                f"{name:16s} {key:16s} {row['ratio']:.3f} [{lo:.3f}, {hi:.3f}]  checks' own "
                f"share {row['check_share']:.3f} (ratio {row['implied_ratio']:.3f})",
                flush=True,
            )
            rows.append(row)
    info["load_average_1min_end"] = os.getloadavg()[0]
    info["loaded"] = info["loaded"] or info["load_average_1min_end"] > (info["cpus"] or 1)
    result = {
        "machine": info,
        "rounds": args.rounds,
        "source": str(Path(prepared_module.__file__).resolve()),
        "wall_seconds": time.perf_counter() - wall,
        "cpu_seconds": time.process_time() - cpu,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"load {info['load_average_1min']:.1f} -> {info['load_average_1min_end']:.1f}")


if __name__ == "__main__":
    main()
