"""Criticality in time: Lyapunov exponents of a recurrent network's hidden-state map.

For a recurrent network ``h_t = F(x_t, h_{t−1})`` driven by a fixed input sequence, the time
steps are the stages: ``f_t(h) = F(x_t, h)``. The same JVP + QR machinery that measures depth
(:func:`criticality.measures.lyapunov_spectrum`) then gives the exponents of the product
``J_T ⋯ J_1`` of the state Jacobians ``J_t = ∂h_t/∂h_{t−1}``, in nats per time step: the
dynamics that carry (or forget) information through a sequence. On a linear recurrence
``h_t = W h_{t−1} + U x_t`` they are ``ln |μ_i|`` of ``W``'s eigenvalues ``μ_i`` (exactly at every
``T`` when ``W = g Q``, ``Q`` orthogonal; as ``T → ∞`` for any diagonalisable ``W`` with
distinct moduli).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from criticality.measures import LyapunovResult, lyapunov_spectrum
from criticality.stages import Stage

StepFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class TimeStep(nn.Module):
    """The stage ``h ↦ step(x_t, h)`` with the input ``x_t`` (shape ``(B, ...)``) held fixed."""

    def __init__(self, step: nn.Module, x_t: torch.Tensor) -> None:
        super().__init__()
        self.step = step
        self.register_buffer("x_t", x_t, persistent=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # A state of the first b rows (the measures check a stage on a few inputs) is driven
        # by the first b rows of the input.
        x_t: torch.Tensor = self.x_t  # type: ignore[assignment]  # a registered buffer
        return self.step(x_t if len(h) == len(x_t) else x_t[: len(h)], h)


def time_stages(step: nn.Module, inputs: torch.Tensor) -> list[Stage]:
    """One stage per time step: ``inputs`` ``(B, T, ...)`` -> ``T`` stages named ``t<i>``."""
    if inputs.ndim < 3:
        raise ValueError(f"inputs must have shape (B, T, ...), got {tuple(inputs.shape)}")
    return [Stage(f"t{i}", TimeStep(step, inputs[:, i])) for i in range(inputs.shape[1])]


def lyapunov_in_time(
    step: nn.Module,
    inputs: torch.Tensor,
    h0: torch.Tensor,
    *,
    k: int = 1,
    burn_in: int = 0,
    seed: int = 0,
) -> LyapunovResult:
    """Lyapunov spectrum of ``h_t = step(x_t, h_{t−1})`` along an input sequence.

    Args:
        step: module with ``forward(x_t, h) -> h_next``; ``x_t`` ``(B, ...)``, ``h`` ``(B, S)``.
        inputs: the driving sequence, shape ``(B, T, ...)``.
        h0: initial states, shape ``(B, S)``.
        k: number of exponents (at most ``S``).
        burn_in: steps run before measuring, so that the state forgets ``h0`` and the tangents
            align; the exponents average over the remaining ``T − burn_in`` steps.
        seed: seed of the initial tangents.

    Returns:
        A :class:`~criticality.measures.LyapunovResult` whose stages are time steps: ``λ_i`` in
        nats per step, ``stage_log_gain`` per step.
    """
    if not 0 <= burn_in < inputs.shape[1]:
        raise ValueError(
            f"burn_in must lie in [0, T) with T = {inputs.shape[1]} steps, got {burn_in}"
        )
    stage_list = time_stages(step, inputs)
    h = h0
    with torch.no_grad():
        for stage in stage_list[:burn_in]:
            h = stage(h)
    res = lyapunov_spectrum(stage_list[burn_in:], h, k=k, seed=seed)
    assert isinstance(res, LyapunovResult)
    return res


class GRUStackStep(nn.Module):
    """One time step of a stack of single-layer ``nn.GRU`` s on the stacked state.

    The state is the concatenation of every layer's hidden state, ``(B, layers · H)``; layer
    ``i`` reads layer ``i − 1``'s new state (the input ``x_t`` for layer 0). The gate equations
    are PyTorch's (``r``, ``z``, ``n`` in that order)::

        r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h

    written out so that forward-mode AD can differentiate them.
    """

    def __init__(self, grus: nn.ModuleList) -> None:
        super().__init__()
        for g in grus:
            if not isinstance(g, nn.GRU) or g.num_layers != 1 or g.bidirectional or not g.bias:
                raise ValueError("GRUStackStep needs single-layer, unidirectional GRUs with bias")
        self.grus = grus

    def forward(self, x_t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        states = h.split([g.hidden_size for g in self.grus], dim=1)
        inp, out = x_t, []
        for g, s in zip(self.grus, states, strict=True):
            w_ih, w_hh, b_ih, b_hh = (
                getattr(g, f"{n}_l0") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            )
            gi = F.linear(inp, w_ih, b_ih)
            gh = F.linear(s, w_hh, b_hh)
            i_r, i_z, i_n = gi.chunk(3, dim=1)
            h_r, h_z, h_n = gh.chunk(3, dim=1)
            r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
            n = torch.tanh(i_n + r * h_n)
            inp = (1 - z) * n + z * s
            out.append(inp)
        return torch.cat(out, dim=1)
