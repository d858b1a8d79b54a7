"""FTLE: the Krylov methods against exact singular values (float64), convergence reporting."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from criticality.measures import FTLEResult, ftle
from criticality.measures._krylov import lanczos_smax, power_smax, start_vector
from criticality.zoo import mlp, orthogonal_chain

D64 = torch.float64


def _maps(mats: torch.Tensor) -> tuple:
    """``v -> J v`` and ``u -> Jᵀ u`` for a batch of matrices ``(B, D_out, D_in)``."""
    return (
        lambda v: torch.einsum("boi,bi->bo", mats, v),
        lambda u: torch.einsum("boi,bo->bi", mats, u),
    )


@pytest.mark.parametrize("shape", [(6, 40), (40, 6), (25, 25)])
def test_lanczos_finds_the_top_singular_value_of_matrices(shape: tuple[int, int]) -> None:
    gen = torch.Generator().manual_seed(0)
    mats = torch.randn(3, *shape, generator=gen, dtype=D64)
    v = start_vector((3, shape[1]), 1, mats)
    s, steps, change = lanczos_smax(*_maps(mats), v, n_iter=100, tol=1e-13)
    exact = torch.linalg.svdvals(mats)[:, 0]
    torch.testing.assert_close(s, exact, rtol=1e-12, atol=0)
    assert change < 1e-13 and steps <= min(shape) + 3  # the Krylov space is exhausted by then


def test_lanczos_handles_rank_deficient_maps() -> None:
    """Rank 2: the bidiagonalisation breaks down after two steps and stays exact."""
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn(2, 30, 2, generator=gen, dtype=D64), torch.randn(2, 2, 20, generator=gen)
    mats = a @ b.to(D64)
    v = start_vector((2, 20), 0, mats)
    s, steps, change = lanczos_smax(*_maps(mats), v, n_iter=50, tol=1e-12)
    torch.testing.assert_close(s, torch.linalg.svdvals(mats)[:, 0], rtol=1e-12, atol=0)
    assert steps <= 4 and change < 1e-12


def test_lanczos_needs_fewer_steps_than_power_iteration() -> None:
    """Close top singular values (s2/s1 = 0.98): the case the issue names (ResNet-18)."""
    gen = torch.Generator().manual_seed(3)
    u, _ = torch.linalg.qr(torch.randn(1, 60, 60, generator=gen, dtype=D64))
    w, _ = torch.linalg.qr(torch.randn(1, 60, 60, generator=gen, dtype=D64))
    sv = torch.cat([torch.tensor([1.0, 0.98, 0.97]), torch.linspace(0.9, 0.01, 57)]).to(D64)
    mats = u @ torch.diag_embed(sv.unsqueeze(0)) @ w.transpose(1, 2)
    v = start_vector((1, 60), 0, mats)
    s_l, steps_l, _ = lanczos_smax(*_maps(mats), v, n_iter=200, tol=1e-6)
    _, steps_p, _ = power_smax(*_maps(mats), v, n_iter=200, tol=1e-6)
    assert abs(float(s_l[0]) - 1.0) < 1e-6
    assert steps_l < steps_p / 3, (steps_l, steps_p)


def test_all_methods_agree_with_the_full_svd_on_a_small_net() -> None:
    net = mlp(depth=5, width=10, sigma_w=1.3, sigma_b=0.1, seed=5, dtype=D64)
    x = torch.randn(3, 10, dtype=D64, generator=torch.Generator().manual_seed(1))
    exact = ftle(net, x, method="svd").per_input
    lanczos = ftle(net, x, method="lanczos", n_iter=50, tol=1e-13)
    power = ftle(net, x, method="power", n_iter=2000, tol=1e-13)
    assert lanczos.per_input == pytest.approx(exact, abs=1e-12)
    assert power.per_input == pytest.approx(exact, abs=1e-8)
    assert lanczos.converged and lanczos.iterations <= 11  # ≤ width + 1 steps
    assert lanczos.iterations < power.iterations


def test_unconverged_result_says_so() -> None:
    net = mlp(depth=4, width=32, sigma_w=1.5, seed=0, dtype=D64)
    x = torch.randn(2, 32, dtype=D64)
    res = ftle(net, x, n_iter=2, tol=1e-9)
    assert res.converged is False and res.iterations == 2 and res.rel_change > 1e-9
    assert "not converged" in res.describe()
    done = ftle(net, x, tol=1e-6)
    assert done.converged and done.rel_change < 1e-6
    assert "not converged" not in done.describe()
    # a lower bound: the unconverged estimate never exceeds the converged one
    assert (res.s_max <= done.s_max * (1 + 1e-12)).all()


def test_orthogonal_chain_gives_ln_g_at_once() -> None:
    res = ftle(orthogonal_chain(1.5, width=6, depth=4, seed=1), torch.randn(2, 6, dtype=D64))
    assert res.value.mean == pytest.approx(math.log(1.5), abs=1e-12)
    assert res.converged


def test_results_stored_before_convergence_was_recorded_still_load() -> None:
    res = ftle(orthogonal_chain(1.2, width=4, depth=2, seed=0), torch.randn(2, 4, dtype=D64))
    old = {k: v for k, v in res.to_dict().items() if k not in ("converged", "tol")}
    back = FTLEResult.from_dict(json.loads(json.dumps(old)))
    assert back.converged is None and np.isnan(back.tol)
    assert "not converged" not in back.describe()


def test_bad_method_and_n_iter() -> None:
    net = mlp(depth=2, width=4)
    with pytest.raises(ValueError, match="method"):
        ftle(net, torch.randn(2, 4), method="arnoldi")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_iter"):
        ftle(net, torch.randn(2, 4), n_iter=0)
