"""Overhead of the regularizers per training step, relative to a plain step (DESIGN §3).

A step is forward, cross-entropy, (penalty), backward and an Adam update on one batch of 128
MNIST-shaped inputs. Ratios are time(step with penalty) / time(plain step) measured in the same
run, interleaved round by round so that a change in machine load hits both alike; each time is
the median over rounds. Written to ``benchmarks/results/regularizer_overhead.json``.

Run: ``python benchmarks/regularizer_overhead.py [--device cuda] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from criticality.regularizers import CriticalityRegularizer, JacobianRegularizer
from criticality.zoo import cnn_classifier, mlp_classifier

OUT = Path(__file__).parent / "results" / "regularizer_overhead.json"


def step_fn(
    model: nn.Module, reg: nn.Module | None, x: torch.Tensor, y: torch.Tensor
) -> Callable[[], None]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        if reg is not None:
            loss = loss + reg(model, x)
        loss.backward()
        opt.step()

    return step


def time_steps(
    steps: dict[str, Callable[[], None]], rounds: int, per_round: int, device: str
) -> dict[str, float]:
    """Median seconds per step of each variant, interleaving the variants round by round."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for step in steps.values():  # warm-up (first JVP loads decompositions; CUDA kernels)
        for _ in range(3):
            step()
    samples: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            sync()
            t = time.perf_counter()
            for _ in range(per_round):
                step()
            sync()
            samples[name].append((time.perf_counter() - t) / per_round)
    return {k: statistics.median(v) for k, v in samples.items()}


def ratios(times: dict[str, float]) -> dict[str, float]:
    return {k: round(v / times["plain"], 3) for k, v in times.items()}


def batch(device: str, n: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 28, 28, generator=gen).to(device)
    return x, torch.randint(0, 10, (n,), generator=gen).to(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="intra-op CPU threads (1: stable timings on a shared machine)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dev, rounds, per = args.device, (3 if args.quick else 7), (3 if args.quick else 10)
    x, y = batch(dev)
    cnn = cnn_classifier((1, 28, 28), 10).to(dev)
    variants: dict[str, nn.Module | None] = {
        "plain": None,
        "critical (defaults: jvp, sub_batch 16, 1 direction)": CriticalityRegularizer(),
        "critical fd": CriticalityRegularizer(estimator="fd"),
        "critical every 4": CriticalityRegularizer(every=4),
        "critical stagewise": CriticalityRegularizer(mode="stagewise"),
        "jacobian (defaults: sub_batch 16, 1 projection)": JacobianRegularizer(),
    }
    t_default = time_steps(
        {k: step_fn(cnn, r, x, y) for k, r in variants.items()}, rounds, per, dev
    )
    sub_batches = {
        "plain": None,
        **{f"sub_batch {s}": CriticalityRegularizer(sub_batch=s) for s in (4, 8, 16, 32, 64, 128)},
    }
    t_sub = time_steps({k: step_fn(cnn, r, x, y) for k, r in sub_batches.items()}, rounds, per, dev)
    depth = {}
    for d in (2, 4, 8, 16):
        mlp = mlp_classifier((1, 28, 28), 10, depth=d, width=256).to(dev)
        t = time_steps(
            {
                "plain": step_fn(mlp, None, x, y),
                "critical": step_fn(mlp, CriticalityRegularizer(), x, y),
            },
            rounds,
            per,
            dev,
        )
        depth[f"mlp depth {d}"] = {
            "plain_ms": round(1e3 * t["plain"], 3),
            "ratio": ratios(t)["critical"],
        }
    result = {
        "what": "seconds per training step (batch 128, 1x28x28, Adam) with each penalty / plain",
        "device": dev,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "gpu": torch.cuda.get_device_name() if dev == "cuda" else None,
        "rounds": rounds,
        "steps_per_round": per,
        "mnist_cnn": {"plain_ms": round(1e3 * t_default["plain"], 3), "ratio": ratios(t_default)},
        "mnist_cnn_sub_batch": ratios(t_sub),
        "mlp_depth_width_256": depth,
        "target": "critical (defaults) ratio <= 1.5 on the MNIST CNN",
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    name = OUT if dev == "cpu" else OUT.with_name(f"regularizer_overhead_{dev}.json")
    name.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
