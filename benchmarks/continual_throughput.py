"""Learner-steps per second of the continual-learning experiment, and what tracking costs.

A *learner-step* is one optimizer step of one learner (one seed): Dohare et al.'s small network
(784 → 100 → 100 → 100 → 10, ReLU) on one online-permuted-MNIST example (batch size 1), SGD.
Variants, timed interleaved round by round (a change in machine load hits all alike; medians):

* ``loop``: a bare PyTorch loop, one network;
* ``fit``: :func:`criticality.training.fit` on one network (the loop with methods, callbacks,
  checkpoints bookkeeping);
* ``fit ensemble S``: ``S`` seeds stacked into one network (:func:`criticality.continual.stack`)
  and trained by ``fit``, the experiment's path for separable methods;
* ``vmap S``: the same ``S`` seeds with ``torch.func.vmap`` over ``grad`` of a functional
  network (the alternative we did not choose);
* methods on the 5-seed ensemble: continual backprop, Shrink & Perturb, the criticality
  regularizer in its per-member form, measure-only;

and the cost of the per-task tracking (plasticity metrics and criticality of every member on a
128-input probe, at a task's start and end) against the training time of one task.

Run: ``python benchmarks/continual_throughput.py [--quick]``; writes
``benchmarks/results/continual_throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from criticality.continual.networks import StackedTask, member, member_loss, mlp, stack
from criticality.continual.tracking import SnapshotSettings, snapshot
from criticality.data.streams import PermutedMNIST
from criticality.training import fit
from criticality.training.methods import build_method
from criticality.training.methods.continual import for_ensemble

OUT = Path(__file__).parent / "results" / "continual_throughput.json"
HIDDEN = (100, 100, 100)


def fit_runner(seeds: tuple[int, ...], method: str = "plain") -> tuple[Callable[[int], None], int]:
    """A function training ``n`` more steps with ``fit`` (continuing the same run)."""
    streams = [PermutedMNIST(1, seed=s) for s in seeds]
    nets = [mlp(784, HIDDEN, 10, seed=s) for s in seeds]
    model = stack(nets) if len(nets) > 1 else nets[0]
    data: Any = StackedTask([s[0] for s in streams]) if len(nets) > 1 else streams[0][0]
    parts = (
        for_ensemble(build_method(method, model)) if len(nets) > 1 else build_method(method, model)
    )
    state: list[Any] = [None]
    offset = [0]

    def run(n: int) -> None:
        def source(step: int, start: int = offset[0]) -> tuple[torch.Tensor, torch.Tensor]:
            return data((start + step) % 60_000)

        first = state[0] is None
        r = fit(model, source, steps=n, lr=0.003, optimizer="sgd",
                optimizer_options={"momentum": 0.0}, loss_fn=member_loss("classification"),
                method=parts if first else None, state=state[0], progress=False)  # fmt: skip
        state[0], offset[0] = r.state, offset[0] + n

    return run, len(seeds)


def loop_runner() -> tuple[Callable[[int], None], int]:
    task = PermutedMNIST(1, seed=0)[0]
    net = mlp(784, HIDDEN, 10)
    opt = torch.optim.SGD(net.parameters(), lr=0.003)
    step = [0]

    def run(n: int) -> None:
        for _ in range(n):
            x, y = task(step[0] % 60_000)
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
            step[0] += 1

    return run, 1


def vmap_runner(n_seeds: int) -> tuple[Callable[[int], None], int]:
    """``S`` seeds by ``vmap(grad(...))`` over stacked parameters, plain SGD by hand."""
    from torch.func import functional_call, grad, stack_module_state, vmap

    nets = [mlp(784, HIDDEN, 10, seed=s) for s in range(n_seeds)]
    params, buffers = stack_module_state(nets)  # type: ignore[arg-type]
    base = mlp(784, HIDDEN, 10).to("meta")
    tasks = [PermutedMNIST(1, seed=s)[0] for s in range(n_seeds)]
    source = StackedTask(tasks)
    step = [0]

    def loss(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor,
             y: torch.Tensor) -> torch.Tensor:  # fmt: skip
        return nn.functional.cross_entropy(functional_call(base, (p, b), (x,)), y)

    g = vmap(grad(loss))

    def run(n: int) -> None:
        for _ in range(n):
            x, y = source(step[0] % 60_000)
            grads = g(params, buffers, x, y)
            with torch.no_grad():
                for k in params:
                    params[k].sub_(0.003 * grads[k])
            step[0] += 1

    return run, n_seeds


def time_runners(
    runners: dict[str, tuple[Callable[[int], None], int]], rounds: int, per_round: int
) -> dict[str, dict[str, float]]:
    for run, _ in runners.values():
        run(20)  # warm-up
    samples: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(rounds):
        for name, (run, _) in runners.items():
            t = time.perf_counter()
            run(per_round)
            samples[name].append((time.perf_counter() - t) / per_round)
    out = {}
    for name, (_, members) in runners.items():
        sec = statistics.median(samples[name])
        out[name] = {"seconds per step": sec, "learner-steps/s": members / sec, "members": members}
    return out


def tracking_cost(n_members: int, rounds: int) -> dict[str, float]:
    """Seconds of one task's tracking (start and end snapshot of every member, criticality on
    and off) on the 5-seed ensemble."""
    ens = stack([mlp(784, HIDDEN, 10, seed=s) for s in range(n_members)])
    probes = [PermutedMNIST(1, seed=s)[0].probe(128) for s in range(n_members)]
    out = {}
    for label, settings in (("with criticality", SnapshotSettings()),
                            ("metrics only", SnapshotSettings(criticality=False))):  # fmt: skip
        snapshot(member(ens, 0), probes[0], settings)  # warm-up (forward AD)
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            for _ in range(2):  # start and end of the task
                for s in range(n_members):
                    snapshot(member(ens, s), probes[s], settings)
            times.append(time.perf_counter() - t)
        out[label] = statistics.median(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rounds, per_round = (2, 50) if args.quick else (5, 400)
    runners = {
        "loop": loop_runner(),
        "fit": fit_runner((0,)),
        "fit ensemble 3": fit_runner(tuple(range(3))),
        "fit ensemble 5": fit_runner(tuple(range(5))),
        "fit ensemble 10": fit_runner(tuple(range(10))),
        "vmap 5": vmap_runner(5),
        "continual_backprop, ensemble 3": fit_runner(tuple(range(3)), "continual_backprop"),
        "continual_backprop, ensemble 5": fit_runner(tuple(range(5)), "continual_backprop"),
        "shrink_perturb, ensemble 5": fit_runner(tuple(range(5)), "shrink_perturb"),
        "critical_global, ensemble 5": fit_runner(tuple(range(5)), "critical_global"),
        "critical_global, one seed": fit_runner((0,), "critical_global"),
        "measure_only, ensemble 5": fit_runner(tuple(range(5)), "measure_only"),
    }
    load_before = os.getloadavg()
    steps = time_runners(runners, rounds, per_round)
    base = steps["fit"]["learner-steps/s"]
    for row in steps.values():
        row["speed-up over fit"] = row["learner-steps/s"] / base
    track = tracking_cost(5, max(2, rounds // 2))
    ens_step = steps["fit ensemble 5"]["seconds per step"]
    share = {}
    for examples in (1_000, 10_000, 60_000):
        train = examples * ens_step
        share[f"{examples} examples per task"] = {
            label: t / (t + train) for label, t in track.items()
        }
    result = {
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "rounds": rounds,
        "steps per round": per_round,
        "network": f"784-{'-'.join(map(str, HIDDEN))}-10 ReLU, batch 1, SGD",
        "load average (1, 5, 15 min) before / after": [load_before, os.getloadavg()],
        "loaded": max(load_before[0], os.getloadavg()[0]) > 2,
        "steps": steps,
        "tracking seconds per task (5 members)": track,
        "tracking share of a task's time (5-member ensemble)": share,
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
