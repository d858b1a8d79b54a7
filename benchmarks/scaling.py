"""How the cost of ``λ_1``, the top-8 spectrum and the FTLE grows with depth, width and batch.

Random tanh MLPs (``criticality.zoo.mlp``): depth 10 → 1,000 stages at width 64, width 64 →
8,192 at depth 8, batch 1 → 64 at depth 20 and width 256 (4 probe inputs where not varied). Each
cost is the median wall time over ``--rounds`` calls; the FTLE runs a fixed 10 Lanczos steps so
that its cost is per unit of work (the number of steps to converge is recorded beside it). A
plain forward pass is timed alongside. The fitted exponent is the slope of ``log time`` against
``log size`` over the sweep (1 = linear). Writes ``benchmarks/results/scaling.json`` and the
figure ``docs/performance_scaling.png``.

Run: ``python benchmarks/scaling.py [--quick] [--device cuda]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _bench import machine, seconds

from criticality.measures import ftle, lyapunov_spectrum
from criticality.zoo import mlp

ROOT = Path(__file__).parent
SWEEPS = {  # name -> (values, (depth, width, batch) for a value)
    "depth": ([10, 30, 100, 300, 1000], lambda v: (v, 64, 4)),
    "width": ([64, 256, 1024, 4096, 8192], lambda v: (8, v, 4)),
    "batch": ([1, 4, 16, 64], lambda v: (20, 256, v)),
}
LABELS = {
    "forward": "forward pass",
    "lyapunov_k1": "λ_1 (k = 1)",
    "lyapunov_k8": "top-8 spectrum",
    "ftle_10_steps": "FTLE, 10 steps",
}
QUICK = {"depth": [10, 30, 100], "width": [64, 256, 1024], "batch": [1, 4, 16]}


def costs(depth: int, width: int, batch: int, rounds: int, device: str) -> dict[str, Any]:
    net = mlp(depth=depth, width=width, sigma_w=1.0, seed=0).eval().to(device)
    x = torch.randn(batch, width, generator=torch.Generator().manual_seed(1)).to(device)
    lyapunov_spectrum(net, x[:1], k=1)  # warm-ups (forward-AD rules, the FTLE's code paths)
    lyapunov_spectrum(net, x[:1], k=8)
    ftle(net, x[:1], n_iter=2, tol=0.0)
    runs: dict[str, Callable[[], Any]] = {
        "forward": lambda: torch.no_grad()(net)(x),
        "lyapunov_k1": lambda: lyapunov_spectrum(net, x, k=1),
        "lyapunov_k8": lambda: lyapunov_spectrum(net, x, k=8),
        "ftle_10_steps": lambda: ftle(net, x, n_iter=10, tol=0.0),
    }
    out: dict[str, Any] = {
        k: statistics.median(seconds(f, device) for _ in range(rounds)) for k, f in runs.items()
    }
    out["ftle_steps_to_1e-3"] = ftle(net, x, n_iter=100, tol=1e-3).iterations
    return out


def exponent(sizes: list[int], times: list[float]) -> float:
    """Slope of ``log time`` on ``log size`` (least squares)."""
    return float(np.polyfit(np.log(sizes), np.log(times), 1)[0])


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (sweep, data) in zip(axes, result["sweeps"].items(), strict=True):
        sizes = data["sizes"]
        for key, label in LABELS.items():
            times = [r[key] for r in data["rows"]]
            ax.loglog(sizes, times, "o-", label=f"{label}: exponent {data['exponents'][key]:.2f}")
        ax.set_xlabel(sweep)
        ax.set_ylabel("seconds")
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"Cost of the measures on tanh MLPs ({result['machine']['device']}, "
                 f"{result['machine']['threads']} threads)")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (a smoke run)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--max-width", type=int, default=None, help="leave out wider networks")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result: dict[str, Any] = {"machine": machine(args.device), "sweeps": {}}
    for sweep, (values, shape) in SWEEPS.items():
        sizes = QUICK[sweep] if args.quick else values
        if sweep == "width" and args.max_width:
            sizes = [v for v in sizes if v <= args.max_width]
        rows = []
        for v in sizes:
            rows.append({"size": v, **costs(*shape(v), args.rounds, args.device)})
            print(sweep, rows[-1], file=sys.stderr, flush=True)
        keys = tuple(LABELS)
        result["sweeps"][sweep] = {
            "sizes": sizes,
            "rows": rows,
            "exponents": {k: exponent(sizes, [r[k] for r in rows]) for k in keys},
        }
    suffix = "" if args.device == "cpu" else f"_{torch.device(args.device).type}"
    path = args.out or ROOT / "results" / f"scaling{suffix}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    figure = (
        path.with_suffix(".png")
        if args.out
        else ROOT.parent / "docs" / f"performance_scaling{suffix}.png"
    )
    plot(result, figure)
    print(json.dumps({s: d["exponents"] for s, d in result["sweeps"].items()}, indent=1))


if __name__ == "__main__":
    main()
