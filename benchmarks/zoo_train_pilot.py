"""Pilot of the trained zoo's recipe on a few networks (issue 23, item 1): which budget makes
every network learn, and how the architectures should meet 32 px inputs.

It trains a handful of networks of different families with the zoo's recipe (Adam, cosine decay
to 0, random shifts, batches drawn like :class:`criticality.experiments.zoo.train.Batches`) and
records the Fashion-MNIST test accuracy on ``--n-test`` images at a few steps, and the seconds
per step, for two stems:

* ``imagenet``: the builders' own 224-px strides (today's adaptation);
* ``stride1``: the stem convolution's stride set to 1 and a max-pool right after it removed
  (ResNet-style), the usual 32-px stem (CIFAR ResNets); transformers whose stem is a patch
  embedding already sized for 32 px keep it.

The recipe is chosen on this pilot, never on the final statistics. Output: one JSON with the
load average (``uptime``) beside the timings (a shell command)::

    PYTHONPATH=src python benchmarks/zoo_train_pilot.py \
        --out benchmarks/results/zoo_train_pilot.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

NETS = (
    "resnet10",
    "squeezenet1_1",
    "mobilenet_v3_small",
    "efficientnet_w0.25_d0.34",
    "vit_p4_l2_d64",
    "swin_p2_e32_short",
)
STRIDE1_NETS = ("resnet10", "mobilenet_v3_small", "efficientnet_w0.25_d0.34")


def stride1(model: nn.Module) -> nn.Module:
    """The stem convolution (first 1-channel conv) at stride 1, and a max-pool directly after it
    in the same container (ResNet's ``maxpool``) replaced by the identity."""
    from criticality.zoo._small_images import stride1_stem

    return stride1_stem(model)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_train: torch.Tensor) -> float:
    from criticality.experiments.zoo.train import recalibrate_bn

    recalibrate_bn(model, x_train)
    model.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, x.shape[0], 250):
            correct += int((model(x[i : i + 250]).argmax(1) == y[i : i + 250]).sum())
    model.train()
    return 100.0 * correct / x.shape[0]


def train(net: str, stem: str, steps: int, evals: list[int], lr: float, seed: int,
          n_test: int, warmup: float) -> dict[str, Any]:  # fmt: skip
    from criticality.experiments.zoo.train import ZooTrainConfig, augment, load_data
    from criticality.zoo import small_image_net

    cfg = ZooTrainConfig()
    data = load_data("fashion_mnist")
    model = small_image_net(net, seed=seed)
    if stem == "stride1":
        model = stride1(model)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = data.x_test[:n_test], data.y_test[:n_test]
    out: dict[str, Any] = {"net": net, "stem": stem, "lr": lr, "warmup": warmup, "seed": seed,
                           "acc": {}}  # fmt: skip
    train_s = 0.0
    for step in range(steps + 1):
        if step in evals:
            out["acc"][step] = evaluate(model, xt, yt, data.x_train[:2000])
        if step == steps:
            break
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
            if step < warmup * steps:
                group["lr"] = lr * (step + 1) / (warmup * steps)
        g = torch.Generator().manual_seed(1_000_003 * (seed + 1) + step)
        idx = torch.randint(0, data.x_train.shape[0], (cfg.batch_size,), generator=g)
        x, y = augment(data.x_train[idx], cfg.shift, g), data.y_train[idx]
        t0 = time.perf_counter()
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        train_s += time.perf_counter() - t0
    out["s_per_step"] = train_s / steps
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--stride1-steps", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--warmup", type=float, default=0.0)
    parser.add_argument("--nets", nargs="*", default=list(NETS))
    parser.add_argument("--stride1-nets", nargs="*", default=list(STRIDE1_NETS))
    parser.add_argument(
        "--plan",
        nargs="*",
        default=None,
        help="runs as NET:STEM:LR:STEPS:WARMUP (instead of --nets/--stride1-nets)",
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = []
    plan = [(n, "imagenet", args.lr, args.steps, args.warmup) for n in args.nets]
    plan += [(n, "stride1", args.lr, args.stride1_steps, args.warmup) for n in args.stride1_nets]
    if args.plan:
        plan = []
        for item in args.plan:
            net, stem, lr, steps, warm = item.split(":")
            plan.append((net, stem, float(lr), int(steps), float(warm)))
    out_runs = json.loads(args.out.read_text())["runs"] if args.out.is_file() else []
    runs.extend(out_runs)
    for net, stem, lr, steps, warm in plan:
        evals = sorted({0, steps // 4, steps // 2, steps})
        load = os.getloadavg()[0]
        r = train(net, stem, steps, evals, lr, 0, args.n_test, warm)
        r["load_before"] = load
        r["load_after"] = os.getloadavg()[0]
        runs.append(r)
        print(json.dumps(r), flush=True)
        args.out.write_text(json.dumps({"steps": args.steps, "runs": runs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
