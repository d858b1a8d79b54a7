"""Jacobian regularisation (Hoffman, Roberts & Yaida 2019), the baseline that pushes toward order.

The penalty is the squared Frobenius norm of the input-output Jacobian ``J(x) = ∂f(x)/∂x``
(``C × D`` per input), estimated by random projections:

    ``‖J‖_F² = C · E_v ‖vᵀ J‖²``,  ``v`` uniform on the unit sphere of ``R^C``,

each ``vᵀ J`` one vector-Jacobian product (reverse mode, kept in the graph). Shrinking ``‖J‖``
shrinks every singular value toward 0, i.e. drives the network toward the ordered phase; compare
:class:`~criticality.regularizers.CriticalityRegularizer`, which aims the gains at 1.

Reference: J. Hoffman, D. A. Roberts, S. Yaida, *Robust learning with Jacobian
regularization*, arXiv:1908.02729 (2019), Algorithm 1.
"""

from __future__ import annotations

import torch
from torch import nn

from criticality.regularizers._common import (
    ModelOrStages,
    StepCounter,
    call_seed,
    eval_mode,
    resolve_stages,
    sub_batch,
)
from criticality.stages import compose


class JacobianRegularizer(nn.Module):
    """``weight/2 · mean_x ‖J(x)‖_F²`` by ``n_projections`` random projections per input.

    Call it as ``reg(model_or_stages, x)`` with the training batch ``x`` (shape ``(B, ...)``);
    it returns a scalar to add to the task loss. The model runs in ``eval()`` mode, flags restored.

    Args:
        weight: factor ``λ_JR`` on the penalty (Hoffman et al. use ``λ_JR/2 · ‖J‖_F²``).
        n_projections: random projections per input (Hoffman et al.: 1 is enough in training).
        sub_batch: number of inputs of ``x`` used (the first ones); ``None`` uses all.
        every: apply the penalty on every ``every``-th call only.
        seed: seed of the projections; call ``n`` uses ``call_seed(seed, n)``, a mix of both.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> lin = nn.Linear(3, 2, bias=False)
        >>> reg = JacobianRegularizer(weight=2.0, n_projections=64, sub_batch=None)
        >>> est = reg(lin, torch.randn(200, 3))  # ≈ ‖W‖_F²
        >>> bool(abs(est - lin.weight.pow(2).sum()) < 0.2 * lin.weight.pow(2).sum())
        True
    """

    def __init__(
        self,
        weight: float = 0.01,
        *,
        n_projections: int = 1,
        sub_batch: int | None = 16,
        every: int = 1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if n_projections < 1:
            raise ValueError(f"n_projections must be at least 1, got {n_projections}")
        if sub_batch is not None and sub_batch < 1:
            raise ValueError(
                f"sub_batch must be a positive number of inputs or None, got {sub_batch}"
            )
        self.weight, self.n_projections, self.sub_batch = float(weight), n_projections, sub_batch
        self.seed = seed
        self.counter = StepCounter(every)

    def extra_repr(self) -> str:
        return (
            f"weight={self.weight}, n_projections={self.n_projections}, "
            f"sub_batch={self.sub_batch}, every={self.counter.every}"
        )

    def forward(self, model_or_stages: ModelOrStages, x: torch.Tensor) -> torch.Tensor:
        """The weighted penalty, a scalar tensor (0 without graph on skipped calls)."""
        n, applied = self.counter.tick()
        if not applied:
            return x.new_zeros(())
        frob = self.frobenius_sq(model_or_stages, x, seed=call_seed(self.seed, n))  # (S,)
        return 0.5 * self.weight * frob.mean()

    def frobenius_sq(
        self, model_or_stages: ModelOrStages, x: torch.Tensor, *, seed: int | None = None
    ) -> torch.Tensor:
        """Differentiable estimate of ``‖J(x)‖_F²`` per input, shape ``(S,)``."""
        if isinstance(model_or_stages, nn.Module) and not isinstance(
            model_or_stages, nn.ModuleList
        ):
            modules: list[nn.Module] = [model_or_stages]
        else:
            modules = resolve_stages(model_or_stages)
        h = sub_batch(x, self.sub_batch).detach().requires_grad_(True)
        with eval_mode(modules):
            out = compose(modules, h).flatten(1)  # (S, C)
        s, c = out.shape
        gen = torch.Generator(device=h.device).manual_seed(self.seed if seed is None else seed)
        total = h.new_zeros(s)
        for _ in range(self.n_projections):
            v = torch.randn((s, c), generator=gen, dtype=out.dtype, device=out.device)
            v = v / v.norm(dim=1, keepdim=True)  # uniform on the unit sphere
            (vjp,) = torch.autograd.grad(out, h, v, create_graph=True, retain_graph=True)
            total = total + vjp.flatten(1).pow(2).sum(dim=1)
        return c * total / self.n_projections
