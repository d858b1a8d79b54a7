"""Networks left alone under the homeostatic rule (no loss, no gradient) drift to λ_1 ≈ 0.

Random tanh and ReLU MLPs from an ordered and a chaotic initialisation (and one at the
mean-field critical point, which should stay there), and a torchvision ResNet-18 at random
initialisation (default, conv weights ×0.5: ordered, ×3: chaotic), each driven only by
:func:`criticality.training.methods.homeostatic.self_organise` on Gaussian inputs. ``λ_1`` is
measured with :func:`criticality.measures.lyapunov_spectrum` (per-unit RMS norm) on held-out
probe inputs along the way. Written to ``benchmarks/results/homeostatic_selforganise.json``.

Run: ``python benchmarks/homeostatic_selforganise.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from criticality.measures import lyapunov_spectrum
from criticality.training.methods.homeostatic import HomeostaticGain
from criticality.zoo import create_model, mlp

OUT = Path(__file__).parent / "results" / "homeostatic_selforganise.json"


def lyapunov(model: nn.Module, probe: torch.Tensor) -> float:
    return round(float(lyapunov_spectrum(model, probe, norm="rms").lambda_max.mean), 4)


def drive(
    model: nn.Module, inputs: torch.Tensor, probe: torch.Tensor, checkpoints: list[int],
    seed: int, **options: float,
) -> dict[str, object]:  # fmt: skip
    """Run the rule alone; ``λ_1`` at each checkpoint (updates done)."""
    controller = HomeostaticGain(every=1, seed=seed, **options).attach(model)  # type: ignore[arg-type]
    gen = torch.Generator().manual_seed(seed)
    size = controller.probe.sub_batch or inputs.shape[0]
    lams, done, began = {0: lyapunov(model, probe)}, 0, time.perf_counter()
    for stop in checkpoints:
        for _ in range(stop - done):
            controller.update(inputs[torch.randint(inputs.shape[0], (size,), generator=gen)])
        done = stop
        lams[stop] = lyapunov(model, probe)
    return {
        "lambda": lams,
        "log_scale": [round(v, 3) for v in controller.log_scale],
        "controller_log_gain": round(controller.trajectory[-1]["log_gain"], 4),
        "seconds": round(time.perf_counter() - began, 1),
    }


def resnet(scale: float) -> nn.Module:
    torch.manual_seed(0)  # create_model's random init: the same network in every run
    model = create_model("resnet18")
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.mul_(scale)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small nets, one seed")
    args = parser.parse_args()
    torch.set_num_threads(1)
    began = time.perf_counter()
    depth, width = (8, 64) if args.quick else (20, 256)
    seeds = (0,) if args.quick else (0, 1, 2)
    nets: dict[str, Callable[[int], nn.Module]] = {
        f"tanh σ_w={s} ({kind})": (lambda seed, s=s: mlp(depth, width, sigma_w=s, seed=seed))
        for s, kind in ((0.5, "ordered"), (3.0, "chaotic"))
    }
    nets |= {
        f"relu σ_w={s:.3g} ({kind})": (
            lambda seed, s=s: mlp(depth, width, activation="relu", sigma_w=s, seed=seed))
        for s, kind in ((1.0, "ordered"), (math.sqrt(2), "critical"), (2.0, "chaotic"))
    }  # fmt: skip
    results: dict[str, object] = {}
    for name, build in nets.items():
        runs = []
        for seed in seeds:
            gen = torch.Generator().manual_seed(100 + seed)
            inputs, probe = (
                torch.randn(512, width, generator=gen),
                torch.randn(32, width, generator=gen),
            )
            runs.append(drive(build(seed), inputs, probe, [50, 100, 200, 300], seed, tau=20.0))
        results[f"mlp depth {depth} width {width}, {name}"] = runs
        print(name, json.dumps(runs), flush=True)
    size = 32 if args.quick else 64
    for scale, kind in (
        (1.0, "default init"),
        (0.5, "conv ×0.5, ordered"),
        (3.0, "conv ×3, chaotic"),
    ):
        gen = torch.Generator().manual_seed(7)
        inputs = torch.randn(64, 3, size, size, generator=gen)
        probe = torch.randn(8, 3, size, size, generator=gen)
        run = drive(resnet(scale), inputs, probe, [50, 100, 150], 0, tau=15.0, probe_inputs=2)
        results[f"resnet18 {size}px, {kind}"] = [run]
        print(kind, json.dumps(run), flush=True)
    out = {
        "what": "λ_1 (rms) of networks left alone under the homeostatic rule, by updates done",
        "torch": torch.__version__,
        "threads": 1,
        "wall_seconds": round(time.perf_counter() - began, 1),
        "results": results,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    target = OUT if not args.quick else OUT.with_name("homeostatic_selforganise_quick.json")
    target.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
