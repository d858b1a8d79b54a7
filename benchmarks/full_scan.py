"""Wall time of the full torchvision scan with a converged FTLE (issue 13: ≤ 10 min at 64 px).

Runs ``criticality.experiments.zoo.scan.run`` over every torchvision classifier at random
initialisation, 4 Gaussian probes at 64 px, ``lyapunov`` (k = 2) and ``ftle`` (Lanczos to a
relative change < 1e-3, at most ``--ftle-iter`` steps), one thread, in a fresh output folder,
and records the wall time of the whole run (measuring, statistics and report) and its CPU time
(what it takes on an otherwise idle core: the wall time on a shared machine is not), the
seconds per model and measure, and how many FTLEs converged. Writes
``benchmarks/results/full_scan.json``.

Run: ``python benchmarks/full_scan.py [--size 64] [--ftle-iter 30] [--out runs/full-scan]``
(about 10 minutes; run it alone, the wall time is absolute).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch
from _bench import machine

from criticality.experiments.zoo.scan import ScanConfig, run, scan

RESULTS = Path(__file__).parent / "results"


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-model seconds and FTLE convergence, and totals."""
    per_model, converged, steps = [], 0, []
    for r in rows:
        results = (r.get("report") or {}).get("results", {})
        f = results.get("ftle", {})
        seconds = (r.get("report") or {}).get("metadata", {}).get("seconds", {})
        per_model.append({"model": r["model"], "status": r["status"], "reason": r["reason"],
                          "seconds": r["seconds"], "seconds_per_measure": seconds,
                          "ftle_iterations": f.get("iterations"),
                          "ftle_rel_change": f.get("rel_change"),
                          "ftle_converged": f.get("converged")})  # fmt: skip
        converged += bool(f.get("converged"))
        if f.get("iterations") is not None:
            steps.append(f["iterations"])
    ok = [m for m in per_model if m["status"] == "ok"]
    return {
        "models": len(per_model),
        "ok": len(ok),
        "ftle_converged": converged,
        "ftle_steps_median": sorted(steps)[len(steps) // 2] if steps else None,
        "ftle_steps_max": max(steps) if steps else None,
        "measure_seconds": {
            m: sum(p["seconds_per_measure"].get(m, 0.0) for p in ok) for m in ("lyapunov", "ftle")
        },
        "rows": per_model,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--ftle-iter", type=int, default=30)
    parser.add_argument("--patterns", nargs="*", default=["*"])
    parser.add_argument("--out", type=Path, default=Path("runs/full-scan"))
    parser.add_argument("--result", type=Path, default=RESULTS / "full_scan.json")
    parser.add_argument("--time-limit", type=float, default=None, help="seconds per model")
    parser.add_argument(
        "--resume",
        nargs=2,
        type=float,
        metavar=("CPU", "WALL"),
        help="continue a stopped run in --out whose process had used CPU and WALL seconds",
    )
    args = parser.parse_args()
    if not args.resume:
        shutil.rmtree(args.out, ignore_errors=True)  # a fresh run, not a resumed one
    cfg = ScanConfig(patterns=tuple(args.patterns), image_size=args.size,
                     ftle_iter=args.ftle_iter, threads=1, time_limit=args.time_limit)  # fmt: skip
    torch.set_num_threads(1)
    start, cpu_start = time.perf_counter(), time.process_time()
    run(cfg, args.out)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    prior_cpu, prior_wall = args.resume or (0.0, 0.0)
    wall, cpu = wall + prior_wall, cpu + prior_cpu
    data = scan(cfg, args.out / "scan.sqlite")  # resumes: nothing left to measure
    result = {
        "command": " ".join(sys.argv),
        "resumed_after": {"cpu_seconds": prior_cpu, "wall_seconds": prior_wall},
        "wall_seconds": wall,
        # CPU time of this process (one thread): what the run takes on an otherwise idle core
        "cpu_seconds": cpu,
        "settings": {
            "image_size": args.size,
            "n_probes": cfg.n_probes,
            "k": cfg.k,
            "ftle": f"lanczos, tol 1e-3, at most {args.ftle_iter} steps",
            "threads": 1,
        },
        "machine": machine(),
        **summary(data["rows"]),
    }
    args.result.parent.mkdir(parents=True, exist_ok=True)
    args.result.write_text(json.dumps(result, indent=1))
    print(f"{result['models']} models ({result['ok']} ok) in {wall / 60:.1f} min wall, "
          f"{cpu / 60:.1f} min CPU; "
          f"FTLE converged for {result['ftle_converged']}")  # fmt: skip


if __name__ == "__main__":
    main()
