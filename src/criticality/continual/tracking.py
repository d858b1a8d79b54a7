"""What a continual-learning run records per task: online performance, test performance,
plasticity metrics and criticality, for each member of an ensemble.

* :class:`OnlineScore` accumulates the prediction made on each example *before* its update (the
  model output of the training step, computed before the optimizer step): online accuracy for
  classification, online squared error for regression. Counts stay tensors until read, so the
  training loop never waits on them.
* :func:`snapshot` measures one ordinary network on the fixed probe batch: the plasticity
  metrics (:func:`~criticality.continual.metrics.plasticity_metrics`) and the criticality
  measures ``λ_1`` with the per-stage log-gains ``ln g_l`` (:func:`lyapunov_spectrum`, ``k =
  1``) and the branching ratio ``σ`` (:func:`branching_ratio`), at cheap settings.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Literal, cast

import torch
from torch import nn

from criticality.continual.metrics import plasticity_metrics
from criticality.measures import (
    BranchingResult,
    LyapunovResult,
    branching_ratio,
    lyapunov_spectrum,
)

Kind = Literal["classification", "regression"]


@dataclasses.dataclass(frozen=True)
class SnapshotSettings:
    """How a snapshot measures (the defaults are cheap: one exponent, two branching directions).

    Attributes:
        criticality: measure ``λ_1`` and ``σ`` (``False``: plasticity metrics only).
        norm: norm of the log-gains (``"rms"`` removes the dimension change of a stage).
        n_dirs: random directions per input and stage of the branching ratio.
        dormant_below: activity fraction under which a unit is dormant.
        tau: ReDo's dormancy threshold for the τ-dormant fraction.
        seed: seed of the measures' random directions.
        kind: the stream's kind; with it, a snapshot on a task's first examples also records
            :func:`memorisation_gradient_norm` (``grad_norm_sq``).
        memorisation_examples: examples of that memorisation task.
    """

    criticality: bool = True
    norm: Literal["l2", "rms"] = "rms"
    n_dirs: int = 2
    dormant_below: float = 0.01
    tau: float = 0.1
    seed: int = 0
    kind: Kind | None = None
    memorisation_examples: int = 32


def criticality_snapshot(
    net: nn.Module, probe: torch.Tensor, settings: SnapshotSettings
) -> dict[str, Any]:
    """Criticality of any network :func:`criticality.stages` can split, on ``probe``.

    Returns:
        ``lambda_1`` (mean over probe inputs) and ``lambda_1_median`` (nats per stage; an input
        whose perturbation dies completely at some stage, e.g. on dead units, counts with a
        very negative log-gain in the mean), ``stage_log_gain`` (``L`` means ``ln g_l``),
        ``sigma`` and ``sigma_inf`` (branching ratio, cascade and infinitesimal) and
        ``criticality_seconds`` (the time these took).
    """
    began = time.perf_counter()
    lyap = cast(
        LyapunovResult, lyapunov_spectrum(net, probe, k=1, norm=settings.norm, seed=settings.seed)
    )
    branch = cast(
        BranchingResult, branching_ratio(net, probe, n_dirs=settings.n_dirs, seed=settings.seed)
    )
    return {
        "lambda_1": float(lyap.lambda_max.mean),
        "lambda_1_median": float(lyap.lambda_max.median),
        "stage_log_gain": [float(e.mean) for e in lyap.stage_log_gain],
        "sigma": float(branch.sigma.mean),
        "sigma_inf": float(branch.sigma_inf.mean),
        "criticality_seconds": time.perf_counter() - began,
    }


def snapshot(
    net: nn.Module,
    probe: torch.Tensor,
    settings: SnapshotSettings,
    plasticity_inputs: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Plasticity metrics and criticality of an ordinary network on ``probe`` (``(P, D)``).

    Args:
        net: an ordinary network (one member of an ensemble).
        probe: the fixed probe batch of the criticality measures.
        settings: what to measure and how.
        plasticity_inputs: inputs of the plasticity metrics (default ``probe``); Dohare et al.
            take the first 2,000 examples of the task about to be learned.

    Returns:
        A JSON-ready dict: the fields of
        :class:`~criticality.continual.metrics.PlasticityMetrics`, and with ``criticality``
        those of :func:`criticality_snapshot`: ``lambda_1`` (nats per stage),
        ``stage_log_gain`` (``L`` values ``ln g_l``), ``sigma`` (cascade branching ratio),
        ``sigma_inf`` (its infinitesimal form) and ``criticality_seconds`` (their time).
    """
    if settings.kind is not None and plasticity_inputs is not None:
        grad_norm = memorisation_gradient_norm(
            net, plasticity_inputs, settings.kind, n=settings.memorisation_examples,
            seed=settings.seed,
        )  # fmt: skip
    inputs = probe if plasticity_inputs is None else plasticity_inputs
    out: dict[str, Any] = plasticity_metrics(
        net, inputs, dormant_below=settings.dormant_below, tau=settings.tau
    ).to_dict()
    out["plasticity_inputs"] = int(inputs.shape[0])
    if settings.kind is not None and plasticity_inputs is not None:
        out["grad_norm_sq"] = grad_norm
    if settings.criticality:
        out |= criticality_snapshot(net, probe, settings)
    return out


def memorisation_gradient_norm(
    net: nn.Module, x: torch.Tensor, kind: Kind, *, n: int = 32, seed: int = 0
) -> float:
    """The expected squared gradient norm ``E_(x, y) ‖∇_θ ℓ(f_θ(x), y)‖²`` on a synthetic
    memorisation task: the first ``n`` of inputs ``x`` with labels drawn uniformly at random
    (classification over the network's outputs) or ``N(0, 1)`` targets (regression), one
    example per gradient, at the current weights (no update).

    Our reading of Cheng (2026, "Local redundancy"), who bounds an information-theoretic
    plasticity measure from below by this quantity and proposes it as a predictor of how well a
    network learns the next task; not checked against their code.

    Returns:
        The mean over the ``n`` examples of the squared gradient norm over all parameters.
    """
    x = x[:n]
    gen = torch.Generator().manual_seed(seed)
    params = [p for p in net.parameters() if p.requires_grad]
    total = 0.0
    training = net.training
    net.train()
    try:
        for i in range(x.shape[0]):
            out = net(x[i : i + 1])
            if kind == "classification":
                y = torch.randint(out.shape[-1], (1,), generator=gen).to(out.device)
                loss = nn.functional.cross_entropy(out, y)
            else:
                y = torch.randn(out.shape, generator=gen).to(out.device)
                loss = ((out - y) ** 2).sum()
            grads = torch.autograd.grad(loss, params)
            total += float(sum((g.detach().double() ** 2).sum() for g in grads))
    finally:
        net.train(training)
    return total / max(1, x.shape[0])


class OnlineScore:
    """Running online performance of ``S`` members (``S = 1`` for an ordinary network).

    Call :meth:`update` with each training step's outputs (made before the update) and
    targets; :meth:`result` gives each member's online accuracy (NaN for regression) and
    online error (mean cross-entropy or squared error per example).
    """

    def __init__(self, n_members: int, kind: Kind) -> None:
        self.kind, self.n_members = kind, n_members
        self.reset()

    def reset(self) -> None:
        self.correct = torch.zeros(self.n_members, dtype=torch.float64)
        self.error = torch.zeros(self.n_members, dtype=torch.float64)
        self.count = 0

    @torch.no_grad()
    def update(self, output: torch.Tensor, target: torch.Tensor) -> None:
        """``output`` ``(S, B, C)`` / ``(B, C)`` and ``target`` ``(S, B[, 1])`` / ``(B[, 1])``."""
        if output.ndim == 2:
            output, target = output.unsqueeze(0), target.unsqueeze(0)
        s, b = output.shape[0], output.shape[1]
        if self.kind == "classification":
            hits = (output.argmax(-1) == target).sum(-1)
            losses = nn.functional.cross_entropy(
                output.flatten(0, 1), target.flatten(), reduction="none"
            ).view(s, b)
        else:
            hits = torch.zeros(s)
            losses = ((output - target) ** 2).flatten(2).sum(-1)
        self.correct += hits.cpu().double()
        self.error += losses.sum(-1).cpu().double()
        self.count += b

    def result(self) -> list[dict[str, float]]:
        """Per member: ``online_accuracy`` and ``online_error`` (NaN before any update)."""
        n = self.count
        acc = (self.correct / n).tolist() if n else [math.nan] * self.n_members
        err = (self.error / n).tolist() if n else [math.nan] * self.n_members
        if self.kind == "regression":
            acc = [math.nan] * self.n_members
        return [{"online_accuracy": a, "online_error": e} for a, e in zip(acc, err, strict=True)]

    def state_dict(self) -> dict[str, Any]:
        return {"correct": self.correct.clone(), "error": self.error.clone(), "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.correct, self.error = state["correct"].clone(), state["error"].clone()
        self.count = int(state["count"])


@torch.no_grad()
def evaluate(net: nn.Module, x: torch.Tensor, y: torch.Tensor, kind: Kind) -> dict[str, float]:
    """``test_accuracy`` (NaN for regression) and ``test_error`` (mean cross-entropy or squared
    error) of an ordinary network on ``(x, y)``, in ``eval()`` mode."""
    training = net.training
    net.eval()
    try:
        dev = next(net.parameters()).device
        out = net(x.to(dev)).double().cpu()
    finally:
        net.train(training)
    if kind == "classification":
        acc = float((out.argmax(-1) == y).double().mean())
        err = float(nn.functional.cross_entropy(out, y))
        return {"test_accuracy": acc, "test_error": err}
    return {"test_accuracy": math.nan, "test_error": float(((out - y.double()) ** 2).mean())}
