"""Cost of a zoo scan per model: seconds to build, probe and measure, by resolution and probes.

Each model is measured through the scan's own job (``run_job``: build with seeded random init,
Gaussian probes, ``lyapunov`` k = 2 and ``ftle`` by Lanczos to a relative change < 1e-3, at
most 30 steps) at each resolution, one thread, so a
user can plan a large scan: ``models × seconds per model / workers``. Forward-pass time of the
same batch is recorded beside it, because the measures cost a roughly fixed number of forward
equivalents and forward time on a GPU is easy to look up.

Run: ``python benchmarks/scan_cost.py [--models resnet18 ...] [--sizes 64 224] [--probes 4]``;
writes ``benchmarks/results/scan_cost.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from criticality.experiments.zoo.scan import Job, ScanConfig, probe_shape, run_job
from criticality.zoo import create_model, model_info

RESULTS = Path(__file__).parent / "results"
MODELS = ("resnet18", "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny", "vit_b_16",
          "resnet50")  # fmt: skip


def forward_seconds(name: str, n: int, size: int) -> float:
    """Median time of one forward pass of ``n`` Gaussian probes at ``size`` px."""
    model = create_model(name)
    shape = probe_shape(name, model_info(name).input_shape, size)
    x = torch.randn(n, *shape)
    times = []
    with torch.no_grad():
        for _ in range(3):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return sorted(times)[1]


def cost(name: str, n: int, size: int, device: str) -> dict[str, Any]:
    cfg = ScanConfig(n_probes=n, image_size=size, k=2, ftle_iter=30, time_limit=None,
                     device=device, threads=1)  # fmt: skip
    row = run_job(Job(name, "random", None, cfg, "bench"))
    shape = probe_shape(name, model_info(name).input_shape, size)
    report = row.report_dict()
    seconds = report.get("metadata", {}).get("seconds", {})
    f = report.get("results", {}).get("ftle", {})
    return {"model": name, "probes": n, "resolution": shape[-1], "status": row.status,
            "reason": row.reason, "seconds_total": row.seconds, "seconds_per_measure": seconds,
            "ftle_iterations": f.get("iterations"), "ftle_converged": f.get("converged"),
            "forward_seconds": forward_seconds(name, n, size)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--sizes", nargs="*", type=int, default=[64, 224])
    parser.add_argument("--probes", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows: list[dict[str, Any]] = []
    for name in args.models:
        sizes = {probe_shape(name, model_info(name).input_shape, s)[-1]: s for s in args.sizes}
        for size in sizes.values():  # a fixed-size model (ViT) is timed once
            rows.append(cost(name, args.probes, size, args.device))
            r = rows[-1]
            fwd = r["forward_seconds"]
            print(f"{name:24s} {r['resolution']:4d} px  {r['seconds_total']:7.2f} s  "
                  f"(forward {fwd:.3f} s) {r['status']} {r['reason']}")  # fmt: skip
    out = {"device": args.device, "threads": 1, "machine": platform.machine(),
           "processor": platform.processor(), "torch": torch.__version__,
           "measures": ["lyapunov (k=2)", "ftle (lanczos, tol 1e-3, <= 30 steps)"], "rows": rows,
           "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scan_cost.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
