"""A loss term that steers the depth dynamics of a network toward criticality (DESIGN §3).

Depth is time: with stages ``h_l = f_l(h_{l-1})``, a random tangent ``v_0`` at the input is
pushed through the stage Jacobians ``J_l`` and renormalised after each stage,
``v_l = J_l v_{l-1} / ‖J_l v_{l-1}‖``; the per-stage log-gain is ``ln g_l = ln ‖J_l v_{l-1}‖``.
This is the ``k = 1`` case of :func:`criticality.measures.lyapunov_spectrum` (same tangent, same
numbers), computed here on a sub-batch with the autograd graph kept, so that the penalty

* ``"global"``: ``(mean_l ln g_l − target)²`` (the largest Lyapunov exponent ``λ_1`` toward
  ``target``), or
* ``"stagewise"``: ``mean_l (ln g_l − target)²`` (every stage toward ``target``)

can be minimised with the task loss. ``ln g_l`` is averaged over the sub-batch and the random
directions before squaring. ``target = 0`` is critical: perturbations neither shrink nor grow.
The same idea as gradient flossing (Engelken 2023) and Lyapunov learning (Benati et al. 2025),
applied to the depth dynamics of feed-forward networks; unlike Jacobian regularisation
(Hoffman et al. 2019, :class:`~criticality.regularizers.JacobianRegularizer`) it penalises the
deviation of the gain from 1, not its size.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.autograd.forward_ad as fwAD
from torch import nn

from criticality.measures.tangents import state_dim, tangent_rules
from criticality.regularizers._common import (
    ModelOrStages,
    StageCache,
    StepCounter,
    call_seed,
    check_choice,
    eval_mode,
    sub_batch,
)
from criticality.regularizers._plain_tangents import plan, push

Mode = Literal["global", "stagewise"]
Estimator = Literal["jvp", "fd"]
Norm = Literal["l2", "rms"]


class CriticalityRegularizer(nn.Module):
    """Penalty on the distance of the per-stage log-gains from ``target`` (0 = critical).

    Call it as ``reg(model_or_stages, x)`` with the training batch ``x`` (shape ``(B, ...)``)
    and add the returned scalar to the task loss. The stages are run in ``eval()`` mode (as the
    measures are; dropout off, BatchNorm on running statistics), their flags restored after.

    Args:
        target: the log-gain aimed at, in nats per stage; 0 is critical.
        mode: ``"global"``, ``(mean_l ln g_l − target)²``; or ``"stagewise"``,
            ``mean_l (ln g_l − target)²``.
        weight: factor on the penalty.
        estimator: ``"jvp"`` (forward-mode AD, exact directional derivative) or ``"fd"``
            (central finite difference with relative step ``eps``; no forward AD needed).
        sub_batch: number of inputs of ``x`` used (the first ones); ``None`` uses all.
        n_directions: random tangents per input; more lowers the variance.
        every: apply the penalty on every ``every``-th call only (0 is returned otherwise).
        norm: ``"l2"`` (Euclidean) or ``"rms"`` (per-unit RMS, removing the
            ``½ ln(d_out/d_in)`` a stage gains by changing dimension), as in
            :func:`~criticality.measures.lyapunov_spectrum`.
        eps: relative step of the finite difference, ``δ = eps · ‖h‖`` per input.
        seed: seed of the random tangents; call ``n`` uses ``call_seed(seed, n)`` (a mix of
            both, sharing no stream with a model initialised from ``seed``), so that a run
            resumed with the saved ``state_dict`` (which holds the call count) draws the same
            tangents.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh())
        >>> reg = CriticalityRegularizer(sub_batch=4)
        >>> penalty = reg(net, torch.randn(16, 8))
        >>> penalty.shape, penalty.requires_grad
        (torch.Size([]), True)
    """

    def __init__(
        self,
        target: float = 0.0,
        *,
        mode: Mode = "global",
        weight: float = 1.0,
        estimator: Estimator = "jvp",
        sub_batch: int | None = 16,
        n_directions: int = 1,
        every: int = 1,
        norm: Norm = "l2",
        eps: float = 1e-3,
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_choice("mode", mode, ("global", "stagewise"))
        check_choice("estimator", estimator, ("jvp", "fd"))
        check_choice("norm", norm, ("l2", "rms"))
        if sub_batch is not None and sub_batch < 1:
            raise ValueError(
                f"sub_batch must be a positive number of inputs or None, got {sub_batch}"
            )
        if n_directions < 1:
            raise ValueError(f"n_directions must be at least 1, got {n_directions}")
        if eps <= 0:
            raise ValueError(f"eps must be positive, got {eps}")
        self.target, self.mode, self.weight = float(target), mode, float(weight)
        self.estimator, self.sub_batch, self.n_directions = estimator, sub_batch, n_directions
        self.norm, self.eps, self.seed = norm, float(eps), seed
        self.counter = StepCounter(every)
        self._stages = StageCache()

    def extra_repr(self) -> str:
        return (
            f"target={self.target}, mode={self.mode!r}, weight={self.weight}, "
            f"estimator={self.estimator!r}, sub_batch={self.sub_batch}, "
            f"n_directions={self.n_directions}, every={self.counter.every}, norm={self.norm!r}"
        )

    def forward(self, model_or_stages: ModelOrStages, x: torch.Tensor) -> torch.Tensor:
        """The weighted penalty, a scalar tensor (0 without graph on skipped calls)."""
        n, applied = self.counter.tick()
        if not applied:
            return x.new_zeros(())
        gains = self.log_gains(model_or_stages, x, seed=call_seed(self.seed, n))  # (S, n, L)
        return self.weight * self.penalty(gains.mean(dim=(0, 1)))

    def penalty(self, stage_log_gain: torch.Tensor) -> torch.Tensor:
        """The unweighted penalty of mean log-gains per stage, shape ``(L,)`` -> scalar."""
        if self.mode == "global":
            return (stage_log_gain.mean() - self.target) ** 2
        return ((stage_log_gain - self.target) ** 2).mean()

    def log_gains(
        self,
        model_or_stages: ModelOrStages,
        x: torch.Tensor,
        *,
        seed: int | None = None,
        init: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Differentiable per-stage log-gains ``ln g_l`` along random tangents.

        Args:
            model_or_stages: a model (split by :func:`criticality.stages`) or its stages.
            x: inputs, shape ``(B, ...)``; the first ``sub_batch`` are used.
            seed: seed of the tangents (default: the regularizer's ``seed``).
            init: the initial tangents instead of random ones, shape ``(S, n, ...)`` with
                ``S`` the sub-batch and ``n = n_directions``; normalised per input.

        Returns:
            ``ln g_l`` of shape ``(S, n, L)``: input, direction, stage.
        """
        stage_list = self._stages(model_or_stages)
        h = sub_batch(x, self.sub_batch)
        s, k = h.shape[0], self.n_directions
        if init is None:
            gen = torch.Generator(device=h.device).manual_seed(self.seed if seed is None else seed)
            init = torch.randn((s, k, *h.shape[1:]), generator=gen, dtype=h.dtype, device=h.device)
        elif init.shape != (s, k, *h.shape[1:]):
            raise ValueError(
                f"init must have shape {(s, k, *h.shape[1:])}, got {tuple(init.shape)}"
            )
        h = h.repeat_interleave(k, dim=0) if k > 1 else h  # (S·n, ...)
        v = _unit(init.reshape(s * k, *h.shape[1:]).to(h.dtype))  # (S·n, ...)
        return self._propagate(stage_list, h, v).reshape(s, k, len(stage_list))

    def _propagate(
        self, stage_list: Sequence[nn.Module], h: torch.Tensor, v: torch.Tensor
    ) -> torch.Tensor:
        """Push unit tangents ``v`` along the stages; ``ln g_l`` per row and stage, ``(N, L)``.

        Stages of ``Linear`` layers and elementwise activations take the plain-autograd path of
        :mod:`._plain_tangents` (the same numbers, a fraction of the per-op overhead); the
        others a dual tensor under ``tangent_rules``. When every stage takes the plain path,
        no module depends on ``train()``/``eval()``, and the flags are left alone.
        """
        jvp = self.estimator == "jvp"
        plans = [plan(stage) if jvp else None for stage in stage_list]
        general = any(p is None for p in plans)
        sizes, shifts = [], []
        with eval_mode(stage_list) if general else contextlib.nullcontext():
            for i, (stage, steps) in enumerate(zip(stage_list, plans, strict=True)):
                d_in = state_dim(v)
                if steps is not None:  # the last stage's primal is not needed
                    out, jv = push(steps, h, v, primal=i + 1 < len(stage_list))
                    h = h if out is None else out
                elif jvp:
                    h, jv = _dual_jvp(stage, h, v)
                else:
                    h, jv = self._central_difference(stage, h, v)
                size = torch.linalg.vector_norm(jv.flatten(1), dim=1)  # (N,)
                safe = size.clamp_min(torch.finfo(size.dtype).tiny)
                sizes.append(safe)
                shifts.append(0.5 * math.log(state_dim(jv) / d_in))
                v = jv / safe.view(-1, *[1] * (jv.ndim - 1))
        logs = torch.log(torch.stack(sizes, dim=1))  # (N, L): one op for all stages
        if self.norm == "rms":
            logs = logs - logs.new_tensor(shifts)
        return logs

    def _central_difference(
        self, stage: nn.Module, h: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(f(h), (f(h + δv) − f(h − δv)) / 2δ)`` with ``δ = eps ‖h‖`` per row, one call."""
        delta = (self.eps * h.detach().flatten(1).norm(dim=1)).clamp_min(self.eps)  # (N,)
        step = delta.view(-1, *[1] * (h.ndim - 1)) * v
        out = stage(torch.cat([h, h + step, h - step]))
        primal, plus, minus = out.chunk(3)
        return primal, (plus - minus) / (2 * delta.view(-1, *[1] * (out.ndim - 1)))


def _dual_jvp(
    stage: nn.Module, h: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(f(h), J_f(h) v)`` by forward-mode AD with the measures' tangent rules, primal and
    tangent stacked through linear layers."""
    with tangent_rules(stacked=True), fwAD.dual_level():
        out, jv = fwAD.unpack_dual(stage(fwAD.make_dual(h, v)))
    return out, torch.zeros_like(out) if jv is None else jv


def _unit(v: torch.Tensor) -> torch.Tensor:
    """Each row of ``v`` (shape ``(N, ...)``) scaled to unit Euclidean norm."""
    return v / v.flatten(1).norm(dim=1).clamp_min(1e-30).view(-1, *[1] * (v.ndim - 1))
