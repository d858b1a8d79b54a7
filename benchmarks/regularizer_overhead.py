"""Overhead of the regularizers per training step, relative to a plain step (DESIGN §3), and the
variance of the criticality penalty's gradient against the previous implementation.

A step is forward, cross-entropy, (penalty), backward and an Adam update on one batch of 128
MNIST-shaped inputs. Ratios are time(step with penalty) / time(plain step) measured in the same
run, interleaved round by round so that a change in machine load hits both alike: the median of
the per-round ratios with a bootstrap 95 % interval of that median, on which each target is
read (met / missed / undecided; ``--rounds`` adds rounds). Beside each ratio:

* ``previous``: the implementation before issue 13 (``torch.func.jvp`` per stage with
  PyTorch's own forward-mode rules), the same estimator;
* ``floor``: the plain step plus one extra forward and backward pass of 32 rows (the sub-batch's
  16 inputs and their 16 tangents, without any JVP): what any penalty that needs the primal and
  the tangent of 16 inputs costs at least with this API (the penalty cannot reuse the training
  forward).

Gradient variance: the penalty's gradient over 32 call seeds (fresh tangents each) at a fixed
model and batch, per-coordinate variance summed over parameters, for this implementation and
the previous one (the estimator is unchanged, so the ratio should be 1 to rounding).

Targets (issue 13): ≤ 1.3 × a plain step on the MNIST CNN, ≤ 1.5 × on MLPs of depth 2–16.
Run: ``python benchmarks/regularizer_overhead.py [--device cuda] [--quick]``; writes
``benchmarks/results/regularizer_overhead[_cuda].json``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from _bench import clock, machine, median_interval, sync
from torch import nn

from criticality.regularizers import CriticalityRegularizer, JacobianRegularizer
from criticality.regularizers._common import call_seed, eval_mode
from criticality.zoo import cnn_classifier, mlp_classifier

DEFAULT = "critical (defaults: jvp, sub_batch 16, 1 direction)"
FLOOR = "floor (extra forward+backward of 32 rows)"
OUT = Path(__file__).parent / "results" / "regularizer_overhead.json"


class PreviousRegularizer(CriticalityRegularizer):
    """The implementation before issue 13: ``torch.func.jvp`` per stage, PyTorch's own
    forward-mode rules (the same estimator, for timing and variance side by side)."""

    def _propagate(
        self, stage_list: Sequence[nn.Module], h: torch.Tensor, v: torch.Tensor
    ) -> torch.Tensor:
        logs = []
        with eval_mode(stage_list):
            for stage in stage_list:
                d_in = h[0].numel()
                h, jv = torch.func.jvp(stage, (h,), (v,))[:2]
                size = jv.flatten(1).norm(dim=1).clamp_min(torch.finfo(jv.dtype).tiny)
                log_g = torch.log(size)
                if self.norm == "rms":
                    log_g = log_g - 0.5 * math.log(h[0].numel() / d_in)
                logs.append(log_g)
                v = jv / size.view(-1, *[1] * (jv.ndim - 1))
        return torch.stack(logs, dim=1)


class Floor(nn.Module):
    """Not a penalty: one extra forward and backward pass of the first 32 rows."""

    def forward(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return 0.0 * model(x[:32]).sum()


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
) -> dict[str, list[float]]:
    """Seconds per step of each variant in every round, the variants interleaved round by
    round."""
    for step in steps.values():  # warm-up (first JVP loads decompositions; CUDA kernels)
        for _ in range(3):
            step()
    samples: dict[str, list[float]] = {k: [] for k in steps}
    now = clock(device)  # CPU time of this process on a one-thread CPU run, else wall time
    for _ in range(rounds):
        for name, step in steps.items():
            sync(device)
            t = now()
            for _ in range(per_round):
                step()
            sync(device)
            samples[name].append((now() - t) / per_round)
    return samples


def summary(samples: dict[str, list[float]]) -> dict[str, Any]:
    """The plain step's median milliseconds; per variant the median of its per-round ratios to
    the plain step of the same round, and a bootstrap 95 % interval of that median."""
    per_round = {
        k: [t / p for t, p in zip(v, samples["plain"], strict=True)] for k, v in samples.items()
    }
    return {
        "plain_ms": round(1e3 * statistics.median(samples["plain"]), 3),
        "ratio": {k: round(statistics.median(r), 3) for k, r in per_round.items()},
        "interval_95": {
            k: [round(b, 3) for b in median_interval(r)]
            for k, r in per_round.items()
            if k != "plain"
        },
    }


def batch(device: str, n: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 28, 28, generator=gen).to(device)
    return x, torch.randint(0, 10, (n,), generator=gen).to(device)


def gradient_variance(
    model: nn.Module, x: torch.Tensor, reg: CriticalityRegularizer, n_seeds: int
) -> tuple[float, torch.Tensor]:
    """Summed per-coordinate variance of the penalty's gradient over ``n_seeds`` tangent draws,
    and the gradients themselves ``(n_seeds, P)``."""
    grads = []
    for n in range(n_seeds):
        gains = reg.log_gains(model, x, seed=call_seed(reg.seed, n))
        penalty = reg.penalty(gains.mean(dim=(0, 1)))
        params = [p for p in model.parameters() if p.requires_grad]
        g = torch.autograd.grad(penalty, params, allow_unused=True, materialize_grads=True)
        grads.append(torch.cat([gi.flatten() for gi in g]))
    g = torch.stack(grads)
    return float(g.var(dim=0).sum()), g


def variance_row(model: nn.Module, x: torch.Tensor, n_seeds: int) -> dict[str, Any]:
    new, g_new = gradient_variance(model, x, CriticalityRegularizer(), n_seeds)
    old, g_old = gradient_variance(model, x, PreviousRegularizer(), n_seeds)
    rel = ((g_new - g_old).norm(dim=1) / g_old.norm(dim=1)).max()
    return {"variance": new, "variance_previous": old, "ratio": new / old,
            "max_relative_difference_per_draw": float(rel), "draws": n_seeds}  # fmt: skip


def compare(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, rounds: int, per: int, dev: str
) -> dict[str, Any]:
    variants: dict[str, nn.Module | None] = {
        "plain": None,
        "critical": CriticalityRegularizer(),
        "previous": PreviousRegularizer(),
        "floor": Floor(),
    }
    return summary(
        time_steps({k: step_fn(model, r, x, y) for k, r in variants.items()}, rounds, per, dev)
    )


def verdicts(result: dict[str, Any]) -> dict[str, str]:
    """Each target read on the interval of its ratio: ``met`` when the whole interval lies at or
    below the target, ``missed`` when it lies above, ``undecided`` when it holds the target
    (more rounds decide it: ``--rounds``)."""
    cnn = result["mnist_cnn"]
    measured = {"mnist cnn": (cnn["ratio"][DEFAULT], cnn["interval_95"][DEFAULT], 1.3)}
    for name, row in result["mlp_depth_width_256"].items():
        measured[name] = (row["ratio"]["critical"], row["interval_95"]["critical"], 1.5)
    out = {}
    for name, (r, (low, high), limit) in measured.items():
        call = "met" if high <= limit else "missed" if low > limit else "undecided"
        out[name] = f"{call} ({r:.2f} [{low:.2f}, {high:.2f}] vs ≤ {limit:g})"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument(
        "--minimal",
        action="store_true",
        help="only the targets' comparisons (no other variants, no sub-batch sweep)",
    )
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (11; 3 quick)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="intra-op CPU threads (1: stable timings on a shared machine)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dev, rounds, per = args.device, (3 if args.quick else 11), (3 if args.quick else 5)
    rounds = args.rounds or rounds
    x, y = batch(dev)
    cnn = cnn_classifier((1, 28, 28), 10).to(dev)
    variants: dict[str, nn.Module | None] = {
        "plain": None,
        DEFAULT: CriticalityRegularizer(),
        "critical previous implementation": PreviousRegularizer(),
        "critical fd": CriticalityRegularizer(estimator="fd"),
        "critical every 4": CriticalityRegularizer(every=4),
        "critical stagewise": CriticalityRegularizer(mode="stagewise"),
        "jacobian (defaults: sub_batch 16, 1 projection)": JacobianRegularizer(),
        FLOOR: Floor(),
    }
    if args.minimal:
        keep = (DEFAULT, "plain", "critical previous implementation", FLOOR)
        variants = {k: v for k, v in variants.items() if k in keep}
    t_default = summary(
        time_steps({k: step_fn(cnn, r, x, y) for k, r in variants.items()}, rounds, per, dev)
    )
    sub_batches = {
        "plain": None,
        **{f"sub_batch {s}": CriticalityRegularizer(sub_batch=s) for s in (4, 8, 16, 32, 64, 128)},
    }
    if args.minimal:
        sub_batches = {"plain": None}
    t_sub = summary(
        time_steps({k: step_fn(cnn, r, x, y) for k, r in sub_batches.items()}, rounds, per, dev)
    )
    depth, variance = {}, {}
    n_seeds = 4 if args.minimal else 8 if args.quick else 32
    variance["mnist cnn"] = variance_row(cnn, x, n_seeds)
    for d in (2, 4, 8, 16):
        mlp = mlp_classifier((1, 28, 28), 10, depth=d, width=256).to(dev)
        depth[f"mlp depth {d}"] = compare(mlp, x, y, rounds, per, dev)
        variance[f"mlp depth {d}"] = variance_row(mlp, x, n_seeds)
        print(d, depth[f"mlp depth {d}"], flush=True)
    result = {
        "what": "seconds per training step (batch 128, 1x28x28, Adam) with each penalty / plain",
        "machine": machine(dev),
        "rounds": rounds,
        "steps_per_round": per,
        "mode": "minimal" if args.minimal else "quick" if args.quick else "full",
        "mnist_cnn": t_default,
        "mnist_cnn_sub_batch": t_sub["ratio"],
        "mlp_depth_width_256": depth,
        "gradient_variance": variance,
        "targets": "critical (defaults) <= 1.3 on the MNIST CNN, <= 1.5 on MLPs of depth 2-16",
    }
    result["verdicts"] = verdicts(result)
    name = args.out or (OUT if dev == "cpu" else OUT.with_name(f"regularizer_overhead_{dev}.json"))
    name.parent.mkdir(parents=True, exist_ok=True)
    name.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
