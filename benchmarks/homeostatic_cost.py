"""Cost of the homeostatic controller per training step, relative to a plain step (issue 14).

A step is forward, cross-entropy, backward and an Adam update on one batch of MNIST-shaped
inputs, then (for the controller) its update on every ``every``-th step, as ``fit`` runs it.
Times are medians over rounds, the variants interleaved round by round so that a change in
machine load hits all alike; ratios are time / time(plain) from the same run. FLOPs per step
are counted (``criticality.training.energy.count_flops``) over ``4 · every`` steps. Written to
``benchmarks/results/homeostatic_cost.json``.

Run: ``python benchmarks/homeostatic_cost.py [--device cuda] [--quick]``.
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

from criticality.regularizers import CriticalityRegularizer
from criticality.training.energy import count_flops
from criticality.training.methods.homeostatic import HomeostaticGain
from criticality.zoo import cnn_classifier, create_model, mlp_classifier

OUT = Path(__file__).parent / "results" / "homeostatic_cost.json"


def step_fn(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, method: nn.Module | HomeostaticGain | None
) -> Callable[[], None]:
    """One training step with the method: a loss term (regularizer) or the controller."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    if isinstance(method, HomeostaticGain):
        method.attach(model)
    count = [0]

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        if isinstance(method, nn.Module):
            loss = loss + method(model, x)
        loss.backward()
        opt.step()
        count[0] += 1
        if isinstance(method, HomeostaticGain) and count[0] % method.every == 0:
            method.update(x)

    return step


def variants() -> dict[str, Callable[[], nn.Module | HomeostaticGain | None]]:
    return {
        "plain": lambda: None,
        "homeostatic (defaults: fd, 8 inputs, every 4)": lambda: HomeostaticGain(),
        "homeostatic every 1": lambda: HomeostaticGain(every=1),
        "homeostatic every 16": lambda: HomeostaticGain(every=16),
        "homeostatic jvp": lambda: HomeostaticGain(estimator="jvp"),
        "critical_global (regularizer defaults)": lambda: CriticalityRegularizer(norm="rms"),
    }


def time_steps(
    steps: dict[str, Callable[[], None]], rounds: int, per_round: int, device: str
) -> dict[str, float]:
    """Median seconds per step of each variant, interleaving the variants round by round."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for step in steps.values():  # warm-up
        for _ in range(4):
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


def measure(
    build: Callable[[], nn.Module], x: torch.Tensor, y: torch.Tensor, rounds: int, per: int,
    device: str,
) -> dict[str, object]:  # fmt: skip
    """Per variant: ms per step, the ratio to plain, counted FLOPs per step and their ratio."""
    steps, flops = {}, {}
    for name, make in variants().items():
        torch.manual_seed(0)  # create_model's random init: the same network in every run
        model = build().to(device)
        method = make()
        steps[name] = step_fn(model, x, y, method)
        n = 4 * (method.every if isinstance(method, HomeostaticGain) else 1)
        counted, _ = count_flops(lambda s=steps[name], n=n: [s() for _ in range(n)])  # type: ignore[misc]
        flops[name] = counted / n
    times = time_steps(steps, rounds, per, device)
    return {
        name: {
            "ms": round(1e3 * times[name], 3),
            "time_ratio": round(times[name] / times["plain"], 3),
            "mflops": round(flops[name] / 1e6, 3),
            "flops_ratio": round(flops[name] / flops["plain"], 4),
        }
        for name in steps
    }


def batch(shape: tuple[int, ...], n: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(n, *shape, generator=gen).to(device)
    return x, torch.randint(0, 10, (n,), generator=gen).to(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--threads", type=int, default=1, help="intra-op CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dev, rounds, per = args.device, (3 if args.quick else 9), (3 if args.quick else 10)
    began = time.perf_counter()
    x, y = batch((1, 28, 28), 128, dev)
    models = {
        "mnist_mlp (training experiment: depth 6, width 128, batch 128)": (
            lambda: mlp_classifier((1, 28, 28), 10, depth=6, width=128, seed=0), x, y),
        "mnist_cnn (channels 16, 32, batch 128)": (
            lambda: cnn_classifier((1, 28, 28), 10, seed=0), x, y),
        "resnet18 (3x32x32, batch 32)": (
            lambda: create_model("resnet18", num_classes=10), *batch((3, 32, 32), 32, dev)),
    }  # fmt: skip
    results = {}
    for name, (build, xb, yb) in models.items():
        small = name.startswith("resnet")
        results[name] = measure(build, xb, yb, max(3, rounds // 3) if small else rounds,
                                max(2, per // 3) if small else per, dev)  # fmt: skip
        print(name, json.dumps(results[name], indent=1), flush=True)
    result = {
        "what": "seconds and counted FLOPs per training step (Adam) with each method / plain",
        "device": dev,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "gpu": torch.cuda.get_device_name() if dev == "cuda" else None,
        "rounds": rounds,
        "steps_per_round": per,
        "wall_seconds": round(time.perf_counter() - began, 1),
        "models": results,
        "target": "homeostatic (defaults) time ratio <= 1.05",
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    name = OUT if dev == "cpu" else OUT.with_name(f"homeostatic_cost_{dev}.json")
    name.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
