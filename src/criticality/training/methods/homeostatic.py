"""Homeostatic criticality: every stage scales its own gain toward 1 from local signals alone.

A biological network is thought to reach criticality without any global error signal: each
neuron scales all its synapses up or down by a common factor until its own activity is where it
should be (synaptic scaling, Turrigiano et al. 1998; homeostatic plasticity tuning networks to
criticality, Levina, Herrmann & Geisel 2007; Zierenberg, Wilting & Priesemann 2018; for deep
networks, Vock & Meisel 2026). Here each stage ``h_l = f_l(h_{l-1})`` of a network is such a unit:

1. **Local signal.** On the first ``S`` inputs of the current batch, stage ``l`` sees its own
   input ``h`` and a slightly perturbed copy ``h + δ u_l`` (``‖u_l‖ = 1``, ``δ = ε ‖h‖``) and
   compares its own outputs (central difference, or a JVP):

   ``ln ĝ_l = mean_s ln( ‖f_l(h + δu) − f_l(h − δu)‖ / 2δ ) − ½ ln(d_out / d_in)``

   (the last term: the per-unit RMS norm, so that a stage that changes width is not called
   expanding for it). The perturbation ``u_l`` is the one that arrived from stage ``l − 1``,
   renormalised, as in Benettin's algorithm: ``mean_l ln ĝ_l`` is the estimate of ``λ_1``
   that :func:`criticality.measures.lyapunov_spectrum` computes with one tangent. A stage never
   sees another stage's gain, the loss, or a gradient.
2. **Slow multiplicative gain.** Every ``k`` steps, the stage's gain parameters ``θ_l`` (the
   affine weight and bias of its normalisation layers if it has any, since a norm undoes any
   scaling before it; otherwise the weights of its ``Linear``/``Conv`` layers; ``m_l`` of them)
   are multiplied by a common factor:

   ``θ_l ← θ_l · exp(−(k / τ) (ln ĝ_l − target) / m_l)``

   clipped to ``±max_step`` in log space. ``τ`` is the time constant in optimizer steps.

On a linear chain ``h ↦ g Q_l h`` (``Q_l`` orthogonal) ``ln ĝ_l = ln g_l`` exactly, so
``ln g_l(t + k) = (1 − k/τ) ln g_l(t)``: ``g_l → 1`` geometrically, and a critical chain
(``g = 1``) is a fixed point. The update runs under ``torch.no_grad()`` after the optimizer
step: no gradient ever flows through the estimate, and the rule works with no training at all
(:func:`self_organise`). Its cost is ``3 S`` extra rows through the network every ``k`` steps,
forward only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn

from criticality.regularizers import CriticalityRegularizer
from criticality.regularizers._common import call_seed
from criticality.stages import stages as split_stages
from criticality.training.callbacks import Callback, TrainState
from criticality.training.methods._registry import MethodContext, MethodParts, register_method

Estimator = Literal["fd", "jvp"]

_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
_WEIGHTED = (nn.Linear, nn.modules.conv._ConvNd)


def gain_sites(stage: nn.Module) -> list[list[nn.Parameter]]:
    """The parameters a stage scales to change its gain, grouped by module.

    Its normalisation layers with an affine map (weight and bias together: ``a (γ x̂ + β)``)
    when it has any, since a norm in training mode undoes the scale of whatever comes before
    it; otherwise the weights of its ``Linear`` and ``Conv`` layers (synaptic scaling).

    Returns:
        One list of parameters per module; empty for a stage without parameters.
    """
    norms = [m for m in stage.modules() if isinstance(m, _NORMS) and _has_weight(m)]
    if norms:
        return [[p for p in (m.weight, m.bias) if isinstance(p, nn.Parameter)] for m in norms]
    weights = [m.weight for m in stage.modules() if isinstance(m, _WEIGHTED)]
    return [[w] for w in weights if isinstance(w, nn.Parameter)]


def _has_weight(module: nn.Module) -> bool:
    return isinstance(getattr(module, "weight", None), nn.Parameter)


class HomeostaticGain(Callback):
    """Scale every stage's gain toward criticality from its own input/output perturbation ratio.

    Use it as a training method (``fit(..., method="homeostatic")``) or alone
    (:func:`self_organise`). Each update estimates ``ln ĝ_l`` per stage on the first
    ``probe_inputs`` inputs of the current batch (no gradient) and multiplies stage ``l``'s gain
    parameters (:func:`gain_sites`) by ``exp(−(every/τ)(ln ĝ_l − target)/m_l)`` (module docstring).

    Args:
        tau: time constant of the gain, in optimizer steps (updates for :func:`self_organise`).
        every: update after every ``every``-th step (the factor is ``every/τ`` per update, so the
            time constant does not depend on it).
        probe_inputs: inputs of the current batch the stages are probed on.
        target: the log-gain aimed at per stage; 0 is critical.
        estimator: ``"fd"`` (central difference of the stage's outputs, forward passes only)
            or ``"jvp"`` (forward-mode derivative).
        norm: ``"rms"`` (per-unit, removes a width change) or ``"l2"``.
        max_step: largest change of a stage's log-gain in one update.
        eps: relative size of the perturbation for ``"fd"``.
        head: also regulate the last stage (the read-out); ``False`` leaves it to the task.
        seed: seed of the perturbation directions (update ``n`` uses a mix of both).

    Attributes:
        trajectory: one record per update: ``step``, ``log_gain`` (``mean_l ln ĝ_l``, the
            controller's own estimate of ``λ_1``), ``stage_log_gain`` (``L`` values) and
            ``log_scale`` (the cumulative ``ln`` factor applied to each stage, ``L`` values).
    """

    name = "homeostatic"

    def __init__(
        self,
        *,
        tau: float = 50.0,
        every: int = 4,
        probe_inputs: int = 8,
        target: float = 0.0,
        estimator: Estimator = "fd",
        norm: Literal["l2", "rms"] = "rms",
        max_step: float = 0.05,
        eps: float = 1e-3,
        head: bool = True,
        seed: int = 0,
    ) -> None:
        if tau < every:
            raise ValueError(
                f"tau must be at least every (a slow gain), got tau={tau}, every={every}"
            )
        if every < 1 or max_step <= 0:
            raise ValueError(f"need every >= 1 and max_step > 0, got {every}, {max_step}")
        self.tau, self.every, self.target = float(tau), int(every), float(target)
        self.max_step, self.head, self.seed = float(max_step), head, seed
        self.probe = CriticalityRegularizer(
            estimator=estimator, sub_batch=probe_inputs, norm=norm, eps=eps, seed=seed
        )
        self.updates = 0
        self.log_scale: list[float] = []
        self.trajectory: list[dict[str, Any]] = []
        self._stages: list[nn.Module] = []
        self._sites: list[list[list[nn.Parameter]]] = []

    def attach(self, model: nn.Module, taps: Sequence[str] | None = None) -> HomeostaticGain:
        """Split ``model`` into its stages (:func:`criticality.stages`) and find their gain
        parameters; :meth:`update` then acts on them."""
        self._stages = list(split_stages(model, taps))
        self._sites = [gain_sites(s) for s in self._stages]
        if not self.head:
            self._sites[-1] = []
        if not any(self._sites):
            raise ValueError("no stage of this model has a Linear, Conv or affine norm to scale")
        if len(self.log_scale) != len(self._stages):
            self.log_scale = [0.0] * len(self._stages)
        return self

    @torch.no_grad()
    def update(self, x: torch.Tensor, step: int | None = None) -> torch.Tensor:
        """One homeostatic update on inputs ``x`` (shape ``(B, ...)``; the first
        ``probe_inputs`` are used).

        Returns:
            ``ln ĝ_l`` per stage before the update, shape ``(L,)`` (no autograd graph).
        """
        if not self._stages:
            raise RuntimeError("call attach(model) before update()")
        seed = call_seed(self.seed, self.updates)
        logs = self.probe.log_gains(self._stages, x, seed=seed).mean(dim=(0, 1))  # (L,)
        rate = self.every / self.tau
        for i, (sites, log_g) in enumerate(zip(self._sites, logs.tolist(), strict=True)):
            if not sites or not math.isfinite(log_g):
                continue
            change = max(-self.max_step, min(self.max_step, -rate * (log_g - self.target)))
            factor = math.exp(change / len(sites))
            for group in sites:
                for p in group:
                    p.mul_(factor)
            self.log_scale[i] += change
        self.updates += 1
        self.trajectory.append(
            {
                "step": self.updates if step is None else step,
                "log_gain": float(logs.mean()),
                "stage_log_gain": [round(v, 6) for v in logs.tolist()],
                "log_scale": [round(v, 6) for v in self.log_scale],
            }
        )
        return logs

    def on_fit_start(self, state: TrainState) -> None:
        if not self._stages:
            self.attach(state.model)

    def on_step_end(self, state: TrainState) -> None:
        if state.step % self.every == 0 and state.batch is not None:
            self.update(state.batch[0], step=state.step)

    def records(self) -> list[dict[str, Any]]:
        return list(self.trajectory)

    def state_dict(self) -> dict[str, Any]:
        return {
            "updates": self.updates,
            "log_scale": list(self.log_scale),
            "trajectory": list(self.trajectory),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.updates = int(state["updates"])
        self.log_scale = list(state["log_scale"])
        self.trajectory = list(state["trajectory"])


def self_organise(
    model: nn.Module,
    inputs: torch.Tensor,
    *,
    updates: int,
    seed: int = 0,
    taps: Sequence[str] | None = None,
    **options: Any,
) -> HomeostaticGain:
    """Leave ``model`` alone under the homeostatic rule: no loss, no optimizer, no gradient.

    Each update draws ``probe_inputs`` inputs from ``inputs`` (shape ``(N, ...)``) and applies
    one :meth:`HomeostaticGain.update` (``every = 1``: ``τ`` counts updates). The model is changed
    in place.

    Args:
        model: the network (split by :func:`criticality.stages`, or with ``taps``).
        inputs: the pool of inputs, shape ``(N, ...)``.
        updates: number of updates.
        seed: seed of the input draws and the perturbations.
        taps: stage taps for models without an adapter.
        **options: options of :class:`HomeostaticGain` (``tau``, ``probe_inputs``, ...).

    Returns:
        The controller; its ``trajectory`` holds the estimates and the applied scales.
    """
    controller = HomeostaticGain(every=1, seed=seed, **options).attach(model, taps)
    gen = torch.Generator().manual_seed(seed)
    size = controller.probe.sub_batch or inputs.shape[0]
    for _ in range(updates):
        idx = torch.randint(inputs.shape[0], (size,), generator=gen)
        controller.update(inputs[idx.to(inputs.device)])
    return controller


# τ = 50 steps and an update every 4th step: the gain settles within the first few hundred steps
# of the training experiment's demo budget; the cost is measured in benchmarks/homeostatic_cost.py.
_DEFAULTS = {
    "tau": 50.0,
    "every": 4,
    "probe_inputs": 8,
    "target": 0.0,
    "estimator": "fd",
    "norm": "rms",
    "max_step": 0.05,
    "head": True,
}


@register_method(
    "homeostatic",
    summary="each stage scales its own gain toward 1 from its own output/input perturbation "
    "ratio; slow, multiplicative, no gradient",
    reference="this package (docs/training.md); synaptic scaling, Turrigiano et al. 1998; "
    "cf. Vock & Meisel 2026, adaptive self-organised criticality in DNNs",
    defaults=_DEFAULTS,
    kind="criticality",
)
def _homeostatic(ctx: MethodContext, **options: Any) -> MethodParts:
    return MethodParts(callbacks=(HomeostaticGain(seed=ctx.seed, **options),))
