"""Top singular value of a batch of linear maps given only ``v ↦ J v`` and ``u ↦ Jᵀ u``.

Both methods work on ``B`` independent maps at once (one per probe input): vectors have shape
``(B, D_in)`` and ``(B, D_out)``, and every scalar is per map. They return the estimate of
``s_max`` after each step's JVP, the number of steps and the last relative change of the
estimate, ``max_b |s_j − s_{j−1}| / s_j``, and stop when it falls below ``tol``.

* :func:`lanczos_smax`: Golub–Kahan–Lanczos bidiagonalisation (Golub & Kahan 1965), i.e. the
  Lanczos method on ``JᵀJ`` with the intermediate vectors kept, with one-sided
  re-orthogonalisation of the input-side vectors (Simon & Zha 2000, SIAM J. Sci. Comput.
  21:2257): memory grows with the steps times the input size, not with the output size.
  After ``j`` steps the ``j × j`` upper bidiagonal matrix ``B_j = U_jᵀ J V_j`` has singular
  values that approach ``J``'s from below; its largest is the estimate. It converges far
  faster than the power method when the top singular values are close (Golub & Van Loan,
  *Matrix Computations*, 4th ed., §10.4).
* :func:`power_smax`: power iteration on ``JᵀJ``, ``s ≈ sqrt(vᵀJᵀJ v)``.

One scalar is read back to the host per step (the stopping test); nothing per layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

MatVec = Callable[[torch.Tensor], torch.Tensor]


def start_vector(shape: tuple[int, ...], seed: int, like: torch.Tensor) -> torch.Tensor:
    """Unit random rows of shape ``(B, D)``: drawn in float64 on the CPU (the same start for
    every dtype and device), then moved to ``like``'s device and dtype."""
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(shape, generator=gen, dtype=torch.float64)
    return _unit(v).to(like.device, like.dtype)


def lanczos_smax(
    jvp: MatVec, vjp: MatVec, v: torch.Tensor, n_iter: int, tol: float
) -> tuple[torch.Tensor, int, float]:
    """``s_max`` of each map by Golub–Kahan–Lanczos bidiagonalisation.

    Args:
        jvp: ``v ↦ J v``, ``(B, D_in) -> (B, D_out)``.
        vjp: ``u ↦ Jᵀ u``, ``(B, D_out) -> (B, D_in)``.
        v: unit start vectors, shape ``(B, D_in)``.
        n_iter: most steps (JVPs); at most ``min(D_in, D_out)`` are informative.
        tol: stop when the estimate changed by less than this fraction for every map.

    Returns:
        ``(s_max (B,), steps, last relative change)``.
    """
    vs: list[torch.Tensor] = [v]
    u_prev: torch.Tensor | None = None  # only the last output-side vector is kept
    alphas: list[torch.Tensor] = []
    betas: list[torch.Tensor] = []
    s = torch.zeros(v.shape[0], dtype=torch.float64, device=v.device)
    change, it = math.inf, 0
    for it in range(1, n_iter + 1):
        u = jvp(vs[-1])  # (B, D_out)
        if u_prev is not None:
            u = u - betas[-1].unsqueeze(1) * u_prev
        alpha = u.norm(dim=1)
        u_prev = u / _safe(alpha).unsqueeze(1)
        alphas.append(alpha)
        s_new = _bidiagonal_smax(alphas, betas)
        change = float(((s_new - s).abs() / _safe(s_new)).max())
        s = s_new
        if change < tol or it == n_iter:
            break
        w = vjp(u_prev) - alpha.unsqueeze(1) * vs[-1]  # (B, D_in)
        w = _reorthogonalise(w, vs)
        beta = w.norm(dim=1)
        vs.append(w / _safe(beta).unsqueeze(1))
        betas.append(beta)
    return s, it, change


def power_smax(
    jvp: MatVec, vjp: MatVec, v: torch.Tensor, n_iter: int, tol: float
) -> tuple[torch.Tensor, int, float]:
    """``s_max`` of each map by power iteration on ``JᵀJ``; arguments as :func:`lanczos_smax`."""
    s = torch.zeros(v.shape[0], dtype=torch.float64, device=v.device)
    change, it = math.inf, 0
    for it in range(1, n_iter + 1):  # noqa: B007  (the count is reported)
        w = vjp(jvp(v))
        s_new = (w * v).sum(1).clamp_min(0).sqrt().double()  # (B,) sqrt(vᵀJᵀJv)
        change = float(((s_new - s).abs() / _safe(s_new)).max())
        s, v = s_new, _unit(w)
        if change < tol:
            break
    return s, it, change


def _bidiagonal_smax(alphas: list[torch.Tensor], betas: list[torch.Tensor]) -> torch.Tensor:
    """Largest singular value of each upper bidiagonal ``B_j`` (diagonal ``alphas``,
    super-diagonal ``betas``), shape ``(B,)``, float64."""
    diag = torch.stack(alphas, dim=1).double()  # (B, j)
    mat = torch.diag_embed(diag)
    if betas:
        mat = mat + torch.diag_embed(torch.stack(betas, dim=1).double(), offset=1)
    return torch.linalg.svdvals(mat)[:, 0]


def _reorthogonalise(w: torch.Tensor, basis: list[torch.Tensor]) -> torch.Tensor:
    """``w`` minus its components along the orthonormal rows of ``basis`` (Gram–Schmidt twice,
    which keeps the basis orthogonal to working precision)."""
    if not basis:
        return w
    q = torch.stack(basis, dim=1)  # (B, j, D)
    for _ in range(2):
        w = w - torch.einsum("bj,bjd->bd", torch.einsum("bjd,bd->bj", q, w), q)
    return w


def _safe(x: torch.Tensor) -> torch.Tensor:
    return x.clamp_min(torch.finfo(x.dtype).tiny)


def _unit(t: torch.Tensor) -> torch.Tensor:
    """Each row of ``t`` (shape ``(B, D)``) scaled to unit Euclidean norm (zero rows stay 0)."""
    return t / _safe(t.norm(dim=1)).unsqueeze(1)
