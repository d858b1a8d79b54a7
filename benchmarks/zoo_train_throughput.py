"""Throughput of the trained zoo's training step and measured points (issue 23, item 2).

Today's path and the faster one, side by side in one run, one thread, on a sample of the zoo's
networks (or all of them with ``--nets all``):

* a training step (Adam, batch 32, 32 px) in the default memory format against channels-last,
  and against ``torch.compile`` (inductor) on the networks named by ``--compile`` (the compile
  time is recorded: it pays only when it is smaller than what it saves over a job's steps);
* the accuracy pass on the test images under ``torch.no_grad`` (today) against
  ``torch.inference_mode``;
* one measured point (the body's ``λ_1``, FTLE and ``σ`` plus ``λ_1`` on two other probe
  sets: forward-mode AD, which ``inference_mode`` does not allow, so only the point count can
  change it).

From these it projects one job (a network × seed) of the recipe, today (3 measured points, the
default format) against the faster path (channels-last where it is faster for that network, 2
points), and the whole sample's ratio. The load average (``os.getloadavg``) is recorded before
and after each network; a figure taken at a load above 2 is marked ``loaded``::

    PYTHONPATH=src python benchmarks/zoo_train_throughput.py \\
        --out benchmarks/results/zoo_train_throughput.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

SAMPLE = (
    "resnet10",
    "densenet_g12_2222",
    "mobilenet_v3_small",
    "efficientnet_w0.25_d0.34",
    "regnet_x_small",
    "convnext_c32",
    "vit_p4_l2_d64",
    "swin_p2_e32_short",
)


def _time_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """Median seconds of one Adam step over ``steps`` (after one warm-up step)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times) if times else float("nan")


def _time_eval(model: nn.Module, x: torch.Tensor, mode: str) -> float:
    model.eval()
    ctx = torch.inference_mode() if mode == "inference" else torch.no_grad()
    t0 = time.perf_counter()
    with ctx:
        for xb in x.split(250):
            model(xb)
    return time.perf_counter() - t0


def bench(net: str, args: argparse.Namespace) -> dict[str, Any]:
    from criticality.experiments.zoo import train as zoo_train
    from criticality.zoo import small_image_net

    cfg = dataclasses.replace(zoo_train.ZooTrainConfig(), nets=(net,), n_test=args.n_test)
    data = zoo_train.load_data("fashion_mnist")
    x, y = zoo_train.Batches(data, cfg, 0, 0)(0)
    out: dict[str, Any] = {"net": net, "load_before": os.getloadavg()[0]}
    out["step_s"] = _time_steps(small_image_net(net, seed=0), x, y, args.steps)
    cl = small_image_net(net, seed=0).to(memory_format=torch.channels_last)
    out["step_s_channels_last"] = _time_steps(
        cl, x.contiguous(memory_format=torch.channels_last), y, args.steps
    )
    if net in args.compile:
        model = small_image_net(net, seed=0)
        compiled = torch.compile(model)
        t0 = time.perf_counter()
        _time_steps(compiled, x, y, 0)  # the first step compiles
        out["compile_s"] = time.perf_counter() - t0
        out["step_s_compiled"] = _time_steps(compiled, x, y, args.steps)
    xt = data.x_test[: args.n_test]
    model = small_image_net(net, seed=0)
    out["eval_s_no_grad"] = _time_eval(model, xt, "no_grad")
    out["eval_s_inference_mode"] = _time_eval(model, xt, "inference")
    job = zoo_train.Job(net, "fashion_mnist", 0, cfg, "bench", "/tmp/unused")
    probes = zoo_train.probe_sets(data, cfg)
    t0 = time.perf_counter()
    zoo_train.measure_point(model, job, 0, data, probes)
    out["point_s"] = time.perf_counter() - t0  # includes one accuracy pass (no_grad, today)
    out["load_after"] = os.getloadavg()[0]
    out["loaded"] = max(out["load_before"], out["load_after"]) > 2
    steps = args.job_steps
    best_step = min(out["step_s"], out["step_s_channels_last"])
    eval_saving = out["eval_s_no_grad"] - min(out["eval_s_no_grad"], out["eval_s_inference_mode"])
    out["job_s_today"] = steps * out["step_s"] + 3 * out["point_s"]
    out["job_s_faster"] = steps * best_step + 2 * (out["point_s"] - eval_saving)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nets", nargs="*", default=list(SAMPLE), help="names, or 'all'")
    parser.add_argument("--compile", nargs="*", default=["resnet10"])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per network")
    parser.add_argument("--job-steps", type=int, default=256, help="steps of a job (projection)")
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.nets == ["all"]:
        from criticality.zoo import list_small_nets

        args.nets = list_small_nets(6_000_000)
    rows = []
    for net in args.nets:
        rows.append(bench(net, args))
        print(json.dumps(rows[-1]), flush=True)
        today = sum(r["job_s_today"] for r in rows)
        faster = sum(r["job_s_faster"] for r in rows)
        summary = {
            "nets": len(rows),
            "job_steps": args.job_steps,
            "job_s_today": today,
            "job_s_faster": faster,
            "speedup": today / faster,
            "step_speedup_channels_last": sum(r["step_s"] for r in rows)
            / sum(min(r["step_s"], r["step_s_channels_last"]) for r in rows),
            "any_loaded": any(r["loaded"] for r in rows),
            "torch": torch.__version__,
            "threads": 1,
        }
        args.out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
