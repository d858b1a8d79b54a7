"""Record the whole cost table on a GPU in one go (under 5 minutes on one modern GPU).

Runs, each writing its ``*_cuda.json`` beside the CPU results in ``benchmarks/results/``:

1. ``measure_cost.py --device cuda --extra`` (all four models, every measure, jacrev,
   weightwatcher on the CPU copy);
2. ``regularizer_overhead.py --device cuda``;
3. ``scaling.py --device cuda`` (and ``docs/performance_scaling_cuda.png``);
4. here: host round-trips per call of every measure and of a regularized training step,
   counted with ``torch.cuda.set_sync_debug_mode("warn")`` (the design allows none per stage:
   λ_1 and the perturbation measures read their results back once; the FTLE once per Krylov
   step), and the peak GPU memory of ``lyapunov`` and ``ftle`` against the output dimension.

Absolute times come only from a GPU: no GPU was available where this library was developed, so
``*_cuda.json`` are missing until someone runs ``python benchmarks/gpu_all.py`` on one.
``--device cpu --quick`` is the smoke run used in development.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from _bench import machine

from criticality.measures import ftle, list_measures, lyapunov_spectrum, run_measure
from criticality.regularizers import CriticalityRegularizer
from criticality.zoo import cnn_classifier, mlp

HERE = Path(__file__).parent


def script(name: str, *args: str) -> float:
    """Run a sibling benchmark script; seconds taken."""
    start = time.perf_counter()
    subprocess.run([sys.executable, str(HERE / name), *args], check=True)
    return time.perf_counter() - start


def host_syncs(fn: Callable[[], Any], device: str) -> int | None:
    """Host round-trips during one call of ``fn`` (``None`` off CUDA)."""
    if torch.device(device).type != "cuda":
        fn()
        return None
    fn()  # warm-up: first calls load kernels
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def sync_table(device: str) -> dict[str, Any]:
    net = mlp(depth=12, width=128, seed=0).eval().to(device)
    x = torch.randn(8, 128, generator=torch.Generator().manual_seed(0)).to(device)
    out: dict[str, Any] = {}
    for name in list_measures():
        out[name] = host_syncs(lambda name=name: run_measure(name, net, x), device)
    out["lyapunov_k8"] = host_syncs(lambda: lyapunov_spectrum(net, x, k=8), device)
    res = ftle(net, x)
    out["ftle_steps"] = res.iterations
    cnn = cnn_classifier((1, 28, 28), 10).to(device)
    opt = torch.optim.Adam(cnn.parameters())
    reg = CriticalityRegularizer()
    xb = torch.rand(128, 1, 28, 28, device=device)
    yb = torch.randint(0, 10, (128,), device=device)

    def step() -> None:
        opt.zero_grad()
        (F.cross_entropy(cnn(xb), yb) + reg(cnn, xb)).backward()
        opt.step()

    out["regularized_training_step"] = host_syncs(step, device)
    return out


def memory_table(device: str) -> dict[str, Any]:
    """Peak GPU memory (MiB) above the model for ``lyapunov`` k = 1 and ``ftle``."""
    if torch.device(device).type != "cuda":
        return {}
    out: dict[str, Any] = {}
    for d in (10, 1000, 10000):
        net = mlp(depth=8, width=1024, in_dim=1024, out_dim=d).eval().to(device)
        x = torch.randn(4, 1024, device=device)
        runs: dict[str, Callable[[], Any]] = {
            "lyapunov": lambda net=net, x=x: lyapunov_spectrum(net, x),
            "ftle": lambda net=net, x=x: ftle(net, x),
        }
        for name, fn in runs.items():
            fn()
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            fn()
            out.setdefault(name, {})[str(d)] = (torch.cuda.max_memory_allocated() - base) / 2**20
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    args = parser.parse_args()
    dev = args.device
    quick = ["--quick"] if args.quick else []
    suffix = "" if dev == "cpu" else f"_{torch.device(dev).type}"
    out = HERE / "results" / f"gpu_all{suffix}.json"
    if args.quick:
        out = Path("/tmp") / out.name
    smoke = {
        "measure_cost.py": ["--models", "mlp", "--rounds", "1", "--no-memory"],
        "regularizer_overhead.py": [],
        "scaling.py": [],
    }
    runs = {
        "measure_cost.py": ["--extra"],
        "regularizer_overhead.py": [],
        "scaling.py": [],
    }
    seconds = {}
    for name, extra in (smoke if args.quick else runs).items():
        where = ["--out", f"/tmp/{Path(name).stem}_smoke.json"] if args.quick else []
        flags = quick if name != "measure_cost.py" else []
        seconds[name] = script(name, "--device", dev, *flags, *extra, *where)
    result = {
        "machine": machine(dev),
        "seconds_per_script": seconds,
        "host_syncs_per_call": sync_table(dev),
        "peak_memory_mib_above_model": memory_table(dev),
    }
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
