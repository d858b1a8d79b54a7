"""Train and measure the whole trained zoo on one GPU in one go (``zoo-train``'s GPU preset).

``ZooTrainConfig.gpu()``: all 47 architectures (VGG and AlexNet included), Fashion-MNIST and
MNIST, three seeds, one epoch (60,000 examples) each, measured at 0, 10 % and 100 % of it, 8
probes, accuracy on the whole test set. The jobs are split over ``--workers`` processes that
share the GPU (the networks are small: one alone leaves the GPU mostly idle); each writes its
rows into the same store, and the last step renders the report from it. Killed, it resumes:
run it again.

    python benchmarks/zoo_train_gpu.py --out runs/zoo-train-gpu            # on a GPU machine
    python benchmarks/zoo_train_gpu.py --device cpu --quick --out /tmp/z   # smoke run here

No GPU was available where this was written: its timing is recorded only once someone runs it
(``OUT/gpu_run.json`` holds the wall time, the device and the settings).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from criticality.experiments.zoo.train import ZooTrainConfig


def config(device: str, quick: bool) -> ZooTrainConfig:
    from criticality.experiments.zoo.train import ZooTrainConfig

    if quick:
        return dataclasses.replace(ZooTrainConfig.tiny(), device=device)
    return dataclasses.replace(ZooTrainConfig.gpu(), device=device)


def worker(out: Path, device: str, quick: bool, index: int, count: int) -> None:
    """Train the jobs ``index::count`` (networks in a fixed order) of the configuration."""
    from criticality.experiments.zoo.train import train_zoo

    cfg = config(device, quick)
    names = cfg.net_names()
    mine = tuple(names[index::count])
    if mine:
        train_zoo(dataclasses.replace(cfg, nets=mine, threads=2), out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/zoo-train-gpu"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="the tiny preset (smoke run)")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.out, args.device, args.quick, args.worker, args.workers)
        return
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA device here: use --device cpu --quick for a smoke run")
    start = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    procs = [
        subprocess.Popen([sys.executable, __file__, "--out", str(args.out), "--device",
                          args.device, "--workers", str(args.workers), "--worker", str(i)]
                         + (["--quick"] if args.quick else []), env=env)
        for i in range(args.workers)
    ]  # fmt: skip
    codes = [p.wait() for p in procs]
    trained = time.perf_counter() - start
    from criticality.experiments.zoo.train import run

    cfg = config(args.device, args.quick)
    report = run(cfg, args.out)  # everything is stored: collects and renders
    record = {"wall_s": time.perf_counter() - start, "train_s": trained, "exit_codes": codes,
              "device": torch.cuda.get_device_name() if args.device.startswith("cuda")
              else "cpu", "workers": args.workers,
              "config": dataclasses.asdict(cfg)}  # fmt: skip
    (args.out / "gpu_run.json").write_text(json.dumps(record, indent=1))
    print(f"report: {report}; wall {record['wall_s']:.0f} s")
    if any(codes):
        sys.exit(f"some workers failed: exit codes {codes} (run again to resume)")


if __name__ == "__main__":
    main()
