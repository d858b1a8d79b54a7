"""Avalanches: a critical branching process recovers the mean-field exponents; networks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from criticality.measures import avalanches, fit_avalanches
from criticality.measures.avalanches import _avalanches_from_counts
from criticality.zoo import mlp


def galton_watson(
    mean_offspring: float, n: int = 20000, max_generations: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Sizes and durations of ``n`` Poisson branching processes started by one ancestor.

    With mean offspring 1 (critical) ``P(S) ∝ S^{-3/2}``, ``P(T) ∝ T^{-2}`` and
    ``⟨S⟩(T) ∝ T^2``. Processes alive after ``max_generations`` are dropped (censored).
    """
    rng = np.random.default_rng(seed)
    current = np.ones(n, dtype=np.int64)
    sizes = np.ones(n, dtype=np.int64)
    durations = np.ones(n, dtype=np.int64)
    for _ in range(max_generations):
        current = rng.poisson(mean_offspring * current)
        sizes += current
        durations += current > 0
        if not current.any():
            break
    ended = current == 0
    return sizes[ended], durations[ended]


def test_critical_branching_process_has_mean_field_exponents() -> None:
    sizes, durations = galton_watson(1.0)
    res = fit_avalanches(sizes, durations, n_boot=30)
    tau_s, tau_t = res.size_fit.exponent, res.duration_fit.exponent
    assert tau_s.mean == pytest.approx(1.5, abs=0.05)
    assert tau_t.mean == pytest.approx(2.0, abs=0.12)
    assert tau_s.ci_low < tau_s.mean < tau_s.ci_high and tau_s.ci_high - tau_s.ci_low < 0.1
    assert res.size_fit.supported and res.duration_fit.supported
    assert res.size_fit.lr_exponential > 0
    # crackling noise: ⟨S⟩(T) ∝ T^γ with γ = (τ_T − 1)/(τ_S − 1) = 2 in mean field
    assert res.gamma_fit == pytest.approx(2.0, abs=0.3)
    assert abs(res.crackling_gap) < 0.3
    assert "power-law avalanches" in res.describe()


def test_subcritical_branching_process_is_not_a_power_law() -> None:
    sizes, durations = galton_watson(0.5, n=5000)
    res = fit_avalanches(sizes, durations, n_boot=5)
    assert not (res.size_fit.supported and res.duration_fit.supported)
    assert "do not support" in res.describe()


def test_avalanches_from_counts() -> None:
    counts = np.array([[1, 2, 0, 0], [1, 0, 0, 0], [1, 3, 2, 1], [1, 1, 1, 0]])
    sizes, durations, censored = _avalanches_from_counts(counts)
    assert sizes.tolist() == [3, 1, 3] and durations.tolist() == [2, 1, 3] and censored == 1


def test_network_avalanches_are_consistent() -> None:
    net = mlp(12, 64, sigma_w=1.2, sigma_b=0.3, seed=0, dtype=torch.float64)
    x = torch.randn(8, 64, dtype=torch.float64)
    res = avalanches(net, x, n_trials=16, n_boot=5)
    assert res.sizes.size + res.n_censored == 8 * 16
    assert np.all(res.sizes >= res.durations)  # every living generation has an active unit
    assert np.all(res.durations <= 13)  # the seed plus 12 stages
    assert isinstance(res.size_fit.supported, bool)


@pytest.mark.parametrize(
    ("sizes", "durations"),
    [(np.ones(5), np.ones(5)), (np.ones(20), np.ones(19)), (np.zeros(20), np.ones(20))],
)
def test_bad_avalanches_raise(sizes: np.ndarray, durations: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"need|must"):
        fit_avalanches(sizes, durations)


def test_bad_options_raise() -> None:
    net = mlp(2, 8, seed=0, dtype=torch.float64)
    with pytest.raises(ValueError, match="seed_units"):
        avalanches(net, torch.randn(2, 8, dtype=torch.float64), seed_units=9)


def test_no_avalanche_ending_inside_the_network_gives_a_nan_result() -> None:
    net = mlp(4, 16, sigma_w=3.0, seed=0, dtype=torch.float64)
    res = avalanches(net, torch.randn(2, 16, dtype=torch.float64), n_trials=4, threshold=1e-9)
    assert res.n_censored == 8 and res.sizes.size == 0
    assert np.isnan(res.headline().mean) and not res.size_fit.supported
    assert "no power law can be fitted" in res.describe()
    back = type(res).from_dict(json.loads(json.dumps(res.to_dict())))
    assert back.n_censored == 8 and np.isnan(back.size_fit.xmin)


def test_degenerate_avalanches_give_an_unsupported_fit_not_an_error() -> None:
    """Durations with two distinct values cannot be fitted; the result says so."""
    sizes = np.full(100, 3.0)
    sizes[:3] = [1.0, 2.0, 4.0]
    durations = 2.0 + np.arange(100) % 2
    result = fit_avalanches(sizes, durations)
    assert not result.duration_fit.supported
    assert "do not support power laws" in result.describe()
