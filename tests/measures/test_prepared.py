"""The shared opening of the measures, the bfloat16 policy, and vectorised summaries."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from criticality.measures import (
    branching_ratio,
    dynamic_range,
    ftle,
    lyapunov_spectrum,
    meanfield,
    susceptibility,
)
from criticality.measures.prepared import as_stages, prepared
from criticality.measures.results import Estimate
from criticality.zoo import fixed_point_inputs, mlp, orthogonal_chain

BF16 = torch.bfloat16

#: Accuracy of bfloat16 against float64 measured on the analytic references below (stated in
#: docs/performance.md): ≤ 1e-3 nats per stage on orthogonal chains, ≤ 2e-3 on tanh MLPs.
# bfloat16 rounds each stage's output to a relative 2**-8 (its unit roundoff), so the log-growth of
# one stage can be off by at most about 2**-8 nats; on the chains the errors are far smaller.
# Measured on the tanh MLPs below over seeds 0-5: 1e-4 to 3.2e-4 (sigma_w 0.8),
# 3.9e-4 to 3.2e-3 (sigma_w 2.0).
BF16_TOL = {"chain": 1e-3, "mlp": 2**-8}


def test_prepared_yields_checked_inputs_and_restores_training_flags() -> None:
    net = mlp(depth=3, width=8)
    net.train()
    with prepared(net, torch.randn(2, 8), dtype=torch.float64, measure="m") as run:
        assert run.inputs.dtype == torch.float64 and run.dtype == torch.float64
        assert all(not m.training for s in run.stages for m in s.modules())
        assert len(run.names) == len(run.stages) and not torch.is_grad_enabled()
    assert net.training and all(m.training for m in net.modules())
    with torch.no_grad(), prepared(net, torch.randn(2, 8), grad=True):
        assert torch.is_grad_enabled()  # reverse-mode measures work under a caller's no_grad


def test_prepared_copies_stages_when_asked() -> None:
    net = mlp(depth=2, width=4)
    with prepared(net, torch.randn(2, 4), copy_stages=True) as run, torch.no_grad():
        for p in run.stages[0].parameters():
            p.mul_(0)
    assert all(p.abs().sum() > 0 for p in net.parameters() if p.ndim == 2)


def test_prepared_errors_name_the_measure() -> None:
    net = mlp(depth=2, width=4)
    cases = [
        ("needs at least 2 probe inputs", torch.randn(1, 4), {"min_inputs": 2}),
        ("m does not support dtype bfloat16", torch.randn(2, 4), {"dtype": BF16}),
        ("do not fit", torch.randn(2, 5), {}),
    ]
    for message, x, options in cases:
        with pytest.raises(ValueError, match=message), prepared(net, x, measure="m", **options):
            pass


@pytest.mark.parametrize(
    "measure", [branching_ratio, dynamic_range, susceptibility], ids=lambda f: f.__name__
)
def test_finite_perturbation_measures_refuse_bfloat16(measure: object) -> None:
    """A 1 % perturbation is below bfloat16's resolution (3 significant digits)."""
    with pytest.raises(ValueError, match="does not support dtype bfloat16; pass dtype="):
        measure(mlp(depth=2, width=8), torch.randn(3, 8), dtype=BF16)  # type: ignore[operator]


@pytest.mark.parametrize("g", [0.5, 2.0])
def test_bfloat16_on_orthogonal_chains(g: float) -> None:
    chain = orthogonal_chain(g, width=64, depth=20, seed=2)
    x = torch.randn(4, 64, dtype=torch.float64)
    spec = lyapunov_spectrum(chain, x, k=8, dtype=BF16)
    assert np.abs(spec.exponents - math.log(g)).max() <= BF16_TOL["chain"]
    res = ftle(chain, x, dtype=BF16)
    assert res.converged and abs(res.value.mean - math.log(g)) <= BF16_TOL["chain"]


@pytest.mark.parametrize("sigma_w", [0.8, 2.0])
def test_bfloat16_on_tanh_mlps_against_float64(sigma_w: float) -> None:
    net = mlp(depth=30, width=400, sigma_w=sigma_w, sigma_b=0.05, seed=7, dtype=torch.float64)
    x = fixed_point_inputs("tanh", sigma_w, 400, 4, sigma_b=0.05)
    lam16 = lyapunov_spectrum(net, x, dtype=BF16).lambda_max.mean
    lam64 = lyapunov_spectrum(net, x).lambda_max.mean
    assert abs(lam16 - lam64) <= BF16_TOL["mlp"]
    assert abs(lam16 - meanfield("tanh", sigma_w, 0.05).lambda_1) <= 0.04  # as in float64
    assert abs(ftle(net, x, dtype=BF16).value.mean - ftle(net, x).value.mean) <= BF16_TOL["mlp"]


def test_estimates_by_column_equal_one_by_one() -> None:
    x = np.random.default_rng(0).normal(size=(7, 5))
    cols = Estimate.from_columns(x, seed=3)
    for j, est in enumerate(cols):
        one = Estimate.from_samples(x[:, j], seed=3)
        assert _close(est, one), (est, one)
    single = Estimate.from_columns(x[:1], seed=3)
    assert single[0].ci_low == single[0].ci_high == x[0, 0] and single[0].std == 0.0


def _close(a: Estimate, b: Estimate) -> bool:
    fields = ("mean", "median", "std", "ci_low", "ci_high", "n")
    return all(math.isclose(getattr(a, f), getattr(b, f), abs_tol=1e-15) for f in fields)


def test_stage_lists_pass_through_unchanged() -> None:
    stage_list: list[nn.Module] = [nn.Linear(3, 3), nn.Tanh()]
    with prepared(stage_list, torch.randn(2, 3)) as run:
        assert list(run.stages) == stage_list


def test_split_of_a_sequential_is_reused_until_a_module_changes() -> None:
    net = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 4), nn.Tanh())
    first = as_stages(net)
    assert [s.name for s in as_stages(net)] == [s.name for s in first]  # type: ignore[attr-defined]
    assert all(a is b for a, b in zip(as_stages(net), first, strict=True))
    net[1] = nn.ReLU()  # a new module: split again, and the new stage runs it
    again = as_stages(net)
    assert again[0] is not first[0]
    assert any(isinstance(m, nn.ReLU) for m in again[0].modules())
