"""The loss-of-plasticity baselines as training-method rows (Dohare et al. 2024 and others).

Each row wraps an operation of :mod:`criticality.continual.algorithms` (or an optimizer setting)
and says where its default hyperparameters come from. All work on an ordinary network and on a
vectorised ensemble of seeds (:func:`criticality.continual.networks.stack`): their parts are
*separable*, they act on each member's own weights (see :func:`separable`).

========================= ====================================================================
row                       defaults and their source
========================= ====================================================================
``adam``                  Adam, lr 1e-4 (Dohare et al.'s permuted-MNIST Adam sweep:
                          1e-4, 5e-5, 3e-5)
``l2_init``               λ = 5e-5 toward the initial weights: the pull of Dohare et al.'s
                          L2 1e-4 (``λ‖θ − θ₀‖²`` pulls with ``2λ``, weight decay ``wd`` with
                          ``wd``), so the two compare at equal strength (Kumar et al. 2023
                          tune λ per benchmark)
``shrink_perturb``        weight decay 1e-4, noise σ = 1e-5 after every step (Dohare et al.'s
                          permuted MNIST: decay 1e-4, σ swept over 1e-4, 1e-5, 1e-6)
``continual_backprop``    ρ = 1e-6, η = 0.99, maturity 100, the ``adaptable_contribution``
                          utility: Dohare et al.'s permuted MNIST (``cfg/cbp.json:18-21``; ρ
                          swept over 1e-4, 1e-5, 1e-6, their figure plots 1e-6,
                          ``plots/all_metrics.py:57``); ``utility="contribution"`` is the
                          paper's Algorithm 1
``redo``                  τ = 0.1 (Sokar et al. 2023, who also use 0.025; Dohare et al.'s ReDo
                          baseline uses 0.1), checked every 1000 steps, scored over the interval
                          (``window="interval"``, ours); ``window="batch"``, ``interval=100``
                          is the reference's (the batch at the check, every 100 steps)
``layernorm_wd``          LayerNorm before each hidden activation + weight decay 1e-4 (Lyle
                          et al. 2024; the decay is Dohare et al.'s L2 value)
``measure_only``          plain training, ``λ_1`` measured every 1000 steps: the control that
                          shows measuring does not change training
========================= ====================================================================

L2 itself is the ``weight_decay`` row (the continual experiment runs it at Dohare et al.'s
1e-4); backprop with SGD is ``plain`` under the experiment's SGD optimizer.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from typing import Any, cast

import torch
from torch import nn

from criticality.continual.algorithms import (
    ContinualBackprop,
    L2Init,
    ReDo,
    mixed_generator,
    perturb_,
)
from criticality.continual.networks import add_layer_norm, member, n_members
from criticality.continual.units import record_activations
from criticality.measures import LyapunovResult, lyapunov_spectrum
from criticality.measures.tangents import ready_forward_ad
from criticality.regularizers import CriticalityRegularizer
from criticality.regularizers._common import call_seed
from criticality.stages import stages
from criticality.training.callbacks import Callback, TrainState
from criticality.training.methods._registry import MethodContext, MethodParts, register_method

logger = logging.getLogger(__name__)


class EnsembleCriticality(nn.Module):
    """The criticality penalty of every member of an ensemble, summed over members.

    :class:`~criticality.regularizers.CriticalityRegularizer` treats the first dimension as
    the batch; an ensemble's inputs are ``(S, B, D)``. This term pushes the same random unit
    tangents through the ensemble's stages (each member's block acts on its own slice) and
    takes the norm of each ``(member, input)`` row alone, so that member ``s`` gets exactly the
    penalty the regularizer gives it as a network of its own,
    ``Σ_s penalty(mean over inputs and directions of ln g_l^(s))``.

    Args:
        reg: the regularizer whose settings (mode, target, weight, sub-batch, directions, norm,
            every, seed) are used; its call counter is the one that advances.
    """

    separable = True

    def __init__(self, reg: CriticalityRegularizer) -> None:
        super().__init__()
        if reg.estimator != "jvp":
            raise ValueError("the ensemble penalty propagates tangents by JVP: use estimator='jvp'")
        self.reg = reg

    def forward(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        reg = self.reg
        n, applied = reg.counter.tick()
        if not applied:
            return x.new_zeros(())
        gains = self.log_gains(model, x, seed=call_seed(reg.seed, n))  # (S, N, L)
        return reg.weight * torch.stack([reg.penalty(g.mean(dim=0)) for g in gains]).sum()

    def log_gains(
        self, model: nn.Module, x: torch.Tensor, *, seed: int, init: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``ln g_l`` per member, input and direction: shape ``(S, b·k, L)`` for inputs
        ``(S, B, D)`` (the first ``b = sub_batch`` of each member, ``k`` directions each)."""
        reg = self.reg
        h = x[:, : reg.sub_batch].repeat_interleave(reg.n_directions, dim=1)  # (S, b·k, D)
        if init is None:
            gen = torch.Generator(device=h.device).manual_seed(seed)
            init = torch.randn(h.shape, generator=gen, dtype=h.dtype, device=h.device)
        v = init / init.norm(dim=-1, keepdim=True).clamp_min(1e-30)
        stage_list = stages(model)
        training = model.training
        model.eval()
        logs = []
        try:
            ready_forward_ad()
            for stage in stage_list:
                d_in = h.shape[-1]
                h, jv = torch.func.jvp(stage, (h,), (v,))[:2]
                size = jv.norm(dim=-1).clamp_min(torch.finfo(jv.dtype).tiny)  # (S, b·k)
                log_g = torch.log(size)
                if reg.norm == "rms":
                    log_g = log_g - 0.5 * math.log(h.shape[-1] / d_in)
                logs.append(log_g)
                v = jv / size.unsqueeze(-1)
        finally:
            model.train(training)
        return torch.stack(logs, dim=-1)


def for_ensemble(parts: MethodParts) -> MethodParts:
    """``parts`` with each criticality regularizer replaced by its per-member ensemble form."""
    terms = tuple(
        EnsembleCriticality(t) if isinstance(t, CriticalityRegularizer) else t
        for t in parts.loss_terms
    )
    return dataclasses.replace(parts, loss_terms=terms)


def separable(parts: MethodParts) -> bool:
    """Whether every loss term and callback of ``parts`` acts on each ensemble member alone
    (they say so with ``separable = True``), so the method may train an ensemble of seeds as
    one network. Optimizer settings are elementwise and always separable."""
    return all(getattr(p, "separable", False) for p in (*parts.loss_terms, *parts.callbacks))


class ShrinkPerturb(Callback):
    """Gaussian noise ``N(0, σ²)`` added to every parameter after every step (the "perturb" of
    Shrink & Perturb; the "shrink" is the optimizer's weight decay)."""

    name = "shrink_perturb"
    separable = True

    def __init__(self, noise_std: float, *, seed: int = 0) -> None:
        if noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std}")
        self.noise_std, self.seed = float(noise_std), seed
        self.generator: torch.Generator | None = None

    def _gen(self, device: torch.device) -> torch.Generator:
        if self.generator is None or self.generator.device != device:
            self.generator = mixed_generator(self.seed, 0x5AD, device)
        return self.generator

    def on_step_end(self, state: TrainState) -> None:
        perturb_(state.model.parameters(), self.noise_std, self._gen(state.device))

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state() if self.generator is not None else None}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("generator") is not None:
            self._gen(torch.device("cpu")).set_state(state["generator"])


class UnitResets(Callback):
    """Runs a unit-resetting algorithm (:class:`ContinualBackprop`, :class:`ReDo`) after every
    step on the activations of that step's forward pass (recorded by hooks while a task
    trains), with the optimizer, whose state of the reset units it zeroes. Records the units
    reset per task."""

    separable = True

    def __init__(self, name: str, algorithm: ContinualBackprop | ReDo) -> None:
        self.name, self.algorithm = name, algorithm
        self.per_task: dict[int, int] = {}
        self._recording: Any = None
        self._latest: dict[int, torch.Tensor] = {}

    def on_fit_start(self, state: TrainState) -> None:
        self._recording = record_activations(self.algorithm.layers)
        self._latest = self._recording.__enter__()

    def on_step_end(self, state: TrainState) -> None:
        n = self.algorithm.step(self._latest, state.optimizer)
        if n:
            self.per_task[state.task] = self.per_task.get(state.task, 0) + n

    def on_fit_end(self, state: TrainState) -> None:
        if self._recording is not None:
            self._recording.__exit__(None, None, None)
            self._recording = None

    def records(self) -> list[dict[str, Any]]:
        return [{"task": t, "replaced": n} for t, n in sorted(self.per_task.items())]

    def state_dict(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm.state_dict(), "per_task": dict(self.per_task)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.algorithm.load_state_dict(state["algorithm"])
        self.per_task = {int(k): int(v) for k, v in state["per_task"].items()}


class DenseCriticality(Callback):
    """Measures ``λ_1`` of every member every ``every`` steps, without touching training.

    The probe is the first ``probe_size`` training inputs the run sees (kept from the batches),
    so the row needs nothing from the experiment; measuring starts once it is full. The
    measures draw from their own seeded generators: training is bit-identical to ``plain``.
    """

    name = "measure_only"
    separable = True

    def __init__(self, every: int, probe_size: int, norm: str, seed: int) -> None:
        if every < 1 or probe_size < 2:
            raise ValueError("measure_only needs every >= 1 and probe_size >= 2")
        self.every, self.probe_size, self.norm, self.seed = every, probe_size, norm, seed
        self.probe: list[torch.Tensor] = []
        self.trajectory: list[dict[str, Any]] = []

    def on_step_end(self, state: TrainState) -> None:
        assert state.batch is not None
        x = state.batch[0].detach()
        members = n_members(state.model)
        if len(self.probe) < self.probe_size:
            rows = x.unbind(-2) if members > 1 else x.unbind(0)  # ensemble: (S, B, D)
            self.probe += [r.clone() for r in rows][: self.probe_size - len(self.probe)]
        elif state.step % self.every == 0:
            probe = torch.stack(self.probe, dim=-2 if members > 1 else 0)
            lams = []
            for s in range(members):
                net = member(state.model, s)
                p = probe[s] if members > 1 else probe
                res = cast(
                    LyapunovResult, lyapunov_spectrum(net, p, norm=self.norm, seed=self.seed)
                )
                lams.append(float(res.lambda_max.mean))
            self.trajectory.append({"step": state.step, "task": state.task, "lambda_1": lams})

    def records(self) -> list[dict[str, Any]]:
        return list(self.trajectory)

    def state_dict(self) -> dict[str, Any]:
        return {"probe": list(self.probe), "trajectory": list(self.trajectory)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.probe, self.trajectory = list(state["probe"]), list(state["trajectory"])


@register_method(
    "adam",
    summary="backprop with Adam (β = 0.9, 0.999) instead of the run's optimizer",
    reference="Dohare et al. 2024 (permuted MNIST Adam sweep 1e-4, 5e-5, 3e-5)",
    defaults={"lr": 1e-4},
)
def _adam(ctx: MethodContext, *, lr: float) -> MethodParts:
    return MethodParts(optimizer={"name": "adam", "lr": lr})


@register_method(
    "l2_init",
    summary="+ λ ‖θ − θ₀‖²: regularisation toward the initial weights",
    reference="Kumar et al. 2023, Maintaining plasticity via regenerative regularization "
    "(λ 5e-5: the pull of L2 1e-4)",
    defaults={"weight": 5e-5},
)
def _l2_init(ctx: MethodContext, *, weight: float) -> MethodParts:
    return MethodParts(loss_terms=(L2Init(ctx.model, weight),))


@register_method(
    "shrink_perturb",
    summary="weight decay + Gaussian noise on every parameter after every step",
    reference="Ash & Adams 2020; as run by Dohare et al. 2024 (decay 1e-4, noise 1e-5)",
    defaults={"weight_decay": 1e-4, "noise_std": 1e-5},
)
def _shrink_perturb(ctx: MethodContext, *, weight_decay: float, noise_std: float) -> MethodParts:
    return MethodParts(
        callbacks=(ShrinkPerturb(noise_std, seed=ctx.seed),),
        optimizer={"weight_decay": weight_decay},
    )


@register_method(
    "continual_backprop",
    summary="re-initialise a small fraction of mature low-utility hidden units every step",
    reference="Dohare et al. 2024, permuted MNIST (ρ 1e-6 as plotted, η 0.99, maturity 100, "
    "adaptable contribution)",
    defaults={
        "replacement_rate": 1e-6,
        "decay_rate": 0.99,
        "maturity_threshold": 100,
        "utility": "adaptable_contribution",
    },
)
def _continual_backprop(ctx: MethodContext, **options: Any) -> MethodParts:
    cbp = ContinualBackprop(ctx.model, seed=ctx.seed, **options)
    return MethodParts(callbacks=(UnitResets("continual_backprop", cbp),))


@register_method(
    "redo",
    summary="re-initialise the τ-dormant hidden units at an interval",
    reference="Sokar et al. 2023, The dormant neuron phenomenon (τ 0.1); window='batch', "
    "interval=100: Dohare et al.'s ReDo baseline",
    defaults={"tau": 0.1, "interval": 1000, "window": "interval"},
)
def _redo(ctx: MethodContext, *, tau: float, interval: int, window: str) -> MethodParts:
    redo = ReDo(ctx.model, tau=tau, interval=interval, seed=ctx.seed, window=window)
    return MethodParts(callbacks=(UnitResets("redo", redo),))


@register_method(
    "layernorm_wd",
    summary="LayerNorm before each hidden activation + weight decay",
    reference="Lyle et al. 2024, Disentangling the causes of plasticity loss (decay 1e-4)",
    defaults={"weight_decay": 1e-4},
)
def _layernorm_wd(ctx: MethodContext, *, weight_decay: float) -> MethodParts:
    if add_layer_norm(ctx.model):
        logger.info("layernorm_wd: inserted LayerNorm before each hidden activation")
    return MethodParts(optimizer={"weight_decay": weight_decay})


@register_method(
    "measure_only",
    summary="plain training with λ_1 measured every `every` steps (does measuring change it?)",
    reference="this package: the control of the criticality methods",
    defaults={"every": 1000, "probe_size": 64, "norm": "rms"},
    kind="control",
)
def _measure_only(ctx: MethodContext, *, every: int, probe_size: int, norm: str) -> MethodParts:
    return MethodParts(callbacks=(DenseCriticality(every, probe_size, norm, ctx.seed),))
